package io.ambientctl.bpf;

import io.ambientctl.bpf.sys.Native;

/** CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns() (the monitor lease and the events' times). */
public final class Clock {
    private static final int CLOCK_MONOTONIC = 1;

    private Clock() {
    }

    public static long monotonicNs() {
        long[] ts = new long[2];
        if (Native.libc().clock_gettime(CLOCK_MONOTONIC, ts) != 0) {
            throw new IllegalStateException("clock_gettime(CLOCK_MONOTONIC) failed: errno " + Bpf.lastErrno());
        }
        return ts[0] * 1_000_000_000L + ts[1];
    }
}
