package io.ambientctl.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.stream.Stream;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * Preconditions of kernel tests: they skip only where they truly cannot run, and in CI (CI=true)
 * a skip is a failure, so a green CI means the kernel tests ran.
 */
public final class Kernel {
    private static final SecureRandom RANDOM = new SecureRandom();
    public static final Path BPFFS = Path.of("/sys/fs/bpf");

    private Kernel() {
    }

    public static boolean inCi() {
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }

    /** Root, bpffs mounted, iproute2 present: else skip (fail in CI). */
    public static void require() {
        requireThat("root", "root".equals(System.getProperty("user.name")) || uid() == 0);
        requireThat("bpffs mounted at /sys/fs/bpf", isBpffs(BPFFS));
        requireThat("iproute2 (ip) installed", Files.isExecutable(Path.of("/usr/sbin/ip"))
                || Files.isExecutable(Path.of("/sbin/ip")) || Files.isExecutable(Path.of("/usr/bin/ip")));
    }

    public static void requireThat(String what, boolean ok) {
        if (ok) {
            return;
        }
        if (inCi()) {
            Assertions.fail("kernel test cannot run in CI: needs " + what);
        }
        Assumptions.assumeTrue(false, "needs " + what);
    }

    /**
     * A kernel feature the test needs: skipped (failed in CI) naming the feature and the first kernel that has
     * it, as cilium/ebpf's SkipOnOldKernel does, when {@code present} says this kernel lacks it.
     */
    public static void requireFeature(String feature, String minimumKernel, java.util.function.BooleanSupplier present) {
        require();
        requireThat(feature + " (kernel " + minimumKernel + "+; this one is " + release() + ")", present.getAsBoolean());
    }

    /** The running kernel's release, e.g. 6.18.44. */
    public static String release() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** Whether the running kernel is at least {@code major.minor}. */
    public static boolean atLeast(int major, int minor) {
        String[] v = release().split("[.-]");
        try {
            int ma = Integer.parseInt(v[0]);
            int mi = Integer.parseInt(v[1]);
            return ma > major || (ma == major && mi >= minor);
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** TCX links (kernel 6.6+). */
    public static boolean tcx() {
        return atLeast(6, 6);
    }

    static long uid() {
        try {
            return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
        } catch (IOException e) {
            return -1;
        }
    }

    static boolean isBpffs(Path p) {
        try {
            return Files.readAllLines(Path.of("/proc/mounts")).stream()
                    .anyMatch(l -> l.split(" ").length > 2 && l.split(" ")[1].equals(p.toString())
                            && l.split(" ")[2].equals("bpf"));
        } catch (IOException e) {
            return false;
        }
    }

    /** A short unique suffix for names of namespaces, interfaces, pins and chains. */
    public static String unique() {
        byte[] b = new byte[3];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    /** A fresh pin directory under /sys/fs/bpf; remove it with {@link #removeTree}. */
    public static Path bpffsDir(String prefix) throws IOException {
        Path d = BPFFS.resolve(prefix + "-" + unique());
        Files.createDirectories(d);
        return d;
    }

    /** Removes a directory tree (pins included). */
    public static void removeTree(Path dir) {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new IllegalStateException("cannot remove " + p, e);
                }
            });
        } catch (IOException e) {
            throw new IllegalStateException("cannot remove " + dir, e);
        }
    }
}
