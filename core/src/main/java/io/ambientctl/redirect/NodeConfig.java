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
        bpffs = bpffs.toAbsolutePath().normalize();
        stateDir = stateDir.toAbsolutePath().normalize();
        if (!bpffs.startsWith("/sys/fs/bpf")) {
            throw new IllegalArgumentException("--bpffs " + bpffs + " is not under /sys/fs/bpf: pins live on bpffs");
        }
    }

    public static NodeConfig defaults() {
        return new NodeConfig(DEFAULT_BPFFS, DEFAULT_STATE_DIR, NetNs.self());
    }
}
