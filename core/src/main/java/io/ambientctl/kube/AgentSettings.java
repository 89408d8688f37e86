package io.ambientctl.kube;

import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * How the agent runs: the period of its full reconciliation with the API (besides events), the local port of
 * its health endpoints (0: any free port, negative: none), how long it waits for the first listing of Pods and
 * namespaces, how many Pods one batch enrolls under one lock, the longest wait before a failed Pod is tried
 * again, the period of its kernel check (every enrolled workload verified against the kernel, drift repaired),
 * the address of its Prometheus metrics (null: none; port 0: any free port), and whether it takes the Pods of
 * istio-cni's node agent over when that runs on the node too ({@code --take-over}; without it the agent stops).
 */
public record AgentSettings(Duration resync, int healthPort, Duration syncTimeout, int batch, Duration maxRetryDelay,
                            Duration verifyEvery, InetSocketAddress metricsAddress, boolean takeOver) {
    public static final int DEFAULT_HEALTH_PORT = 9883;
    public static final int DEFAULT_METRICS_PORT = 9884;
    public static final String DEFAULT_METRICS_ADDRESS = "0.0.0.0:" + DEFAULT_METRICS_PORT;
    public static final Duration DEFAULT_VERIFY_EVERY = Duration.ofSeconds(10);

    public AgentSettings {
        if (resync == null || resync.isZero() || resync.isNegative()) {
            throw new IllegalArgumentException("the resync period must be positive, not " + resync);
        }
        if (verifyEvery == null || verifyEvery.isZero() || verifyEvery.isNegative()) {
            throw new IllegalArgumentException("--verify-every must be positive, not " + verifyEvery);
        }
        if (healthPort < -1 || healthPort > 65535) {
            throw new IllegalArgumentException("--health-port " + healthPort + " is not a port: give 0 to 65535 (0: any "
                    + "free port), or -1 for no health endpoints");
        }
        if (batch < 1) {
            throw new IllegalArgumentException("a batch has at least one Pod, not " + batch);
        }
    }

    /** Without a kernel check period nor metrics: checks every 10 s, no metrics listener. */
    public AgentSettings(Duration resync, int healthPort, Duration syncTimeout, int batch, Duration maxRetryDelay) {
        this(resync, healthPort, syncTimeout, batch, maxRetryDelay, DEFAULT_VERIFY_EVERY, null, false);
    }

    public static AgentSettings defaults() {
        return new AgentSettings(Duration.ofMinutes(5), DEFAULT_HEALTH_PORT, Duration.ofMinutes(2), 256,
                Duration.ofSeconds(30), DEFAULT_VERIFY_EVERY, metricsAddress(DEFAULT_METRICS_ADDRESS), false);
    }

    public AgentSettings withResync(Duration d) {
        return new AgentSettings(d, healthPort, syncTimeout, batch, maxRetryDelay, verifyEvery, metricsAddress, takeOver);
    }

    public AgentSettings withHealthPort(int port) {
        return new AgentSettings(resync, port, syncTimeout, batch, maxRetryDelay, verifyEvery, metricsAddress, takeOver);
    }

    public AgentSettings withVerifyEvery(Duration d) {
        return new AgentSettings(resync, healthPort, syncTimeout, batch, maxRetryDelay, d, metricsAddress, takeOver);
    }

    public AgentSettings withTakeOver(boolean t) {
        return new AgentSettings(resync, healthPort, syncTimeout, batch, maxRetryDelay, verifyEvery, metricsAddress, t);
    }

    public AgentSettings withMetricsAddress(InetSocketAddress a) {
        return new AgentSettings(resync, healthPort, syncTimeout, batch, maxRetryDelay, verifyEvery, a, takeOver);
    }

    /**
     * HOST:PORT (an IPv6 host in brackets: [::]:9884), :PORT for all addresses, or "none": no metrics listener
     * (null). The host is an address, not a name to resolve.
     */
    public static InetSocketAddress metricsAddress(String text) {
        if (text == null || text.equalsIgnoreCase("none")) {
            return null;
        }
        int colon = text.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("--metrics-address " + text + ": give HOST:PORT (e.g. "
                    + DEFAULT_METRICS_ADDRESS + ", 127.0.0.1:9884, [::]:9884), :PORT, or none");
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--metrics-address " + text + ": the port must be 0 to 65535");
        }
        if (host.isEmpty()) {
            host = "0.0.0.0";
        }
        try {
            return new InetSocketAddress(io.ambientctl.net.IpAddrs.parse(host), port);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--metrics-address " + text + ": the host must be an IP address ("
                    + e.getMessage() + ")", e);
        }
    }
}
