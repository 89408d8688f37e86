package io.ambientctl.preflight;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * What preflight reads of a host: its /proc, /sys and /boot (a fake root in tests), the tools on
 * its PATH, and the probes that need the real kernel ({@link Probes}).
 */
public record Host(Path proc, Path sys, Path boot, List<Path> path, Probes probes) {

    /** This machine. */
    public static Host real() {
        String p = System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        List<Path> dirs = new java.util.ArrayList<>();
        for (String d : p.split(":")) {
            if (!d.isBlank()) {
                dirs.add(Path.of(d));
            }
        }
        for (String d : List.of("/usr/sbin", "/sbin")) {
            if (!dirs.contains(Path.of(d))) {
                dirs.add(Path.of(d));
            }
        }
        return new Host(Path.of("/proc"), Path.of("/sys"), Path.of("/boot"), List.copyOf(dirs), new KernelProbes());
    }

    /** A host under a fake root: ROOT/proc, ROOT/sys, ROOT/boot, tools in ROOT/bin. */
    public static Host fake(Path root, Probes probes) {
        return new Host(root.resolve("proc"), root.resolve("sys"), root.resolve("boot"), List.of(root.resolve("bin")),
                probes);
    }

    public Optional<String> read(Path p) {
        try {
            return Optional.of(Files.readString(p).strip());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    public Optional<Path> tool(String name) {
        for (Path d : path) {
            Path t = d.resolve(name);
            if (Files.isExecutable(t)) {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }
}
