package io.ambientctl.redirect.nftables;

import java.util.ArrayList;
import java.util.List;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.redirect.DatapathOptions;
import io.ambientctl.redirect.Marks;
import io.ambientctl.redirect.NetfilterLog;
import io.ambientctl.redirect.Ztunnel;

/**
 * The nft commands of the nftables mode (pure: unit-tested without a kernel). One table of ours per
 * namespace, {@code inet ambientctl}, with a set per family of enrolled pod addresses and one chain on
 * the prerouting hook at the mangle priority (where the iptables mode's mangle rules run); each change is
 * one transaction. The rules are the iptables mode's ({@code iptables/Rules}), in nftables:
 *
 * <p>Node namespace: from ztunnel's veth and to the node's own addresses: untouched; the pods' DNS (unless
 * captured, and always for the workloads that opted out of DNS capture: sets {@code nodns4/6}): untouched;
 * TCP/UDP from or to an enrolled pod: the node's mark bit ({@code meta mark set meta mark | BIT}: no other bit
 * changes), which policy routing sends to ztunnel's eth0. A second chain, {@code notrack} at the raw priority
 * (-300, before conntrack), leaves untracked what an enrolled pod sends to ztunnel and what ztunnel sends to an
 * enrolled pod, so no nat chain (kube-proxy's Service DNAT, whatever its priority) sees it: ztunnel gets the
 * Service VIP the application asked for (the iptables mode's raw chain, in nftables).
 *
 * <p>ztunnel's namespace: packets of ztunnel's transparent sockets: the tproxy mark (local delivery); to
 * ztunnel's own addresses: untouched; from an enrolled pod: tproxy to 15001 (15053 for DNS when captured);
 * to an enrolled pod: tproxy to 15008 for port 15008, else 15006. As iptables' TPROXY target does, a
 * packet that finds no listener is dropped.
 *
 * <p>Log rules (for {@code ambientctl monitor}), as the iptables mode's: ahead of each decision of the node's
 * chain a non-terminal {@code log group Marks.NFLOG_GROUP} rule with the same match and a {@link NetfilterLog}
 * prefix (TCP with SYN set; UDP {@code limit rate N/second}; every packet of a fail-closed drop). In ztunnel's
 * chain a tproxy statement that finds no socket ends its rule (it does not drop), so each tproxy rule sets the
 * tproxy mark without accepting; the rules after it log {@code assigned} and accept what has the mark, and
 * log {@code drop noListener} and drop the rest of what matched.
 */
public final class NftRules {
    public static final String FAMILY = "inet";
    public static final String TABLE = "ambientctl";
    public static final String CHAIN = "prerouting";
    public static final String SET4 = "pods4";
    public static final String SET6 = "pods6";
    public static final String NODNS4 = "nodns4";
    public static final String NODNS6 = "nodns6";
    /** The node's chain before conntrack (priority raw, -300). */
    public static final String NOTRACK_CHAIN = "untrack";
    /** The chain's priority: mangle (-150), where the iptables mode's rules are. */
    public static final String PRIORITY = "mangle";

    private NftRules() {
    }

    public static String set(boolean v6) {
        return v6 ? SET6 : SET4;
    }

    public static String noDnsSet(boolean v6) {
        return v6 ? NODNS6 : NODNS4;
    }

    /** nft's {@code meta mark set meta mark | BIT}: iptables' {@code --set-xmark BIT/BIT}. */
    static String markBit(int bit) {
        return String.format("meta mark set meta mark | 0x%08x", bit);
    }

    /** "inet ambientctl". */
    public static String table() {
        return FAMILY + " " + TABLE;
    }

    /** nft's {@code meta mark set meta mark & ~MASK | MARK}: iptables' {@code --set-xmark MARK/MASK}. */
    static String markSet(int mark, int mask) {
        return String.format("meta mark set meta mark & 0x%08x | 0x%08x", ~mask, mark);
    }

    /**
     * Creates the table, the sets and the chain when missing, and replaces the chain's rules by {@code rules};
     * with {@code notrack} non-null (the node's table) also the opt-out sets and the notrack chain.
     */
    private static String table(List<String> rules, List<String> notrack) {
        StringBuilder sb = new StringBuilder();
        sb.append("add table ").append(table()).append('\n');
        sb.append("add set ").append(table()).append(' ').append(SET4).append(" { type ipv4_addr; }\n");
        sb.append("add set ").append(table()).append(' ').append(SET6).append(" { type ipv6_addr; }\n");
        if (notrack != null) {
            sb.append("add set ").append(table()).append(' ').append(NODNS4).append(" { type ipv4_addr; }\n");
            sb.append("add set ").append(table()).append(' ').append(NODNS6).append(" { type ipv6_addr; }\n");
            chain(sb, NOTRACK_CHAIN, "raw", notrack);
        }
        chain(sb, CHAIN, PRIORITY, rules);
        return sb.toString();
    }

