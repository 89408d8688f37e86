package io.ambientctl.redirect;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

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
            requireAbsolute(p == bpffs ? "--bpffs" : "--state-dir", p);
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
        requireNoLinks("--bpffs", bpffs);
        if (stateDir.getNameCount() < 1 || stateDir.startsWith("/proc") || stateDir.startsWith("/sys")) {
            throw new IllegalArgumentException("--state-dir " + stateDir + " is not a place for a state file; use e.g. "
                    + "/var/lib/ambientctl");
        }
    }

    /**
     * Refuses an empty or relative directory (an empty --state-dir would be the current directory, a relative
     * one depends on where the command happens to run).
     */
    public static Path requireAbsolute(String option, Path p) {
        if (p == null || p.toString().isEmpty()) {
            throw new IllegalArgumentException(option + " is empty: give an absolute directory (e.g. "
                    + (option.equals("--bpffs") ? DEFAULT_BPFFS : DEFAULT_STATE_DIR) + ")");
        }
        if (!p.isAbsolute()) {
            throw new IllegalArgumentException(option + " " + p + " is a relative path: give an absolute directory (e.g. "
                    + (option.equals("--bpffs") ? DEFAULT_BPFFS : DEFAULT_STATE_DIR) + ")");
        }
        return p;
    }

    /**
     * Refuses a pin directory that is not on bpffs (call before creating pins or directories): the real path of
     * its deepest existing ancestor (symbolic links resolved, so a link under /sys/fs/bpf to /etc does not count
     * as bpffs) must lie on a mount of type bpf, as /proc/self/mountinfo tells. Returns that real path.
     */
    public static Path requireBpffs(Path bpffs) {
        Path real = requireNoLinks("--bpffs", bpffs);
        if (Files.exists(real) && !Files.isDirectory(real) && real.equals(bpffs.toAbsolutePath().normalize())) {
            throw new IllegalStateException("--bpffs " + bpffs + " is not a directory; give a directory on bpffs, e.g. "
                    + DEFAULT_BPFFS);
        }
        String[] mount = mountOf(real);
        if (mount == null) {
            return real; // no mountinfo to ask (not Linux?): the kernel refuses pins off bpffs anyway
        }
        if (!"bpf".equals(mount[1])) {
            throw new IllegalStateException("--bpffs " + bpffs + " is on " + mount[1] + " (" + mount[0] + "), not bpffs: "
                    + "mount it with 'mount -t bpf bpf /sys/fs/bpf', or give a directory under a bpffs mount");
        }
        return real;
    }

    /**
     * The real path of the deepest existing ancestor of {@code dir} (itself if it exists); refuses a path that
     * passes through a symbolic link (usage error: the directory would be created or used elsewhere).
     */
    static Path requireNoLinks(String option, Path dir) {
        Path p = dir.toAbsolutePath().normalize();
        Path existing = p;
        while (existing.getParent() != null && !Files.exists(existing, LinkOption.NOFOLLOW_LINKS)) {
            existing = existing.getParent();
        }
        Path real;
        try {
            real = existing.toRealPath();
        } catch (IOException e) {
            throw new IllegalArgumentException(option + " " + dir + ": cannot resolve " + existing + " ("
                    + e.getMessage() + "); give an existing directory's path without symbolic links", e);
        }
        if (!real.equals(existing)) {
            throw new IllegalArgumentException(option + " " + dir + " passes through a symbolic link (" + existing
                    + " is " + real + "): refusing it; give the real directory"
                    + (option.equals("--bpffs") ? " on bpffs, e.g. " + DEFAULT_BPFFS : ""));
        }
        return real;
    }

    /** The mount point and filesystem type of the mount that holds {@code real}, from /proc/self/mountinfo. */
    static String[] mountOf(Path real) {
        List<String> lines;
        try {
            lines = Files.readAllLines(Path.of("/proc/self/mountinfo"));
        } catch (IOException e) {
            return null;
        }
        String[] best = null;
        int bestLen = -1;
        for (String line : lines) {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
            String[] f = line.split(" ");
            int dash = Arrays.asList(f).indexOf("-");
            if (f.length < 5 || dash < 0 || dash + 1 >= f.length) {
                continue;
            }
            Path mp = Path.of(unescape(f[4]));
            // later lines mount over earlier ones at the same point
            if (real.startsWith(mp) && mp.getNameCount() >= bestLen) {
                best = new String[] {mp.toString(), f[dash + 1]};
                bestLen = mp.getNameCount();
            }
        }
        return best;
    }

    private static String unescape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length() && s.substring(i + 1, i + 4)
                    .chars().allMatch(d -> d >= '0' && d <= '7')) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    public static NodeConfig defaults() {
        return new NodeConfig(DEFAULT_BPFFS, DEFAULT_STATE_DIR, NetNs.self());
    }
}
