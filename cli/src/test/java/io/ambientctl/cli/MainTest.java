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

        // of a command with subcommands, only the one invoked; all when none is named or the name is unknown
        assertThat(Main.commandLine(w, w, new String[] {"--lab", "st", "inspect", "-o", "json", "maps"})
                .getSubcommands().get("inspect").getSubcommands()).containsOnlyKeys("maps");
        assertThat(Main.commandLine(w, w, new String[] {"inspect"}).getSubcommands().get("inspect").getSubcommands())
                .containsOnlyKeys("programs", "maps", "nftables", "pod");
        assertThat(Main.commandLine(w, w, new String[] {"ztunnel", "-h", "show"}).getSubcommands().get("ztunnel")
                .getSubcommands()).containsOnlyKeys("set", "show", "unset");
        assertThat(run("inspect", "--help", "maps").out()).contains("programs").contains("maps").contains("pod");
        assertThat(Main.commandLine(w, w, new String[] {"mode", "sett"}).getSubcommands().get("mode")
                .getSubcommands()).containsOnlyKeys("show", "set");
        assertThat(run("--state-dir", "/nonexistent-ambientctl", "mode", "sett").err()).contains("Did you mean");
    }

    @Test
    void theCommandTablesNameEachCommandAsItsAnnotationDoes() {
        AmbientCtl.COMMANDS.forEach((name, c) -> assertThat(c.getAnnotation(picocli.CommandLine.Command.class).name())
                .isEqualTo(name));
        AmbientCtl.NESTED.values().forEach(nested -> nested.forEach((name, c) ->
                assertThat(c.getAnnotation(picocli.CommandLine.Command.class).name()).isEqualTo(name)));
        // every nested command class of a group is in the table (none forgotten when one is added)
        AmbientCtl.NESTED.forEach((group, nested) -> assertThat(java.util.Arrays.stream(group.getDeclaredClasses())
                .filter(c -> c.isAnnotationPresent(picocli.CommandLine.Command.class)).toList())
                .containsExactlyInAnyOrderElementsOf(nested.values()));
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
