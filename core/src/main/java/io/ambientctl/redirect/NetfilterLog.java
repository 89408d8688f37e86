package io.ambientctl.redirect;

/**
 * The prefix of the netfilter modes' log rules (pure): {@code ambient DECISION REASON PORT DIR}, with
 * {@code -} for an absent field. DECISION is a monitor decision (pass, outbound, inbound, assigned, drop) or
 * {@code tproxy} (iptables: logged before the TPROXY target, which drops inside itself when no listener is
 * found: the monitor decides assigned or noListener from ztunnel's listening sockets); DIR is {@code out} (the
 * workload is the source), {@code in} (the destination) or {@code -}. iptables and nft rules write the same.
 */
public record NetfilterLog(String decision, String reason, Integer port, String direction) {
    public static final String MAGIC = "ambient";
    /** TCP packets with SYN set (SYNs and SYN-ACKs) and UDP datagrams at most this many per rule and second. */
    public static final int UDP_PER_SEC = io.ambientctl.observe.MonitorOptions.DEFAULT_UDP_PER_SEC;

    public static String prefix(String decision, String reason, Integer port, String dir) {
        return MAGIC + " " + decision + " " + (reason == null ? "-" : reason) + " " + (port == null ? "-" : port)
                + " " + (dir == null ? "-" : dir);
    }

    /** The prefix's fields; null when it is not one of ours. */
    public static NetfilterLog parse(String prefix) {
        String[] t = prefix.strip().split(" ");
        if (t.length != 5 || !t[0].equals(MAGIC)) {
            return null;
        }
        try {
            return new NetfilterLog(t[1], dash(t[2]), t[3].equals("-") ? null : Integer.valueOf(t[3]),
                    t[4].equals("out") ? "outbound" : t[4].equals("in") ? "inbound" : null);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static String dash(String s) {
        return s.equals("-") ? null : s;
    }
}
