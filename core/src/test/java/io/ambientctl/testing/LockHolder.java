package io.ambientctl.testing;

import java.nio.file.Path;
import java.time.Duration;

import io.ambientctl.redirect.NodeState;

/**
 * A process that does what a changing command does while it runs: holds the node lock with the journal
 * naming its operation, until its stdin closes or it is killed (then the journal stays: interrupted).
 * Usage: LockHolder STATE_DIR OPERATION; prints "held" once it holds the lock.
 */
public final class LockHolder {
    private LockHolder() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        try (NodeState.Lock lock = NodeState.lock(dir, Duration.ofSeconds(30))) {
            NodeState.beginJournal(dir, args[1]);
            System.out.println("held");
            System.out.flush();
            System.in.readAllBytes();
        }
    }

    /** Starts one with this JVM's class path; returns once it holds the lock. */
    public static Process start(Path dir, String operation) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp",
                System.getProperty("java.class.path"), LockHolder.class.getName(), dir.toString(), operation)
                .redirectErrorStream(true).start();
        var in = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()));
        String line = in.readLine();
        if (!"held".equals(line)) {
            p.destroyForcibly();
            throw new IllegalStateException("the lock holder did not take the lock: " + line);
        }
        return p;
    }
}
