package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.bench.HttpServer;
import io.ambientctl.bench.LoadGenerator;
import io.ambientctl.bpf.AttachKind;
import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.redirect.Hook;
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.NodeState;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.redirect.State;
import io.ambientctl.redirect.ebpf.Datapath;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.LabFixture;
import io.ambientctl.testing.OldRelease;
import io.ambientctl.util.Json;

/**
 * Upgrade in place from the previous release (v0.1.0, built from its tag: {@link OldRelease}): the old CLI installs
 * a lab node in each mode (eBPF with tc filters and with TCX links, iptables, nftables) and enrolls its Pods; a TCP
 * connection is held open through ztunnel and a ~500 QPS HTTP load runs while the current build upgrades the node
 * ('ambientctl repair --upgrade', as the package's postinst does). Then: no failed request, the held connection
 * still answers, status verifies every workload, the state says "upgraded from layout 1", and nothing of layout 1
 * is left. The eBPF upgrade is also interrupted at each kind of step: a failure leaves layout 1 whole (the old
 * release's own status verifies it), a kill -9 leaves every Pod redirected and the next command finishes the
 * upgrade.
 */
class UpgradeKernelTest {
    private static final int HTTP_PORT = 18080;
    private LabFixture f;

    @AfterEach
    void tearDown() {
        if (f != null) {
            try {
                f.node.purge(false);
            } finally {
                f.close();
            }
        }
    }

    private String old(String... args) {
        return OldRelease.ok(f.lab.node().name(), f.bpffs, f.stateDir, args);
    }

