package io.ambientctl.redirect;

import java.util.List;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.util.Exec;
import io.ambientctl.util.Faults;

/**
 * The policy routing in the node's namespace of the modes that mark (iptables, nftables): {@code ip rule
 * fwmark 0x2000/0xf000 lookup 134 pref 32099} and, in table 134, the default route to ztunnel's eth0 over its
 * veth ({@code via ZTUNNEL_IP dev VETH onlink}), or a blackhole without ztunnel (fail closed), both families
 * (the values: {@link Marks}). Both modes install the same rule; the one switched away from removes it only
 * when the other holds nothing on the node.
 */
public final class NodeRouting {
    private NodeRouting() {
    }

    /** Installs the rule (once) and the route to {@code zt} (or the blackhole). Call inside the node's namespace. */
    public static void ensureHere(Ztunnel zt) {
        for (boolean v6 : new boolean[] {false, true}) {
            String fam = v6 ? "-6" : "-4";
            if (!ruleHere(fam)) {
                Faults.step("ip-rule");
                Exec.run(List.of("ip", fam, "rule", "add", "fwmark", Marks.node(), "lookup", Marks.NODE_TABLE,
                        "pref", Marks.NODE_RULE_PREF)).check();
            }
            String via = zt == null ? null : zt.ips().stream().filter(ip -> IpAddrs.isV6(IpAddrs.parse(ip)) == v6)
                    .findFirst().orElse(null);
            List<String> route = via == null
                    ? List.of("ip", fam, "route", "replace", "blackhole", "default", "table", Marks.NODE_TABLE)
                    : List.of("ip", fam, "route", "replace", "default", "via", via, "dev", zt.hostInterface(), "onlink",
                            "table", Marks.NODE_TABLE);
            Faults.step("ip-route");
            Exec.run(route).check();
        }
    }

    /** Removes the rule and flushes the table (a missing one is fine). Call inside the node's namespace. */
    public static void removeHere() {
        for (String fam : List.of("-4", "-6")) {
            while (ruleHere(fam)) {
                if (!Exec.run(List.of("ip", fam, "rule", "del", "fwmark", Marks.node(), "lookup", Marks.NODE_TABLE))
                        .ok()) {
                    break;
                }
            }
            Exec.run(List.of("ip", fam, "route", "flush", "table", Marks.NODE_TABLE));
        }
    }

    /** Whether the rule is there in either family. Call inside the node's namespace. */
    public static boolean anyHere() {
        return ruleHere("-4") || ruleHere("-6");
    }

    /** Whether both families have the rule and a route in the table. Call inside the node's namespace. */
    public static boolean presentHere() {
        for (String fam : List.of("-4", "-6")) {
            if (!ruleHere(fam) || Exec.run(List.of("ip", fam, "route", "show", "table", Marks.NODE_TABLE)).stdout()
                    .isBlank()) {
                return false;
            }
        }
        return true;
    }

    /** The veth of the IPv4 default route to ztunnel in the table, or null (none, or the blackhole). */
    public static String ztunnelInterfaceHere() {
        String route = Exec.run(List.of("ip", "-4", "route", "show", "table", Marks.NODE_TABLE)).stdout();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(" dev (\\S+)").matcher(route);
        return m.find() ? m.group(1) : null;
    }

    private static boolean ruleHere(String fam) {
        return Exec.run(List.of("ip", fam, "rule", "show")).stdout().lines()
                .anyMatch(l -> l.contains("fwmark " + Marks.node()) && l.contains("lookup " + Marks.NODE_TABLE));
    }
}
