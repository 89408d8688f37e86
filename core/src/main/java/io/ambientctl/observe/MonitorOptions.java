package io.ambientctl.observe;

/**
 * What a monitor asks the datapath to report: by default TCP SYNs, UDP datagrams (at most {@code udpPerSec}
 * per CPU and second, counted in the program) and every drop; {@code everyPacket}: every decision.
 */
public record MonitorOptions(boolean everyPacket, int udpPerSec) {
    /** The default UDP limit: datagrams reported per CPU and second. */
    public static final int DEFAULT_UDP_PER_SEC = 100;
    /** How long a refreshed lease holds, and how often a running monitor refreshes it. */
    public static final long LEASE_HOLD_NS = 3_000_000_000L;
    public static final long LEASE_REFRESH_NS = 1_000_000_000L;

    public static MonitorOptions defaults() {
        return new MonitorOptions(false, DEFAULT_UDP_PER_SEC);
    }
}
