package io.ambientctl.redirect;

import java.nio.file.Path;

import io.ambientctl.net.NetNs;

/**
 * Where ambientctl keeps its objects on this node: the bpffs directory of its pins, the state
 * directory (state file and lock), and the node's network namespace (where the pods' host-side
 * veths live; the one ambientctl runs in, unless a lab stands in for a node).
 */
public record NodeConfig(Path bpffs, Path stateDir, NetNs nodeNetns) {
    public static final Path DEFAULT_BPFFS = Path.of("/sys/fs/bpf/ambientctl");
    public static final Path DEFAULT_STATE_DIR = Path.of("/var/lib/ambientctl");

    public NodeConfig {
        for (Path p : new Path[] {bpffs, stateDir}) {
            for (Path part : p) {
                if (part.toString().equals("..")) {
                    throw new IllegalArgumentException("refusing the path " + p + ": '..' is not allowed; give the "
                            + "directory itself");
                }
            }
            if (p.toString().chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
                throw new IllegalArgumentException("refusing a path with control characters: " + p.toString()
                        .replaceAll("\\p{Cntrl}", "?"));
            }
        }
        bpffs = bpffs.toAbsolutePath().normalize();
        stateDir = stateDir.toAbsolutePath().normalize();
        if (!bpffs.startsWith("/sys/fs/bpf") || bpffs.equals(Path.of("/sys/fs/bpf"))) {
            throw new IllegalArgumentException("--bpffs " + bpffs + " is not a directory under /sys/fs/bpf: pins live "
                    + "on bpffs (e.g. /sys/fs/bpf/ambientctl)");
        }
        if (stateDir.getNameCount() < 1 || stateDir.startsWith("/proc") || stateDir.startsWith("/sys")) {
            throw new IllegalArgumentException("--state-dir " + stateDir + " is not a place for a state file; use e.g. "
                    + "/var/lib/ambientctl");
        }
    }

    /** Refuses a pin directory whose mount is not bpffs (call before creating pins). */
    public static void requireBpffs(Path bpffs) {
        String mounts;
        try {
            mounts = java.nio.file.Files.readString(Path.of("/proc/self/mounts"));
        } catch (java.io.IOException e) {
            return;
        }
        String best = null;
        String type = null;
        for (String line : mounts.split("\n")) {
            String[] f = line.split(" ");
            if (f.length > 2 && bpffs.startsWith(f[1]) && (best == null || f[1].length() >= best.length())) {
                best = f[1];
                type = f[2];
            }
        }
        if (!"bpf".equals(type)) {
            throw new IllegalStateException("--bpffs " + bpffs + " is on " + (type == null ? "no filesystem" : type + " ("
                    + best + ")") + ", not bpffs: mount it with 'mount -t bpf bpf /sys/fs/bpf'");
        }
    }

    public static NodeConfig defaults() {
        return new NodeConfig(DEFAULT_BPFFS, DEFAULT_STATE_DIR, NetNs.self());
    }
}
