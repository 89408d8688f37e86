package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn.Capture;
import io.ambientctl.redirect.Workload;
import io.ambientctl.testing.KubeFixture;
import io.ambientctl.testing.LabFixture;
import io.ambientctl.util.Json;
import io.fabric8.kubernetes.api.model.Pod;

/**
 * The command line against fabric8's API server for tests (through --kubeconfig/--context), with Pods
 * backed by a real lab: enroll by name and selector with traffic, exit 4 refusals, ztunnel set --auto,
 * the agent as a process of its own stopped with SIGTERM, and local commands that never load the
 * client.
 */
class KubeCliKernelTest {
    KubeFixture k;
    Lab.Pod a;
    Lab.Pod b;

    @BeforeEach
    void setUp() throws Exception {
        k = new KubeFixture(3, null);
        a = k.lab.pod(1);
        b = k.lab.pod(2);
    }

    @AfterEach
    void tearDown() {
        if (k != null) {
            k.close();
        }
    }

    List<String> common() throws IOException {
        return List.of("--kubeconfig", k.kubeconfig().toString(), "--context", "mock", "--node", k.nodeName,
                "--node-netns", k.lab.lab.node().name(), "--bpffs", k.lab.bpffs.toString(), "--state-dir",
                k.lab.stateDir.toString());
    }

    MainTest.Run cli(String... args) throws IOException {
        List<String> all = new ArrayList<>(common());
        all.addAll(List.of(args));
        return MainTest.run(all.toArray(String[]::new));
    }