    /** The current build's CLI as its own process (as a package's postinst runs it); returns exit code and output. */
    private OldRelease.Run current(String fault, String... args) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp",
                System.getProperty("java.class.path"), Main.class.getName(), "--node-netns", f.lab.node().name(),
                "--bpffs", f.bpffs.toString(), "--state-dir", f.stateDir.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (fault != null) {
            pb.environment().put("AMBIENTCTL_FAULT", fault);
        }
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new OldRelease.Run(p.waitFor(), out);
    }

    /** The old release installs the node: ztunnel, the mode (and attach kind), three Pods enrolled. */
    private void installWithOldRelease(RedirectMode mode, AttachKind kind) {
        installWithOldRelease(mode, kind, true);
    }

    /** {@code checked}: the old release's own status verifies the install (one process more). */
    private void installWithOldRelease(RedirectMode mode, AttachKind kind, boolean checked) {
        old("ztunnel", "set", "--netns", f.lab.ztunnel().name());
        List<String> modeSet = new ArrayList<>(List.of("mode", "set", mode.name()));
        List<String> enroll = new ArrayList<>(List.of("enroll"));
        for (int i = 1; i <= 3; i++) {
            enroll.addAll(List.of("--netns", f.pod(i).netns().name()));
        }
        if (kind != null) {
            modeSet.addAll(List.of("--attach", kind.label()));
            enroll.addAll(List.of("--attach", kind.label()));
        }
        if (mode != RedirectMode.ebpf || kind != null) {
            old(modeSet.toArray(String[]::new)); // else enroll installs the eBPF mode (the default)
        }
        old(enroll.toArray(String[]::new));
        if (checked) {
            assertThat(OldRelease.run(f.lab.node().name(), f.bpffs, f.stateDir, "status").exitCode())
                    .as("the old release verifies what it installed").isZero();
        }
    }

    private JsonNode stateFile() throws Exception {
        return Json.MAPPER.readTree(Files.readString(f.stateDir.resolve(NodeState.FILE)));
    }

    /** Every Pod's traffic to another Pod is captured by ztunnel's stand-in (and answered). */
    private void assertEveryPodRedirected(String where) {
        for (int i = 1; i <= 3; i++) {
            Lab.Pod from = f.pod(i);
            Lab.Pod to = f.pod(i % 3 + 1);
            int before = f.standIn.captures().size();
            Traffic.Result r = Traffic.tcp(from.netns(), null, to.ipv4(), 8080, "ping", LabFixture.SHORT);
            assertThat(r.answered()).as(where + ": " + from.name() + " -> " + to.name() + " answered " + r).isTrue();
            assertThat(f.standIn.captures().size()).as(where + ": " + from.name() + " captured").isGreaterThan(before);
        }
    }

    private void assertLayout1Gone() {
        assertThat(Datapath.mapsDir(f.bpffs, 1)).doesNotExist();
        assertThat(Datapath.progsDir(f.bpffs, 1)).doesNotExist();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"ebpf tc", "ebpf tcx", "iptables", "nftables"})
    void thePreviousReleaseIsUpgradedInPlaceUnderLoadWithoutAFailedRequest(String how) throws Exception {
        String[] parts = how.split(" ");
        RedirectMode mode = RedirectMode.valueOf(parts[0]);
        AttachKind kind = parts.length > 1 ? (parts[1].equals("tcx") ? AttachKind.TCX : AttachKind.TC) : null;
        if (kind == AttachKind.TCX) {
            Kernel.requireFeature("TCX links", "6.6", Kernel::tcx);
        }
        OldRelease.jar(); // built (once) before any namespace exists
        f = new LabFixture(3, kind);
        installWithOldRelease(mode, kind);
        JsonNode before = stateFile();
        assertThat(before.get("version").asInt()).as("v0.1.0 writes state version 1").isEqualTo(1);
        if (mode == RedirectMode.ebpf) {
            assertThat(Datapath.mapsDir(f.bpffs, 1)).as("layout 1 pins").isDirectory();
            assertThat(Datapath.layoutDir(f.bpffs, 2)).doesNotExist();
        }
        // the reading commands of the new build say what is there and what comes
        Node.Status pending = f.node.status();
        assertThat(pending.layout()).isEqualTo(1);
        assertThat(pending.nodeProblems()).anyMatch(p -> p.contains("layout 1") && p.contains("repair --upgrade"));
        long outBefore = mode == RedirectMode.ebpf ? oldCounters(1) : 0;

        Lab.Pod client = f.pod(1);
        Lab.Pod server = f.pod(2);
        try (HttpServer http = HttpServer.start(server.netns(), HTTP_PORT, 64);
             HeldConnection held = HeldConnection.open(client.netns(), f.pod(3).ipv4())) {
            assertThat(held.echo("before")).contains("before");
            held.talk();
            assertThat(f.standIn.captures()).as("the held connection goes through ztunnel").anyMatch(c ->
                    c.destinationIp().equals(f.pod(3).ipv4()) && c.destinationPort() == 8080);
            // warm up (the load generator's classes and JIT), as 'ambientctl bench' does, then the measured run
            LoadGenerator.run(client.netns(), new InetSocketAddress(IpAddrs.parse(server.ipv4()), HTTP_PORT), 4,
                    Duration.ofMillis(500), 500, 0);
            LoadGenerator.Result base = LoadGenerator.run(client.netns(), new InetSocketAddress(
                    IpAddrs.parse(server.ipv4()), HTTP_PORT), 4, Duration.ofSeconds(2), 500, 0);
            System.out.printf("upgrade %s, load before (layout 1): %d requests at %.0f/s, %d failed, p99 %.2f ms%n",
                    how, base.requests(), base.qps(), base.errors(), base.percentileMs(99));
            // the load runs in rounds of 2 s (4 keep-alive connections each) until a round has begun after the
            // upgrade ended: it covers the whole upgrade however long that takes, with no timing assumed
            java.util.concurrent.atomic.AtomicBoolean upgraded = new java.util.concurrent.atomic.AtomicBoolean();
            CompletableFuture<long[]> load = CompletableFuture.supplyAsync(() -> {
                long[] sum = new long[3]; // requests, errors, rounds
                boolean last = false;
                while (!last) {
                    last = upgraded.get();
                    LoadGenerator.Result r = LoadGenerator.run(client.netns(), new InetSocketAddress(
                            IpAddrs.parse(server.ipv4()), HTTP_PORT), 4, Duration.ofSeconds(2), 500, 0);
                    sum[0] += r.requests();
                    sum[1] += r.errors();
                    sum[2]++;
                    System.out.printf("upgrade %s, load round %d: %d requests at %.0f/s, %d failed, p99 %.2f ms%n",
                            how, sum[2], r.requests(), r.qps(), r.errors(), r.percentileMs(99));
                }
                return sum;
            });
            Thread.sleep(1000); // the load is under way
            OldRelease.Run up = current(null, "repair", "--upgrade", "-o", "json");
            upgraded.set(true);
            assertThat(up.exitCode()).as(up.output()).isZero();
            JsonNode doc = Json.MAPPER.readTree(up.output().substring(up.output().indexOf('{')));
            assertThat(doc.get("upgradedFrom").asInt()).isEqualTo(1);
            assertThat(doc.get("layout").asInt()).isEqualTo(State.LAYOUT);
            assertThat(doc.get("actions").toString()).contains("from layout 1");
            long[] r = load.get();
            System.out.printf("upgrade %s under load: %d requests in %d rounds, %d failed%n", how, r[0], r[2], r[1]);
            assertThat(r[1]).as("failed requests during the upgrade").isZero();
            assertThat(r[0]).isPositive();
            assertThat(r[2]).as("rounds: during and after the upgrade").isGreaterThanOrEqualTo(2);
            assertThat(held.stop()).as("the held connection, throughout (" + held.exchanges() + " exchanges)").isNull();
            assertThat(held.exchanges()).isPositive();
            assertThat(held.echo("after")).as("the held connection survives").contains("after");
        }

        Node.Status st = f.node.status();
        assertThat(st.verified()).as(st.nodeProblems() + " " + st.workloads()).isTrue();
        assertThat(st.workloads()).hasSize(3).allMatch(w -> w.verification().verified());
        assertThat(st.layout()).isEqualTo(State.LAYOUT);
        assertThat(st.upgradedFrom()).isEqualTo(1);
        State after = f.node.recorded();
        assertThat(after.version).isEqualTo(State.VERSION);
        assertThat(stateFile().get("version").asInt()).isEqualTo(State.VERSION);
        assertLayout1Gone();
        if (mode == RedirectMode.ebpf) {
            assertThat(Datapath.mapsDir(f.bpffs)).isDirectory();
            // every hook kept its place: tc filters their priority and handle, TCX links their link
            Map<String, List<Hook>> was = Json.MAPPER.convertValue(before.get("attachments"),
                    Json.MAPPER.getTypeFactory().constructMapType(Map.class, Json.MAPPER.getTypeFactory()
                            .constructType(String.class), Json.MAPPER.getTypeFactory().constructCollectionType(
                                    List.class, Hook.class)));
            assertThat(after.attachments.keySet()).containsExactlyInAnyOrderElementsOf(was.keySet());
            was.forEach((key, hooks) -> {
                List<Hook> now = after.attachments.get(key);
                assertThat(now).hasSameSizeAs(hooks);
                for (int i = 0; i < hooks.size(); i++) {
                    var a = hooks.get(i).tc();
                    var b = now.get(i).tc();
                    assertThat(b.kind()).isEqualTo(a.kind());
                    assertThat(b.ifindex()).isEqualTo(a.ifindex());
                    assertThat(b.priority()).isEqualTo(a.priority());
                    assertThat(b.handle()).isEqualTo(a.handle());
                    assertThat(b.linkId()).as(key + " link kept").isEqualTo(a.linkId());
                    assertThat(b.linkPin()).isEqualTo(a.linkPin());
                    assertThat(b.progId()).as(key + " runs the new program").isNotEqualTo(a.progId());
                }
            });
            if (kind == AttachKind.TCX) {
                assertThat(after.attachments.values().stream().flatMap(List::stream))
                        .allMatch(h -> h.tc().kind() == AttachKind.TCX);
            }
            assertThat(st.workloads().get(0).counters().outPackets()).as("counters carried over")
                    .isGreaterThanOrEqualTo(outBefore);
        }
        assertEveryPodRedirected("after the upgrade");
        // idempotent: nothing more to do
        OldRelease.Run again = current(null, "repair", "--upgrade");
        assertThat(again.exitCode()).isZero();
        assertThat(again.output()).contains("nothing to upgrade");
        // and the old release now refuses the node (a downgrade)
        OldRelease.Run down = OldRelease.run(f.lab.node().name(), f.bpffs, f.stateDir, "status");
        assertThat(down.exitCode()).isNotZero();
        assertThat(down.output()).contains("version 2");
    }

    /**
     * A downgrade: the state file and the pins of a newer version (state version 3 with a field this version does
     * not know, pins of layout 3) are refused by every command, saying the way back; 'uninstall --force' removes them
     * (the hooks the state records, every pin, the state file), and the Pod then leaves the mesh.
     */
    @Test
    void aDowngradeIsRefusedWithTheWayBackAndUninstallForceRemovesWhatTheNewerVersionLeft() throws Exception {
        f = new LabFixture(2, null);
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        f.node.enroll(List.of(f.pod(1).netns()), false);
        var doc = (com.fasterxml.jackson.databind.node.ObjectNode) stateFile();
        doc.put("version", 3).put("layout", 3).put("somethingNew", true);
        Files.writeString(f.stateDir.resolve(NodeState.FILE), doc.toString());
        Files.move(Datapath.layoutDir(f.bpffs, 2), Datapath.layoutDir(f.bpffs, 3));
        for (String[] cmd : List.of(new String[] {"enroll", "--netns", f.pod(2).netns().name()},
                new String[] {"status"}, new String[] {"repair", "--upgrade"}, new String[] {"uninstall"})) {
            OldRelease.Run r = current(null, cmd);
            assertThat(r.exitCode()).as(String.join(" ", cmd) + ": " + r.output()).isEqualTo(1);
            assertThat(r.output()).contains("newer ambientctl").contains("downgrading in place is refused")
                    .contains("uninstall --force");
        }
        assertEveryPodRedirectedOf(List.of(f.pod(1)), "refused: nothing changed");
        // pins of a newer layout with a state of this version: refused as well
        doc.put("version", State.VERSION).put("layout", State.LAYOUT);
        Files.writeString(f.stateDir.resolve(NodeState.FILE), doc.toString());
        OldRelease.Run pins = current(null, "enroll", "--netns", f.pod(2).netns().name());
        assertThat(pins.exitCode()).as(pins.output()).isEqualTo(1);
        assertThat(pins.output()).contains("layout 3").contains("newer ambientctl");
        doc.put("version", 3).put("layout", 3);
        Files.writeString(f.stateDir.resolve(NodeState.FILE), doc.toString());

        OldRelease.Run force = current(null, "uninstall", "--force");
        assertThat(force.exitCode()).as(force.output()).isZero();
        assertThat(f.stateDir.resolve(NodeState.FILE)).doesNotExist();
        assertThat(Files.exists(f.bpffs) ? Datapath.layoutsPinned(f.bpffs) : List.of()).isEmpty();
        assertThat(Datapath.linksDir(f.bpffs)).doesNotExist();
        int before = f.standIn.captures().size();
        Traffic.Result r = Traffic.tcp(f.pod(1).netns(), null, f.pod(2).ipv4(), 8080, "after", LabFixture.SHORT);
        assertThat(r.answered()).isTrue();
        assertThat(f.standIn.captures().size()).as("the Pod left the mesh").isEqualTo(before);
    }

    private void assertEveryPodRedirectedOf(List<Lab.Pod> pods, String where) {
        for (Lab.Pod from : pods) {
            int before = f.standIn.captures().size();
            Traffic.Result r = Traffic.tcp(from.netns(), null, f.pod(2).ipv4(), 8080, "ping", LabFixture.SHORT);
            assertThat(r.answered()).as(where).isTrue();
            assertThat(f.standIn.captures().size()).as(where + ": captured").isGreaterThan(before);
        }
    }

    /** Pod 1's counted outgoing packets in the layout 1 counters map (40 bytes per CPU), summed. */
    private long oldCounters(int pod) {
        return f.node.recorded().workload(f.pod(pod).netns().display()).map(w -> {
            try (var m = io.ambientctl.bpf.BpfMap.openPinned(Datapath.mapsDir(f.bpffs, 1)
                    .resolve(io.ambientctl.redirect.ebpf.Maps.COUNTERS))) {
                byte[] key = java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.nativeOrder()).putInt(w.id())
                        .array();
                return m.lookup(key).map(v -> {
                    var bb = java.nio.ByteBuffer.wrap(v).order(java.nio.ByteOrder.nativeOrder());
                    long sum = 0;
                    for (int off = 0; off < v.length; off += 40) {
                        sum += bb.getLong(off);
                    }
                    return sum;
                }).orElse(0L);
            }
        }).orElse(0L);
    }

    /**
     * The eBPF upgrade interrupted at each kind of step (the copy, a map entry, the first, a middle and the last
     * hook, removing the old pins, saving the state): a failure leaves layout 1 whole (the old release's own status
     * verifies it) or, past the last hook, layout 2; a kill -9 leaves every Pod redirected, and the next command
     * finishes the upgrade wholly.
     */
    @Test
    void anUpgradeInterruptedAtAnyStepLeavesTheNodeOnOneLayoutWholeAndTheNextCommandFinishesIt() throws Exception {
        OldRelease.jar();
        f = new LabFixture(3, null);
        // each kind of step, failed and killed (not every combination: each costs an install by the old release)
        List<String> points = List.of("kill@2:map-update", "fail@4:upgrade-replace", "kill@4:upgrade-replace",
                "fail@8:upgrade-replace", "kill@1:upgrade-unpin", "fail@1:save-state");
        int kills = 0;
        for (String where : points) {
            {
                String how = where.substring(0, where.indexOf('@'));
                String point = where.substring(where.indexOf('@') + 1);
                f.node.purge(false);
                assertThat(Files.exists(f.bpffs) ? Datapath.layoutsPinned(f.bpffs) : List.of()).as(where).isEmpty();
                installWithOldRelease(RedirectMode.ebpf, null, false);
                OldRelease.Run r = current(where, "repair", "--upgrade");
                boolean pastTheHooks = point.endsWith("upgrade-unpin") || point.endsWith("save-state");
                if (how.equals("kill")) {
                    assertThat(r.exitCode()).as(where + ": " + r.output()).isEqualTo(137);
                    kills++;
                    assertEveryPodRedirected(where + ", before any other command");
                    assertThat(NodeState.journal(f.stateDir)).as(where).isPresent();
                    assertThat(f.node.status().nodeProblems()).as(where).anyMatch(p -> p.contains("interrupted"));
                } else if (pastTheHooks) {
                    assertThat(r.exitCode()).as(where + " (past the hooks: the upgrade is done) " + r.output())
                            .isEqualTo(point.endsWith("save-state") ? 1 : 0);
                    assertEveryPodRedirected(where);
                } else {
                    assertThat(r.exitCode()).as(where + ": " + r.output()).isEqualTo(1);
                    assertThat(r.output()).contains("stays on layout 1");
                    assertThat(NodeState.journal(f.stateDir)).as(where + ": rolled back, no journal").isEmpty();
                    assertThat(Datapath.layoutsPinned(f.bpffs)).as(where).containsExactly(1);
                    OldRelease.Run oldStatus = OldRelease.run(f.lab.node().name(), f.bpffs, f.stateDir, "status");
                    assertThat(oldStatus.exitCode()).as(where + ": layout 1 whole: " + oldStatus.output()).isZero();
                    assertEveryPodRedirected(where);
                }
                // the next changing command finishes (or redoes) the upgrade, wholly
                f.node.repair(false);
                Node.Status st = f.node.status();
                assertThat(st.verified()).as(where + ": " + st.nodeProblems() + " " + st.workloads()).isTrue();
                assertThat(st.layout()).as(where).isEqualTo(State.LAYOUT);
                assertThat(Datapath.layoutsPinned(f.bpffs)).as(where).containsExactly(State.LAYOUT);
                assertLayout1Gone();
                assertEveryPodRedirected(where + ", then repaired");
            }
        }
        assertThat(kills).isEqualTo(points.stream().filter(p -> p.startsWith("kill")).count());
    }
}
