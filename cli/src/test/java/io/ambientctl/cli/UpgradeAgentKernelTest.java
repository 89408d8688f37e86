package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.lab.Lab;
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.State;
import io.ambientctl.redirect.Workload;
import io.ambientctl.redirect.ebpf.Datapath;
import io.ambientctl.testing.KubeFixture;
import io.ambientctl.testing.OldRelease;

/**
 * A DaemonSet's rolling update on one node: the previous release's agent (v0.1.0, a process of its own against the
 * mock API server) enrolls the Pods of an ambient namespace; it is stopped with SIGTERM (everything stays in
 * place), and the current build's agent starts, upgrades the node in place and carries on. A TCP connection held
 * open through ztunnel answers throughout; the node ends on this build's layout, verified, with the same Pods.
 */
class UpgradeAgentKernelTest {
    private KubeFixture k;

    @AfterEach
    void tearDown() {
        if (k != null) {
            try {
                k.lab.node.purge(false);
            } finally {
                k.close();
            }
        }
    }

    private List<String> common() throws Exception {
        return List.of("--kubeconfig", k.kubeconfig().toString(), "--context", "mock", "--node", k.nodeName,
                "--node-netns", k.lab.lab.node().name(), "--bpffs", k.lab.bpffs.toString(), "--state-dir",
                k.lab.stateDir.toString());
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (java.io.IOException e) {
            return "";
        }
    }

    @Test
    void theNewAgentTakesOverWhatTheOldAgentLeftWithoutAGap() throws Exception {
        Path oldJar = OldRelease.jar();
        k = new KubeFixture(3, null);
        Lab.Pod a = k.lab.pod(1);
        Lab.Pod b = k.lab.pod(2);
        k.ztunnelPod("ztunnel-1");
        k.namespace("shop", Map.of("istio.io/dataplane-mode", "ambient"));
        k.pod("shop", "p1", a, Map.of("app", "p1"));
        k.pod("shop", "p2", b, Map.of("app", "p2"));
        Path oldLog = Files.createTempFile("ambientctl-old-agent", ".log");
        Path newLog = Files.createTempFile("ambientctl-new-agent", ".log");
        List<String> agentArgs = List.of("agent", "--health-port", "0", "--resync", "1h");

        List<String> oldCmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "-XX:TieredStopAtLevel=1", "-jar", oldJar.toString()));
        oldCmd.addAll(common());
        oldCmd.addAll(agentArgs);
        Process old = new ProcessBuilder(oldCmd).redirectErrorStream(true).redirectOutput(oldLog.toFile()).start();
        Process next = null;
        try {
            KubeFixture.await("the old agent enrolled shop/p1 and shop/p2 (" + read(oldLog) + ")",
                    Duration.ofSeconds(60), () -> Files.exists(k.lab.stateDir.resolve("state.json"))
                            && k.lab.node.recorded().workloads.stream().map(Workload::key).sorted().toList()
                                    .equals(List.of("shop/p1", "shop/p2")));
            assertThat(k.lab.node.recorded().layout).as("the old agent's state: layout 1").isEqualTo(1);
            assertThat(Datapath.mapsDir(k.lab.bpffs, 1)).isDirectory();

            // a connection from p1 to p2 held open through ztunnel, talking every 200 ms throughout
            try (HeldConnection held = HeldConnection.open(a.netns(), b.ipv4()).talk()) {
                KubeFixture.await("talking", Duration.ofSeconds(10), () -> held.exchanges() > 2);
                int capturedBefore = k.lab.standIn.captures().size();
                assertThat(capturedBefore).isPositive();

                old.destroy(); // SIGTERM, as the kubelet stops the old Pod
                assertThat(old.waitFor(40, TimeUnit.SECONDS)).as(read(oldLog)).isTrue();
                assertThat(read(oldLog)).contains("agent: stopped");
                int atStop = held.exchanges();

                List<String> newCmd = new ArrayList<>(common());
                newCmd.addAll(agentArgs);
                next = KubeCliKernelTest.java(null, newCmd).redirectErrorStream(true).redirectOutput(newLog.toFile())
                        .start();
                KubeFixture.await("the new agent ready (" + read(newLog) + ")", Duration.ofSeconds(60),
                        () -> read(newLog).contains("agent: ready"));
                assertThat(read(newLog)).contains("upgrade: upgraded the ebpf mode in place from layout 1");
                State s = k.lab.node.recorded();
                assertThat(s.layout).isEqualTo(State.LAYOUT);
                assertThat(s.upgradedFrom).isEqualTo(1);
                KubeFixture.await("talking on", Duration.ofSeconds(10), () -> held.exchanges() > atStop + 5);
                assertThat(held.stop()).as("the held connection, throughout (" + held.exchanges() + " exchanges)")
                        .isNull();
            }
            Node.Status st = k.lab.node.status();
            assertThat(st.verified()).as(st.nodeProblems() + " " + st.workloads()).isTrue();
            assertThat(st.workloads()).extracting(w -> w.workload().key())
                    .containsExactlyInAnyOrder("shop/p1", "shop/p2");
            assertThat(Datapath.mapsDir(k.lab.bpffs, 1)).doesNotExist();
            assertThat(Datapath.progsDir(k.lab.bpffs, 1)).doesNotExist();

            next.destroy();
            assertThat(next.waitFor(40, TimeUnit.SECONDS)).as(read(newLog)).isTrue();
        } finally {
            old.destroyForcibly();
            old.waitFor(10, TimeUnit.SECONDS);
            if (next != null) {
                next.destroyForcibly();
                next.waitFor(10, TimeUnit.SECONDS);
            }
            Files.deleteIfExists(oldLog);
            Files.deleteIfExists(newLog);
        }
    }
}
