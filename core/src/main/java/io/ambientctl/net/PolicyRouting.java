package io.ambientctl.net;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.ambientctl.bpf.Errno;

/**
 * Policy routing rules and routes of the calling thread's network namespace changed in-process over rtnetlink
 * (RTM_NEWRULE / RTM_DELRULE, RTM_NEWROUTE / RTM_DELROUTE, each asked with NLM_F_ACK and its acknowledgement
 * checked), as the {@code ip rule} / {@code ip route} commands the modes ran before send them: no process. Only
 * what the modes' routing uses is built: a rule {@code fwmark MARK/MASK lookup TABLE pref PREF}, the routes
 * {@code local 0.0.0.0/0 (::/0) dev lo}, {@code blackhole default}, {@code default via IP dev IF onlink} in a
 * table, a table's routes read and flushed.
 */
public final class PolicyRouting {
    static final int RTM_NEWROUTE = 24;
    static final int RTM_DELROUTE = 25;
    static final int RTM_GETROUTE = 26;
    static final int RTM_NEWRULE = 32;
    static final int RTM_DELRULE = 33;
    static final int NLM_F_REPLACE = 0x100;
    static final int NLM_F_EXCL = 0x200;
    static final int NLM_F_CREATE = 0x400;
    static final int RTMSG = 12; // struct rtmsg
    static final int RTA_DST = 1;
    static final int RTA_OIF = 4;
    static final int RTA_GATEWAY = 5;
    static final int RTA_TABLE = 15;
    static final int RTN_UNICAST = 1;
    static final int RTN_LOCAL = 2;
    static final int RTN_BLACKHOLE = 6;
    static final int RT_SCOPE_UNIVERSE = 0;
    static final int RT_SCOPE_HOST = 254;
    static final int RTPROT_BOOT = 3;
    static final int RTNH_F_ONLINK = 4;
    static final int FR_ACT_TO_TBL = 1;
    /** The loopback device's index in every namespace (LOOPBACK_IFINDEX). */
    static final int LOOPBACK_IFINDEX = 1;

    private PolicyRouting() {
    }

    /** A route of a table: its type (RTN_*), prefix length, gateway (or null) and output interface (or 0). */
    public record Route(int type, int dstLen, InetAddress gateway, int oif) {
        public boolean blackhole() {
            return type == RTN_BLACKHOLE;
        }
    }

    /** A rule failed or a route the kernel refused: what was asked, and the kernel's reason. */
    public static final class RoutingException extends IllegalStateException {
        private final int errno;

        RoutingException(String what, Netlink.DumpFailed e) {
            super(what + " failed: " + e.getMessage().replaceFirst("^netlink dump failed: ", ""), e);
            this.errno = e.errno();
        }

        public int errno() {
            return errno;
        }
    }

    /** {@code "0x1000/0x1000"} or {@code "0x2000"} (mask all ones) as value and mask. */
    static int[] mark(String mark) {
        String[] p = mark.split("/");
        int value = Integer.parseUnsignedInt(p[0].replaceFirst("^0x", ""), 16);
        int mask = p.length > 1 ? Integer.parseUnsignedInt(p[1].replaceFirst("^0x", ""), 16) : 0xffffffff;
        return new int[] {value, mask};
    }

    private static String fam(boolean v6) {
        return v6 ? "ip -6" : "ip -4";
    }

    /** {@code ip -4|-6 rule add fwmark MARK lookup TABLE pref PREF} (an identical rule there: EEXIST, thrown). */
    public static void addRule(boolean v6, String mark, int table, int pref) {
        String what = fam(v6) + " rule add fwmark " + mark + " lookup " + table + " pref " + pref;
        try (Netlink.Socket s = Netlink.Socket.open()) {
            s.ack(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, rule(v6, mark, table, pref));
        } catch (Netlink.DumpFailed e) {
            throw new RoutingException(what, e);
        }
    }

    /**
     * {@code ip -4|-6 rule del [pref PREF] fwmark MARK lookup TABLE} ({@code pref} null: any preference). Returns
     * false when no such rule was there.
     */
    public static boolean deleteRule(boolean v6, String mark, int table, Integer pref) {
        String what = fam(v6) + " rule del " + (pref == null ? "" : "pref " + pref + " ") + "fwmark " + mark
                + " lookup " + table;
        try (Netlink.Socket s = Netlink.Socket.open()) {
            s.ack(RTM_DELRULE, 0, rule(v6, mark, table, pref));
            return true;
        } catch (Netlink.DumpFailed e) {
            if (e.errno() == Errno.ENOENT) {
                return false;
            }
            throw new RoutingException(what, e);
        }
    }

    /** struct fib_rule_hdr and FRA_TABLE, FRA_FWMARK, FRA_FWMASK, FRA_PRIORITY, as iproute2 builds them. */
    static byte[] rule(boolean v6, String mark, int table, Integer pref) {
        int[] m = mark(mark);
        ByteBuffer b = ByteBuffer.allocate(IpRules.FIB_RULE_HDR + 8 * (pref == null ? 3 : 4))
                .order(ByteOrder.nativeOrder());
        b.put(Netlink.family(v6)).put((byte) 0).put((byte) 0).put((byte) 0); // family, dst, src, tos
        b.put((byte) (table < 256 ? table : 0)).put((byte) 0).put((byte) 0).put((byte) FR_ACT_TO_TBL).putInt(0);
        u32(b, IpRules.FRA_TABLE, table);
        u32(b, IpRules.FRA_FWMARK, m[0]);
        u32(b, IpRules.FRA_FWMASK, m[1]);
        if (pref != null) {
            u32(b, IpRules.FRA_PRIORITY, pref);
        }
        return b.array();
    }

