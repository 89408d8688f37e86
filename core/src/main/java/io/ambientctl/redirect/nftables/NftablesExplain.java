package io.ambientctl.redirect.nftables;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.redirect.NetfilterExplainer;
import io.ambientctl.redirect.NetfilterWalk;
import io.ambientctl.redirect.NetfilterWalk.Action;
import io.ambientctl.redirect.NetfilterWalk.M;
import io.ambientctl.redirect.NetfilterWalk.Match;

/**
 * What `ambientctl explain` reads in nftables mode, in the calling thread's netns: one listing of our table
 * ({@code list table inet ambientctl}, as JSON for the rules and the sets' elements, and as text for each rule's
 * words), its base chains on the prerouting hook in priority order.
 */
final class NftablesExplain implements NetfilterExplainer.Source {
    /** The sets' elements of the last listing (per netns: a listing is read in each namespace before its walk). */
    private final Map<String, Set<InetAddress>> sets = new HashMap<>();

    @Override
    public String mode() {
        return "nftables";
    }

    @Override
    public List<NetfilterWalk.Chain> chains(boolean v6, boolean node) {
        sets.clear();
        if (!NftablesRedirector.tablePresentHere()) {
            return List.of(new NetfilterWalk.Chain("table " + NftRules.table(), "no table " + NftRules.table()
                    + " in this netns: no rule of ambientctl's runs ('ambientctl repair' puts it back)", List.of()));
        }
        JsonNode listing = Nftables.json("list table " + NftRules.table());
        String text = Nftables.run("list table " + NftRules.table());
        for (JsonNode s : Nftables.objects(listing, "set")) {
            Set<InetAddress> els = new HashSet<>();
            for (JsonNode e : s.path("elem")) {
                JsonNode v = e.isTextual() ? e : e.path("elem").path("val");
                if (v.isTextual()) {
                    try {
                        els.add(IpAddrs.parse(v.asText()));
                    } catch (RuntimeException ignored) {
                        // a range or prefix: not ours
                    }
                }
            }
            sets.put(s.path("name").asText(), els);
        }
        List<JsonNode> base = new ArrayList<>();
        for (JsonNode c : Nftables.objects(listing, "chain")) {
            if ("prerouting".equals(c.path("hook").asText())) {
                base.add(c);
            }
        }
        base.sort(Comparator.comparingInt(c -> c.path("prio").asInt()));
        List<NetfilterWalk.Chain> out = new ArrayList<>();
        List<JsonNode> rules = Nftables.objects(listing, "rule");
        for (JsonNode c : base) {
            String name = c.path("name").asText();
            List<String> words = ruleTexts(text, name);
            List<NetfilterWalk.Rule> rs = new ArrayList<>();
            for (JsonNode r : rules) {
                if (name.equals(r.path("chain").asText())) {
                    int n = rs.size() + 1;
                    rs.add(rule(n, n - 1 < words.size() ? words.get(n - 1) : "handle " + r.path("handle").asText(),
                            r.path("expr")));
                }
            }
            out.add(new NetfilterWalk.Chain(NftRules.table() + " " + name + " (priority " + c.path("prio").asInt()
                    + ")", null, rs));
        }
        return out;
    }

    /** The rules' lines of one chain in the text listing, in order. */
    static List<String> ruleTexts(String listing, String chain) {
        List<String> out = new ArrayList<>();
        boolean in = false;
        for (String line : listing.lines().toList()) {
            String l = line.strip();
            if (l.equals("chain " + chain + " {")) {
                in = true;
            } else if (in && l.equals("}")) {
                break;
            } else if (in && !l.isEmpty() && !l.startsWith("type ") && !l.startsWith("policy ")) {
                out.add(l);
            }
        }
        return out;
    }

    /** One rule's expressions in the walk's form; what it does not know becomes an unknown match. */
    static NetfilterWalk.Rule rule(int number, String text, JsonNode exprs) {
        List<Match> ms = new ArrayList<>();
        List<Action> as = new ArrayList<>();
        for (JsonNode e : exprs) {
            if (e.has("match")) {
                ms.add(match(e.get("match")));
            } else if (e.has("return")) {
                as.add(Action.of(NetfilterWalk.T.RETURN));
            } else if (e.has("accept")) {
                as.add(Action.of(NetfilterWalk.T.ACCEPT));
            } else if (e.has("drop")) {
                as.add(Action.of(NetfilterWalk.T.DROP));
            } else if (e.has("notrack")) {
                as.add(Action.of(NetfilterWalk.T.NOTRACK));
            } else if (e.has("tproxy")) {
                as.add(Action.tproxy(e.get("tproxy").path("port").asInt(), 0, 0, true));
            } else if (e.has("mangle") && e.get("mangle").path("key").path("meta").path("key").asText().equals("mark")) {
                long[] vm = markValue(e.get("mangle").path("value"));
                if (vm == null) {
                    ms.add(Match.unknown(e.toString()));
                } else {
                    as.add(Action.mark(vm[0], vm[1]));
                }
            } else if (e.has("counter") || e.has("log")) {
                as.add(Action.other(e.fieldNames().next()));
            } else {
                String kind = e.fieldNames().hasNext() ? e.fieldNames().next() : e.toString();
                if (kind.equals("jump") || kind.equals("goto") || kind.equals("reject") || kind.equals("queue")) {
                    ms.add(Match.unknown(e.toString()));
                } else {
                    as.add(Action.other(kind));
                }
            }
        }
        if (as.isEmpty()) {
            as.add(Action.other("no statement (counts only)"));
        }
        return new NetfilterWalk.Rule(number, text, ms, as);
    }

