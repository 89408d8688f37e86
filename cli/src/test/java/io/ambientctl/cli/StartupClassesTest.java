package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.testing.Kernel;

/**
 * Local commands load only what they use: a separate JVM runs them with -Xlog:class+load, and the
 * classes of the lab (Netty), YAML, the Kubernetes client, jline, the datapaths must not be among those
 * loaded; nor is another command's model built (its class is loaded for its name, nothing more). How fast
 * they start is measured and reported in the README, not asserted.
 */
class StartupClassesTest {
    static final List<String> NOT_FOR_LOCAL_COMMANDS = List.of("io.netty.", "com.fasterxml.jackson.dataformat.yaml.",
            "org.yaml.", "io.fabric8.", "org.jline.", "me.tongfei.", "picocli.shell.", "io.ambientctl.lab.",
            "io.ambientctl.kube.", "io.ambientctl.redirect.ebpf.", "io.ambientctl.redirect.iptables.",
            "io.ambientctl.redirect.nftables.");

    private Path stateDir;

    @BeforeEach
    void setUp() throws IOException {
        stateDir = Files.createTempDirectory("ambientctl-startup");
    }

    @AfterEach
    void tearDown() {
        Kernel.removeTree(stateDir);
    }

    static List<String> loadedClasses(String... args) throws Exception {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xshare:auto", "-Xlog:class+load=info:stderr:none", "-cp", classpath, Main.class.getName()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String log = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(String.join(" ", args)).isZero();
        return log.lines().map(l -> l.split(" ")[0]).toList();
    }

    private static void assertOnlyWhatItNeeds(List<String> loaded) {
        assertThat(loaded).hasSizeGreaterThan(400); // the log was read
        List<String> extra = loaded.stream().filter(c -> NOT_FOR_LOCAL_COMMANDS.stream().anyMatch(c::startsWith))
                .toList();
        assertThat(extra).as("classes a local command does not need").isEmpty();
    }

    @Test
    void versionAsJsonLoadsNoNettyYamlKubernetesOrOtherCommands() throws Exception {
        List<String> loaded = loadedClasses("version", "-o", "json");
        assertOnlyWhatItNeeds(loaded);
        assertThat(loaded).contains("io.ambientctl.cli.VersionCommand", "io.ambientctl.bpf.LibbpfInfo")
                .doesNotContain("io.ambientctl.cli.ZtunnelCommand$Set$Where"); // its model was not built
    }

    @Test
    void statusOnAnEmptyStateLoadsNoDatapathNorLibbpf() throws Exception {
        List<String> loaded = loadedClasses("--state-dir", stateDir.toString(), "status", "-o", "json");
        assertOnlyWhatItNeeds(loaded);
        // libc through jnr-ffi reads the node's policy rules over rtnetlink (where a lost state file would have
        // left the netfilter modes' rule): cheaper than the two ip processes it replaced; libbpf stays unloaded
        assertThat(loaded).contains("io.ambientctl.cli.StatusCommand", "io.ambientctl.net.IpRules")
                .doesNotContain("io.ambientctl.bpf.sys.LibBpf", "io.ambientctl.bpf.LibbpfInfo",
                        "io.ambientctl.redirect.ebpf.Datapath", "io.ambientctl.redirect.ebpf.EbpfRedirector");
    }