    private static void chain(StringBuilder sb, String name, String priority, List<String> rules) {
        sb.append("add chain ").append(table()).append(' ').append(name).append(" { type filter hook prerouting ")
                .append("priority ").append(priority).append("; policy accept; }\n");
        sb.append("flush chain ").append(table()).append(' ').append(name).append('\n');
        for (String r : rules) {
            sb.append("add rule ").append(table()).append(' ').append(name).append(' ').append(r).append('\n');
        }
    }

    /** {@code log group G prefix "P"}. */
    static String logStatement(String prefix) {
        return "log prefix \"" + prefix + "\" group " + Marks.NFLOG_GROUP;
    }

    /**
     * The log rules ahead of a decision whose rule matches {@code match} (none with {@code log} false): TCP
     * packets with SYN set and UDP within the limit ({@code udp} false: the match is TCP only); a drop: every
     * packet.
     */
    private static void log(List<String> r, boolean log, String match, boolean udp, String prefix, boolean drop) {
        if (!log) {
            return;
        }
        if (drop) {
            r.add(match + " " + logStatement(prefix));
            return;
        }
        String both = "meta l4proto { tcp, udp }";
        r.add(match.replace(both, "meta l4proto tcp") + " tcp flags & syn == syn " + logStatement(prefix));
        if (udp) {
            String u = match.contains(both) ? match.replace(both, "meta l4proto udp") : match + " meta l4proto udp";
            r.add(u + " limit rate " + NetfilterLog.UDP_PER_SEC + "/second " + logStatement(prefix));
        }
    }

    /** The DNS a pod sends (and, with {@code replies}, gets) that is not captured: all, or the opted-out ones'. */
    private static void dnsReturns(List<String> r, DatapathOptions o, boolean replies) {
        for (boolean v6 : new boolean[] {false, true}) {
            String ip = v6 ? "ip6" : "ip";
            String s = "@" + (o.dnsCapture() ? noDnsSet(v6) : set(v6));
            String m = "meta l4proto { tcp, udp } th dport 53 " + ip + " saddr " + s;
            log(r, replies, m, true, NetfilterLog.prefix("pass", "dnsNotCaptured", null, "out"), false);
            r.add(m + " return");
            if (replies) {
                m = "meta l4proto { tcp, udp } th sport 53 " + ip + " daddr " + s;
                log(r, true, m, true, NetfilterLog.prefix("pass", "dnsNotCaptured", null, "in"), false);
                r.add(m + " return");
            }
        }
    }

    /**
     * The node's notrack chain: what ztunnel sends to an enrolled pod, and what an enrolled pod sends that the
     * mark captures, is not tracked (so never NATed); empty without ztunnel.
     */
    public static List<String> notrackRules(Ztunnel zt, DatapathOptions o) {
        List<String> r = new ArrayList<>();
        if (zt == null) {
            return r;
        }
        for (boolean v6 : new boolean[] {false, true}) {
            String ip = v6 ? "ip6" : "ip";
            r.add("iifname \"" + zt.hostInterface() + "\" meta l4proto { tcp, udp } " + ip + " daddr @" + set(v6)
                    + " notrack");
        }
        r.add("iifname \"" + zt.hostInterface() + "\" return");
        r.add("fib daddr type local return");
        dnsReturns(r, o, false);
        for (boolean v6 : new boolean[] {false, true}) {
            String ip = v6 ? "ip6" : "ip";
            r.add("meta l4proto { tcp, udp } " + ip + " saddr @" + set(v6) + " notrack");
        }
        return r;
    }

    /** The node's rules; {@code zt} null: no ztunnel (marked traffic then meets the blackhole route). */
    public static List<String> nodeRules(Ztunnel zt, DatapathOptions o) {
        List<String> r = new ArrayList<>();
        if (zt != null) {
            String m = "iifname \"" + zt.hostInterface() + "\"";
            log(r, true, m, true, NetfilterLog.prefix("pass", "fromZtunnel", null, null), false);
            r.add(m + " return");
        }
        for (boolean v6 : new boolean[] {false, true}) {
            log(r, true, "fib daddr type local " + (v6 ? "ip6" : "ip") + " saddr @" + set(v6), true,
                    NetfilterLog.prefix("pass", "nodeAddress", null, "out"), false);
        }
        r.add("fib daddr type local return");
        dnsReturns(r, o, true);
        if (zt != null || !o.failOpen()) {
            for (boolean v6 : new boolean[] {false, true}) {
                String ip = v6 ? "ip6" : "ip";
                for (String dir : List.of("saddr", "daddr")) {
                    String m = "meta l4proto { tcp, udp } " + ip + " " + dir + " @" + set(v6);
                    // a packet between two enrolled pods is logged once, by the source's rule
                    String unmarked = dir.equals("daddr") ? String.format(" meta mark & 0x%08x == 0", o.markBit())
                            : "";
                    String d = dir.equals("saddr") ? "out" : "in";
                    log(r, true, m + unmarked, true, zt == null ? NetfilterLog.prefix("drop", "noZtunnel", null, d)
                            : NetfilterLog.prefix(dir.equals("saddr") ? "outbound" : "inbound", null, null, d),
                            zt == null);
                    r.add(m + " " + markBit(o.markBit()));
                }
            }
        }
        return r;
    }

