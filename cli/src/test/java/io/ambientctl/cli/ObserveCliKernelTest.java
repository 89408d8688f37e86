package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.testing.Kernel;
import io.ambientctl.util.Json;

/** monitor -o json and explain -o json on a lab the CLI builds: the JSON shape, the decisions, exit codes. */
class ObserveCliKernelTest {
    private String name;
    private Path stateDir;

    @BeforeEach
    void setUp() throws Exception {
        Kernel.require();
        name = "aco" + Kernel.unique();
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

    @Test
    void monitorAndExplainSayTheSameOfAnOutboundConnection() throws Exception {
        json("lab", "up", "--name", name, "--pods", "2");
        String p1 = name + "-p1";
        Lab lab = Lab.named(name, 2);
        String dst = lab.pod(2).ipv4();
        assertThat(cli("--lab", name, "explain", "--netns", p1, "--to", dst + ":8080").code())
                .as("nothing installed yet").isEqualTo(ExitCode.NOT_FOUND);
        json("--lab", name, "ztunnel", "set", "--netns", name + "-zt");
        json("--lab", name, "enroll", "--netns", p1);

        JsonNode e = json("--lab", name, "explain", "--netns", p1, "--to", dst + ":8080");
        assertThat(e.path("mode").asText()).isEqualTo("ebpf");
        assertThat(e.path("workload").asText()).isEqualTo(p1);
        assertThat(e.path("packet").asText()).isEqualTo("tcp " + lab.pod(1).ipv4() + ":40000 -> " + dst + ":8080");
        assertThat(e.path("steps")).hasSize(2);
        assertThat(e.path("steps").get(0).path("hook").asText()).isEqualTo("podIngress");
        assertThat(e.path("steps").get(0).path("decision").asText()).isEqualTo("outbound");
        assertThat(e.path("steps").get(0).path("rewrittenMac").asText()).matches("([0-9a-f]{2}:){5}[0-9a-f]{2}");
        assertThat(e.path("steps").get(0).path("target").asText()).endsWith(")");
        assertThat(e.path("steps").get(1).path("hook").asText()).isEqualTo("ztunnelCapture");
        assertThat(e.path("steps").get(1).path("listenerPort").asInt()).isEqualTo(15001);
        assertThat(e.path("verdict").asText()).contains("listener 15001");
        assertThat(cli("--lab", name, "explain", "--netns", name + "-p2", "--to", dst + ":8080").code())
                .isEqualTo(ExitCode.NOT_FOUND);
        MainTest.Run table = cli("--lab", name, "explain", "--netns", p1, "--to", dst + ":8080");
        assertThat(table.out()).contains("HOOK").contains("podIngress").contains("verdict: ");

        // the monitor, while traffic runs in the background: one JSON object per line, then the summary
        AtomicBoolean done = new AtomicBoolean();
        Thread traffic = new Thread(() -> {
            while (!done.get()) {
                Traffic.tcp(lab.pod(1).netns(), null, dst, 8080, "hi", java.time.Duration.ofMillis(500));
            }
        });
        traffic.start();
        MainTest.Run m;
        try {
            m = cli("--lab", name, "monitor", "--netns", p1, "--proto", "tcp", "--count", "2", "--duration", "30",
                    "-o", "json");
        } finally {
            done.set(true);
            traffic.join();
        }
        assertThat(m.code()).as(m.err()).isZero();
        List<String> lines = m.out().lines().toList();
        assertThat(lines).hasSize(3);
        for (String l : lines.subList(0, 2)) {
            JsonNode d = Json.parse(l);
            assertThat(d.path("workload").asText()).isEqualTo(p1);
            assertThat(d.path("protocol").asText()).isEqualTo("tcp");
            assertThat(d.path("time").asText()).endsWith("Z");
            assertThat(d.path("hook").asText()).isIn("podIngress", "ztunnelCapture");
            assertThat(d.path("decision").asText()).isIn("outbound", "assigned");
            assertThat(d.path("dst").asText()).isEqualTo(dst + ":8080");
            assertThat(d.path("tcpFlags").asText()).isEqualTo("SYN");
        }
        JsonNode sum = Json.parse(lines.get(2)).path("summary");
        assertThat(sum.path("shown").asInt()).isEqualTo(2);
        assertThat(sum.has("rateLimited")).isTrue();
        assertThat(sum.has("lost")).isTrue();
    }

    @Test
    void explainInIptablesModeWalksTheLiveRules() {
        json("lab", "up", "--name", name, "--pods", "2");
        String p1 = name + "-p1";
        Lab lab = Lab.named(name, 2);
        String dst = lab.pod(2).ipv4();
        json("--lab", name, "mode", "set", "iptables");
        json("--lab", name, "ztunnel", "set", "--netns", name + "-zt");
        json("--lab", name, "enroll", "--netns", p1);

        JsonNode e = json("--lab", name, "explain", "--netns", p1, "--to", dst + ":8080");
        assertThat(e.path("mode").asText()).isEqualTo("iptables");
        assertThat(e.path("workload").asText()).isEqualTo(p1);
        List<String> hooks = new ArrayList<>();
        e.path("steps").forEach(s -> hooks.add(s.path("hook").asText()));
        assertThat(hooks).anyMatch(h -> h.startsWith("mangle AMBIENT-PREROUTING #")).contains("routing");
        assertThat(e.path("verdict").asText()).isEqualTo("to ztunnel's outbound listener 15001");
        // what real traffic does: the lab's ztunnel stand-in answers for it
        assertThat(Traffic.tcp(lab.pod(1).netns(), null, dst, 8080, "hi", java.time.Duration.ofMillis(1500))
                .answered()).isTrue();
        MainTest.Run table = cli("--lab", name, "explain", "--ip", lab.pod(2).ipv6(), "--to", "[" + lab.pod(1).ipv6()
                + "]:15008");
        assertThat(table.code()).as(table.err()).isZero();
        assertThat(table.out()).contains("HOOK").contains("routing").contains("verdict: to ztunnel's HBONE listener 15008");
    }

    @Test
    void monitorInIptablesModeReadsTheLogRulesAndSaysWhatItLeavesOut() throws Exception {
        json("lab", "up", "--name", name, "--pods", "2");
        String p1 = name + "-p1";
        Lab lab = Lab.named(name, 2);
        String dst = lab.pod(2).ipv4();
        json("--lab", name, "ztunnel", "set", "--netns", name + "-zt");
        json("--lab", name, "enroll", "--netns", p1);
        json("--lab", name, "mode", "set", "iptables");
        AtomicBoolean done = new AtomicBoolean();
        Thread traffic = new Thread(() -> {
            while (!done.get()) {
                Traffic.tcp(lab.pod(1).netns(), null, dst, 8080, "hi", java.time.Duration.ofMillis(500));
            }
        });
        traffic.start();
        MainTest.Run m;
        try {
            m = cli("--lab", name, "monitor", "--netns", p1, "--proto", "tcp", "--count", "8", "--duration", "30",
                    "-o", "json");
        } finally {
            done.set(true);
            traffic.join();
        }
        assertThat(m.code()).as(m.err()).isZero();
        List<String> lines = m.out().lines().toList();
        assertThat(lines).hasSize(9);
        List<JsonNode> ds = lines.subList(0, 8).stream().map(Json::parse).toList();
        for (JsonNode d : ds) {
            assertThat(d.path("workload").asText()).isEqualTo(p1);
            assertThat(d.path("protocol").asText()).isEqualTo("tcp");
            assertThat(d.path("hook").asText()).isIn("nodeChain", "ztunnelChain");
            assertThat(d.path("tcpFlags").asText()).startsWith("SYN");
            assertThat(List.of(d.path("src").asText(), d.path("dst").asText())).contains(dst + ":8080");
        }
        // the node's chain marks p1's SYN (outbound), ztunnel's assigns it to 15001; besides, SYN-ACKs and
        // ztunnel's own connection onwards (with p1's address as its source) pass the node's chain
        assertThat(ds).anySatisfy(d -> {
            assertThat(d.path("hook").asText()).isEqualTo("nodeChain");
            assertThat(d.path("decision").asText()).isEqualTo("outbound");
            assertThat(d.path("dst").asText()).isEqualTo(dst + ":8080");
            assertThat(d.path("tcpFlags").asText()).isEqualTo("SYN");
        });
        assertThat(ds).anySatisfy(d -> {
            assertThat(d.path("hook").asText()).isEqualTo("ztunnelChain");
            assertThat(d.path("decision").asText()).isEqualTo("assigned");
            assertThat(d.path("listenerPort").asInt()).isEqualTo(15001);
        });
        JsonNode sum = Json.parse(lines.get(8)).path("summary");
        assertThat(sum.path("shown").asInt()).isEqualTo(8);
        assertThat(sum.path("rateLimited").isNull() || sum.path("rateLimited").isMissingNode()).isTrue();
        assertThat(sum.path("note").asText()).contains("iptables mode").contains("NFLOG");
        assertThat(cli("--lab", name, "monitor", "--every-packet", "--count", "1").code())
                .isEqualTo(ExitCode.USAGE);
    }
}
