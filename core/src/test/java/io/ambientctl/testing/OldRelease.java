package io.ambientctl.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assertions;

/**
 * The previous release of this repository (git tag {@link #TAG}), built from its own sources, as a process: the
 * upgrade tests install a node with it, then upgrade with the current build. The jar comes from
 * {@code AMBIENTCTL_OLD_RELEASE_JAR} when set (CI builds it before the tests: .ci/run), else from
 * .ci/old-release.sh, which builds the tag once per commit into a cached directory. A missing tag fails the test
 * with what to do (never a skip: the upgrade is what this test is for).
 */
public final class OldRelease {
    public static final String TAG = "v0.1.0";
    private static Path jar;

    private OldRelease() {
    }

    /** The old release's CLI jar (built once). */
    public static synchronized Path jar() {
        if (jar != null) {
            return jar;
        }
        String given = System.getenv("AMBIENTCTL_OLD_RELEASE_JAR");
        if (given != null && !given.isBlank()) {
            Path p = Path.of(given);
            if (!Files.isRegularFile(p)) {
                Assertions.fail("AMBIENTCTL_OLD_RELEASE_JAR=" + given + " is not a file (.ci/old-release.sh prints the "
                        + "path of the release's jar)");
            }
            return jar = p;
        }
        Path root = repoRoot();
        Path script = root.resolve(".ci/old-release.sh");
        try {
            Process p = new ProcessBuilder("bash", script.toString(), TAG).directory(root.toFile())
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(15, TimeUnit.MINUTES) || p.exitValue() != 0) {
                Assertions.fail("building the previous release " + TAG + " failed (.ci/old-release.sh exit "
                        + p.exitValue() + "; see its output above)");
            }
            String[] lines = out.split("\n");
            Path built = Path.of(lines[lines.length - 1].strip());
            if (!Files.isRegularFile(built)) {
                Assertions.fail(".ci/old-release.sh printed " + built + ", which is not a file");
            }
            return jar = built;
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + script + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while building " + TAG, e);
        }
    }

    /** The repository's top directory (a test runs in its module's directory). */
    static Path repoRoot() {
        Path d = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        while (d != null && !Files.exists(d.resolve(".ci/old-release.sh"))) {
            d = d.getParent();
        }
        if (d == null) {
            Assertions.fail("no .ci/old-release.sh above " + System.getProperty("user.dir"));
        }
        return d;
    }

    /** What a run of the old CLI printed, and its exit code. */
    public record Run(int exitCode, String output) {
    }

    /**
     * Runs the old release's CLI ({@code java -jar}) on a node: its global options {@code --node-netns},
     * {@code --bpffs}, {@code --state-dir} (v0.1.0's, as today's), then {@code args}; returns its exit code and
     * output. The environment can carry a fault ({@code AMBIENTCTL_FAULT}) for kill tests.
     */
    public static Run run(String nodeNetns, Path bpffs, Path stateDir, String... args) {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar",
                jar().toString(), "--node-netns", nodeNetns, "--bpffs", bpffs.toString(), "--state-dir",
                stateDir.toString()));
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(2, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                Assertions.fail("the old release's '" + String.join(" ", args) + "' did not finish: " + out);
            }
            return new Run(p.exitValue(), out);
        } catch (IOException e) {
            throw new IllegalStateException("cannot run the old release: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** {@link #run}, which must succeed. */
    public static String ok(String nodeNetns, Path bpffs, Path stateDir, String... args) {
        Run r = run(nodeNetns, bpffs, stateDir, args);
        if (r.exitCode() != 0) {
            Assertions.fail("the old release's '" + String.join(" ", args) + "' exited " + r.exitCode() + ": "
                    + r.output());
        }
        return r.output();
    }
}