    /** ztunnel's rules. */
    public static List<String> ztunnelRules(DatapathOptions o) {
        String mark = markSet(Marks.TPROXY_MARK, Marks.TPROXY_MASK);
        List<String> r = new ArrayList<>();
        // a SYN to a port ztunnel listens on (15008) finds its listener here, before any tproxy (nft's socket
        // match, unlike iptables', takes a wildcard listener): assigned to it, the port is the destination's
        r.add("meta l4proto tcp socket transparent 1 tcp flags & (syn | ack) == syn "
                + logStatement(NetfilterLog.prefix("assigned", null, null, null)));
        r.add("meta l4proto { tcp, udp } socket transparent 1 " + mark);
        r.add(String.format("meta mark & 0x%08x == 0x%08x return", Marks.TPROXY_MASK, Marks.TPROXY_MARK));
        r.add("fib daddr type local return");
        for (boolean v6 : new boolean[] {false, true}) {
            String ip = v6 ? "ip6" : "ip";
            String s = "@" + set(v6);
            if (o.dnsCapture()) {
                tproxy(r, "meta l4proto { tcp, udp } th dport 53 " + ip + " saddr " + s, true, ip, Ztunnel.DNS_PORT,
                        mark, "out");
            }
            tproxy(r, "meta l4proto { tcp, udp } " + ip + " saddr " + s, true, ip, Ztunnel.OUTBOUND_PORT, mark, "out");
            tproxy(r, "tcp dport " + Ztunnel.HBONE_PORT + " " + ip + " daddr " + s, false, ip, Ztunnel.HBONE_PORT,
                    mark, "in");
            tproxy(r, "meta l4proto tcp " + ip + " daddr " + s, false, ip, Ztunnel.INBOUND_PORT, mark, "in");
        }
        return r;
    }

    /**
     * A tproxy rule that sets the tproxy mark (a tproxy that finds no socket ends the rule there); the log and
     * accept of what got the mark (assigned); the log and drop of the rest of what it matched (no listener:
     * iptables' TPROXY drops it).
     */
    private static void tproxy(List<String> r, String match, boolean udp, String ip, int port, String mark,
                               String dir) {
        r.add(match + " tproxy " + ip + " to :" + port + " " + mark);
        String assigned = match + String.format(" meta mark & 0x%08x == 0x%08x", Marks.TPROXY_MASK, Marks.TPROXY_MARK);
        log(r, true, assigned, udp, NetfilterLog.prefix("assigned", null, port, dir), false);
        r.add(assigned + " accept");
        r.add(match + " " + logStatement(NetfilterLog.prefix("drop", "noListener", port, dir)) + " drop");
    }

    /** The node's table (one transaction). */
    public static String node(Ztunnel zt, DatapathOptions o) {
        return table(nodeRules(zt, o), notrackRules(zt, o));
    }

    /** ztunnel's table (one transaction). */
    public static String ztunnel(DatapathOptions o) {
        return table(ztunnelRules(o), null);
    }

    /** Adds the addresses to the sets (an element already there is fine). */
    public static String addElements(List<String> ips) {
        return elements("add", ips);
    }

    /** Adds the addresses of the workloads that opted out of DNS capture to the opt-out sets (node's table). */
    public static String addNoDnsElements(List<String> ips) {
        return elements("add", ips, true);
    }

    /** Removes the addresses from the opt-out sets (node's table; one not there is no error). */
    public static String deleteNoDnsElements(List<String> ips) {
        return elements("add", ips, true) + elements("delete", ips, true);
    }

    /**
     * Removes the addresses from the sets: each is added first in the same transaction, so one that is not
     * there is no error (libnftables 1.0.6 has no {@code destroy element}).
     */
    public static String deleteElements(List<String> ips) {
        return elements("add", ips) + elements("delete", ips);
    }

    private static String elements(String verb, List<String> ips) {
        return elements(verb, ips, false);
    }

    private static String elements(String verb, List<String> ips, boolean noDns) {
        StringBuilder sb = new StringBuilder();
        for (boolean v6 : new boolean[] {false, true}) {
            List<String> of = ips.stream().filter(ip -> IpAddrs.isV6(IpAddrs.parse(ip)) == v6)
                    .map(ip -> IpAddrs.format(IpAddrs.parse(ip))).distinct().toList();
            if (!of.isEmpty()) {
                sb.append(verb).append(" element ").append(table()).append(' ').append(noDns ? noDnsSet(v6) : set(v6))
                        .append(" { ")
                        .append(String.join(", ", of)).append(" }\n");
            }
        }
        return sb.toString();
    }

    /** Removes our table (and with it its sets and chain), when it is there. */
    public static String removal() {
        return "add table " + table() + "\ndelete table " + table() + "\n";
    }
}
