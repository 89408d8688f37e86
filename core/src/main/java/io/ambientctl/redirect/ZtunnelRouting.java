package io.ambientctl.redirect;

import java.util.List;

import io.ambientctl.net.IpRules;
import io.ambientctl.net.NetNs;
import io.ambientctl.net.PolicyRouting;

/**
 * The policy routing inside ztunnel's network namespace that delivers captured packets locally:
 * {@code ip rule fwmark 0x111/0xfff lookup 133} and {@code local 0.0.0.0/0 (and ::/0) dev lo table 133},
 * both families (the values: {@link Marks}). Used by every mode.
 */
public final class ZtunnelRouting {
    public static final String MARK = Marks.tproxy();
    public static final String TABLE = Marks.ZTUNNEL_TABLE;
    public static final String PRIORITY = Marks.ZTUNNEL_RULE_PREF;

    private ZtunnelRouting() {
    }

    /** Installs the rule and routes (idempotent). Call inside ztunnel's namespace. */
    public static void ensureHere() {
        for (String fam : List.of("-4", "-6")) {
            boolean v6 = fam.equals("-6");
            if (!present(fam)) {
                PolicyRouting.addRule(v6, MARK, Integer.parseInt(TABLE), Integer.parseInt(PRIORITY));
            }
            PolicyRouting.replaceLocalDefault(v6, Integer.parseInt(TABLE));
        }
    }

    /** Removes them (a missing rule or route is fine). */
    public static void removeHere() {
        for (String fam : List.of("-4", "-6")) {
            boolean v6 = fam.equals("-6");
            try {
                while (present(fam)) {
                    if (!PolicyRouting.deleteRule(v6, MARK, Integer.parseInt(TABLE), null)) {
                        break;
                    }
                }
                PolicyRouting.flush(v6, Integer.parseInt(TABLE));
            } catch (IllegalStateException e) {
                // as before (the commands' failures were not checked, whatever failed): what is left, status shows
            }
        }
    }

    public static boolean presentHere() {
        return present("-4") && present("-6");
    }

    /** Whether the family's rule is there: read over rtnetlink, no process. */
    private static boolean present(String fam) {
        return IpRules.here(fam.equals("-6")).stream()
                .anyMatch(r -> MARK.equals(r.mark()) && r.table() == Integer.parseInt(TABLE));
    }

    public static void ensure(NetNs ns) {
        ns.run(ZtunnelRouting::ensureHere);
    }

    public static void remove(NetNs ns) {
        if (ns.exists()) {
            ns.run(ZtunnelRouting::removeHere);
        }
    }
}
