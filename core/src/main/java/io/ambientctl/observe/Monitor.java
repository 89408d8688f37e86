package io.ambientctl.observe;

import java.util.function.Consumer;

/**
 * A running monitor of the node's datapath: it holds the monitor lease while it polls (no node lock, no
 * journal) and hands each decision over. Closing it stops the refresh: the lease lapses within seconds.
 */
public interface Monitor extends AutoCloseable {
    /** Waits up to {@code timeoutMs} for decisions, hands each to {@code sink}; refreshes the lease. */
    int poll(int timeoutMs, Consumer<Decision> sink);

    /** What was reported since the start, and what the datapath left out. */
    Summary summary();

    @Override
    void close();

    /**
     * @param decisions   decisions handed over
     * @param rateLimited UDP datagrams the programs did not report (the rate limit), on every CPU, since the start;
     *                    -1 when the mode does not count them (iptables, nftables: the rules' limit)
     * @param lost        events lost because the ring buffer (netfilter modes: the netlink socket) was full
     * @param note        what this mode's monitor does and does not see
     */
    record Summary(long decisions, long rateLimited, long lost, String note) {
    }
}
