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
     * Prints how long the process has run when {@code what} happens (start-up's share of a command): the time since
     * boot (/proc/uptime) less the process's start (/proc/self/stat, in clock ticks of 1/100 s), so to 10 ms.
     * (ProcessHandle's start instant adds the boot time, which the kernel gives to the second: up to a second off.)
     */
    public static void mark(String what) {
        if (ON) {
            System.err.printf("trace at %5d ms  %s%n", sinceStart(), what);
        }
    }

    /** Milliseconds since this process started, -1 when /proc cannot tell. */
    static long sinceStart() {
        try {
            String uptime = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/uptime"));
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/stat"));
            // the fields after the command's name, which is in parentheses and may hold spaces: starttime is 22nd
            String[] after = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            long startTicks = Long.parseLong(after[22 - 3]);
            double up = Double.parseDouble(uptime.substring(0, uptime.indexOf(' ')));
            return Math.round(up * 1000) - startTicks * 10;
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
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
