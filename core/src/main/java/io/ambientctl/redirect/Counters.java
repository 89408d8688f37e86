package io.ambientctl.redirect;

import java.util.Arrays;
import java.util.Map;

/**
 * What a mode counted for one workload: packets and bytes redirected each way, and drops by reason
 * ({@code drops[DropReason.code()]}, {@link DropReason#SLOTS} slots).
 */
public record Counters(long outPackets, long outBytes, long inPackets, long inBytes, long[] drops) {
    public static final Counters ZERO = new Counters(0, 0, 0, 0, new long[DropReason.SLOTS]);

    public Counters {
        drops = drops == null ? new long[DropReason.SLOTS] : Arrays.copyOf(drops, DropReason.SLOTS);
    }

    /** Every drop, whatever the reason. */
    public long droppedPackets() {
        long n = 0;
        for (long d : drops) {
            n += d;
        }
        return n;
    }

    public long dropped(DropReason r) {
        return drops[r.code()];
    }

    @Override
    public long[] drops() {
        return drops.clone();
    }

    /** The drops by JSON name ({@code noZtunnel}, {@code noListener}, ...). */
    public Map<String, Long> dropsByReason() {
        return DropReason.byKey(drops);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Counters c && outPackets == c.outPackets && outBytes == c.outBytes
                && inPackets == c.inPackets && inBytes == c.inBytes && Arrays.equals(drops, c.drops);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(outPackets) * 31 + Long.hashCode(inPackets) * 7 + Arrays.hashCode(drops);
    }

    @Override
    public String toString() {
        return "Counters[out=" + outPackets + "/" + outBytes + "B, in=" + inPackets + "/" + inBytes + "B, drops="
                + dropsByReason() + "]";
    }
}
