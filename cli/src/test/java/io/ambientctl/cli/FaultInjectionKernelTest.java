package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.testing.LabFixture;

/**
 * kill -9 of the CLI at every step (each kernel or iptables step counts) of enroll, unenroll and
 * the mode switches among ebpf, iptables and nftables; after each, the next command brings the node to a state in which every
 * workload is fully enrolled or fully not, and the traffic agrees.
 */
class FaultInjectionKernelTest {
    private LabFixture f;
    private int kills;

    @BeforeEach
    void setUp() throws Exception {
        f = new LabFixture(4, null);
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
    }

    @AfterEach
    void tearDown() {
        if (f != null) {
            f.close();
        }
    }

    /** Runs the CLI in its own JVM with AMBIENTCTL_FAULT=kill@n; returns its exit code. */
    private int cliKilledAt(int n, String... args) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp",
                System.getProperty("java.class.path"), Main.class.getName(), "--node-netns", f.lab.node().name(),
                "--bpffs", f.bpffs.toString(), "--state-dir", f.stateDir.toString(), "-q"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("AMBIENTCTL_FAULT", "kill@" + n);
        return pb.start().waitFor();
    }

    /** Each pod is fully enrolled (its traffic captured) or fully not (passes uncaptured), as recorded. */
    private void assertConsistent(String where) {
        Node.Status st = f.node.status();
        assertThat(st.verified()).as(where + ": " + st.nodeProblems() + " " + st.workloads()).isTrue();
        var enrolled = f.node.recorded().workloads.stream().map(w -> w.key()).toList();
        Lab.Pod target = f.pod(4);
        for (int i = 1; i <= 3; i++) {
            Lab.Pod p = f.pod(i);
            int before = f.standIn.captures().size();
            Traffic.Result r = Traffic.tcp(p.netns(), null, target.ipv4(), 8080, "k", LabFixture.SHORT);
            assertThat(r.answered()).as(where + ": " + p.name() + " answered").isTrue();
            boolean captured = f.standIn.captures().size() > before;
            assertThat(captured).as(where + ": " + p.name() + " captured").isEqualTo(enrolled.contains(p.netns()
                    .display()));
        }
    }

    private void run(String op, int maxSteps, Runnable baseline, String... args) throws Exception {
        for (int n = 1; n <= maxSteps; n++) {
            baseline.run();
            int code = cliKilledAt(n, args);
            if (code == 137) {
                kills++;
                // a journal left behind names the operation, and status says it was interrupted
                String name = op.startsWith("mode set") ? "mode set" : op;
                io.ambientctl.redirect.NodeState.journal(f.stateDir).ifPresent(j -> {
                    assertThat(j).startsWith(name + " pid ");
                    assertThat(f.node.status().nodeProblems()).anyMatch(pr -> pr.startsWith(
                            "an operation was interrupted (" + name + " pid "));
                });
            } else {
                assertThat(code).as(op + " at step " + n).isZero();
            }
            // the next changing command finds the journal and brings the node back to its state file
            f.node.repair(false);
            assertConsistent(op + " killed at step " + n);
        }
    }

    @Test
    void killedAnywhereTheNextCommandLeavesEveryWorkloadFullyEnrolledOrFullyNot() throws Exception {
        List<Lab.Pod> three = List.of(f.pod(1), f.pod(2), f.pod(3));
        Runnable none = () -> {
            f.node.modeSet(RedirectMode.ebpf, false);
            f.node.unenroll(List.of(), true, false);
        };
        Runnable all = () -> {
            f.node.modeSet(RedirectMode.ebpf, false);
            f.node.enroll(three.stream().map(Lab.Pod::netns).toList(), false);
        };
        Runnable twoInEbpf = () -> {
            f.node.modeSet(RedirectMode.ebpf, false);
            f.node.unenroll(List.of(f.pod(3).netns()), false, false);
            f.node.enroll(List.of(f.pod(1).netns(), f.pod(2).netns()), false);
        };
        Runnable twoInIptables = () -> {
            twoInEbpf.run();
            f.node.modeSet(RedirectMode.iptables, false);
        };
        Runnable twoInNftables = () -> {
            twoInEbpf.run();
            f.node.modeSet(RedirectMode.nftables, false);
        };
        String p1 = f.pod(1).netns().name();
        String p2 = f.pod(2).netns().name();
        String p3 = f.pod(3).netns().name();
        run("enroll", 14, none, "enroll", "--netns", p1, "--netns", p2, "--netns", p3);
        run("unenroll", 8, all, "unenroll", "--netns", p1, "--netns", p2, "--netns", p3);
        run("mode set iptables", 19, twoInEbpf, "mode", "set", "iptables");
        run("mode set ebpf", 16, twoInIptables, "mode", "set", "ebpf");
        run("mode set nftables", 14, twoInEbpf, "mode", "set", "nftables");
        run("mode set iptables", 19, twoInNftables, "mode", "set", "iptables");
        run("mode set nftables", 14, twoInIptables, "mode", "set", "nftables");
        assertThat(kills).as("kill points that hit the operation").isGreaterThanOrEqualTo(50);
    }
}
