package io.ambientctl.kube;

import java.time.Duration;

/**
 * How the agent runs: the period of its full reconciliation (besides events), the local port of its
 * health endpoints (0: any free port, negative: none), how long it waits for the first listing of
 * Pods and namespaces, how many Pods one batch enrolls under one lock, and the longest wait before
 * a failed Pod is tried again.
 */
public record AgentSettings(Duration resync, int healthPort, Duration syncTimeout, int batch, Duration maxRetryDelay) {
    public static final int DEFAULT_HEALTH_PORT = 9883;

    public AgentSettings {
        if (resync == null || resync.isZero() || resync.isNegative()) {
            throw new IllegalArgumentException("the resync period must be positive, not " + resync);
        }
        if (healthPort < -1 || healthPort > 65535) {
            throw new IllegalArgumentException("--health-port " + healthPort + " is not a port: give 0 to 65535 (0: any "
                    + "free port), or -1 for no health endpoints");
        }
        if (batch < 1) {
            throw new IllegalArgumentException("a batch has at least one Pod, not " + batch);
        }
    }

    public static AgentSettings defaults() {
        return new AgentSettings(Duration.ofMinutes(5), DEFAULT_HEALTH_PORT, Duration.ofMinutes(2), 256,
                Duration.ofSeconds(30));
    }

    public AgentSettings withResync(Duration d) {
        return new AgentSettings(d, healthPort, syncTimeout, batch, maxRetryDelay);
    }

    public AgentSettings withHealthPort(int port) {
        return new AgentSettings(resync, port, syncTimeout, batch, maxRetryDelay);
    }
}
