package io.ambientctl.redirect.iptables;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The iptables-restore input that replaces our rules, as another build (another layout) installed them, by this
 * build's, in one commit per table (pure: unit-tested without a kernel). Our chains are those whose names start
 * with {@code AMBIENT-}. For each table: this build's chains are declared (which empties them) and filled; every
 * jump into one of our chains from another chain, as {@code iptables-save} shows it, is deleted and this build's
 * jumps inserted; our chains this build no longer has are emptied and deleted. iptables-restore --noflush applies
 * a table's block in one commit (legacy: one table replace; nft backend: one transaction), so no packet sees the
 * table without our rules, nor both layouts' rules. A table that holds our chains but that this build's rules do
 * not use gets a block of its own that removes them.
 */
public final class RuleSwap {
    public static final String OURS = "AMBIENT-";

    private RuleSwap() {
    }

    /**
     * @param saved what {@code iptables-save} prints now (every table, or the tables concerned)
     * @param next  this build's iptables-restore input, with its jumps ({@code addJump} true)
     */
    public static String swap(String saved, String next) {
        Map<String, List<String>> old = tables(saved);
        Map<String, List<String>> now = tables(next);
        StringBuilder sb = new StringBuilder();
        Set<String> names = new LinkedHashSet<>(now.keySet());
        for (Map.Entry<String, List<String>> e : old.entrySet()) {
            if (e.getValue().stream().anyMatch(l -> l.startsWith(":" + OURS) || jumpToOurs(l))) {
                names.add(e.getKey());
            }
        }
        for (String table : names) {
            List<String> was = old.getOrDefault(table, List.of());
            List<String> will = now.getOrDefault(table, List.of());
            Set<String> newChains = new LinkedHashSet<>();
            List<String> decls = new ArrayList<>();
            List<String> jumps = new ArrayList<>();
            List<String> rules = new ArrayList<>();
            for (String l : will) {
                if (l.startsWith(":")) {
                    decls.add(l);
                    newChains.add(l.substring(1).split(" ")[0]);
                } else if (jumpToOurs(l) && !ours(chainOf(l))) {
                    jumps.add(l);
                } else {
                    rules.add(l);
                }
            }
            sb.append('*').append(table).append('\n');
            decls.forEach(d -> sb.append(d).append('\n'));
            for (String l : was) {
                if (l.startsWith("-A ") && jumpToOurs(l) && !ours(chainOf(l))) {
                    sb.append("-D ").append(l.substring(3)).append('\n');
                }
            }
            jumps.forEach(j -> sb.append(j).append('\n'));
            rules.forEach(r -> sb.append(r).append('\n'));
            for (String l : was) {
                if (l.startsWith(":" + OURS)) {
                    String chain = l.substring(1).split(" ")[0];
                    if (!newChains.contains(chain)) {
                        sb.append("-F ").append(chain).append('\n');
                    }
                }
            }
            for (String l : was) {
                if (l.startsWith(":" + OURS)) {
                    String chain = l.substring(1).split(" ")[0];
                    if (!newChains.contains(chain)) {
                        sb.append("-X ").append(chain).append('\n');
                    }
                }
            }
            sb.append("COMMIT\n");
        }
        return sb.toString();
    }

    /** The lines of each table ("*mangle" ... "COMMIT"), comments and COMMIT left out. */
    static Map<String, List<String>> tables(String text) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        List<String> cur = null;
        for (String raw : text.split("\n")) {
            String l = raw.strip();
            if (l.isEmpty() || l.startsWith("#")) {
                continue;
            }
            if (l.startsWith("*")) {
                cur = out.computeIfAbsent(l.substring(1), k -> new ArrayList<>());
            } else if (l.equals("COMMIT")) {
                cur = null;
            } else if (cur != null) {
                cur.add(l);
            }
        }
        return out;
    }

    private static boolean ours(String chain) {
        return chain.startsWith(OURS);
    }

    /** The chain an -A/-I rule is in. */
    private static String chainOf(String rule) {
        String[] p = rule.split(" ");
        return p.length > 1 ? p[1] : "";
    }

    /** An -A/-I rule whose target is one of our chains. */
    private static boolean jumpToOurs(String rule) {
        if (!rule.startsWith("-A ") && !rule.startsWith("-I ")) {
            return false;
        }
        String[] p = rule.split(" ");
        for (int i = 0; i + 1 < p.length; i++) {
            if ((p[i].equals("-j") || p[i].equals("-g")) && ours(p[i + 1])) {
                return true;
            }
        }
        return false;
    }
}
