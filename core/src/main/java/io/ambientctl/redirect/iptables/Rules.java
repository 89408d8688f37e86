package io.ambientctl.redirect.iptables;

import java.util.ArrayList;
import java.util.List;

import io.ambientctl.redirect.DatapathOptions;
import io.ambientctl.redirect.Marks;
import io.ambientctl.redirect.NetfilterLog;
import io.ambientctl.redirect.Ztunnel;

/**
 * The iptables-restore input of the iptables mode (pure: unit-tested without a kernel). Rules
 * match sets, never one pod at a time, so the per-packet cost does not grow with the pods.
 *
 * <p>Node namespace, mangle PREROUTING -> AMBIENT-PREROUTING: from ztunnel's veth and to the node's
 * own addresses: untouched; the pods' DNS (unless captured, and always for the workloads that opted out of
 * DNS capture): untouched; TCP/UDP from or to an enrolled pod: the node's mark bit ({@code --set-xmark
 * BIT/BIT}: no other bit changes), which policy routing (table 134) sends to ztunnel's eth0.
 *
 * <p>Node namespace, raw PREROUTING -> AMBIENT-PREROUTING (Service VIPs kept): what an enrolled pod sends and
 * the mark captures, and what ztunnel sends to an enrolled pod, is not tracked ({@code CT --notrack}), so no
 * nat table (kube-proxy's DNAT of a ClusterIP, a masquerade) ever sees it: ztunnel gets the destination the
 * application asked for, as in eBPF mode. Both directions of such a flow are untracked alike, so neither
 * meets conntrack as INVALID; other owners' {@code ct state} rules see them as UNTRACKED.
 *
 * <p>ztunnel's namespace: packets of ztunnel's transparent sockets: mark 0x111 (local delivery);
 * to ztunnel's own addresses: untouched; from an enrolled pod: TPROXY 15001 (15053 for DNS); to an
 * enrolled pod: TPROXY 15008 for port 15008, else 15006.
 *
 * <p>Log rules (for {@code ambientctl monitor}): ahead of each decision of the node's mangle chain and of each
 * TPROXY in ztunnel's, a non-terminal {@code -j NFLOG --nflog-group Marks.NFLOG_GROUP} rule with the same
 * match and a prefix naming the decision ({@link NetfilterLog}): TCP packets with SYN set, UDP at most
 * {@link NetfilterLog#UDP_PER_SEC} per rule and second ({@code -m limit}), every packet of a fail-closed drop
 * (no ztunnel). With no monitor bound to the group the kernel finds no listener and logs nothing.
 */
public final class Rules {
    public static final String CHAIN = "AMBIENT-PREROUTING";
    public static final String SET4 = "ambient-pods-v4";
    public static final String SET6 = "ambient-pods-v6";
    /** The enrolled workloads that opted out of DNS capture (node namespace only). */
    public static final String NODNS4 = "ambient-nodns-v4";
    public static final String NODNS6 = "ambient-nodns-v6";
    public static final String NODE_TABLE = Marks.NODE_TABLE;
    public static final String NODE_RULE_PREF = Marks.NODE_RULE_PREF;
    public static final String TPROXY_MARK = Marks.tproxy();

    private Rules() {
    }

    public static String set(boolean v6) {
        return v6 ? SET6 : SET4;
    }

    public static String noDnsSet(boolean v6) {
        return v6 ? NODNS6 : NODNS4;
    }

    /** The node's mark as the rules write it: the bit within itself. */
    public static String nodeMark(DatapathOptions o) {
        return Marks.node(o.markBit());
    }

    private static String header(String table, boolean addJump) {
        StringBuilder sb = new StringBuilder("*" + table + "\n:" + CHAIN + " - [0:0]\n-F " + CHAIN + "\n");
        if (addJump) {
            sb.append("-I PREROUTING 1 -j ").append(CHAIN).append('\n');
        }
        return sb.toString();
    }

    private static String a(String rule) {
        return "-A " + CHAIN + " " + rule + "\n";
    }

