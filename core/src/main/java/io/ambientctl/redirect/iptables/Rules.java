package io.ambientctl.redirect.iptables;

import java.util.ArrayList;
import java.util.List;

import io.ambientctl.redirect.DatapathOptions;
import io.ambientctl.redirect.Marks;
import io.ambientctl.redirect.Ztunnel;

/**
 * The iptables-restore input of the iptables mode (pure: unit-tested without a kernel). Rules
 * match sets, never one pod at a time, so the per-packet cost does not grow with the pods.
 *
 * <p>Node namespace (mangle PREROUTING -> AMBIENT-PREROUTING): from ztunnel's veth and to the node's
 * own addresses: untouched; the pods' DNS (unless captured): untouched; TCP/UDP from or to an
 * enrolled pod: mark 0x2000/0xf000, which policy routing (table 134) sends to ztunnel's eth0.
 *
 * <p>ztunnel's namespace: packets of ztunnel's transparent sockets: mark 0x111 (local delivery);
 * to ztunnel's own addresses: untouched; from an enrolled pod: TPROXY 15001 (15053 for DNS); to an
 * enrolled pod: TPROXY 15008 for port 15008, else 15006.
 */
public final class Rules {
    public static final String CHAIN = "AMBIENT-PREROUTING";
    public static final String SET4 = "ambient-pods-v4";
    public static final String SET6 = "ambient-pods-v6";
    public static final String NODE_MARK = Marks.node();
    public static final String NODE_TABLE = Marks.NODE_TABLE;
    public static final String NODE_RULE_PREF = Marks.NODE_RULE_PREF;
    public static final String TPROXY_MARK = Marks.tproxy();

    private Rules() {
    }

    public static String set(boolean v6) {
        return v6 ? SET6 : SET4;
    }

    private static String header(boolean addJump) {
        StringBuilder sb = new StringBuilder("*mangle\n:" + CHAIN + " - [0:0]\n-F " + CHAIN + "\n");
        if (addJump) {
            sb.append("-I PREROUTING 1 -j ").append(CHAIN).append('\n');
        }
        return sb.toString();
    }

    private static String a(String rule) {
        return "-A " + CHAIN + " " + rule + "\n";
    }

    /** The node's chain; {@code zt} null: no ztunnel (marked traffic then meets the blackhole route). */
    public static String node(boolean v6, Ztunnel zt, DatapathOptions o, boolean addJump) {
        String set = set(v6);
        StringBuilder sb = new StringBuilder(header(addJump));
        if (zt != null) {
            sb.append(a("-i " + zt.hostInterface() + " -j RETURN"));
        }
        sb.append(a("-m addrtype --dst-type LOCAL -j RETURN"));
        if (!o.dnsCapture()) {
            for (String p : List.of("udp", "tcp")) {
                sb.append(a("-p " + p + " --dport 53 -m set --match-set " + set + " src -j RETURN"));
                sb.append(a("-p " + p + " --sport 53 -m set --match-set " + set + " dst -j RETURN"));
            }
        }
        if (zt != null || !o.failOpen()) {
            for (String dir : List.of("src", "dst")) {
                for (String p : List.of("tcp", "udp")) {
                    sb.append(a("-p " + p + " -m set --match-set " + set + " " + dir + " -j MARK --set-xmark "
                            + NODE_MARK));
                }
            }
        }
        return sb.append("COMMIT\n").toString();
    }

    /** ztunnel's chain. */
    public static String ztunnel(boolean v6, DatapathOptions o, boolean addJump) {
        String set = set(v6);
        String tp = " -j TPROXY --tproxy-mark " + TPROXY_MARK + " --on-port ";
        StringBuilder sb = new StringBuilder(header(addJump));
        sb.append(a("-m socket --transparent -j MARK --set-xmark " + TPROXY_MARK));
        sb.append(a("-m mark --mark " + TPROXY_MARK + " -j RETURN"));
        sb.append(a("-m addrtype --dst-type LOCAL -j RETURN"));
        if (o.dnsCapture()) {
            for (String p : List.of("udp", "tcp")) {
                sb.append(a("-p " + p + " --dport 53 -m set --match-set " + set + " src" + tp + Ztunnel.DNS_PORT));
            }
        }
        for (String p : List.of("tcp", "udp")) {
            sb.append(a("-p " + p + " -m set --match-set " + set + " src" + tp + Ztunnel.OUTBOUND_PORT));
        }
        sb.append(a("-p tcp --dport 15008 -m set --match-set " + set + " dst" + tp + Ztunnel.HBONE_PORT));
        sb.append(a("-p tcp -m set --match-set " + set + " dst" + tp + Ztunnel.INBOUND_PORT));
        return sb.append("COMMIT\n").toString();
    }

    /** Removes our chain and the jump to it. */
    public static String removal(boolean jumpPresent, boolean chainPresent) {
        StringBuilder sb = new StringBuilder("*mangle\n");
        if (jumpPresent) {
            sb.append("-D PREROUTING -j ").append(CHAIN).append('\n');
        }
        if (chainPresent) {
            sb.append("-F ").append(CHAIN).append('\n').append("-X ").append(CHAIN).append('\n');
        }
        return sb.append("COMMIT\n").toString();
    }

    /** ipset restore lines creating both sets (idempotent with -exist). */
    public static List<String> createSets() {
        List<String> l = new ArrayList<>();
        l.add("create " + SET4 + " hash:ip family inet maxelem 65536");
        l.add("create " + SET6 + " hash:ip family inet6 maxelem 65536");
        return l;
    }
}