    /** {@code meta mark | V} -> {V, V}; {@code (meta mark & A) | V} -> {V, ~A}; {@code V} -> {V, all}. */
    static long[] markValue(JsonNode v) {
        if (v.isNumber()) {
            return new long[] {v.asLong(), 0xffffffffL};
        }
        JsonNode or = v.get("|");
        if (or == null || or.size() != 2 || !or.get(1).isNumber()) {
            return null;
        }
        long val = or.get(1).asLong();
        JsonNode left = or.get(0);
        if (isMark(left)) {
            return new long[] {val, val};
        }
        JsonNode and = left.get("&");
        if (and != null && and.size() == 2 && isMark(and.get(0)) && and.get(1).isNumber()) {
            return new long[] {val, ~and.get(1).asLong() & 0xffffffffL};
        }
        return null;
    }

    private static boolean isMark(JsonNode n) {
        return n != null && n.path("meta").path("key").asText().equals("mark");
    }

    private static Match match(JsonNode m) {
        String op = m.path("op").asText("==");
        JsonNode left = m.path("left");
        JsonNode right = m.path("right");
        if (!op.equals("==") && !op.equals("in")) {
            return Match.unknown(m.toString());
        }
        String meta = left.path("meta").path("key").asText("");
        if (meta.equals("iifname") && right.isTextual()) {
            return Match.of(M.IIF, right.asText());
        }
        if (meta.equals("l4proto")) {
            List<String> ps = new ArrayList<>();
            if (right.isTextual()) {
                ps.add(right.asText());
            } else {
                right.path("set").forEach(x -> ps.add(x.asText()));
            }
            return ps.isEmpty() ? Match.unknown(m.toString()) : Match.proto(ps);
        }
        JsonNode payload = left.path("payload");
        if (!payload.isMissingNode()) {
            String proto = payload.path("protocol").asText();
            String field = payload.path("field").asText();
            if ((proto.equals("ip") || proto.equals("ip6")) && right.isTextual() && right.asText().startsWith("@")) {
                // ip saddr @set: an IPv4 packet (the inet table's implicit family check) with the address in it
                return new Match(field.equals("saddr") ? M.SET_SRC : M.SET_DST, right.asText().substring(1),
                        List.of(proto), 0, 0);
            }
            if ((field.equals("dport") || field.equals("sport")) && right.isNumber()
                    && (proto.equals("th") || proto.equals("tcp") || proto.equals("udp"))) {
                Match port = Match.port(field.equals("dport") ? M.DPORT : M.SPORT, right.asInt());
                return proto.equals("th") ? port : new Match(port.kind(), null, List.of(proto), port.value(), 0);
            }
            return Match.unknown(m.toString());
        }
        JsonNode fib = left.path("fib");
        if (!fib.isMissingNode() && fib.path("result").asText().equals("type") && right.asText().equals("local")
                && fib.path("flags").toString().equals("[\"daddr\"]")) {
            return Match.of(M.DST_LOCAL, "fib daddr type local");
        }
        if (left.path("socket").path("key").asText().equals("transparent") && right.asInt(-1) == 1) {
            return Match.of(M.SOCKET_TRANSPARENT, "socket transparent 1");
        }
        JsonNode and = left.get("&");
        if (and != null && and.size() == 2 && isMark(and.get(0)) && and.get(1).isNumber() && right.isNumber()) {
            return Match.mark(right.asLong(), and.get(1).asLong());
        }
        if (isMark(left) && right.isNumber()) {
            return Match.mark(right.asLong(), 0xffffffffL);
        }
        return Match.unknown(m.toString());
    }

    @Override
    public boolean inSet(String set, InetAddress ip) {
        Set<InetAddress> s = sets.get(set);
        return s != null && s.contains(ip);
    }
}
