package io.ambientctl.redirect;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Why the datapath dropped a packet: the index into a workload's {@code drops} counters, and the reason of a
 * drop decision (monitor, explain). Mirrors the AMBIENT_DROP_* table of bpf/src/ambient.h (DropReasonTableTest
 * compares both). Codes 5..7 are reserved.
 */
public enum DropReason {
    NONE(0, "none", "not dropped"),
    NO_ZTUNNEL(1, "noZtunnel", "fail closed: no ztunnel set"),
    NO_LISTENER(2, "noListener", "ztunnel is not listening on the port"),
    ASSIGN_FAILED(3, "assignFailed", "bpf_sk_assign failed (errno given)"),
    REWRITE_FAILED(4, "rewriteFailed", "rewriting the destination MAC failed");

    /** AMBIENT_DROP_REASONS: the length of the per-workload drops array. */
    public static final int SLOTS = 8;

    private final int code;
    private final String key;
    private final String text;

    DropReason(int code, String key, String text) {
        this.code = code;
        this.key = key;
        this.text = text;
    }

    public int code() {
        return code;
    }

    /** The name in JSON (counters' {@code drops} object, monitor and explain output). */
    public String key() {
        return key;
    }

    public String text() {
        return text;
    }

    /** The reason of a code; null for a reserved or unknown one. */
    public static DropReason of(int code) {
        for (DropReason r : values()) {
            if (r.code == code) {
                return r;
            }
        }
        return null;
    }

    /** The JSON name of a code, "reserved5".. for the reserved ones. */
    public static String keyOf(int code) {
        DropReason r = of(code);
        return r != null ? r.key : "reserved" + code;
    }

    /** Non-zero drop counters by JSON name (the reasons 1..4 always, reserved slots when non-zero). */
    public static Map<String, Long> byKey(long[] drops) {
        Map<String, Long> m = new LinkedHashMap<>();
        for (int i = 1; i < drops.length; i++) {
            if (of(i) != null || drops[i] != 0) {
                m.put(keyOf(i), drops[i]);
            }
        }
        return m;
    }
}