    @Test
    void statusWarmsLibbpfOnlyWhereTheStateFileRecordsTheEbpfMode() throws Exception {
        String dir = stateDir.toString();
        assertThat(Warmup.stateRecordsEbpf(new String[] {"--state-dir", dir, "status"})).isFalse(); // no file
        java.nio.file.Files.createDirectories(stateDir.resolve("lab-x"));
        for (String mode : new String[] {"none", "iptables", "nftables", "ebpf"}) {
            io.ambientctl.redirect.State s = new io.ambientctl.redirect.State();
            s.mode = io.ambientctl.redirect.RedirectMode.valueOf(mode);
            io.ambientctl.redirect.NodeState.save(stateDir, s);
            io.ambientctl.redirect.NodeState.save(stateDir.resolve("lab-x"), s);
            boolean ebpf = mode.equals("ebpf");
            assertThat(Warmup.stateRecordsEbpf(new String[] {"--state-dir", dir, "status"})).as(mode).isEqualTo(ebpf);
            assertThat(Warmup.stateRecordsEbpf(new String[] {"--state-dir=" + dir, "status", "-o", "json"}))
                    .as(mode).isEqualTo(ebpf);
            assertThat(Warmup.stateRecordsEbpf(new String[] {"--state-dir", dir, "--lab", "x", "status"})).as(mode)
                    .isEqualTo(ebpf);
            assertThat(Warmup.stateRecordsEbpf(new String[] {"--state-dir", dir, "--lab=y", "status"})).isFalse();
        }
    }

    @Test
    void theWarmupParsesTheStateFileTheCommandNamesSoTheCommandFindsItParsed() throws Exception {
        java.nio.file.Path lab = stateDir.resolve("lab-w");
        io.ambientctl.redirect.State s = new io.ambientctl.redirect.State();
        s.mode = io.ambientctl.redirect.RedirectMode.iptables;
        io.ambientctl.redirect.NodeState.save(lab, s);
        String[] args = {"--state-dir", stateDir.toString(), "--lab", "w", "mode", "show"};
        assertThat(Warmup.stateDir(args)).isEqualTo(lab);
        long before = io.ambientctl.redirect.NodeState.parses();
        for (Thread t : Warmup.start(args)) {
            t.join(20_000);
        }
        assertThat(io.ambientctl.redirect.NodeState.parses()).isEqualTo(before + 1);
        assertThat(io.ambientctl.redirect.NodeState.load(lab).mode).isEqualTo(io.ambientctl.redirect.RedirectMode.iptables);
        assertThat(io.ambientctl.redirect.NodeState.parses()).isEqualTo(before + 1); // found parsed, not parsed again
        // a command that does not read the state: not parsed for it
        s.mode = io.ambientctl.redirect.RedirectMode.ebpf;
        io.ambientctl.redirect.NodeState.save(lab, s);
        List<Thread> started = Warmup.start(new String[] {"--state-dir", stateDir.toString(), "--lab", "w", "version"});
        assertThat(started).isNotEmpty();
        for (Thread t : started) {
            t.join(20_000);
        }
        assertThat(io.ambientctl.redirect.NodeState.parses()).isEqualTo(before + 1);
    }

    @Test
    void helpWarmsNothingUp() throws Exception {
        assertThat(loadedClasses("--help")).noneMatch(c -> c.startsWith("com.fasterxml.jackson.databind."))
                .noneMatch(c -> c.startsWith("jnr.ffi."));
    }

    @Test
    void theWarmupPlansJacksonForCommandsAndLibbpfOnlyForThoseThatLoadIt() {
        assertThat(Warmup.plan(new String[] {"--lab", "x", "inspect", "maps", "-o", "json"}))
                .isEqualTo(Warmup.Plan.JSON_AND_LIBBPF);
        assertThat(Warmup.plan(new String[] {"--state-dir", "/tmp/s", "status", "-o", "json"}))
                .isEqualTo(Warmup.Plan.JSON_AND_LIBBPF_IF_EBPF);
        assertThat(Warmup.plan(new String[] {"--lab", "x", "lab", "status"}))
                .isEqualTo(Warmup.Plan.JSON_AND_LIBBPF_IF_EBPF);
        for (String[] none : new String[][] {{}, {"--help"}, {"enroll", "-h"}, {"completion", "bash"}, {"shell"}}) {
            assertThat(Warmup.plan(none)).as(String.join(" ", none)).isEqualTo(Warmup.Plan.NONE);
        }
    }
}
