package io.ambientctl.redirect;

/** What a mode counted for one workload: packets and bytes redirected each way, and fail-closed drops. */
public record Counters(long outPackets, long outBytes, long inPackets, long inBytes, long droppedPackets) {
    public static final Counters ZERO = new Counters(0, 0, 0, 0, 0);
}
