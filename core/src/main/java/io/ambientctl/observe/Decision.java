package io.ambientctl.observe;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * One decision of the datapath on one packet, as `ambientctl monitor` prints it.
 *
 * @param time         wall-clock time (ISO-8601, UTC) of the decision
 * @param workload     the enrolled workload it concerns (NS/NAME or the netns), null if none
 * @param hook         podIngress, podEgress, ztunnelIngress, ztunnelCapture (eBPF); nodeChain, ztunnelChain (the
 *                     chain that logged it, iptables and nftables modes)
 * @param direction    outbound (leaving the workload), inbound (entering it), or null when not known
 * @param protocol     tcp, udp, or the IP protocol number
 * @param src          source ADDR:PORT ([ADDR]:PORT for IPv6)
 * @param dst          destination ADDR:PORT
 * @param decision     pass, outbound, inbound, bypass, assigned, drop
 * @param reason       the pass or drop reason (PassReason / DropReason JSON names), null for a redirect
 * @param listenerPort ztunnel's listener port looked for (capture hook), else null
 * @param target       the interface a packet was redirected to (name (ifindex)), else null (always in the
 *                     netfilter modes: the route picks it)
 * @param errno        the errno of a failed helper, else null
 * @param tcpFlags     the TCP flags (SYN, ACK, ...) when TCP
 * @param length       the packet's length in bytes
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Decision(String time, String workload, String hook, String direction, String protocol, String src,
                       String dst, String decision, String reason, Integer listenerPort, String target, Integer errno,
                       String tcpFlags, int length) {
}
