package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.net.NetNs;
import io.ambientctl.testing.Kernel;

/**
 * The committed completion scripts complete in the real shells: bash through its completion function,
 * zsh interactively in tmux with the script installed in $fpath as the packages install it.
 */
class CompletionScriptsTest {
    static final Path SCRIPTS = GeneratedDocsTest.REPO.resolve("completions");

    private NetNs netns;
    private Path dir;
    private String tmuxSocket;

    @BeforeEach
    void setUp() throws IOException {
        Kernel.require(); // root: a network namespace to complete
        netns = NetNs.create("cmpl" + Kernel.unique());
        dir = Files.createTempDirectory("ambientctl-completion");
    }

    @AfterEach
    void tearDown() throws Exception {
        if (tmuxSocket != null) {
            run(List.of("tmux", "-L", tmuxSocket, "kill-server"));
        }
        if (netns != null) {
            netns.delete();
        }
        Kernel.removeTree(dir);
    }

    private String bashComplete(String line) throws Exception {
        String script = "source " + SCRIPTS.resolve(GeneratedDocs.BASH) + " 2>/dev/null\n"
                + "COMP_LINE='" + line + "'; read -ra COMP_WORDS <<< \"$COMP_LINE\"\n"
                + "[[ \"$COMP_LINE\" == *' ' ]] && COMP_WORDS+=('')\n"
                + "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
                + "_complete_ambientctl 2>/dev/null; printf '%s\\n' \"${COMPREPLY[@]}\"\n";
        return run(List.of("bash", "-c", script));
    }

    @Test
    void bashCompletesCommandsOptionsModesAndNetnsNames() throws Exception {
        assertThat(bashComplete("ambientctl enr")).isEqualTo("enroll\n");
        assertThat(bashComplete("ambientctl mode set ").lines()).containsExactly("ebpf", "iptables", "nftables");
        assertThat(bashComplete("ambientctl enroll --dr")).isEqualTo("--dry-run\n");
        assertThat(bashComplete("ambientctl -o y")).isEqualTo("yaml\n");
        assertThat(bashComplete("ambientctl enroll --netns " + netns.name().substring(0, 7)).lines())
                .contains(netns.name());
        assertThat(bashComplete("ambientctl completion ").lines()).containsExactly("bash", "zsh");
    }

    @Test
    void zshCompletesFromFpathAsInstalled() throws Exception {
        boolean zsh = Files.isExecutable(Path.of("/usr/bin/zsh")) || Files.isExecutable(Path.of("/bin/zsh"));
        Kernel.requireThat("zsh and tmux installed (.ci/run installs them)",
                zsh && Files.isExecutable(Path.of("/usr/bin/tmux")));
        Path fpath = Files.createDirectories(dir.resolve("fpath"));
        Files.copy(SCRIPTS.resolve(GeneratedDocs.ZSH), fpath.resolve("_ambientctl"));
        tmuxSocket = "ambientctl-zsh-" + Kernel.unique();
        List<String> tmux = List.of("tmux", "-L", tmuxSocket, "-f", "/dev/null");
        List<String> start = new ArrayList<>(tmux);
        start.addAll(List.of("new-session", "-d", "-s", "z", "-x", "150", "-y", "30", "env", "HOME=" + dir,
                "ZDOTDIR=" + dir, "TERM=xterm-256color", "PS1=zsh> ", "zsh", "-f"));
        run(start);
        send(tmux, "fpath=(" + fpath + " $fpath); autoload -U compinit; compinit -u; clear", "Enter");
        awaitScreen(tmux, "zsh> ");
        send(tmux, "ambientctl mode set ", "Tab");
        assertThat(awaitScreen(tmux, "iptables")).contains("ebpf");
        send(tmux, "C-u");
        send(tmux, "ambientctl enroll --netns " + netns.name().substring(0, 7), "Tab");
        String screen = awaitScreen(tmux, "--netns " + netns.name());
        assertThat(screen).doesNotContain("command not found");
    }

    private void send(List<String> tmux, String... keys) throws Exception {
        for (String k : keys) {
            List<String> cmd = new ArrayList<>(tmux);
            cmd.addAll(List.of("send-keys", "-t", "z"));
            if (k.equals("Tab") || k.equals("Enter") || k.startsWith("C-")) {
                cmd.add(k);
            } else {
                cmd.addAll(List.of("-l", "--", k));
            }
            run(cmd);
        }
    }

    private String awaitScreen(List<String> tmux, String text) throws Exception {
        List<String> cmd = new ArrayList<>(tmux);
        cmd.addAll(List.of("capture-pane", "-p", "-J", "-t", "z"));
        long end = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        String s = "";
        while (System.nanoTime() < end) {
            s = run(cmd);
            if (s.contains(text)) {
                return s;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("zsh never showed '" + text + "':\n" + s);
    }

    private static String run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        return out;
    }
}