    JsonNode json(String... args) throws IOException {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("-o", "json"));
        MainTest.Run r = cli(all.toArray(String[]::new));
        assertThat(r.code()).as(r.err()).isZero();
        return Json.parse(r.out());
    }

    boolean annotated(String ns, String name) {
        Pod p = k.get(ns, name);
        return p.getMetadata().getAnnotations() != null
                && "enabled".equals(p.getMetadata().getAnnotations().get("ambient.istio.io/redirection"));
    }

    @Test
    void enrollPodsByNameAndSelectorWithTrafficRefusalsAndZtunnelAuto() throws Exception {
        k.ztunnelPod("ztunnel-q8x");
        k.pod("shop", "web", a, Map.of("app", "web"));
        k.pod("shop", "api", b, Map.of("app", "api"));
        k.pod("shop", "far", k.lab.pod(3), Map.of("app", "web"), "another-node");

        JsonNode zt = json("ztunnel", "set", "--auto");
        assertThat(zt.path("ztunnel").path("name").asText()).isEqualTo("ztunnel-q8x");
        assertThat(zt.path("ztunnel").path("hostInterface").asText()).isEqualTo("vzt");

        JsonNode en = json("enroll", "web", "-n", "shop");
        assertThat(en.path("results").get(0).path("target").asText()).isEqualTo("shop/web");
        assertThat(en.path("results").get(0).path("action").asText()).isEqualTo("enrolled");
        assertThat(en.path("results").get(0).path("workload").path("ips").toString()).contains(a.ipv4())
                .contains(a.ipv6());
        assertThat(annotated("shop", "web")).isTrue();
        assertThat(Traffic.tcp(a.netns(), null, b.ipv6(), 8080, "hi", LabFixture.SHORT).answer())
                .isEqualTo(b.name() + " hi");
        assertThat(k.lab.standIn.captures()).extracting(Capture::port).containsExactly(15001);

        MainTest.Run r = cli("enroll", "shop/ghost");
        assertThat(r.code()).as(r.err()).isEqualTo(ExitCode.NOT_FOUND);
        assertThat(r.err()).contains("Pod shop/ghost not found");
        r = cli("enroll", "shop/far");
        assertThat(r.code()).isEqualTo(ExitCode.NOT_FOUND);
        assertThat(r.err()).contains("runs on node another-node, not on this node");
        r = cli("enroll", "shop/web", "--netns", a.netns().name());
        assertThat(r.code()).isEqualTo(ExitCode.USAGE);

        JsonNode sel = json("enroll", "-n", "shop", "-l", "app in (web,api)");
        // the test API server ignores set-based selectors (fabric8's mock): it lists the namespace
        assertThat(sel.path("results").findValuesAsText("target")).contains("shop/web", "shop/api");

        JsonNode status = json("status");
        assertThat(status.path("workloads").findValuesAsText("namespace")).containsOnly("shop");
        assertThat(status.path("verified").asBoolean()).isTrue();

        JsonNode un = json("unenroll", "shop/web", "shop/api");
        assertThat(un.path("results").findValuesAsText("action")).containsOnly("unenrolled");
        assertThat(annotated("shop", "web")).isFalse();
        assertThat(cli("unenroll", "shop/ghost").code()).isEqualTo(ExitCode.NOT_FOUND);
    }

    /** A child JVM running the CLI with this test's class path. */
    static ProcessBuilder java(Path classLog, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        if (classLog != null) {
            cmd.add("-Xlog:class+load=info:file=" + classLog);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.ambientctl.cli.Main"));
        cmd.addAll(args);
        return new ProcessBuilder(cmd);
    }

    @Test
    void theAgentProcessEnrollsByLabelAndStopsGracefullyOnSigterm() throws Exception {
        k.ztunnelPod("ztunnel-1");
        k.namespace("shop", Map.of());
        k.pod("shop", "web", a, Map.of("app", "web"));
        Path errFile = Files.createTempFile("ambientctl-agent", ".err");
        List<String> args = new ArrayList<>(common());
        args.addAll(List.of("agent", "--health-port", "0", "--resync", "1h"));
        Process p = java(null, args).redirectErrorStream(true).redirectOutput(errFile.toFile()).start();
        try {
            KubeFixture.await("agent ready", Duration.ofSeconds(60), () -> read(errFile).contains("agent: ready"));
            k.labelNamespace("shop", "istio.io/dataplane-mode", "ambient");
            KubeFixture.await("shop/web enrolled", Duration.ofSeconds(20), () -> k.lab.node.recorded().workloads
                    .stream().map(Workload::key).toList().equals(List.of("shop/web")));
            KubeFixture.await("annotated", Duration.ofSeconds(20), () -> annotated("shop", "web"));
            assertThat(k.lab.node.recorded().ztunnel.name()).isEqualTo("ztunnel-1");

            p.destroy(); // SIGTERM
            assertThat(p.waitFor(40, TimeUnit.SECONDS)).as(read(errFile)).isTrue();
            assertThat(read(errFile)).contains("agent: stopped");
            // stopping leaves the redirection as it is
            assertThat(k.lab.node.recorded().workloads).extracting(Workload::key).containsExactly("shop/web");
            assertThat(k.lab.node.status().verified()).isTrue();
        } finally {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            Files.deleteIfExists(errFile);
        }
    }

    @Test
    void theAgentRefusesToRunBesideIstioCnisNodeAgentUnlessToldToTakeOver() throws Exception {
        k.namespace("kube-system", Map.of());
        k.create(k.podSpec("kube-system", "istio-cni-node-x1", a, Map.of(io.ambientctl.kube.KubeNode.ISTIO_CNI_LABEL,
                io.ambientctl.kube.KubeNode.ISTIO_CNI_LABEL_VALUE), k.nodeName));
        MainTest.Run refused = cli("agent", "--health-port", "-1", "--metrics-address", "none");
        assertThat(refused.code()).as(refused.err()).isEqualTo(ExitCode.FAILED);
        assertThat(refused.err()).contains("istio-cni's node agent runs on this node (Pod kube-system/istio-cni-node-x1)")
                .contains("--take-over");

        Path errFile = Files.createTempFile("ambientctl-agent", ".err");
        List<String> args = new ArrayList<>(common());
        args.addAll(List.of("agent", "--health-port", "0", "--metrics-address", "none", "--take-over"));
        Process p = java(null, args).redirectErrorStream(true).redirectOutput(errFile.toFile()).start();
        try {
            KubeFixture.await("agent ready", Duration.ofSeconds(60), () -> read(errFile).contains("agent: ready"));
            assertThat(read(errFile)).contains("taking its Pods over (--take-over)");
        } finally {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            Files.deleteIfExists(errFile);
        }
    }

    @Test
    void localCommandsNeverLoadTheKubernetesClient() throws Exception {
        Path log = Files.createTempFile("ambientctl-classes", ".log");
        try {
            String ghost = "acl-ghost-" + io.ambientctl.testing.Kernel.unique();
            List<String> local = new ArrayList<>(List.of("--state-dir", k.lab.stateDir.toString(), "--bpffs",
                    k.lab.bpffs.toString(), "enroll", "--netns", ghost));
            Process p = java(log, local).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor()).as(out).isEqualTo(ExitCode.NOT_FOUND);
            assertThat(Files.readString(log)).contains("io.ambientctl.cli.EnrollCommand")
                    .contains("io.ambientctl.redirect.Node ").doesNotContain("io.fabric8");

            // the control: a Pod command does load it
            List<String> kube = new ArrayList<>(common());
            kube.addAll(List.of("ztunnel", "set", "--auto"));
            p = java(log, kube).redirectErrorStream(true).start();
            out = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor()).as(out).isEqualTo(ExitCode.NOT_FOUND);
            assertThat(out).contains("no Ready Pod labelled app=ztunnel");
            assertThat(Files.readString(log)).contains("io.fabric8.kubernetes.client");
        } finally {
            Files.deleteIfExists(log);
        }
    }

    static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return "";
        }
    }
}
