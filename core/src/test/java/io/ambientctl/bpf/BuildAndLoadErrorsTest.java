package io.ambientctl.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

/** What a user sees when the build or the native library is missing. */
class BuildAndLoadErrorsTest {
    static ProcessBuilder.Redirect discard = ProcessBuilder.Redirect.DISCARD;

    @Test
    void aMissingClangFailsTheBpfBuildNamingThePackages() throws Exception {
        Path script = Path.of("..", "bpf", "build.sh").toAbsolutePath().normalize();
        assertThat(script).exists();
        Path out = Files.createTempDirectory("bpf-out");
        try {
            ProcessBuilder pb = new ProcessBuilder("/bin/bash", script.toString(), script.getParent().resolve("src")
                    .toString(), out.toString());
            pb.environment().put("PATH", "/nonexistent");
            pb.redirectErrorStream(true);
            Process p = pb.start();
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor()).isNotZero();
            assertThat(text).contains("clang is not installed").contains("apt-get install clang llvm libbpf-dev");
        } finally {
            Files.deleteIfExists(out);
        }
    }

    @Test
    void aMissingLibbpfNamesTheLibraryAndThePackage() throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        ProcessBuilder pb = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
                ProbeMain.class.getName()));
        pb.environment().put("AMBIENTCTL_LIBBPF", "/nonexistent/libbpf.so.1");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).isEqualTo(3);
        assertThat(text).contains("/nonexistent/libbpf.so.1").contains("apt-get install libbpf1");
    }

    /** Loads libbpf in a fresh JVM and prints the error. */
    public static final class ProbeMain {
        public static void main(String[] args) {
            try {
                LibbpfInfo.version();
                System.exit(0);
            } catch (io.ambientctl.bpf.sys.NativeLibraryException e) {
                System.out.println(e.getMessage());
                System.exit(3);
            }
        }
    }
}
