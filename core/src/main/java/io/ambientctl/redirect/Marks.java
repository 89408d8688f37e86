package io.ambientctl.redirect;

import java.util.List;

/**
 * The packet marks, routing tables and rule priorities of the modes that mark and route (iptables,
 * nftables), and the bits other owners are known to use, in one place: a change of the mark scheme is a
 * change here (docs/datapath.md has the same table for people).
 *
 * <p>Node namespace: a packet of an enrolled workload gets ONE bit, the node's mark bit (default
 * {@link #DEFAULT_NODE_BIT}, configurable: {@code State.markBit}), set and matched with that bit as its own
 * mask so no other owner's bit is touched ({@code --set-xmark BIT/BIT}, {@code -m mark --mark BIT/BIT},
 * {@code meta mark set meta mark | BIT}), and {@code ip rule fwmark BIT/BIT lookup NODE_TABLE pref
 * NODE_RULE_PREF} sends it to ztunnel's veth. ztunnel's namespace (ztunnel is the only other owner there):
 * Istio's own {@link #TPROXY_MARK} within {@link #TPROXY_MASK}, and {@code lookup ZTUNNEL_TABLE pref
 * ZTUNNEL_RULE_PREF} delivers it locally.
 */
public final class Marks {
    /**
     * The default node mark bit: 0x1000 (bit 12). Free of every owner in {@link #KNOWN}: above Istio's and
     * Cilium's low 12 bits (0x0fff, Cilium's 0x0f00 range, AWS VPC CNI's 0x80), below the container engines'
     * 0x2000 and kube-proxy's 0x4000/0x8000, and outside Calico's and Cilium's high 16 bits.
     */
    public static final int DEFAULT_NODE_BIT = 0x1000;
    public static final String NODE_TABLE = "134";
    public static final String NODE_RULE_PREF = "32099";

    public static final int TPROXY_MARK = 0x111;
    public static final int TPROXY_MASK = 0xfff;
    public static final String ZTUNNEL_TABLE = "133";
    public static final String ZTUNNEL_RULE_PREF = "32100";

    /**
     * The NFLOG group of the netfilter modes' log rules (iptables {@code -j NFLOG --nflog-group}, nft
     * {@code log group}), the same in both modes and namespaces: {@code ambientctl monitor} binds it with a
     * netlink socket in each namespace; with no socket bound the kernel finds no instance and logs nothing.
     */
    public static final int NFLOG_GROUP = 1134;

    /** A range of mark bits another owner is known to use in the node's namespace. */
    public record Owner(String owner, int mask, String use) {
    }

    /** The bits others are known to use (the node's mark bit must miss all of them unless the node lacks that owner). */
    public static final List<Owner> KNOWN = List.of(
            new Owner("kube-proxy", 0x4000, "KUBE-MARK-MASQ: masquerade this packet"),
            new Owner("kube-proxy", 0x8000, "KUBE-MARK-DROP: drop this packet"),
            new Owner("container engines (podman/netavark, CNI portmap)", 0x2000, "masquerade by mark in nat POSTROUTING"),
            new Owner("AWS VPC CNI", 0x80, "connmark of traffic to leave by the primary ENI"),
            new Owner("Cilium", 0x0f00, "MARK_MAGIC_* (proxy, encryption, identity, ...)"),
            new Owner("Cilium", 0xffff0000, "security identity / cluster id"),
            new Owner("Calico", 0xffff0000, "policy marks (its default iptables mark mask)"),
            new Owner("Istio (ztunnel's and istio-cni's in-pod rules)", 0x0fff, "0x111/0xfff and friends"));

    private Marks() {
    }

    /** Refuses anything but a single bit (not 0, one bit set); returns it. */
    public static int requireBit(int bit) {
        if (bit == 0 || Integer.bitCount(bit) != 1) {
            throw new IllegalArgumentException("the node's mark must be exactly one bit (e.g. 0x" + Integer.toHexString(
                    DEFAULT_NODE_BIT) + "), not 0x" + Integer.toHexString(bit));
        }
        return bit;
    }

    /** Parses a mark bit written as a number, hex with 0x ("0x1000") or decimal ("4096"); refuses all but one bit. */
    public static int parseBit(String text) {
        String t = text.strip().toLowerCase();
        long v;
        try {
            v = t.startsWith("0x") ? Long.parseLong(t.substring(2), 16) : Long.parseLong(t);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' is not a mark bit: give one bit as a number, e.g. 0x"
                    + Integer.toHexString(DEFAULT_NODE_BIT));
        }
        if (v <= 0 || v > 0xffffffffL) {
            throw new IllegalArgumentException("'" + text + "' is not a 32-bit mark");
        }
        return requireBit((int) v);
    }

    /** "0x1000/0x1000": as iptables and {@code ip rule} write a mark and its mask. */
    public static String fwmark(int mark, int mask) {
        return "0x" + Integer.toHexString(mark) + "/0x" + Integer.toHexString(mask);
    }

    /** "0x1000". */
    public static String hex(int v) {
        return "0x" + Integer.toHexString(v);
    }

    /** The node's mark bit as iptables and {@code ip rule} write it: the bit within itself. */
    public static String node(int bit) {
        return fwmark(bit, bit);
    }

    /** ztunnel's mark as iptables and {@code ip rule} write it. */
    public static String tproxy() {
        return fwmark(TPROXY_MARK, TPROXY_MASK);
    }

    /** The known owners whose bits overlap {@code bit}. */
    public static List<Owner> collisions(int bit) {
        return KNOWN.stream().filter(o -> (o.mask() & bit) != 0).toList();
    }
}