    private static void u32(ByteBuffer b, int type, int value) {
        b.putShort((short) 8).putShort((short) type).putInt(value);
    }

    /** {@code ip -4|-6 route replace local 0.0.0.0/0 (::/0) dev lo table TABLE}. */
    public static void replaceLocalDefault(boolean v6, int table) {
        replace(v6, table, RTN_LOCAL, RT_SCOPE_HOST, null, LOOPBACK_IFINDEX, false,
                fam(v6) + " route replace local " + (v6 ? "::/0" : "0.0.0.0/0") + " dev lo table " + table);
    }

    /** {@code ip -4|-6 route replace blackhole default table TABLE}. */
    public static void replaceBlackholeDefault(boolean v6, int table) {
        replace(v6, table, RTN_BLACKHOLE, RT_SCOPE_UNIVERSE, null, 0, false,
                fam(v6) + " route replace blackhole default table " + table);
    }

    /** {@code ip -4|-6 route replace default via GATEWAY dev DEV onlink table TABLE} (DEV: this namespace's). */
    public static void replaceDefaultVia(boolean v6, int table, InetAddress gateway, String dev) {
        String what = fam(v6) + " route replace default via " + IpAddrs.format(gateway) + " dev " + dev
                + " onlink table " + table;
        int oif = Links.byName(Links.hereWithoutAddresses(), dev).map(Link::ifindex).orElseThrow(() ->
                new IllegalStateException(what + " failed: no interface " + dev + " in this network namespace"));
        if (IpAddrs.isV6(gateway) != v6) {
            throw new IllegalArgumentException(what + ": the gateway is not of the family");
        }
        replace(v6, table, RTN_UNICAST, RT_SCOPE_UNIVERSE, gateway, oif, true, what);
    }

    private static void replace(boolean v6, int table, int type, int scope, InetAddress gateway, int oif,
            boolean onlink, String what) {
        byte[] gw = gateway == null ? null : gateway.getAddress();
        int size = RTMSG + 8 + (oif > 0 ? 8 : 0) + (gw == null ? 0 : Netlink.align(4 + gw.length));
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.nativeOrder());
        b.put(Netlink.family(v6)).put((byte) 0).put((byte) 0).put((byte) 0); // family, dst/0, src, tos
        b.put((byte) (table < 256 ? table : 0)).put((byte) RTPROT_BOOT).put((byte) scope).put((byte) type);
        b.putInt(onlink ? RTNH_F_ONLINK : 0);
        u32(b, RTA_TABLE, table);
        if (oif > 0) {
            u32(b, RTA_OIF, oif);
        }
        if (gw != null) {
            b.putShort((short) (4 + gw.length)).putShort((short) RTA_GATEWAY).put(gw);
        }
        try (Netlink.Socket s = Netlink.Socket.open()) {
            s.ack(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, b.array());
        } catch (Netlink.DumpFailed e) {
            throw new RoutingException(what, e);
        }
    }

    /** The routes of table {@code table}, one family (an RTM_GETROUTE dump, the table's kept). */
    public static List<Route> routes(boolean v6, int table) {
        List<Route> out = new ArrayList<>();
        try (Netlink.Socket s = Netlink.Socket.open()) {
            dump(s, v6, table, (m, a) -> out.add(route(m, a)));
        }
        return out;
    }

    /**
     * {@code ip -4|-6 route flush table TABLE}: each route of the table deleted (a missing table, or a route gone
     * meanwhile, is fine). Returns how many were deleted.
     */
    public static int flush(boolean v6, int table) {
        List<byte[]> found = new ArrayList<>();
        try (Netlink.Socket s = Netlink.Socket.open()) {
            dump(s, v6, table, (m, a) -> {
                byte[] copy = new byte[m.remaining()];
                m.duplicate().get(copy);
                found.add(copy);
            });
            int n = 0;
            for (byte[] r : found) {
                try {
                    s.ack(RTM_DELROUTE, 0, r); // the route as the kernel listed it, as iproute2 sends it back
                    n++;
                } catch (Netlink.DumpFailed e) {
                    if (e.errno() != Errno.ESRCH && e.errno() != Errno.ENOENT) {
                        throw new RoutingException(fam(v6) + " route flush table " + table, e);
                    }
                }
            }
            return n;
        }
    }

    private interface Each {
        void route(ByteBuffer m, Map<Integer, ByteBuffer> attributes);
    }

    private static void dump(Netlink.Socket s, boolean v6, int table, Each each) {
        byte[] hdr = new byte[RTMSG];
        hdr[0] = Netlink.family(v6);
        s.dump(RTM_GETROUTE, hdr, m -> {
            Map<Integer, ByteBuffer> a = Netlink.attributes(m, RTMSG);
            int t = a.containsKey(RTA_TABLE) ? a.get(RTA_TABLE).getInt(0) : m.get(4) & 0xff;
            if (t == table) {
                each.route(m, a);
            }
        });
    }

    private static Route route(ByteBuffer m, Map<Integer, ByteBuffer> a) {
        InetAddress gw = null;
        if (a.containsKey(RTA_GATEWAY)) {
            byte[] b = new byte[a.get(RTA_GATEWAY).remaining()];
            a.get(RTA_GATEWAY).duplicate().get(b);
            try {
                gw = InetAddress.getByAddress(b);
            } catch (java.net.UnknownHostException e) {
                gw = null;
            }
        }
        int oif = a.containsKey(RTA_OIF) ? a.get(RTA_OIF).getInt(0) : 0;
        return new Route(m.get(7) & 0xff, m.get(1) & 0xff, gw, oif);
    }
}
