package io.ambientctl.redirect;

import java.util.ArrayList;
import java.util.List;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.observe.Explanation;

/**
 * The rule walk of `ambientctl explain` in the netfilter modes (iptables, nftables): one chain's rules as the
 * kernel has them, read back and put in one form by the mode ({@code iptables-save}, {@code nft -j list}), walked
 * for one packet. Only the matches ambientctl's own chains use are evaluated (interface, protocol, ports, set
 * membership, the destination being local, the mark, a transparent socket); a rule with any other match is not
 * guessed at: the walk stops there and says which rule. A target or statement it does not know that does not
 * decide (NFLOG, log, counter) is stepped over.
 */
public final class NetfilterWalk {
    private NetfilterWalk() {
    }

    /** What a match looks at. */
    public enum M { IIF, PROTO, DPORT, SPORT, SET_SRC, SET_DST, DST_LOCAL, MARK, SOCKET_TRANSPARENT, FAMILY, UNKNOWN }

    /**
     * One match: {@code arg} the interface, set name, family ("ip"/"ip6") or the unknown text; {@code protos} the
     * protocols; {@code value}/{@code mask} a port (value) or a mark.
     */
    public record Match(M kind, String arg, List<String> protos, long value, long mask) {
        public static Match of(M kind, String arg) {
            return new Match(kind, arg, List.of(), 0, 0);
        }

        public static Match port(M kind, int port) {
            return new Match(kind, null, List.of(), port, 0);
        }

        public static Match proto(List<String> protos) {
            return new Match(M.PROTO, null, protos, 0, 0);
        }

        public static Match mark(long value, long mask) {
            return new Match(M.MARK, null, List.of(), value, mask);
        }

        public static Match unknown(String text) {
            return of(M.UNKNOWN, text);
        }
    }

    /** What a rule does when it matches. */
    public enum T { RETURN, ACCEPT, DROP, MARK, NOTRACK, TPROXY, CONTINUE }

    /**
     * One target or statement: MARK sets {@code (mark & ~mask) | value} (value = mask = the bit for
     * {@code meta mark | BIT}); TPROXY to {@code port}, and with {@code breaks} (nftables' tproxy statement) a
     * missing listener ends the rule instead of dropping the packet (iptables' TPROXY target drops it).
     * CONTINUE: a statement that does not decide ({@code text} names it: NFLOG, log, counter, ...).
     */
    public record Action(T kind, String text, long value, long mask, int port, boolean breaks) {
        public static Action of(T kind) {
            return new Action(kind, kind.name().toLowerCase(), 0, 0, 0, false);
        }

        public static Action mark(long value, long mask) {
            return new Action(T.MARK, "mark", value, mask, 0, false);
        }

        public static Action tproxy(int port, long markValue, long markMask, boolean breaks) {
            return new Action(T.TPROXY, "tproxy", markValue, markMask, port, breaks);
        }

        public static Action other(String text) {
            return new Action(T.CONTINUE, text, 0, 0, 0, false);
        }
    }

    /** One rule: its number in the chain (1-based), its text as listed, its matches and its actions in order. */
    public record Rule(int number, String text, List<Match> matches, List<Action> actions) {
    }

    /**
     * A chain on the prerouting hook: {@code name} as the user would look for it ("mangle AMBIENT-PREROUTING",
     * "inet ambientctl prerouting"), {@code missing} null when the kernel runs it, else why it does not (no jump
     * to it, no table).
     */
    public record Chain(String name, String missing, List<Rule> rules) {
    }

    /** The packet, as the chain sees it. */
    public record Packet(java.net.InetAddress src, java.net.InetAddress dst, boolean udp, int sport, int dport,
                         String iif, long mark) {
        public boolean v6() {
            return IpAddrs.isV6(dst);
        }

        public String proto() {
            return udp ? "udp" : "tcp";
        }

        public Packet withMark(long m) {
            return new Packet(src, dst, udp, sport, dport, iif, m);
        }

        public Packet withIif(String i) {
            return new Packet(src, dst, udp, sport, dport, i, 0);
        }
    }

    /** What the walk asks of the namespace: set membership, whether an address is local, whether a port listens. */
    public interface Env {
        /** Whether {@code ip} is in set {@code set}; the answer's note ("in set X", "X has no such set"). */
        boolean inSet(String set, java.net.InetAddress ip);

        boolean local(java.net.InetAddress ip);

