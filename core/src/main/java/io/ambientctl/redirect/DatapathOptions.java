package io.ambientctl.redirect;

/**
 * Node-wide choices: capture DNS (UDP/TCP 53) to ztunnel's 15053, what happens to an enrolled workload's
 * traffic while no ztunnel is set (fail closed, dropped, by default), and the node's mark bit (one bit, see
 * {@link Marks}): the iptables and nftables modes set and match it, masked by itself, in the node's namespace,
 * and route by it; the eBPF mode reads the same value (it needs no mark there unless it sends a bypass mark).
 */
public record DatapathOptions(boolean dnsCapture, boolean failOpen, int markBit) {
    public static final DatapathOptions DEFAULT = new DatapathOptions(false, false, Marks.DEFAULT_NODE_BIT);

    public DatapathOptions {
        Marks.requireBit(markBit);
    }

    /** With the default mark bit. */
    public DatapathOptions(boolean dnsCapture, boolean failOpen) {
        this(dnsCapture, failOpen, Marks.DEFAULT_NODE_BIT);
    }

    public DatapathOptions withMarkBit(int bit) {
        return new DatapathOptions(dnsCapture, failOpen, bit);
    }
}
