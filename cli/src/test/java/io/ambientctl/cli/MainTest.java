package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

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

    static Path kubeconfig(Path dir, String server) throws Exception {
        return Files.writeString(dir.resolve("kubeconfig"), """
                apiVersion: v1
                kind: Config
                clusters:
                - name: c
                  cluster:
                    server: %s
                    insecure-skip-tls-verify: true
                contexts:
                - name: mock
                  context: {cluster: c, user: u}
                - name: other
                  context: {cluster: c, user: u}
                users:
                - name: u
                  user: {token: x}
                current-context: mock
                """.formatted(server));
    }

    @Test
    void optionsThatWouldSilentlyDoSomethingElseAreUsageErrors() throws Exception {
        Path tmp = Files.createTempDirectory("ambientctl-main");
        try {
            Path kc = kubeconfig(tmp, "https://127.0.0.1:1");
            Path empty = Files.writeString(tmp.resolve("empty"), "");
            Path garbage = Files.writeString(tmp.resolve("garbage"), "{{{ not: yaml");
            String st = tmp.resolve("state").toString();
            String[][] cases = {
                {"its contexts: mock, other", "--state-dir", st, "--kubeconfig", kc.toString(), "--context", "typo",
                    "enroll", "web", "-n", "shop"},
                {"--context typo is not in " + kc, "--state-dir", st, "--kubeconfig", kc.toString(), "--context", "typo",
                    "agent"},
                {empty + " is empty", "--state-dir", st, "--kubeconfig", empty.toString(), "enroll", "web", "-n", "shop"},
                {tmp + " is a directory", "--state-dir", st, "--kubeconfig", tmp.toString(), "unenroll", "shop/web"},
                {garbage + " is not a kubeconfig", "--state-dir", st, "--kubeconfig", garbage.toString(), "enroll", "web"},
                {"--health-port -5 is not a port", "--state-dir", st, "agent", "--health-port", "-5"},
                {"--health-port 65536 is not a port", "--state-dir", st, "agent", "--health-port", "65536"},
                {"--state-dir is empty", "--state-dir", "", "status"},
                {"--state-dir state is a relative path", "--state-dir", "state", "enroll", "--netns", "x"},
                {"--state-dir is empty", "--state-dir", "", "lab", "up", "--name", "x"},
                {"--lab x sets --bpffs itself", "--state-dir", st, "--lab", "x", "--bpffs", "/sys/fs/bpf/y", "status"},
                {"--lab x sets --node-netns itself", "--state-dir", st, "--lab", "x", "enroll", "--netns", "p",
                    "--node-netns", "n"},
            };
            for (String[] c : cases) {
                String[] args = java.util.Arrays.copyOfRange(c, 1, c.length);
                Run r = run(args);
                assertThat(r.code()).as(String.join(" ", args) + ": " + r.err()).isEqualTo(ExitCode.USAGE);
                assertThat(r.err()).as(String.join(" ", args)).contains(c[0]).doesNotContain("\tat ")
                        .doesNotContain("Exception").doesNotContain("An error has occurred");
            }
            // the kubeconfig found through $KUBECONFIG (no --kubeconfig): the same checks, the file named
            ProcessBuilder pb = KubeCliKernelTest.java(null, List.of("--state-dir", st, "enroll", "web", "-n", "shop"));
            pb.environment().put("KUBECONFIG", empty.toString());
            Process p = pb.redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor()).as(out).isEqualTo(ExitCode.USAGE);
            assertThat(out).contains("kubeconfig " + empty + " is empty").doesNotContain("Exception");
            assertThat(tmp.resolve("state")).doesNotExist();
            assertThat(Path.of("state")).doesNotExist();
        } finally {
            io.ambientctl.testing.Kernel.removeTree(tmp);
        }
    }

    @Test
    void theAgentWithoutAnApiServerSaysOneLinePerRetryStaysNotReadyAndPrintsItsPort() throws Exception {
        Path tmp = Files.createTempDirectory("ambientctl-agent");
        Path kc = kubeconfig(tmp, "https://127.0.0.1:1"); // nothing listens there
        Path log = tmp.resolve("agent.log");
        Process p = KubeCliKernelTest.java(null, List.of("--state-dir", tmp.resolve("state").toString(), "--kubeconfig",
                kc.toString(), "--node", "n1", "agent", "--health-port", "0")).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        try {
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
            while (!Files.readString(log).contains("retry in 2 s") && System.nanoTime() < deadline && p.isAlive()) {
                Thread.sleep(200);
            }
            String out = Files.readString(log);
            assertThat(p.isAlive()).as(out).isTrue();
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^health: listening on 127\\.0\\.0\\.1:(\\d+)$")
                    .matcher(out);
            assertThat(m.find()).as(out).isTrue();
            int port = Integer.parseInt(m.group(1));
            HttpClient http = HttpClient.newHttpClient();
            assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/readyz")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(503);
            assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/healthz")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
            List<String> lines = out.lines().toList();
            assertThat(lines.stream().filter(l -> l.contains("not ready, retry in")).toList()).as(out)
                    .hasSizeBetween(2, 3)
                    .allSatisfy(l -> assertThat(l).startsWith("agent: ").contains("https://127.0.0.1:1")
                            .contains("Connection refused"));
            assertThat(out).contains("retry in 1 s").doesNotContain("\tat ").doesNotContain("Exception");
            assertThat(lines).hasSizeLessThanOrEqualTo(6);
        } finally {
            p.destroy();
            p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
            p.destroyForcibly();
            io.ambientctl.testing.Kernel.removeTree(tmp);
        }
    }
}
