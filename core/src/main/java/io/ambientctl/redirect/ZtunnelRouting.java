package io.ambientctl.redirect;

import java.util.List;

import io.ambientctl.net.IpRules;
import io.ambientctl.net.NetNs;
import io.ambientctl.util.Exec;

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
            if (!present(fam)) {
                Exec.run(List.of("ip", fam, "rule", "add", "fwmark", MARK, "lookup", TABLE, "pref", PRIORITY)).check();
            }
            Exec.run(List.of("ip", fam, "route", "replace", "local", fam.equals("-4") ? "0.0.0.0/0" : "::/0", "dev",
                    "lo", "table", TABLE)).check();
        }
    }

    /** Removes them (a missing rule or route is fine). */
    public static void removeHere() {
        for (String fam : List.of("-4", "-6")) {
            while (present(fam)) {
                if (!Exec.run(List.of("ip", fam, "rule", "del", "fwmark", MARK, "lookup", TABLE)).ok()) {
                    break;
                }
            }
            Exec.run(List.of("ip", fam, "route", "flush", "table", TABLE));
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
