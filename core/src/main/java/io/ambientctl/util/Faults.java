package io.ambientctl.util;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Fault injection for tests: every kernel or iptables step of a changing operation calls
 * {@link #step}. With {@code AMBIENTCTL_FAULT} (environment) or the system property
 * {@code ambientctl.fault} set to {@code fail@N[:STEP]}, the Nth step (of that kind, when named)
 * throws; {@code kill@N} kills the process there (SIGKILL, as a crash would). Off by default.
 */
public final class Faults {
    private static final AtomicInteger COUNT = new AtomicInteger();
    private static volatile String override;

    private Faults() {
    }

    /** Sets (or clears, with null) the fault for this JVM, and restarts the count. */
    public static void set(String spec) {
        override = spec;
        COUNT.set(0);
    }

    private static String spec() {
        String s = override;
        if (s == null) {
            s = System.getProperty("ambientctl.fault");
        }
        if (s == null) {
            s = System.getenv("AMBIENTCTL_FAULT");
        }
        return s;
    }

    public static void step(String what) {
        String s = spec();
        if (s == null || s.isBlank()) {
            return;
        }
        String[] kindAndRest = s.split("@", 2);
        String[] nAndStep = kindAndRest[1].split(":", 2);
        if (nAndStep.length == 2 && !nAndStep[1].equals(what)) {
            return;
        }
        int n = COUNT.incrementAndGet();
        if (n != Integer.parseInt(nAndStep[0])) {
            return;
        }
        if (kindAndRest[0].equals("kill")) {
            try {
                new ProcessBuilder("kill", "-9", Long.toString(ProcessHandle.current().pid())).start().waitFor();
                Thread.sleep(10_000);
            } catch (InterruptedException | java.io.IOException e) {
                Thread.currentThread().interrupt();
            }
        }
        throw new InjectedFault("injected fault at step " + n + " (" + what + ")");
    }

    /** The failure {@link #step} throws. */
    public static final class InjectedFault extends RuntimeException {
        public InjectedFault(String message) {
            super(message);
        }
    }
}
