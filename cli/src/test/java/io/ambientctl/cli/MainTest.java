package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.util.Json;

class MainTest {
    record Run(int code, String out, String err) {
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void versionAsJsonNamesToolLibbpfAndKernel() {
        Run r = run("version", "-o", "json");
        assertThat(r.code()).isZero();
        JsonNode n = Json.parse(r.out());
        assertThat(n.get("version").asText()).isNotBlank();
        assertThat(n.get("kernel").asText()).isEqualTo(VersionCommand.kernelRelease());
        assertThat(n.get("libbpf").asText()).startsWith("v1.");
    }

    @Test
    void versionAsYamlAndTable() {
        assertThat(run("version", "-o", "yaml").out()).contains("kernel: ");
        assertThat(run("version").out()).startsWith("ambientctl ").contains("libbpf");
    }

    @Test
    void unknownCommandOrFlagOrFormatIsAUsageError() {
        Run r = run("frobnicate");
        assertThat(r.code()).isEqualTo(ExitCode.USAGE);
        assertThat(r.err()).contains("frobnicate");
        assertThat(run("version", "--nope").code()).isEqualTo(ExitCode.USAGE);
        assertThat(run("version", "-o", "xml").code()).isEqualTo(ExitCode.USAGE);
    }

    @Test
    void helpListsExitCodes() {
        Run r = run("--help");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("Exit codes:").contains("5   another ambientctl holds the lock");
    }

    @Test
    void onlyTheInvokedCommandsModelIsBuiltUnlessAllAreShown() {
        java.io.PrintWriter w = new PrintWriter(new StringWriter());
        assertThat(Main.commandLine(w, w, new String[] {"--state-dir", "/tmp/x", "-v", "status", "-o", "json"})
                .getSubcommands()).containsOnlyKeys("status");
        assertThat(Main.commandLine(w, w, new String[] {"--lab=x", "mode", "set", "ebpf"}).getSubcommands())
                .containsOnlyKeys("mode");
        for (String[] all : new String[][] {{}, {"--help"}, {"help", "enroll"}, {"completion", "bash"}, {"shell"},
            {"frobnicate"}, {"-vq", "status"}}) {
            assertThat(Main.commandLine(w, w, all).getSubcommands()).as(String.join(" ", all))
                    .hasSameSizeAs(AmbientCtl.COMMANDS);
        }
        assertThat(run("--state-dir", "/nonexistent-ambientctl", "-vq", "version").code()).isZero();
    }

    @Test
    void anOptionValueMayBeACommandName() {
        // the README's '--lab lab ...' and the demo's '--lab demo ...'
        assertThat(run("--lab", "lab", "--state-dir", "/nonexistent-ambientctl", "version").code()).isZero();
        assertThat(run("--lab", "demo", "version", "-o", "json").code()).isZero();
    }

    @Test
    void globalOptionsAreAcceptedAfterTheSubcommand() {
        assertThat(run("version", "--bpffs", "/sys/fs/bpf/x", "--state-dir", "/tmp/x", "-v").code()).isZero();
    }
}