    /**
     * The log rules ahead of a decision (none with {@code log} false): {@code pre} (options before -p, or
     * empty), the protocols {@code protos}, {@code post} (options after -p, or empty). Not a drop: TCP packets
     * with SYN set and UDP datagrams within the limit; a drop: every packet.
     */
    private static void log(StringBuilder sb, boolean log, String pre, List<String> protos, String post,
                            String prefix, boolean drop) {
        if (!log) {
            return;
        }
        for (String p : protos) {
            String filter = drop ? "" : p.equals("tcp") ? " --tcp-flags SYN SYN" : " -m limit --limit "
                    + NetfilterLog.UDP_PER_SEC + "/sec";
            String rule = (pre.isEmpty() ? "" : pre + " ") + "-p " + p + (p.equals("tcp") ? filter : "")
                    + (post.isEmpty() ? "" : " " + post) + (p.equals("udp") ? filter : "");
            sb.append(a(rule + " -j NFLOG --nflog-group " + Marks.NFLOG_GROUP + " --nflog-prefix \"" + prefix
                    + "\""));
        }
    }

    /** The node's chains with both jumps added or neither. */
    public static String node(boolean v6, Ztunnel zt, DatapathOptions o, boolean addJump) {
        return node(v6, zt, o, addJump, addJump);
    }

    /**
     * The node's chains (mangle, then raw); {@code zt} null: no ztunnel (marked traffic then meets the blackhole
     * route, and nothing is untracked).
     */
    public static String node(boolean v6, Ztunnel zt, DatapathOptions o, boolean addMangleJump, boolean addRawJump) {
        return mangle(v6, zt, o, addMangleJump) + raw(v6, zt, o, addRawJump);
    }

    /** The DNS a pod sends that is not captured: all of it, or only the opted-out workloads'. */
    private static void dnsReturns(StringBuilder sb, boolean v6, DatapathOptions o, boolean replies) {
        String set = o.dnsCapture() ? noDnsSet(v6) : set(v6);
        for (String p : List.of("udp", "tcp")) {
            String dns = NetfilterLog.prefix("pass", "dnsNotCaptured", null, "out");
            log(sb, replies, "", List.of(p), "--dport 53 -m set --match-set " + set + " src", dns, false);
            sb.append(a("-p " + p + " --dport 53 -m set --match-set " + set + " src -j RETURN"));
            if (replies) {
                dns = NetfilterLog.prefix("pass", "dnsNotCaptured", null, "in");
                log(sb, true, "", List.of(p), "--sport 53 -m set --match-set " + set + " dst", dns, false);
                sb.append(a("-p " + p + " --sport 53 -m set --match-set " + set + " dst -j RETURN"));
            }
        }
    }

    /** The node's mangle chain: marks what goes to ztunnel. */
    public static String mangle(boolean v6, Ztunnel zt, DatapathOptions o, boolean addJump) {
        String set = set(v6);
        StringBuilder sb = new StringBuilder(header("mangle", addJump));
        List<String> both = List.of("tcp", "udp");
        if (zt != null) {
            log(sb, true, "-i " + zt.hostInterface(), both, "", NetfilterLog.prefix("pass", "fromZtunnel", null,
                    null), false);
            sb.append(a("-i " + zt.hostInterface() + " -j RETURN"));
        }
        log(sb, true, "-m addrtype --dst-type LOCAL", both, "-m set --match-set " + set + " src",
                NetfilterLog.prefix("pass", "nodeAddress", null, "out"), false);
        sb.append(a("-m addrtype --dst-type LOCAL -j RETURN"));
        dnsReturns(sb, v6, o, true);
        if (zt != null || !o.failOpen()) {
            for (String dir : List.of("src", "dst")) {
                for (String p : List.of("tcp", "udp")) {
                    // a packet between two enrolled pods is logged once, by the source's rule
                    String unmarked = dir.equals("dst") ? " -m mark ! --mark " + nodeMark(o) : "";
                    String d = dir.equals("src") ? "out" : "in";
                    log(sb, true, "", List.of(p), "-m set --match-set " + set + " " + dir + unmarked,
                            zt == null ? NetfilterLog.prefix("drop", "noZtunnel", null, d)
                                    : NetfilterLog.prefix(dir.equals("src") ? "outbound" : "inbound", null, null, d),
                            zt == null);
                    sb.append(a("-p " + p + " -m set --match-set " + set + " " + dir + " -j MARK --set-xmark "
                            + nodeMark(o)));
                }
            }
        }
        return sb.append("COMMIT\n").toString();
    }

