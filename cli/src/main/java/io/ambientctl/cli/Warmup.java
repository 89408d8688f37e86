package io.ambientctl.cli;

import java.util.List;
import java.util.Set;

import io.ambientctl.bpf.LibbpfInfo;
import io.ambientctl.redirect.NodeState;

/**
 * Start-up in parallel: while the main thread builds the command model (picocli), a daemon thread
 * initialises what the command needs next: Jackson's mapper with the state file's deserializer, the state file
 * parsed (the command finds it in {@link NodeState}'s cache when its bytes are the same), and libbpf
 * through jnr-ffi for the commands that use it (README "Start-up"). Class initialisation is thread-safe:
 * whichever thread gets there first does the work and the other waits for it. A failure here is ignored;
 * the command meets it again where it can report it.
 */
final class Warmup {
    /** Commands that load libbpf whatever the state (status loads it only in eBPF mode). */
    static final Set<String> NATIVE = Set.of("version", "preflight", "inspect", "enroll", "unenroll", "mode",
            "ztunnel", "repair");
    /** Commands that read the state file (a hint, as {@link #NATIVE}): the warm-up parses it for them. */
    static final Set<String> STATE_READERS = Set.of("status", "enroll", "unenroll", "mode", "inspect", "ztunnel",
            "repair", "uninstall", "explain", "monitor");
    /** Where nothing is worth warming: help, completion scripts, the shell. */
    static final Set<String> NOTHING = Set.of("-h", "--help", "help", "-V", "--version", "completion", "shell");

    private Warmup() {
    }

    /** JSON_AND_LIBBPF_IF_EBPF: libbpf too when the state file records the eBPF mode (status). */
    enum Plan { NONE, JSON, JSON_AND_LIBBPF_IF_EBPF, JSON_AND_LIBBPF }

    /** What to warm up for {@code args} (a hint: any argument may name the command). */
    static Plan plan(String[] args) {
        List<String> words = List.of(args);
        if (words.isEmpty() || words.stream().anyMatch(NOTHING::contains)) {
            return Plan.NONE;
        }
        if (words.stream().anyMatch(NATIVE::contains)) {
            return Plan.JSON_AND_LIBBPF;
        }
        return words.contains("status") ? Plan.JSON_AND_LIBBPF_IF_EBPF : Plan.JSON;
    }

    /**
     * Whether the state file that {@code args} name (--state-dir, --lab; else the default) records the eBPF
     * mode: its first bytes, where the writer puts the mode (a hint: a wrong guess costs only time).
     */
    static boolean stateRecordsEbpf(String[] args) {
        java.nio.file.Path file = stateDir(args).resolve(NodeState.FILE);
        byte[] head = new byte[512];
        int n;
        try (java.io.InputStream in = java.nio.file.Files.newInputStream(file,
                java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (java.io.IOException | RuntimeException e) {
            return false;
        }
        return java.util.regex.Pattern.compile("\"mode\"\\s*:\\s*\"ebpf\"")
                .matcher(new String(head, 0, n, java.nio.charset.StandardCharsets.UTF_8)).find();
    }

    /** The state directory that {@code args} name (--state-dir, --lab; else the default): a hint, as above. */
    static java.nio.file.Path stateDir(String[] args) {
        java.nio.file.Path dir = GlobalOptions.DEFAULT_STATE_DIR;
        String lab = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            if (a.startsWith("--state-dir=")) {
                dir = java.nio.file.Path.of(a.substring("--state-dir=".length()));
            } else if (a.equals("--state-dir") && v != null) {
                dir = java.nio.file.Path.of(v);
            } else if (a.startsWith("--lab=")) {
                lab = a.substring("--lab=".length());
            } else if (a.equals("--lab") && v != null) {
                lab = v;
            }
        }
        return lab == null ? dir : BaseCommand.labStateDir(dir, lab);
    }

    /**
     * Starts the warm-up for {@code args}: Jackson and the state on one daemon thread, libbpf (when the plan
     * has it) on another, each ready about when the main thread needs it. Returns the threads started (for tests).
     */
    static List<Thread> start(String[] args) {
        Plan plan = plan(args);
        if (plan == Plan.NONE) {
            return List.of();
        }
        List<Thread> started = new java.util.ArrayList<>(2);
        java.nio.file.Path stateDir = stateDir(args);
        boolean readsState = List.of(args).stream().anyMatch(STATE_READERS::contains);
        started.add(daemon("ambientctl-warmup", () -> {
            NodeState.prefetchReader();
            if (readsState) {
                NodeState.prefetch(stateDir); // parsed here, found parsed there
            }
        }));
        if (plan == Plan.JSON_AND_LIBBPF || plan == Plan.JSON_AND_LIBBPF_IF_EBPF) {
            started.add(daemon("ambientctl-warmup-libbpf", () -> {
                if (plan == Plan.JSON_AND_LIBBPF || stateRecordsEbpf(args)) {
                    LibbpfInfo.version();
                }
            }));
        }
        return started;
    }

    private static Thread daemon(String name, Runnable work) {
        Thread t = new Thread(() -> {
            try {
                work.run();
            } catch (RuntimeException | LinkageError e) {
                // met again, and reported, by the command itself
            }
        }, name);
        t.setDaemon(true);
        t.start();
        return t;
    }
}
