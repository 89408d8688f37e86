package io.ambientctl.redirect;

import java.util.List;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * The node's ztunnel: a workload too (its netns, addresses, eth0 and host-side veth), plus its
 * capture ports and the datapath options that go with it.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Ztunnel(String name, String namespace, String netns, List<String> ips, String podInterface,
                      int podIfindex, String podMac, String hostInterface, int hostIfindex, String hostMac) {
    public static final int OUTBOUND_PORT = 15001;
    public static final int INBOUND_PORT = 15006;
    public static final int HBONE_PORT = 15008;
    public static final int DNS_PORT = 15053;

    public static Ztunnel of(Workload w) {
        return new Ztunnel(w.name(), w.namespace(), w.netns(), w.ips(), w.podInterface(), w.podIfindex(), w.podMac(),
                w.hostInterface(), w.hostIfindex(), w.hostMac());
    }

    public Workload asWorkload() {
        return new Workload(name, namespace, null, netns, ips, podInterface, podIfindex, podMac, hostInterface,
                hostIfindex, hostMac, 0, null);
    }
}
