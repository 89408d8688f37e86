package io.ambientctl.redirect;

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

    private static final int TABLE_ID = Integer.parseInt(TABLE);
    private static final int PREF = Integer.parseInt(PRIORITY);

    private ZtunnelRouting() {
    }

    /** Installs the rule and routes (idempotent). Call inside ztunnel's namespace. */
    public static void ensureHere() {
        for (boolean v6 : new boolean[] {false, true}) {
            if (!present(v6)) {
                PolicyRouting.addRule(v6, MARK, TABLE_ID, PREF);
            }
            PolicyRouting.replaceLocalDefault(v6, TABLE_ID);
        }
    }

    /** Removes them (a missing rule or route is fine). */
    public static void removeHere() {
        for (boolean v6 : new boolean[] {false, true}) {
            try {
                while (present(v6)) {
                    if (!PolicyRouting.deleteRule(v6, MARK, TABLE_ID, null)) {
                        break;
                    }
                }
                PolicyRouting.flush(v6, TABLE_ID);
            } catch (IllegalStateException e) {
                // as before (the commands' failures were not checked, whatever failed): what is left, status shows
            }
        }
    }

    public static boolean presentHere() {
        return present(false) && present(true);
    }

    /** Whether the family's rule is there: read over rtnetlink, no process. */
    private static boolean present(boolean v6) {
        return IpRules.here(v6).stream().anyMatch(r -> MARK.equals(r.mark()) && r.table() == TABLE_ID);
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
