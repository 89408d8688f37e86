package io.ambientctl.redirect.iptables;

import java.util.List;
import java.util.Map;

/**
 * One family's {@code iptables-save} of a namespace, as the presence checks read it: whether PREROUTING jumps to our
 * chain (what {@code iptables -t TABLE -C PREROUTING -j AMBIENT-PREROUTING} answers: a rule that is exactly that
 * jump), whether our chain is declared (what {@code -S AMBIENT-PREROUTING} answers) and our chain's rules (its
 * {@code -A} lines), table by table. Pure: parsed once, asked many times.
 */
final class Saved {
    static final Saved EMPTY = new Saved(Map.of());

    private final Map<String, List<String>> tables;

    private Saved(Map<String, List<String>> tables) {
        this.tables = tables;
    }

    static Saved parse(String text) {
        return new Saved(RuleSwap.tables(text));
    }

    private List<String> lines(String table) {
        return tables.getOrDefault(table, List.of());
    }

    /** {@code -A PREROUTING -j CHAIN} in {@code table}. */
    boolean jump(String table) {
        return lines(table).contains("-A PREROUTING -j " + Rules.CHAIN);
    }

    /** Our chain declared in {@code table}. */
    boolean chain(String table) {
        return lines(table).stream().anyMatch(l -> l.startsWith(":" + Rules.CHAIN + " "));
    }

    /** Our chain's rules in {@code table}, as {@code -S CHAIN} prints them ({@code -A CHAIN ...}). */
    List<String> rules(String table) {
        return lines(table).stream().filter(l -> l.equals("-A " + Rules.CHAIN) || l.startsWith("-A " + Rules.CHAIN
                + " ")).toList();
    }
}
