package io.ambientctl.observe;

import java.util.List;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * Where one crafted packet goes, hook by hook, as the node's programs (or rules) decide now.
 *
 * @param mode     the node's mode
 * @param workload the workload the packet leaves or enters (NS/NAME or netns), null if none
 * @param packet   protocol src -&gt; dst
 * @param steps    each hook it meets, in order
 * @param verdict  where it ends: "ztunnel listener 15001", "dropped (noListener)", "passed (notEnrolled)", ...
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Explanation(String mode, String workload, String packet, List<Step> steps, String verdict) {
    /**
     * One hook: its name and place, the decision, the reason, what it rewrote and where it sent the packet.
     *
     * @param hook         podIngress, ztunnelIngress, ztunnelCapture, podEgress (eBPF); a chain/rule (netfilter)
     * @param where        the interface and netns it runs on
     * @param decision     pass, outbound, inbound, bypass, assigned, drop (eBPF); the netfilter verdict
     * @param reason       the pass or drop reason, null for a redirect
     * @param rewrittenMac the destination MAC the program wrote, null if unchanged
     * @param target       the interface it redirects to, null if none
     * @param listenerPort ztunnel's listener port (capture), null otherwise
     * @param errno        a failed helper's errno (e.g. EOPNOTSUPP for bpf_sk_assign in a test run), null if none
     * @param note         what the step means
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Step(String hook, String where, String decision, String reason, String rewrittenMac, String target,
                       Integer listenerPort, String errno, String note) {
    }
}
