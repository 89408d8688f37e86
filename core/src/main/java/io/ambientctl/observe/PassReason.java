package io.ambientctl.observe;

/**
 * Why the datapath let a packet pass (the reason of a pass decision). Mirrors the AMBIENT_PASS_* table of
 * bpf/src/ambient.h (DropReasonTableTest compares both).
 */
public enum PassReason {
    NONE(0, "none", "-"),
    NOT_L4(1, "notL4", "not IP, or not TCP/UDP"),
    NOT_ENROLLED(2, "notEnrolled", "no enrolled workload at that end"),
    NODE_ADDR(3, "nodeAddress", "to or from a node address (kubelet probes)"),
    DNS(4, "dnsNotCaptured", "DNS not captured (node-wide off, or the workload opted out)"),
    FROM_ZTUNNEL(5, "fromZtunnel", "sent by ztunnel"),
    FAIL_OPEN(6, "failOpen", "no ztunnel set, fail open"),
    ZTUNNEL_OWN(7, "ztunnelOwn", "ztunnel's own traffic");

    private final int code;
    private final String key;
    private final String text;

    PassReason(int code, String key, String text) {
        this.code = code;
        this.key = key;
        this.text = text;
    }

    public int code() {
        return code;
    }

    public String key() {
        return key;
    }

    public String text() {
        return text;
    }

    public static PassReason of(int code) {
        for (PassReason r : values()) {
            if (r.code == code) {
                return r;
            }
        }
        return null;
    }

    public static String keyOf(int code) {
        PassReason r = of(code);
        return r != null ? r.key : "unknown" + code;
    }
}
