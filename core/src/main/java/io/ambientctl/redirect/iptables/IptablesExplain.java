package io.ambientctl.redirect.iptables;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.redirect.NetfilterExplainer;
import io.ambientctl.redirect.NetfilterWalk;
import io.ambientctl.redirect.NetfilterWalk.Action;
import io.ambientctl.redirect.NetfilterWalk.M;
import io.ambientctl.redirect.NetfilterWalk.Match;
import io.ambientctl.util.Exec;

/**
 * What `ambientctl explain` reads in iptables mode, in the calling thread's netns: {@code iptables-save -t raw}
 * and {@code -t mangle} (our chain's rules as the kernel has them, and whether PREROUTING jumps to it), and
 * {@code ipset test} for set membership.
 */
final class IptablesExplain implements NetfilterExplainer.Source {
    private final Backend backend;

    IptablesExplain(Backend backend) {
        this.backend = backend;
    }

    @Override
    public String mode() {
        return "iptables";
    }

    @Override
    public List<NetfilterWalk.Chain> chains(boolean v6, boolean node) {
        List<NetfilterWalk.Chain> out = new ArrayList<>();
        // ztunnel's namespace has a mangle chain only (Rules.ztunnel)
        for (String table : node ? List.of("raw", "mangle") : List.of("mangle")) {
            Exec.Result r = Exec.run(List.of(backend.tool(v6, "save"), "-t", table));
            if (!r.ok()) {
                throw new IllegalStateException("cannot read the " + table + " table (" + backend.tool(v6, "save")
                        + "): " + r.stderr().strip());
            }
            NetfilterWalk.Chain c = parse(table, r.stdout());
            out.add(c != null ? c : new NetfilterWalk.Chain(table + " " + Rules.CHAIN, "the " + table + " table has "
                    + "no chain " + Rules.CHAIN + " in this netns ('ambientctl repair' puts it back)", List.of()));
        }
        return out;
    }

    /** Our chain in one table's iptables-save listing; null when the table has no such chain. */
    static NetfilterWalk.Chain parse(String table, String save) {
        String name = table + " " + Rules.CHAIN;
        boolean declared = false;
        boolean jump = false;
        List<NetfilterWalk.Rule> rules = new ArrayList<>();
        for (String line : save.lines().toList()) {
            String l = line.strip();
            if (l.startsWith("[")) {
                l = l.substring(l.indexOf(']') + 1).strip(); // -c counters
            }
            if (l.startsWith(":" + Rules.CHAIN + " ")) {
                declared = true;
            } else if (l.startsWith("-A PREROUTING ") && l.endsWith("-j " + Rules.CHAIN)) {
                jump = true;
            } else if (l.startsWith("-A " + Rules.CHAIN + " ")) {
                rules.add(rule(rules.size() + 1, l));
            }
        }
        if (!declared) {
            return null;
        }
        String missing = jump ? null : "PREROUTING of the " + table + " table has no jump to " + Rules.CHAIN
                + ": none of its " + rules.size() + " rules run ('ambientctl repair' puts it back)";
        return new NetfilterWalk.Chain(name, missing, rules);
    }

    static List<String> tokens(String l) {
        List<String> t = new ArrayList<>();
        StringBuilder cur = null;
        boolean quoted = false;
        for (char ch : l.toCharArray()) {
            if (ch == '"') {
                quoted = !quoted;
                if (cur == null) {
                    cur = new StringBuilder();
                }
            } else if (Character.isWhitespace(ch) && !quoted) {
                if (cur != null) {
                    t.add(cur.toString());
                    cur = null;
                }
            } else {
                if (cur == null) {
                    cur = new StringBuilder();
                }
                cur.append(ch);
            }
        }
        if (cur != null) {
            t.add(cur.toString());
        }
        return t;
    }

