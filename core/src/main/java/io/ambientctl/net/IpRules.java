package io.ambientctl.net;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The policy routing rules of the calling thread's network namespace, read in-process over rtnetlink (an
 * RTM_GETRULE dump per family, as {@code ip -4|-6 rule show} lists them): no process. Only what the modes'
 * rules use is decoded: preference, firewall mark and mask, table.
 */
public final class IpRules {
    static final int RTM_GETRULE = 34;
    static final int FIB_RULE_HDR = 12; // struct fib_rule_hdr
    static final int FRA_PRIORITY = 6;
    static final int FRA_FWMARK = 10;
    static final int FRA_TABLE = 15;
    static final int FRA_FWMASK = 16;

    private IpRules() {
    }

    /**
     * One rule. {@code mark} is null for a rule that matches no firewall mark, else as iproute2 prints it after
     * {@code fwmark}, with the mask always written ({@code 0x111/0xfff}, {@code 0x2000/0xffffffff}).
     */
    public record Rule(int priority, String mark, int table) {
    }

    /** The rules of one family ({@code v6}: IPv6) in the calling thread's namespace, in the kernel's order. */
    public static List<Rule> here(boolean v6) {
        byte[] hdr = new byte[FIB_RULE_HDR];
        hdr[0] = Netlink.family(v6);
        List<Rule> out = new ArrayList<>();
        try (Netlink.Socket s = Netlink.Socket.open()) {
            s.dump(RTM_GETRULE, hdr, m -> out.add(rule(m)));
        }
        return out;
    }

    /** One RTM_NEWRULE payload (struct fib_rule_hdr and attributes). */
    static Rule rule(ByteBuffer m) {
        Map<Integer, ByteBuffer> a = Netlink.attributes(m, FIB_RULE_HDR);
        int table = a.containsKey(FRA_TABLE) ? a.get(FRA_TABLE).getInt(0) : m.get(4) & 0xff;
        int priority = a.containsKey(FRA_PRIORITY) ? a.get(FRA_PRIORITY).getInt(0) : 0;
        String mark = null;
        if (a.containsKey(FRA_FWMARK) || a.containsKey(FRA_FWMASK)) {
            int value = a.containsKey(FRA_FWMARK) ? a.get(FRA_FWMARK).getInt(0) : 0;
            int mask = a.containsKey(FRA_FWMASK) ? a.get(FRA_FWMASK).getInt(0) : 0xffffffff;
            mark = "0x" + Integer.toHexString(value) + "/0x" + Integer.toHexString(mask);
        }
        return new Rule(priority, mark, table);
    }
}
