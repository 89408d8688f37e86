package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.NodeState;
import io.ambientctl.testing.Kernel;
import io.ambientctl.util.Json;

/** The CLI end to end on a lab it builds itself: exit codes, JSON fields, real traffic. */
class LabCliKernelTest {
    private String name;
    private Path stateDir;

    @BeforeEach
    void setUp() throws Exception {
        Kernel.require();
        name = "acc" + Kernel.unique();
        stateDir = Files.createTempDirectory("ambientctl-cli");
    }

    @AfterEach
    void tearDown() {
        if (name != null) {
            cli("lab", "down", "--name", name);
            Kernel.removeTree(stateDir);
        }
    }

    private MainTest.Run cli(String... args) {
        List<String> all = new ArrayList<>(List.of("--state-dir", stateDir.toString()));
        all.addAll(List.of(args));
        return MainTest.run(all.toArray(String[]::new));
    }

    private JsonNode json(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("-o", "json"));
        MainTest.Run r = cli(all.toArray(String[]::new));
        assertThat(r.code()).as(r.err()).isZero();
        return Json.parse(r.out());
    }

    /** Issue 14 #1: one namespace is one workload, whatever name or path reaches it. */
    @Test
    void aSecondPathToAnEnrolledNamespaceIsTheSameWorkload() throws Exception {
        json("lab", "up", "--name", name, "--pods", "2");
        String p1 = name + "-p1";
        json("--lab", name, "ztunnel", "set", "--netns", name + "-zt");
        json("--lab", name, "enroll", "--netns", p1);
        Process sleeper = new ProcessBuilder("nsenter", "--net=/var/run/netns/" + p1, "sleep", "60").start();
        try {
            String alias = "/proc/" + sleeper.pid() + "/ns/net";
            // the process is in p1's namespace once nsenter has entered it
            Object want = Files.getAttribute(Path.of("/var/run/netns/" + p1), "unix:ino");
            for (int i = 0; i < 100 && !want.equals(Files.getAttribute(Path.of(alias), "unix:ino")); i++) {
                Thread.sleep(20);
            }
            JsonNode again = json("--lab", name, "enroll", "--netns", alias);
            assertThat(again.path("results").get(0).path("action").asText()).isEqualTo("already-enrolled");
            assertThat(again.path("results").get(0).path("enrolledAs").asText()).isEqualTo(p1);
            JsonNode st = json("--lab", name, "status");
            assertThat(st.path("workloads")).hasSize(1);
            JsonNode un = json("--lab", name, "unenroll", "--netns", alias);
            assertThat(un.path("results").get(0).path("action").asText()).isEqualTo("unenrolled");
            assertThat(un.path("results").get(0).path("target").asText()).isEqualTo(p1);
            assertThat(json("--lab", name, "status").path("workloads")).isEmpty();
            assertThat(json("--lab", name, "inspect", "maps", "ambient_workloads").path("maps").get(0)
                    .path("entries")).isEmpty();
        } finally {
            sleeper.destroyForcibly();
            sleeper.waitFor();
        }
    }

    /** The nftables mode from the CLI: dry run, switch, traffic, status, inspect, preflight, and back. */
    @Test
    void nftablesModeFromTheCli() {
        json("lab", "up", "--name", name, "--pods", "3");
        String p1 = name + "-p1";
        String p2 = name + "-p2";
        json("--lab", name, "ztunnel", "set", "--netns", name + "-zt");
        json("--lab", name, "enroll", "--netns", p1);
        JsonNode plan = json("--lab", name, "mode", "set", "nftables", "--dry-run");
        assertThat(plan.path("rules").asText()).contains("add table inet ambientctl").contains("tproxy ip to :15001");
        assertThat(NetNs.named(name + "-node").exec("nft", "list", "tables").stdout()).doesNotContain("ambientctl");

        JsonNode sw = json("--lab", name, "mode", "set", "nftables");
        assertThat(sw.path("from").asText()).isEqualTo("ebpf");
        assertThat(sw.path("mode").asText()).isEqualTo("nftables");
        Traffic.Result r = Traffic.tcp(NetNs.named(p1), null, "fd77::12", 8080, "nft", java.time.Duration.ofSeconds(2));
        assertThat(r.answer()).isEqualTo(p2 + " nft");
        assertThat(json("lab", "status", "--name", name).path("captures")).hasSize(1);
        JsonNode status = json("--lab", name, "status");
        assertThat(status.path("mode").asText()).isEqualTo("nftables");
        assertThat(status.path("verified").asBoolean()).isTrue();
        // a new workload in nftables mode is one set element more
        json("--lab", name, "enroll", "--netns", name + "-p3");
        JsonNode tables = json("--lab", name, "inspect", "nftables").path("tables");
        assertThat(tables).hasSize(2);
        assertThat(tables.get(0).path("sets").path("pods4").toString()).contains("10.77.0.11").contains("10.77.0.13");
        assertThat(cli("--lab", name, "inspect", "pod", "--netns", p1).out()).contains("pods6 fd77::11")
                .doesNotContain("MISSING");
        assertThat(json("--lab", name, "preflight", "--mode", "nftables").path("ok").asBoolean()).isTrue();
        // someone deletes an element behind ambientctl's back: status says so (exit 1), repair puts it back
        NetNs.named(name + "-node").exec("nft", "delete", "element", "inet", "ambientctl", "pods4", "{ 10.77.0.13 }");
        MainTest.Run bad = cli("--lab", name, "status");
        assertThat(bad.code()).isEqualTo(1);
        assertThat(bad.out() + bad.err()).contains("10.77.0.13");
        assertThat(cli("--lab", name, "repair").code()).isZero();
        assertThat(json("--lab", name, "status").path("verified").asBoolean()).isTrue();

        assertThat(json("--lab", name, "mode", "set", "iptables").path("from").asText()).isEqualTo("nftables");
        assertThat(json("--lab", name, "mode", "set", "ebpf").path("mode").asText()).isEqualTo("ebpf");
        for (String ns : List.of(name + "-node", name + "-zt")) {
            assertThat(NetNs.named(ns).exec("nft", "list", "tables").stdout()).doesNotContain("ambientctl");
        }
        assertThat(json("--lab", name, "status").path("verified").asBoolean()).isTrue();
    }

    @Test
    void labEnrollTrafficStatusUnenrollDown() {
        JsonNode up = json("lab", "up", "--name", name, "--pods", "3");
        assertThat(up.get("up").asBoolean()).isTrue();
        assertThat(up.get("servicesRunning").asBoolean()).isTrue();
        String p1 = name + "-p1";
        String p2 = name + "-p2";

        JsonNode zt = json("--lab", name, "ztunnel", "set", "--netns", name + "-zt");
        assertThat(zt.path("ztunnel").path("ips").toString()).contains(Lab.ZTUNNEL_IP4).contains(Lab.ZTUNNEL_IP6);
        assertThat(json("--lab", name, "ztunnel", "show").path("ztunnel").path("hostInterface").asText())
                .isEqualTo("vzt");

        JsonNode dry = json("--lab", name, "enroll", "--netns", p1, "--dry-run");
        assertThat(dry.path("results").get(0).path("action").asText()).isEqualTo("would-enroll");
        assertThat(json("--lab", name, "status").path("workloads")).isEmpty();

        JsonNode en = json("--lab", name, "enroll", "--netns", p1);
        assertThat(en.path("results").get(0).path("action").asText()).isEqualTo("enrolled");
        assertThat(en.path("results").get(0).path("workload").path("ips").toString()).contains("10.77.0.11")
                .contains("fd77::11");
        assertThat(json("--lab", name, "enroll", "--netns", p1).path("results").get(0).path("action").asText())
                .isEqualTo("already-enrolled");

        Traffic.Result r = Traffic.tcp(NetNs.named(p1), null, "10.77.0.12", 8080, "hi", java.time.Duration.ofSeconds(2));
        assertThat(r.answer()).isEqualTo(p2 + " hi");
        JsonNode captures = json("lab", "status", "--name", name).path("captures");
        assertThat(captures).hasSize(1);
        assertThat(captures.get(0).path("port").asInt()).isEqualTo(15001);
        assertThat(captures.get(0).path("originalDestination").asText()).isEqualTo("10.77.0.12:8080");

        JsonNode status = json("--lab", name, "status");
        assertThat(status.path("mode").asText()).isEqualTo("ebpf");
        JsonNode w = status.path("workloads").get(0);
        assertThat(w.path("netns").asText()).isEqualTo(p1);
        assertThat(w.path("hostInterface").asText()).isEqualTo("vp1");
        assertThat(w.path("hostIfindex").asInt()).isPositive();
        assertThat(w.path("verified").asBoolean()).isTrue();
        assertThat(w.path("counters").path("outPackets").asLong()).isPositive();
        assertThat(json("--lab", name, "mode", "show").path("mode").asText()).isEqualTo("ebpf");
        assertThat(cli("--lab", name, "status").out()).contains(p1).contains("yes");

        assertThat(json("--lab", name, "unenroll", "--netns", name + "-p3").path("results").get(0).path("action")
                .asText()).isEqualTo("not-enrolled");
        assertThat(cli("--lab", name, "unenroll", "--netns", name + "-nope").code()).isEqualTo(ExitCode.NOT_FOUND);
        MainTest.Run missing = cli("--lab", name, "enroll", "--netns", p2, "--netns", name + "-nope");
        assertThat(missing.code()).isEqualTo(ExitCode.NOT_FOUND);
        assertThat(missing.err()).contains(name + "-nope").contains("does not exist");
        assertThat(cli("--lab", name, "mode", "set", "bogus").code()).isEqualTo(ExitCode.USAGE);
        JsonNode plan = json("--lab", name, "mode", "set", "iptables", "--dry-run");
        assertThat(plan.path("rules").asText()).contains("--on-port 15001");
        assertThat(json("--lab", name, "mode", "show").path("mode").asText()).isEqualTo("ebpf");
        JsonNode sw = json("--lab", name, "mode", "set", "iptables");
        assertThat(sw.path("from").asText()).isEqualTo("ebpf");
        assertThat(sw.path("mode").asText()).isEqualTo("iptables");
        r = Traffic.tcp(NetNs.named(p1), null, "10.77.0.12", 8080, "ipt", java.time.Duration.ofSeconds(2));
        assertThat(r.answer()).isEqualTo(p2 + " ipt");
        assertThat(json("lab", "status", "--name", name).path("captures")).hasSize(2);
        assertThat(json("--lab", name, "status").path("verified").asBoolean()).isTrue();
        assertThat(json("--lab", name, "mode", "set", "ebpf").path("mode").asText()).isEqualTo("ebpf");

        JsonNode un = json("--lab", name, "unenroll", "--all");
        assertThat(un.path("results").get(0).path("action").asText()).isEqualTo("unenrolled");
        r = Traffic.tcp(NetNs.named(p1), null, "10.77.0.12", 8080, "hi", java.time.Duration.ofSeconds(2));
        assertThat(r.answer()).isEqualTo(p2 + " hi");
        assertThat(json("lab", "status", "--name", name).path("captures")).hasSize(2);

        assertThat(cli("lab", "down", "--name", name).code()).isZero();
        assertThat(NetNs.named(p1).exists()).isFalse();
        assertThat(Path.of("/sys/fs/bpf/ambientctl-lab-" + name)).doesNotExist();
        assertThat(json("lab", "status", "--name", name).path("up").asBoolean()).isFalse();
    }

    @Test
    void aHeldLockIsExitCode5AndWaitWaits() throws Exception {
        json("lab", "up", "--name", name, "--pods", "1");
        Path labState = stateDir.resolve("lab-" + name);
        try (var lock = NodeState.lock(labState, java.time.Duration.ZERO)) {
            MainTest.Run r = cli("--lab", name, "enroll", "--netns", name + "-p1");
            assertThat(r.code()).isEqualTo(ExitCode.LOCKED);
            assertThat(r.err()).contains("another ambientctl holds the lock").contains("--wait");
            r = cli("--lab", name, "enroll", "--netns", name + "-p1", "--wait", "200ms");
            assertThat(r.code()).isEqualTo(ExitCode.LOCKED);
        }
        assertThat(cli("--lab", name, "enroll", "--netns", name + "-p1", "--wait", "5s").code()).isZero();
        assertThat(cli("--lab", name, "enroll", "--wait", "soon").code()).isEqualTo(ExitCode.USAGE);
    }

    @Test
    void statusSaysLoudlyWhenAWorkloadIsNotRedirecting() throws Exception {
        json("lab", "up", "--name", name, "--pods", "2");
        json("--lab", name, "ztunnel", "set", "--netns", name + "-zt");
        json("--lab", name, "enroll", "--netns", name + "-p1", "--netns", name + "-p2");
        // someone removes our program (a tc filter: the default on Pods' veths) from p1's veth behind our back
        Process del = new ProcessBuilder("nsenter", "--net=/var/run/netns/" + name + "-node", "tc", "filter", "del",
                "dev", "vp1", "ingress", "pref", String.valueOf(io.ambientctl.bpf.Tc.PRIORITY), "handle", "0xa3", "bpf")
                .inheritIO().start();
        assertThat(del.waitFor()).isZero();
        MainTest.Run r = cli("--lab", name, "status", "-o", "json");
        assertThat(r.code()).isEqualTo(ExitCode.FAILED);
        JsonNode st = Json.parse(r.out());
        assertThat(st.path("verified").asBoolean()).isFalse();
        JsonNode p1 = st.path("workloads").get(0);
        assertThat(p1.path("verified").asBoolean()).isFalse();
        assertThat(p1.path("problems").toString()).contains("ambient_pod_ingress is not attached");
        assertThat(st.path("workloads").get(1).path("verified").asBoolean()).isTrue();
        assertThat(cli("--lab", name, "status").out()).contains("NO: ambient_pod_ingress is not attached");
        // enrolling again repairs it
        assertThat(json("--lab", name, "enroll", "--netns", name + "-p1").path("results").get(0).path("action")
                .asText()).isEqualTo("re-enrolled");
        assertThat(cli("--lab", name, "status").code()).isZero();
    }

    @Test
    void separateProcessesEnrollingAtOnceSerializeAndLoseNothing() throws Exception {
        json("lab", "up", "--name", name, "--pods", "4");
        String java = ProcessHandle.current().info().command().orElse("java");
        List<Process> ps = new ArrayList<>();
        for (int i = 1; i <= 4; i++) {
            ps.add(new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                    "--state-dir", stateDir.toString(), "--lab", name, "enroll", "--netns", name + "-p" + i,
                    "--wait", "60s", "-q").redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start());
        }
        for (Process p : ps) {
            assertThat(p.waitFor()).isZero();
        }
        JsonNode st = json("--lab", name, "status");
        assertThat(st.path("workloads")).hasSize(4);
        assertThat(st.path("verified").asBoolean()).isTrue();
    }

    @Test
    void preflightAndInspectSpeakTheContract() {
        JsonNode pf = json("preflight");
        assertThat(pf.path("ok").asBoolean()).isTrue();
        assertThat(pf.path("checks")).isNotEmpty().allSatisfy(c -> {
            assertThat(c.has("id") && c.has("status") && c.has("required") && c.has("detail") && c.has("fix")).isTrue();
            assertThat(c.path("status").asText()).isIn("pass", "warn", "skip");
        });
        assertThat(json("preflight", "--mode", "iptables").path("mode").asText()).isEqualTo("iptables");
        assertThat(cli("preflight", "--mode", "bogus").code()).isEqualTo(ExitCode.USAGE);

        json("lab", "up", "--name", name, "--pods", "2");
        json("--lab", name, "ztunnel", "set", "--netns", name + "-zt");
        json("--lab", name, "enroll", "--netns", name + "-p1");
        JsonNode progs = json("--lab", name, "inspect", "programs", "--all-netns").path("programs");
        assertThat(progs).hasSize(4).allSatisfy(p -> {
            for (String f : List.of("interface", "ifindex", "netns", "direction", "attach", "priority", "id", "name",
                    "tag", "owner")) {
                assertThat(p.has(f)).as(f).isTrue();
            }
            assertThat(p.path("owner").asText()).isEqualTo("ambientctl");
        });
        JsonNode maps = json("--lab", name, "inspect", "maps").path("maps");
        assertThat(maps).extracting(m -> m.path("name").asText()).contains("ambient_workloads", "ambient_counters");
        JsonNode wm = json("--lab", name, "inspect", "maps", "ambient_workloads").path("maps").get(0);
        assertThat(wm.path("type").asText()).isEqualTo("hash");
        assertThat(wm.path("maxEntries").asInt()).isEqualTo(65536);
        assertThat(wm.path("entries").get(0).path("value").path("workload").asText()).isEqualTo(name + "-p1");
        assertThat(cli("--lab", name, "inspect", "maps", "nope").code()).isEqualTo(ExitCode.NOT_FOUND);
        assertThat(json("--lab", name, "inspect", "pod", "--netns", name + "-p1").path("mapEntries")).hasSize(2);
        assertThat(cli("--lab", name, "inspect", "pod", "--netns", name + "-p2").code()).isEqualTo(ExitCode.NOT_FOUND);
        assertThat(cli("--lab", name, "inspect", "programs").out()).contains("ambient_pod_ingress");
    }

    @Test
    void benchSpeaksJsonAndDrawsItsChart() throws Exception {
        Path png = stateDir.resolve("bench.png");
        JsonNode b = json("bench", "--name", name, "--duration", "300ms", "--modes", "direct,ebpf", "--connections",
                "1", "--plot", png.toString());
        assertThat(b.path("runs")).hasSize(2).allSatisfy(x -> {
            for (String f : List.of("mode", "pods", "connections", "qps", "p50Ms", "p75Ms", "p90Ms", "p99Ms", "p999Ms",
                    "errors")) {
                assertThat(x.has(f)).as(f).isTrue();
            }
        });
        assertThat(b.has("controlPlane")).isTrue();
        assertThat(b.path("kernel").asText()).isEqualTo(VersionCommand.kernelRelease());
        assertThat(Files.size(png)).isPositive();
        assertThat(javax.imageio.ImageIO.read(png.toFile()).getWidth()).isEqualTo(900);
        assertThat(cli("bench", "--modes", "warp").code()).isEqualTo(ExitCode.USAGE);
    }

    @Test
    void demoTellsTheWholeStoryAndLeavesNothing() {
        String demo = "acd" + Kernel.unique();
        JsonNode d = json("demo", "--name", demo);
        JsonNode steps = d.path("steps");
        assertThat(steps).hasSize(5);
        assertThat(steps.get(0).path("ztunnelSaw")).isEmpty();
        assertThat(steps.get(2).path("phase").asText()).isEqualTo("iptables");
        assertThat(steps.get(2).path("ztunnelSaw")).extracting(x -> x.path("port").asInt())
                .containsExactly(15001, 15001, 15006);
        assertThat(steps.get(1).path("ztunnelSaw")).hasSize(4);
        assertThat(steps.get(1).path("requests")).allSatisfy(x -> assertThat(x.path("answered").asBoolean()).isTrue());
        assertThat(steps.get(1).path("ztunnelSaw").toString()).contains("10.77.0.12:8080").contains("[fd77::13]:8080")
                .contains("10.77.0.12:15008");
        assertThat(steps.get(3).path("phase").asText()).isEqualTo("monitored");
        assertThat(steps.get(4).path("ztunnelSaw")).isEmpty();
        assertThat(d.path("status").path("workloads")).hasSize(2);
        // explain said where p1 -> p2:8080 goes; the monitor saw it go there
        assertThat(d.path("explain").path("steps").get(0).path("decision").asText()).isEqualTo("outbound");
        assertThat(d.path("explain").path("verdict").asText()).contains("outbound listener 15001");
        assertThat(d.path("monitor")).anySatisfy(x -> {
            assertThat(x.path("hook").asText()).isEqualTo("ztunnelCapture");
            assertThat(x.path("listenerPort").asInt()).isEqualTo(15001);
        });
        assertThat(NetNs.named(demo + "-node").exists()).isFalse();
        assertThat(Path.of("/sys/fs/bpf/ambientctl-lab-" + demo)).doesNotExist();
    }

    /** Our programs on the host veth {@code iface}: "attach kind/direction" of each. */
    private List<String> ours(String iface) {
        List<String> out = new ArrayList<>();
        for (JsonNode p : json("--lab", name, "inspect", "programs").path("programs")) {
            if (p.path("interface").asText().equals(iface) && p.path("owner").asText().equals("ambientctl")) {
                out.add(p.path("attach").asText() + "/" + p.path("direction").asText());
            }
        }
        return out;
    }

    @Test
    void attachTcHangsTheProgramsAsClsactFiltersForEnrollAndTheSwitch() {
        json("lab", "up", "--name", name, "--pods", "2");
        json("--lab", name, "ztunnel", "set", "--netns", name + "-zt");
        json("--lab", name, "enroll", "--netns", name + "-p1", "--attach", "tc");
        json("--lab", name, "enroll", "--netns", name + "-p2", "--attach", "tcx");
        assertThat(ours("vp1")).containsExactlyInAnyOrder("tc/ingress", "tc/egress");
        assertThat(ours("vp2")).containsExactlyInAnyOrder("tcx/ingress", "tcx/egress");
        assertThat(json("--lab", name, "status").path("verified").asBoolean()).isTrue();
        // p1's traffic, on clsact filters, reaches ztunnel's 15001 with its original destination
        int before = json("lab", "status", "--name", name).path("captures").size();
        Traffic.Result r = Traffic.tcp(NetNs.named(name + "-p1"), null, "10.77.0.12", 8080, "tc",
                java.time.Duration.ofSeconds(2));
        assertThat(r.answered()).isTrue();
        JsonNode captures = json("lab", "status", "--name", name).path("captures");
        assertThat(captures).hasSize(before + 1);
        assertThat(captures.get(before).path("port").asInt()).isEqualTo(15001);
        assertThat(captures.get(before).path("originalDestination").asText()).isEqualTo("10.77.0.12:8080");

        // the switch back to eBPF with --attach tc: every workload on clsact filters, and nothing left on unenroll
        // (the default, auto, puts Pods' hooks on clsact filters too: p1 stays as it is, p2's TCX links go)
        json("--lab", name, "mode", "set", "ebpf");
        assertThat(ours("vp1")).containsExactlyInAnyOrder("tc/ingress", "tc/egress");
        assertThat(ours("vp2")).containsExactlyInAnyOrder("tc/ingress", "tc/egress");
        json("--lab", name, "mode", "set", "iptables");
        assertThat(ours("vp1")).isEmpty();
        json("--lab", name, "mode", "set", "ebpf", "--attach", "tc");
        assertThat(ours("vp1")).containsExactlyInAnyOrder("tc/ingress", "tc/egress");
        assertThat(ours("vp2")).containsExactlyInAnyOrder("tc/ingress", "tc/egress");
        assertThat(json("--lab", name, "status").path("verified").asBoolean()).isTrue();
        json("--lab", name, "unenroll", "--all");
        assertThat(ours("vp1")).isEmpty();
        assertThat(ours("vp2")).isEmpty();
        assertThat(cli("--lab", name, "enroll", "--netns", name + "-p1", "--attach", "bpf").code())
                .isEqualTo(ExitCode.USAGE);
    }
}