    /** One "-A CHAIN ..." line in the walk's form; what it does not know becomes an unknown match or statement. */
    static NetfilterWalk.Rule rule(int number, String line) {
        List<String> t = tokens(line);
        String text = line.substring(line.indexOf(Rules.CHAIN) + Rules.CHAIN.length()).strip();
        List<Match> ms = new ArrayList<>();
        List<Action> as = new ArrayList<>();
        int i = 2;
        while (i < t.size()) {
            String k = t.get(i);
            String v = i + 1 < t.size() ? t.get(i + 1) : "";
            switch (k) {
                case "-i" -> {
                    ms.add(Match.of(M.IIF, v));
                    i += 2;
                }
                case "-p" -> {
                    ms.add(Match.proto(List.of(v)));
                    i += 2;
                }
                case "-m" -> i += 2; // the module's options follow
                case "--dport" -> {
                    ms.add(port(M.DPORT, v));
                    i += 2;
                }
                case "--sport" -> {
                    ms.add(port(M.SPORT, v));
                    i += 2;
                }
                case "--match-set" -> {
                    String dir = i + 2 < t.size() ? t.get(i + 2) : "";
                    ms.add(dir.equals("src") ? Match.of(M.SET_SRC, v) : dir.equals("dst") ? Match.of(M.SET_DST, v)
                            : Match.unknown("--match-set " + v + " " + dir));
                    i += 3;
                }
                case "--dst-type" -> {
                    ms.add(v.equals("LOCAL") ? Match.of(M.DST_LOCAL, v) : Match.unknown("--dst-type " + v));
                    i += 2;
                }
                case "--mark" -> {
                    long[] mm = mark(v);
                    ms.add(mm == null ? Match.unknown("--mark " + v) : Match.mark(mm[0], mm[1]));
                    i += 2;
                }
                case "--comment" -> i += 2; // -m comment: no match
                case "--transparent" -> {
                    ms.add(Match.of(M.SOCKET_TRANSPARENT, "socket --transparent"));
                    i += 1;
                }
                case "-j" -> {
                    as.add(target(t.subList(i + 1, t.size()), ms));
                    i = t.size();
                }
                default -> {
                    // a match we do not evaluate (e.g. "!", "-s", "--state"): the walk stops at this rule
                    StringBuilder u = new StringBuilder(k);
                    int j = i + 1;
                    while (j < t.size() && !t.get(j).startsWith("-")) {
                        u.append(' ').append(t.get(j++));
                    }
                    ms.add(Match.unknown(u.toString()));
                    i = j;
                }
            }
        }
        if (as.isEmpty()) {
            as.add(Action.other("no target (counts only)"));
        }
        return new NetfilterWalk.Rule(number, text, ms, as);
    }

    private static Match port(M kind, String v) {
        try {
            return Match.port(kind, Integer.parseInt(v));
        } catch (NumberFormatException e) {
            return Match.unknown((kind == M.DPORT ? "--dport " : "--sport ") + v);
        }
    }

    /** "0x111/0xfff" -> {value, mask}; "0x111" -> mask all ones; null when not a mark. */
    static long[] mark(String v) {
        try {
            String[] p = v.split("/");
            long value = Long.decode(p[0]);
            long mask = p.length > 1 ? Long.decode(p[1]) : 0xffffffffL;
            return new long[] {value, mask};
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static Action target(List<String> t, List<Match> ms) {
        String name = t.isEmpty() ? "" : t.get(0);
        switch (name) {
            case "RETURN":
                return Action.of(NetfilterWalk.T.RETURN);
            case "ACCEPT":
                return Action.of(NetfilterWalk.T.ACCEPT);
            case "DROP":
                return Action.of(NetfilterWalk.T.DROP);
            case "CT":
                if (t.contains("--notrack")) {
                    return Action.of(NetfilterWalk.T.NOTRACK);
                }
                return Action.other(String.join(" ", t));
            case "MARK": {
                int x = t.indexOf("--set-xmark");
                long[] mm = x >= 0 && x + 1 < t.size() ? mark(t.get(x + 1)) : null;
                if (mm == null) {
                    ms.add(Match.unknown("-j " + String.join(" ", t)));
                    return Action.other(String.join(" ", t));
                }
                // --set-xmark V/M: mark = (mark & ~M) ^ V; our rules have V within M, so: (mark & ~M) | V
                return Action.mark(mm[0], mm[1]);
            }
            case "TPROXY": {
                int p = t.indexOf("--on-port");
                int m = t.indexOf("--tproxy-mark");
                long[] mm = m >= 0 && m + 1 < t.size() ? mark(t.get(m + 1)) : new long[] {0, 0};
                try {
                    return Action.tproxy(Integer.parseInt(t.get(p + 1)), mm == null ? 0 : mm[0],
                            mm == null ? 0 : mm[1], false);
                } catch (RuntimeException e) {
                    ms.add(Match.unknown("-j " + String.join(" ", t)));
                    return Action.other(String.join(" ", t));
                }
            }
            default:
                // NFLOG, LOG, ... (or a jump to another chain: not ours to follow): does not decide here
                return Action.other(String.join(" ", t));
        }
    }

    @Override
    public boolean inSet(String set, InetAddress ip) {
        Exec.Result r = Exec.run(List.of("ipset", "test", set, IpAddrs.format(ip)));
        return r.ok();
    }
}
