package io.ambientctl.redirect;

import java.util.List;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * What gets enrolled: its identity (a Kubernetes Pod's namespace/name/uid, or a network
 * namespace), its addresses, its interface inside its netns, and the host-side veth peer in the
 * node's netns. {@code id} keys its counters in the datapath. {@code dnsCapture} {@code false}: the workload
 * opted out of DNS capture (Pod annotation {@code ambient.istio.io/dns-capture: "false"}; null: it follows the
 * node's choice).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Workload(String name, String namespace, String uid, String netns, List<String> ips,
                       String podInterface, int podIfindex, String podMac,
                       String hostInterface, int hostIfindex, String hostMac, int id, String netnsId,
                       Boolean dnsCapture) {
    @JsonCreator
    public Workload {
    }

    /** Without a DNS capture choice of its own (it follows the node's). */
    public Workload(String name, String namespace, String uid, String netns, List<String> ips, String podInterface,
                    int podIfindex, String podMac, String hostInterface, int hostIfindex, String hostMac, int id,
                    String netnsId) {
        this(name, namespace, uid, netns, ips, podInterface, podIfindex, podMac, hostInterface, hostIfindex, hostMac,
                id, netnsId, null);
    }

    /** Whether this workload opted out of DNS capture. */
    @JsonIgnore
    public boolean noDnsCapture() {
        return Boolean.FALSE.equals(dnsCapture);
    }

    public Workload withDnsCapture(Boolean capture) {
        return new Workload(name, namespace, uid, netns, ips, podInterface, podIfindex, podMac, hostInterface,
                hostIfindex, hostMac, id, netnsId, capture);
    }

    /** The key users name it by: NAMESPACE/NAME for a Pod, the netns name or path otherwise. */
    @JsonIgnore
    public String key() {
        return namespace != null ? namespace + "/" + name : netns;
    }

    public Workload withId(int newId) {
        return new Workload(name, namespace, uid, netns, ips, podInterface, podIfindex, podMac, hostInterface,
                hostIfindex, hostMac, newId, netnsId, dnsCapture);
    }

    /** Whether both are the same network namespace (by identity; by name or path for a state without identities). */
    public boolean sameNetns(Workload o) {
        return netnsId != null && o.netnsId != null ? netnsId.equals(o.netnsId) : netns.equals(o.netns);
    }

    /** Same workload, same plumbing (interfaces, addresses, MACs)? */
    public boolean samePlumbing(Workload o) {
        return o != null && hostIfindex == o.hostIfindex && hostInterface.equals(o.hostInterface)
                && podMac.equals(o.podMac) && ips.equals(o.ips) && noDnsCapture() == o.noDnsCapture();
    }
}
