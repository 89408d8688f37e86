package io.ambientctl.redirect;

import java.util.ArrayList;
import java.util.List;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.IpRules;
import io.ambientctl.net.Links;
import io.ambientctl.net.PolicyRouting;
import io.ambientctl.util.Faults;

/**
 * The policy routing in the node's namespace of the modes that mark (iptables, nftables): {@code ip rule
 * fwmark BIT/BIT lookup 134 pref 32099} (BIT: the node's mark bit) and, in table 134, the default route to
 * ztunnel's eth0 over its veth ({@code via ZTUNNEL_IP dev VETH onlink}), or a blackhole without ztunnel (fail
 * closed), both families (the values: {@link Marks}). Both modes install the same rule; the one switched away
 * from removes it only when the other holds nothing on the node. Our rule is the one at our preference that
 * looks up our table: one with another mark (the bit changed, or an older release's {@code 0x2000/0xf000}) is
 * replaced.
 */
public final class NodeRouting {

    private NodeRouting() {
    }

    /**
     * Installs the rule for {@code bit} (once; ours with another mark go) and the route to {@code zt} (or the
     * blackhole). Call inside the node's namespace.
     */
    public static void ensureHere(Ztunnel zt, int bit) {
        ensureHere(zt, bit, true);
    }

    /**
     * As {@link #ensureHere(Ztunnel, int)}, but with {@code removeOthers} false ours with another mark stay: an
     * upgrade adds this build's rule before it swaps the rules that mark, and removes the older one after
     * ({@link #removeOthersHere}), so marked packets always find a rule.
     */
    public static void ensureHere(Ztunnel zt, int bit, boolean removeOthers) {
        String mark = Marks.node(bit);
        for (boolean v6 : new boolean[] {false, true}) {
            String fam = v6 ? "-6" : "-4";
            List<String> ours = ourMarks(fam);
            if (removeOthers) {
                removeOthers(fam, ours, mark);
            }
            if (!ours.contains(mark)) {
                Faults.step("ip-rule");
                PolicyRouting.addRule(v6, mark, TABLE, PREF);
            }
            String via = zt == null ? null : zt.ips().stream().filter(ip -> IpAddrs.isV6(IpAddrs.parse(ip)) == v6)
                    .findFirst().orElse(null);
            Faults.step("ip-route");
            if (via == null) {
                PolicyRouting.replaceBlackholeDefault(v6, TABLE);
            } else {
                PolicyRouting.replaceDefaultVia(v6, TABLE, IpAddrs.parse(via), zt.hostInterface());
            }
        }
    }

    private static final int TABLE = Integer.parseInt(Marks.NODE_TABLE);
    private static final int PREF = Integer.parseInt(Marks.NODE_RULE_PREF);

    /** Removes our rules with a mark other than {@code bit}'s. Call inside the node's namespace. */
    public static void removeOthersHere(int bit) {
        for (String fam : List.of("-4", "-6")) {
            removeOthers(fam, ourMarks(fam), Marks.node(bit));
        }
    }

    private static void removeOthers(String fam, List<String> ours, String mark) {
        for (String other : ours) {
            if (!other.equals(mark)) {
                deleteQuietly(fam, other);
            }
        }
    }

    /** Removes our rules (whatever their mark) and flushes the table (a missing one is fine). Call inside the node's namespace. */
    public static void removeHere() {
        for (String fam : List.of("-4", "-6")) {
            try {
                for (String mark : ourMarks(fam)) {
                    deleteQuietly(fam, mark);
                }
                PolicyRouting.flush(fam.equals("-6"), TABLE);
            } catch (IllegalStateException e) {
                // as before (ip's failures were not checked, a reading one neither): what is left, status shows
            }
        }
    }

    /** Our rule with {@code mark} removed; a failure is not checked (as before: what is left, status shows). */
    private static void deleteQuietly(String fam, String mark) {
        try {
            PolicyRouting.deleteRule(fam.equals("-6"), mark, TABLE, PREF);
        } catch (PolicyRouting.RoutingException e) {
            // left for status to show
        }
    }

    /** Whether a rule of ours is there in either family (whatever its mark). Call inside the node's namespace. */
    public static boolean anyHere() {
        return !ourMarks("-4").isEmpty() || !ourMarks("-6").isEmpty();
    }

    /** Whether both families have the rule for {@code bit} and a route in the table. Call inside the node's namespace. */
    public static boolean presentHere(int bit) {
        for (String fam : List.of("-4", "-6")) {
            if (!ourMarks(fam).equals(List.of(Marks.node(bit))) || PolicyRouting.routes(fam.equals("-6"), TABLE)
                    .isEmpty()) {
                return false;
            }
        }
        return true;
    }

    /** The veth of the IPv4 default route to ztunnel in the table, or null (none, or the blackhole). */
    public static String ztunnelInterfaceHere() {
        for (PolicyRouting.Route r : PolicyRouting.routes(false, TABLE)) {
            if (r.oif() > 0) {
                return Links.nameHere(r.oif());
            }
        }
        return null;
    }

    /** The marks ("0x1000/0x1000") of our rules: at our preference, looking up our table. */
    static List<String> ourMarks(String fam) {
        List<String> out = new ArrayList<>();
        for (IpRules.Rule r : IpRules.here(fam.equals("-6"))) {
            if (r.priority() == Integer.parseInt(Marks.NODE_RULE_PREF) && r.table() == Integer.parseInt(Marks.NODE_TABLE)
                    && r.mark() != null) {
                out.add(r.mark());
            }
        }
        return out;
    }
}