        /** Whether a socket listens on {@code port} (TCP) / is bound to it (UDP) for {@code dst}'s family. */
        boolean listening(int port, boolean udp, java.net.InetAddress dst);
    }

    /** How a chain ended for the packet. */
    public enum End { FELL_THROUGH, RETURNED, ACCEPTED, DROPPED, TPROXIED, UNEVALUATED, NOT_REACHED }

    /**
     * The walk's result: how it ended, the packet's mark after it, the rule that decided (null when none), a
     * pass reason key for a return (nodeAddress, dnsNotCaptured, fromZtunnel, ztunnelOwn), the TPROXY port and
     * whether a listener was there.
     */
    public record Outcome(End end, long mark, Rule rule, String reason, int port, boolean listener,
                          boolean notracked) {
    }

    /** Walks {@code chain} for {@code p} in the namespace {@code where} (described so), adding a step per rule that matched. */
    public static Outcome walk(Chain chain, String where, Packet p, Env env, List<Explanation.Step> steps) {
        if (chain.missing() != null) {
            steps.add(new Explanation.Step(chain.name(), where, "not reached", null, null, null, null, null,
                    chain.missing()));
            return new Outcome(End.NOT_REACHED, p.mark(), null, null, 0, false, false);
        }
        long mark = p.mark();
        boolean notracked = false;
        int brokeAt = 0; // the port of an nftables tproxy that found no listener (its drop rule follows)
        for (Rule r : chain.rules()) {
            if (r.actions().stream().allMatch(a -> a.kind() == T.CONTINUE)
                    && r.matches().stream().anyMatch(m -> m.kind() == M.UNKNOWN)) {
                continue; // a rule that does not decide (NFLOG, log, counter): whether it matches changes nothing
            }
            String why = null;
            boolean all = true;
            List<String> notes = new ArrayList<>();
            for (Match m : r.matches()) {
                Boolean ok = eval(m, p.withMark(mark), env, notes);
                if (ok == null) {
                    why = "cannot evaluate rule " + r.number() + " (" + r.text() + "): the match '" + m.arg()
                            + "' is not one ambientctl's chains use; the walk stops here";
                    break;
                }
                if (!ok) {
                    all = false;
                    break;
                }
            }
            if (why != null) {
                steps.add(step(chain, r, where, "cannot evaluate", null, null, why));
                return new Outcome(End.UNEVALUATED, mark, r, null, 0, false, notracked);
            }
            if (!all) {
                continue;
            }
            String ruleNote = notes.isEmpty() ? null : String.join("; ", notes);
            for (Action a : r.actions()) {
                switch (a.kind()) {
                    case RETURN -> {
                        String reason = passReason(r);
                        steps.add(step(chain, r, where, "return", reason, null, join(ruleNote,
                                "leaves the chain here")));
                        return new Outcome(End.RETURNED, mark, r, reason, 0, false, notracked);
                    }
                    case ACCEPT -> {
                        steps.add(step(chain, r, where, "accept", null, null, ruleNote));
                        return new Outcome(End.ACCEPTED, mark, r, null, 0, false, notracked);
                    }
                    case DROP -> {
                        if (brokeAt != 0) {
                            steps.add(step(chain, r, where, "drop", DropReason.NO_LISTENER.key(), brokeAt,
                                    join(ruleNote, "dropped: the tproxy before it found no listener on " + brokeAt)));
                            return new Outcome(End.DROPPED, mark, r, DropReason.NO_LISTENER.key(), brokeAt, false,
                                    notracked);
                        }
                        steps.add(step(chain, r, where, "drop", null, null, join(ruleNote, "dropped by this rule")));
                        return new Outcome(End.DROPPED, mark, r, null, 0, false, notracked);
                    }
                    case MARK -> {
                        long before = mark;
                        mark = (mark & ~a.mask()) | a.value();
                        steps.add(step(chain, r, where, "mark " + Marks.hex((int) mark), null, null, join(ruleNote,
                                "mark " + Marks.hex((int) before) + " -> " + Marks.hex((int) mark))));
                    }
                    case NOTRACK -> {
                        notracked = true;
                        steps.add(step(chain, r, where, "notrack", null, null, join(ruleNote,
                                "not tracked: no nat table sees this packet")));
                    }
                    case TPROXY -> {
                        boolean l = env.listening(a.port(), p.udp(), p.dst());
                        String listen = l ? "a socket listens on " + a.port() + " in this netns"
                                : "no socket listens on " + a.port() + " in this netns";
                        if (l) {
                            Explanation.Step s = new Explanation.Step(chain.name() + " #" + r.number(), where,
                                    "tproxy", null, null, null, a.port(), null, join(ruleNote, listen + ": "
                                    + "delivered to it" + (a.mask() != 0 ? " (tproxy mark " + Marks.fwmark(
                                    (int) a.value(), (int) a.mask()) + ")" : "") + "; rule: " + r.text()));
                            steps.add(s);
                            return new Outcome(End.TPROXIED, mark, r, null, a.port(), true, notracked);
                        }
                        if (a.breaks()) {
                            // nftables: the tproxy statement ends the rule; the next rule (our drop) decides
                            brokeAt = a.port();
                            steps.add(new Explanation.Step(chain.name() + " #" + r.number(), where, "no listener",
                                    null, null, null, a.port(), null, join(ruleNote, listen
                                    + ": the tproxy statement ends the rule; rule: " + r.text())));
                            break;
                        }
                        steps.add(new Explanation.Step(chain.name() + " #" + r.number(), where, "drop",
                                DropReason.NO_LISTENER.key(), null, null, a.port(), null, join(ruleNote, listen
                                + ": TPROXY drops the packet; rule: " + r.text())));
                        return new Outcome(End.DROPPED, mark, r, DropReason.NO_LISTENER.key(), a.port(), false,
                                notracked);
                    }
                    case CONTINUE -> steps.add(step(chain, r, where, "continue", null, null, join(ruleNote,
                            a.text() + " does not decide: the walk goes on")));
                    default -> throw new IllegalStateException(a.kind().name());
                }
                if (a.kind() == T.TPROXY) {
                    break; // the rest of an nft rule after a tproxy that found no listener does not run
                }
            }
        }
        return new Outcome(End.FELL_THROUGH, mark, null, null, 0, false, notracked);
    }

