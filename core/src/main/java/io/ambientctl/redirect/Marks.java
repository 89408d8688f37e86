package io.ambientctl.redirect;

/**
 * The packet marks, routing tables and rule priorities of the modes that mark and route (iptables,
 * nftables), in one place: a change of the mark scheme is a change here.
 *
 * <p>Node namespace: a packet of an enrolled workload gets {@link #NODE_MARK} (within {@link #NODE_MASK}),
 * and {@code ip rule fwmark NODE_MARK/NODE_MASK lookup NODE_TABLE pref NODE_RULE_PREF} sends it to ztunnel's
 * veth. ztunnel's namespace: a captured packet gets {@link #TPROXY_MARK} (within {@link #TPROXY_MASK}), and
 * {@code lookup ZTUNNEL_TABLE pref ZTUNNEL_RULE_PREF} delivers it locally.
 */
public final class Marks {
    public static final int NODE_MARK = 0x2000;
    public static final int NODE_MASK = 0xf000;
    public static final String NODE_TABLE = "134";
    public static final String NODE_RULE_PREF = "32099";

    public static final int TPROXY_MARK = 0x111;
    public static final int TPROXY_MASK = 0xfff;
    public static final String ZTUNNEL_TABLE = "133";
    public static final String ZTUNNEL_RULE_PREF = "32100";

    private Marks() {
    }

    /** "0x2000/0xf000": as iptables and {@code ip rule} write a mark and its mask. */
    public static String fwmark(int mark, int mask) {
        return "0x" + Integer.toHexString(mark) + "/0x" + Integer.toHexString(mask);
    }

    /** The node's mark as iptables and {@code ip rule} write it. */
    public static String node() {
        return fwmark(NODE_MARK, NODE_MASK);
    }

    /** ztunnel's mark as iptables and {@code ip rule} write it. */
    public static String tproxy() {
        return fwmark(TPROXY_MARK, TPROXY_MASK);
    }
}
