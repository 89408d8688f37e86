package io.ambientctl.cli;

import java.util.List;
import java.util.Set;

import io.ambientctl.bpf.LibbpfInfo;
import io.ambientctl.redirect.NodeState;

/**
 * Start-up in parallel: while the main thread builds the command model (picocli), a daemon thread
 * initialises what the command needs next: Jackson's mapper with the state file's deserializer, and libbpf
 * through jnr-ffi for the commands that use it (README "Start-up"). Class initialisation is thread-safe:
 * whichever thread gets there first does the work and the other waits for it. A failure here is ignored;
 * the command meets it again where it can report it.
 */
final class Warmup {
    /** Commands that load libbpf whatever the state (status loads it only in eBPF mode). */
    static final Set<String> NATIVE = Set.of("version", "status", "preflight", "inspect", "enroll", "unenroll", "mode",
            "ztunnel", "repair");
    /** Where nothing is worth warming: help, completion scripts, the shell. */
    static final Set<String> NOTHING = Set.of("-h", "--help", "help", "-V", "--version", "completion", "shell");

    private Warmup() {
    }

    enum Plan { NONE, JSON, JSON_AND_LIBBPF }

    /** What to warm up for {@code args} (a hint: any argument may name the command). */
    static Plan plan(String[] args) {
        List<String> words = List.of(args);
        if (words.isEmpty() || words.stream().anyMatch(NOTHING::contains)) {
            return Plan.NONE;
        }
        return words.stream().anyMatch(NATIVE::contains) ? Plan.JSON_AND_LIBBPF : Plan.JSON;
    }

    /** Starts the warm-up for {@code args} on a daemon thread. */
    static void start(String[] args) {
        Plan plan = plan(args);
        if (plan == Plan.NONE) {
            return;
        }
        Thread t = new Thread(() -> run(plan == Plan.JSON_AND_LIBBPF), "ambientctl-warmup");
        t.setDaemon(true);
        t.start();
    }

    private static void run(boolean natives) {
        try {
            NodeState.prefetchReader();
            if (natives) {
                LibbpfInfo.version();
            }
        } catch (RuntimeException | LinkageError e) {
            // met again, and reported, by the command itself
        }
    }
}