    private static String join(String a, String b) {
        return a == null ? b : b == null ? a : a + "; " + b;
    }

    private static Explanation.Step step(Chain c, Rule r, String where, String decision, String reason,
                                         Integer port, String note) {
        return new Explanation.Step(c.name() + " #" + r.number(), where, decision, reason, null, null, port, null,
                join("rule: " + r.text(), note));
    }

    /** The pass reason of a RETURN rule, from what it matches (the vocabulary of the eBPF mode's reasons). */
    static String passReason(Rule r) {
        for (Match m : r.matches()) {
            switch (m.kind()) {
                case IIF -> {
                    return "fromZtunnel";
                }
                case DST_LOCAL -> {
                    return "nodeAddress";
                }
                case MARK -> {
                    return "ztunnelOwn";
                }
                case DPORT, SPORT -> {
                    if (m.value() == 53) {
                        return "dnsNotCaptured";
                    }
                }
                default -> {
                }
            }
        }
        return null;
    }

    /** true / false, or null when the match is not one the walk knows. */
    static Boolean eval(Match m, Packet p, Env env, List<String> notes) {
        switch (m.kind()) {
            case IIF:
                return m.arg().equals(p.iif());
            case PROTO:
                return m.protos().contains(p.proto());
            case DPORT:
                return (m.protos().isEmpty() || m.protos().contains(p.proto())) && m.value() == p.dport();
            case SPORT:
                return (m.protos().isEmpty() || m.protos().contains(p.proto())) && m.value() == p.sport();
            case FAMILY:
                return m.arg().equals(p.v6() ? "ip6" : "ip");
            case SET_SRC:
            case SET_DST: {
                java.net.InetAddress a = m.kind() == M.SET_SRC ? p.src() : p.dst();
                if (!m.protos().isEmpty() && !m.protos().contains(p.v6() ? "ip6" : "ip")) {
                    return false; // an nftables "ip saddr" of an IPv6 packet (or the reverse)
                }
                boolean in = env.inSet(m.arg(), a);
                if (in) {
                    notes.add(IpAddrs.format(a) + " is in set " + m.arg());
                }
                return in;
            }
            case DST_LOCAL: {
                boolean l = env.local(p.dst());
                if (l) {
                    notes.add(IpAddrs.format(p.dst()) + " is a local address of this netns");
                }
                return l;
            }
            case MARK:
                return (p.mark() & m.mask()) == m.value();
            case SOCKET_TRANSPARENT:
                // explain follows a connection's first packet: there is no socket of it yet, transparent or not
                return false;
            default:
                return null;
        }
    }
}