    /**
     * The node's raw chain: keeps what goes to ztunnel (and ztunnel's packets to enrolled pods) away from
     * conntrack, and so from every nat table. Empty of rules without ztunnel.
     */
    public static String raw(boolean v6, Ztunnel zt, DatapathOptions o, boolean addJump) {
        String set = set(v6);
        StringBuilder sb = new StringBuilder(header("raw", addJump));
        if (zt != null) {
            for (String p : List.of("tcp", "udp")) {
                sb.append(a("-i " + zt.hostInterface() + " -p " + p + " -m set --match-set " + set
                        + " dst -j CT --notrack"));
            }
            sb.append(a("-i " + zt.hostInterface() + " -j RETURN"));
            sb.append(a("-m addrtype --dst-type LOCAL -j RETURN"));
            dnsReturns(sb, v6, o, false);
            for (String p : List.of("tcp", "udp")) {
                sb.append(a("-p " + p + " -m set --match-set " + set + " src -j CT --notrack"));
            }
        }
        return sb.append("COMMIT\n").toString();
    }

    /** ztunnel's chain. */
    public static String ztunnel(boolean v6, DatapathOptions o, boolean addJump) {
        String set = set(v6);
        String tp = " -j TPROXY --tproxy-mark " + TPROXY_MARK + " --on-port ";
        StringBuilder sb = new StringBuilder(header("mangle", addJump));
        sb.append(a("-m socket --transparent -j MARK --set-xmark " + TPROXY_MARK));
        sb.append(a("-m mark --mark " + TPROXY_MARK + " -j RETURN"));
        sb.append(a("-m addrtype --dst-type LOCAL -j RETURN"));
        if (o.dnsCapture()) {
            for (String p : List.of("udp", "tcp")) {
                tproxy(sb, p, "--dport 53 -m set --match-set " + set + " src", tp, Ztunnel.DNS_PORT, "out");
            }
        }
        for (String p : List.of("tcp", "udp")) {
            tproxy(sb, p, "-m set --match-set " + set + " src", tp, Ztunnel.OUTBOUND_PORT, "out");
        }
        tproxy(sb, "tcp", "--dport 15008 -m set --match-set " + set + " dst", tp, Ztunnel.HBONE_PORT, "in");
        tproxy(sb, "tcp", "-m set --match-set " + set + " dst", tp, Ztunnel.INBOUND_PORT, "in");
        return sb.append("COMMIT\n").toString();
    }

    /**
     * A TPROXY rule and its log rule ahead (decision {@code tproxy}: the target drops inside itself when no
     * listener is found, so no rule can log that; the monitor tells from ztunnel's listening sockets).
     */
    private static void tproxy(StringBuilder sb, String p, String post, String tp, int port, String dir) {
        log(sb, true, "", List.of(p), post, NetfilterLog.prefix("tproxy", null, port, dir), false);
        sb.append(a("-p " + p + " " + post + tp + port));
    }

    /** Removes our chain and the jump to it from the mangle table. */
    public static String removal(boolean jumpPresent, boolean chainPresent) {
        return removal("mangle", jumpPresent, chainPresent);
    }

    /** Removes our chain and the jump to it from {@code table}. */
    public static String removal(String table, boolean jumpPresent, boolean chainPresent) {
        StringBuilder sb = new StringBuilder("*" + table + "\n");
        if (jumpPresent) {
            sb.append("-D PREROUTING -j ").append(CHAIN).append('\n');
        }
        if (chainPresent) {
            sb.append("-F ").append(CHAIN).append('\n').append("-X ").append(CHAIN).append('\n');
        }
        return sb.append("COMMIT\n").toString();
    }

    /** ipset restore lines creating the pod sets (idempotent with -exist). */
    public static List<String> createSets() {
        List<String> l = new ArrayList<>();
        l.add("create " + SET4 + " hash:ip family inet maxelem 65536");
        l.add("create " + SET6 + " hash:ip family inet6 maxelem 65536");
        return l;
    }

    /** ipset restore lines creating the pod sets and the DNS opt-out sets (the node's namespace). */
    public static List<String> createNodeSets() {
        List<String> l = createSets();
        l.add("create " + NODNS4 + " hash:ip family inet maxelem 65536");
        l.add("create " + NODNS6 + " hash:ip family inet6 maxelem 65536");
        return l;
    }
}
