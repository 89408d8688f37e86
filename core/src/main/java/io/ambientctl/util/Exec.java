package io.ambientctl.util;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs a host tool (ip, tc, iptables-restore, ...). A child process inherits the network namespace
 * of the thread that starts it, so inside {@code NetNs.call} the tool sees that namespace.
 */
public final class Exec {
    /** Which Debian package provides each tool we run. */
    private static final Map<String, String> PACKAGES = Map.of(
            "ip", "iproute2", "tc", "iproute2", "iptables", "iptables", "ip6tables", "iptables",
            "iptables-restore", "iptables", "ip6tables-restore", "iptables", "iptables-save", "iptables",
            "ip6tables-save", "iptables", "ipset", "ipset", "bpftool", "bpftool");

    private Exec() {
    }

    public record Result(List<String> command, int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }

        /** Throws {@link ExecException} unless the command succeeded. */
        public Result check() {
            if (exitCode != 0) {
                throw new ExecException(this);
            }
            return this;
        }
    }

    public static class ExecException extends RuntimeException {
        private final transient Result result;

        public ExecException(Result r) {
            super("'" + String.join(" ", r.command()) + "' failed (exit " + r.exitCode() + ")"
                    + (r.stderr().isBlank() ? "" : ": " + r.stderr().strip()));
            this.result = r;
        }

        public ExecException(String message, Throwable cause) {
            super(message, cause);
            this.result = null;
        }

        public Result result() {
            return result;
        }
    }

    /**
     * Threads of their own for draining the child's output: in the common pool (one thread on a
     * two-core machine) they would wait behind whatever else runs there while the child blocks on a
     * full pipe, and a large listing (ip -j address on a node with hundreds of veths) would time out.
     */
    private static final java.util.concurrent.ExecutorService READERS = java.util.concurrent.Executors
            .newCachedThreadPool(r -> {
                Thread t = new Thread(r, "exec-reader");
                t.setDaemon(true);
                return t;
            });

    public static Result run(List<String> command) {
        return run(command, null);
    }

    private static final java.util.concurrent.atomic.AtomicLong STARTED = new java.util.concurrent.atomic.AtomicLong();

    /** How many processes {@link #run} has started (or tried to) in this JVM: for tests that assert none ran. */
    public static long started() {
        return STARTED.get();
    }

    /** Runs the command with the given standard input (or none), waits up to 60 s. */
    public static Result run(List<String> command, String stdin) {
        long t0 = System.nanoTime();
        STARTED.incrementAndGet();
        try {
            return runUntimed(command, stdin);
        } finally {
            if (TRACE) {
                System.err.printf("exec %.1f ms: %s%n", (System.nanoTime() - t0) / 1e6, String.join(" ", command));
            }
        }
    }

    /** -Dambientctl.trace=true: every process run, with its duration, on stderr (to find where time goes). */
    private static final boolean TRACE = Trace.ON;

    private static Result runUntimed(List<String> command, String stdin) {
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("LC_ALL", "C");
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            String tool = command.get(0);
            String pkg = PACKAGES.get(tool.substring(tool.lastIndexOf('/') + 1));
            throw new ExecException("cannot run " + tool + ": " + e.getMessage()
                    + (pkg == null ? "" : "; install it with: apt-get install " + pkg), e);
        }
        try {
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()), READERS);
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()), READERS);
            try (var in = p.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new ExecException("'" + String.join(" ", command) + "' did not finish in 60 s", null);
            }
            return new Result(command, p.exitValue(), out.join(), err.join());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new ExecException("interrupted while running " + command.get(0), e);
        }
    }

    public static Result check(String... command) {
        return run(List.of(command)).check();
    }

    private static String readAll(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
