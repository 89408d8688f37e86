package io.ambientctl.util;

/**
 * Where the time of an operation goes, on stderr, with {@code -Dambientctl.trace=true} (for profiling the
 * control plane; off by default, and then free).
 */
public final class Trace {
    public static final boolean ON = Boolean.getBoolean("ambientctl.trace");

    private Trace() {
    }

    /**
     * Prints how long the process has run when {@code what} happens (start-up's share of a command; from the
     * process's start time, to the clock tick).
     */
    public static void mark(String what) {
        if (ON) {
            long ms = ProcessHandle.current().info().startInstant()
                    .map(t -> java.time.Duration.between(t, java.time.Instant.now()).toMillis()).orElse(-1L);
            System.err.printf("trace at %5d ms  %s%n", ms, what);
        }
    }

    /** Now, for a later {@link #since}. */
    public static long start() {
        return ON ? System.nanoTime() : 0;
    }

    /** Prints how long {@code what} took since {@code t0}; returns now (for the next step). */
    public static long since(long t0, String what) {
        if (!ON) {
            return 0;
        }
        long now = System.nanoTime();
        System.err.printf("trace %7.1f ms  %s%n", (now - t0) / 1e6, what);
        return now;
    }
}
