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
 * `ambientctl shell` in a real terminal: tmux runs it, send-keys types, capture-pane reads the screen.
 * Completion of a subcommand, a mode and a network namespace name (one this test creates), a
 * command's output, Ctrl-C dropping a line, the history file, Ctrl-D leaving.
 */
class ShellTerminalTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    private String session;
    private NetNs netns;
    private Path home;
    private Path stateDir;

    @BeforeEach
    void setUp() throws Exception {
        Kernel.require(); // root: the test creates a network namespace
        Kernel.requireThat("tmux installed (.ci/run installs it)", Files.isExecutable(Path.of("/usr/bin/tmux")));
        session = "ambientctl-shell-" + Kernel.unique();
        netns = NetNs.create("shtest" + Kernel.unique());
        home = Files.createTempDirectory("ambientctl-home");
        stateDir = Files.createTempDirectory("ambientctl-state");
    }

    @AfterEach
    void tearDown() throws Exception {
        if (session != null) {
            tmux("kill-server"); // the test's own server (its own socket), nobody else's
        }
        if (netns != null) {
            netns.delete();
        }
        Kernel.removeTree(home);
        Kernel.removeTree(stateDir);
    }

    @Test
    void completesCommandsModesAndNetnsNamesRunsCommandsKeepsHistory() throws Exception {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "50",
                "env", "HOME=" + home, "TERM=xterm-256color", java, "-XX:TieredStopAtLevel=1", "-Duser.home=" + home,
                "-cp", classpath, Main.class.getName(), "--state-dir", stateDir.toString(), "shell");
        awaitScreen("ambientctl> ");

        // a subcommand
        keys("enr", "Tab");
        awaitScreen("ambientctl> enroll ");
        // a network namespace name: the one this test made, completed from a unique prefix
        String name = netns.name();
        keys("--netns " + name.substring(0, 8), "Tab");
        awaitScreen("enroll --netns " + name + " ");
        keys("C-c"); // drops the line
        awaitLastLine("ambientctl> ");

        // a mode: both candidates listed
        keys("mode set ", "Tab");
        String screen = awaitScreen("iptables");
        assertThat(screen).contains("ebpf");
        keys("C-c");
        awaitLastLine("ambientctl> ");

        // a command's output, with the global options given to 'shell' (--state-dir: an empty state)
        keys("status -o json", "Enter");
        awaitScreen("\"mode\" : \"none\"");
        keys("version", "Enter");
        awaitScreen("libbpf     ");
        // a usage error shows its exit code and the shell stays
        keys("frobnicate", "Enter");
        awaitScreen("(exit code 2)");

        keys("C-d");
        Path history = home.resolve(ShellCommand.HISTORY_FILE);
        await(() -> Files.exists(history) && Files.readString(history).contains("frobnicate"), "history written");
        String h = Files.readString(history, StandardCharsets.UTF_8);
        assertThat(h).contains("status -o json").contains("version").doesNotContain("mode set");
        await(() -> !tmux("has-session", "-t", session).contains("ok"), "the shell left on Ctrl-D");
    }

    private void keys(String... keys) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("send-keys", "-t", session));
        for (String k : keys) {
            if (k.equals("Tab") || k.equals("Enter") || k.startsWith("C-")) {
                cmd.add(k);
            } else {
                cmd.addAll(List.of("-l", "--", k)); // literally
                tmux(cmd.toArray(String[]::new));
                cmd = new ArrayList<>(List.of("send-keys", "-t", session));
                continue;
            }
            tmux(cmd.toArray(String[]::new));
            cmd = new ArrayList<>(List.of("send-keys", "-t", session));
        }
    }

    private String screen() throws IOException, InterruptedException {
        return tmux("capture-pane", "-p", "-J", "-t", session);
    }

    private String awaitScreen(String text) throws Exception {
        long end = System.nanoTime() + WAIT.toNanos();
        String s = "";
        while (System.nanoTime() < end) {
            s = screen();
            if (s.contains(text)) {
                return s;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("the screen never showed '" + text + "'; it shows:\n" + s);
    }

    private void awaitLastLine(String text) throws Exception {
        long end = System.nanoTime() + WAIT.toNanos();
        String last = "";
        while (System.nanoTime() < end) {
            List<String> lines = screen().lines().filter(l -> !l.isBlank()).toList();
            last = lines.isEmpty() ? "" : lines.get(lines.size() - 1);
            if (last.strip().equals(text.strip())) {
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("the last line is '" + last + "', not '" + text + "':\n" + screen());
    }

    private interface Check {
        boolean ok() throws Exception;
    }

    private static void await(Check c, String what) throws Exception {
        long end = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < end) {
            if (c.ok()) {
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("timed out waiting for: " + what);
    }

    /** Runs tmux on the test's own server (socket -L SESSION); its output, plus "ok" on exit code 0. */
    private String tmux(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("tmux", "-L", session, "-f", "/dev/null"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return p.waitFor() == 0 ? (args[0].equals("capture-pane") ? out : out + "ok") : out;
    }
}
