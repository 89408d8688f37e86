package io.ambientctl.observe;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.bpf.Clock;
import io.ambientctl.bpf.Codecs;
import io.ambientctl.bpf.RingBuffer;
import io.ambientctl.bpf.TypedMap;
import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.redirect.Counters;
import io.ambientctl.redirect.Workload;
import io.ambientctl.redirect.ebpf.Datapath;
import io.ambientctl.redirect.ebpf.EbpfRedirector;
import io.ambientctl.redirect.ebpf.Maps;
import io.ambientctl.testing.LabFixture;

/**
 * monitor and explain on a lab with real traffic (eBPF mode): for each path the redirection suite covers, the
 * monitor reports the decision the traffic met and explain predicts the same; explain changes nothing; no
 * monitor, no events; an abandoned lease lapses.
 */
class ObserveKernelTest {
    LabFixture f;
    Lab.Pod a;
    Lab.Pod b;
    Lab.Pod c;

    @BeforeEach
    void setUp() throws Exception {
        f = new LabFixture(3, null);
        a = f.pod(1);
        b = f.pod(2);
        c = f.pod(3);
    }

    @AfterEach
    void tearDown() {
        if (f != null) {
            f.close();
        }
    }

    void ztunnel(boolean dns) {
        f.node.ztunnelSet(f.lab.ztunnel(), dns, null, false);
    }

    void enroll(Lab.Pod... pods) {
        f.node.enroll(java.util.Arrays.stream(pods).map(Lab.Pod::netns).toList(), false);
    }

    String key(Lab.Pod p) {
        return f.node.recorded().workloads.stream().filter(w -> w.hostInterface().equals(p.hostInterface()))
                .map(Workload::key).findFirst().orElseThrow();
    }

    Traffic.Result tcp(Lab.Pod from, String dst, int port) {
        return Traffic.tcp(from.netns(), null, dst, port, "hello", LabFixture.SHORT);
    }

    /** What the monitor has now: polls until two polls in a row bring nothing. */
    static List<Decision> drain(Monitor m) {
        List<Decision> out = new ArrayList<>();
        int idle = 0;
        while (idle < 2) {
            idle = m.poll(200, out::add) == 0 ? idle + 1 : 0;
        }
        return out;
    }

    static String ep(String ip, int port) {
        return (ip.contains(":") ? "[" + ip + "]" : ip) + ":" + port;
    }

    static Explanation.Step step(Explanation e, String hook) {
        return e.steps().stream().filter(s -> s.hook().equals(hook)).findFirst().orElseThrow(() ->
                new AssertionError("no step " + hook + " in " + e));
    }

    @Test
    void outboundInboundAndHboneAsTheMonitorSawThemAndAsExplainSaysThem() {
        ztunnel(false);
        enroll(a, b);
        try (Monitor m = f.node.monitor(MonitorOptions.defaults())) {
            drain(m);
            assertThat(tcp(a, c.ipv4(), 8080).answer()).isEqualTo(c.name() + " hello");
            List<Decision> ds = drain(m);
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo("podIngress");
                assertThat(d.workload()).isEqualTo(key(a));
                assertThat(d.decision()).isEqualTo("outbound");
                assertThat(d.direction()).isEqualTo("outbound");
                assertThat(d.protocol()).isEqualTo("tcp");
                assertThat(d.dst()).isEqualTo(ep(c.ipv4(), 8080));
                assertThat(d.tcpFlags()).isEqualTo("SYN");
                assertThat(d.target()).contains("(");
            });
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo("ztunnelCapture");
                assertThat(d.decision()).isEqualTo("assigned");
                assertThat(d.listenerPort()).isEqualTo(15001);
                assertThat(d.dst()).isEqualTo(ep(c.ipv4(), 8080));
            });
            assertThat(f.standIn.captures()).extracting(ZtunnelStandIn.Capture::port).containsExactly(15001);

            Explanation e = f.node.explain(new Probe(key(a), null, IpAddrs.parse(c.ipv4()), 8080, false));
            assertThat(step(e, "podIngress").decision()).isEqualTo("outbound");
            assertThat(step(e, "podIngress").rewrittenMac()).isEqualTo(f.node.recorded().ztunnel.podMac());
            assertThat(step(e, "podIngress").target()).startsWith(f.node.recorded().ztunnel.hostInterface());
            assertThat(step(e, "ztunnelCapture").decision()).isEqualTo("assigned");
            assertThat(step(e, "ztunnelCapture").listenerPort()).isEqualTo(15001);
            assertThat(e.verdict()).contains("outbound listener 15001");

            // inbound to b from c (not enrolled), IPv6, on 8080 and on the HBONE port
            f.standIn.clear();
            assertThat(tcp(c, b.ipv6(), 8080).answer()).isEqualTo(b.name() + " hello");
            assertThat(tcp(c, b.ipv6(), 15008).answer()).isEqualTo(b.name() + " hello");
            ds = drain(m);
            for (int port : new int[] {8080, 15008}) {
                int listener = port == 15008 ? 15008 : 15006;
                assertThat(ds).anySatisfy(d -> {
                    assertThat(d.hook()).isEqualTo("podEgress");
                    assertThat(d.workload()).isEqualTo(key(b));
                    assertThat(d.decision()).isEqualTo("inbound");
                    assertThat(d.dst()).isEqualTo(ep(b.ipv6(), port));
                });
                assertThat(ds).anySatisfy(d -> {
                    assertThat(d.hook()).isEqualTo("ztunnelCapture");
                    assertThat(d.decision()).isEqualTo("assigned");
                    assertThat(d.listenerPort()).isEqualTo(listener);
                    assertThat(d.direction()).isEqualTo("inbound");
                    assertThat(d.dst()).isEqualTo(ep(b.ipv6(), port));
                });
                Explanation x = f.node.explain(new Probe(null, IpAddrs.parse(c.ipv6()), IpAddrs.parse(b.ipv6()), port,
                        false));
                assertThat(x.workload()).isEqualTo(key(b));
                assertThat(step(x, "podEgress").decision()).isEqualTo("inbound");
                assertThat(step(x, "ztunnelCapture").listenerPort()).isEqualTo(listener);
                assertThat(step(x, "ztunnelIngress").decision()).isEqualTo("bypass");
                assertThat(step(x, "ztunnelIngress").rewrittenMac()).isEqualTo(
                        f.node.recorded().workload(key(b)).orElseThrow().podMac());
                assertThat(x.steps().get(x.steps().size() - 1).reason()).isEqualTo("fromZtunnel");
            }
            assertThat(f.standIn.captures()).extracting(ZtunnelStandIn.Capture::port).containsExactly(15006, 15008);
        }
    }

    @Test
    void dnsPassAndCaptureAndTheNodesOwnTraffic() {
        ztunnel(false);
        enroll(a, b);
        try (Monitor m = f.node.monitor(MonitorOptions.defaults())) {
            drain(m);
            assertThat(Traffic.udp(a.netns(), c.ipv4(), 53, "query", LabFixture.SHORT).answer())
                    .isEqualTo(c.name() + " query");
            List<Decision> ds = drain(m);
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo("podIngress");
                assertThat(d.protocol()).isEqualTo("udp");
                assertThat(d.decision()).isEqualTo("pass");
                assertThat(d.reason()).isEqualTo("dnsNotCaptured");
            });
            Explanation e = f.node.explain(new Probe(key(a), null, IpAddrs.parse(c.ipv4()), 53, true));
            assertThat(step(e, "podIngress").reason()).isEqualTo("dnsNotCaptured");
            assertThat(e.steps()).hasSize(1);

            ztunnel(true);
            assertThat(Traffic.udp(a.netns(), c.ipv4(), 53, "query", LabFixture.SHORT).answer())
                    .isEqualTo("ztunnel-dns:query");
            ds = drain(m);
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo("ztunnelCapture");
                assertThat(d.listenerPort()).isEqualTo(15053);
                assertThat(d.decision()).isEqualTo("assigned");
            });
            e = f.node.explain(new Probe(key(a), null, IpAddrs.parse(c.ipv4()), 53, true));
            assertThat(step(e, "podIngress").decision()).isEqualTo("outbound");
            assertThat(step(e, "ztunnelCapture").listenerPort()).isEqualTo(15053);

            // the node's own address to an enrolled pod: passes, captured by nobody
            f.standIn.clear();
            assertThat(Traffic.tcp(f.lab.node(), Lab.NODE_IP4, b.ipv4(), 8080, "probe", LabFixture.SHORT).answer())
                    .isEqualTo(b.name() + " probe");
            ds = drain(m);
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo("podEgress");
                assertThat(d.decision()).isEqualTo("pass");
                assertThat(d.reason()).isEqualTo("nodeAddress");
                assertThat(d.src()).startsWith(Lab.NODE_IP4 + ":");
            });
            assertThat(f.standIn.captures()).isEmpty();
            e = f.node.explain(new Probe(null, IpAddrs.parse(Lab.NODE_IP4), IpAddrs.parse(b.ipv4()), 8080, false));
            assertThat(step(e, "podEgress").reason()).isEqualTo("nodeAddress");
            assertThat(e.verdict()).contains("passes into");
        }
    }

    @Test
    void dropsWithoutZtunnelAndWithZtunnelNotListening() {
        enroll(a);
        try (Monitor m = f.node.monitor(new MonitorOptions(false, 0))) {
            drain(m);
            assertThat(tcp(a, c.ipv4(), 8080).answered()).isFalse();
            List<Decision> ds = drain(m);
            assertThat(ds).isNotEmpty().allSatisfy(d -> {
                assertThat(d.hook()).isEqualTo("podIngress");
                assertThat(d.decision()).isEqualTo("drop");
                assertThat(d.reason()).isEqualTo("noZtunnel");
            });
            Explanation e = f.node.explain(new Probe(key(a), null, IpAddrs.parse(c.ipv4()), 8080, false));
            assertThat(step(e, "podIngress").reason()).isEqualTo("noZtunnel");
            assertThat(e.verdict()).startsWith("dropped");

            ztunnel(false);
            f.standIn.close(); // ztunnel set but not listening
            assertThat(tcp(a, c.ipv4(), 8080).answered()).isFalse();
            ds = drain(m);
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo("ztunnelCapture");
                assertThat(d.decision()).isEqualTo("drop");
                assertThat(d.reason()).isEqualTo("noListener");
                assertThat(d.listenerPort()).isEqualTo(15001);
            });
            e = f.node.explain(new Probe(key(a), null, IpAddrs.parse(c.ipv4()), 8080, false));
            assertThat(step(e, "ztunnelCapture").reason()).isEqualTo("noListener");
            assertThat(e.verdict()).contains("noListener");
            Counters cs = f.node.status().workloads().get(0).counters();
            assertThat(cs.dropped(io.ambientctl.redirect.DropReason.NO_ZTUNNEL)).isPositive();
            assertThat(cs.dropped(io.ambientctl.redirect.DropReason.NO_LISTENER)).isPositive();
        } finally {
            f.standIn = null; // closed above
        }
    }

    @Test
    void explainChangesNothingAndWithoutAMonitorNothingIsReported() throws IOException {
        ztunnel(false);
        enroll(a);
        try (EbpfRedirector r = new EbpfRedirector(f.config, f.node.recorded(), null, true)) {
            Datapath dp = r.datapath();
            TypedMap<Integer, Maps.MonitorLease> lease = new TypedMap<>(dp.map(Maps.MONITOR), Codecs.U32,
                    Maps.MONITOR_LEASE);
            List<ByteBufferHolder> seen = new ArrayList<>();
            try (RingBuffer ring = new RingBuffer(dp.map(Maps.EVENTS), bb -> seen.add(new ByteBufferHolder()))) {
                // no monitor ever ran: traffic leaves no event
                assertThat(lease.get(0).orElseThrow().untilNs()).isZero();
                assertThat(tcp(a, c.ipv4(), 8080).answered()).isTrue();
                ring.poll(200);
                assertThat(seen).isEmpty();

                // a monitor takes the lease and is then abandoned (killed: it refreshes no more)
                Monitor m = f.node.monitor(MonitorOptions.defaults());
                long until = lease.get(0).orElseThrow().untilNs();
                assertThat(until).isGreaterThan(Clock.monotonicNs())
                        .isLessThanOrEqualTo(Clock.monotonicNs() + MonitorOptions.LEASE_HOLD_NS);
                // explain while the lease holds: no event, no counter, no pin
                Counters before = f.node.status().workloads().get(0).counters();
                List<String> pins = tree(f.bpffs);
                Explanation e = f.node.explain(new Probe(key(a), null, IpAddrs.parse(c.ipv4()), 8080, false));
                assertThat(step(e, "podIngress").decision()).isEqualTo("outbound");
                assertThat(drain(m)).isEmpty();
                ring.poll(100);
                assertThat(seen).isEmpty();
                assertThat(f.node.status().workloads().get(0).counters()).isEqualTo(before);
                assertThat(tree(f.bpffs)).isEqualTo(pins);

                // the abandoned lease lapses (polled last above, it refreshes no more): wait past its expiry, then
                // traffic is not reported
                long last = lease.get(0).orElseThrow().untilNs();
                assertThat(last).isLessThanOrEqualTo(Clock.monotonicNs() + MonitorOptions.LEASE_HOLD_NS);
                while (Clock.monotonicNs() <= last) {
                    sleep(200);
                }
                assertThat(tcp(a, c.ipv4(), 8080).answered()).isTrue();
                ring.poll(200);
                assertThat(seen).isEmpty();
                m.close();
            }
        }
    }

    @Test
    void aRefreshNeverLowersAnotherMonitorsLaterExpiryAndKeepsItsWishesWhileItHolds() {
        ztunnel(false);
        try (EbpfRedirector r = new EbpfRedirector(f.config, f.node.recorded(), null, true)) {
            TypedMap<Integer, Maps.MonitorLease> lease = new TypedMap<>(r.datapath().map(Maps.MONITOR), Codecs.U32,
                    Maps.MONITOR_LEASE);
            long later = Clock.monotonicNs() + 60_000_000_000L;
            lease.put(0, new Maps.MonitorLease(later, Maps.MONITOR_F_EVERY_PACKET, 500));
            try (Monitor m = f.node.monitor(MonitorOptions.defaults())) {
                Maps.MonitorLease l = lease.get(0).orElseThrow();
                assertThat(l.untilNs()).isEqualTo(later);
                assertThat(l.flags()).isEqualTo(Maps.MONITOR_F_EVERY_PACKET);
                assertThat(l.udpPerSec()).isEqualTo(500);
            }
            // an expired lease's wishes are not kept
            lease.put(0, new Maps.MonitorLease(1, Maps.MONITOR_F_EVERY_PACKET, 500));
            try (Monitor m = f.node.monitor(MonitorOptions.defaults())) {
                Maps.MonitorLease l = lease.get(0).orElseThrow();
                assertThat(l.flags()).isZero();
                assertThat(l.udpPerSec()).isEqualTo(MonitorOptions.DEFAULT_UDP_PER_SEC);
            }
        }
    }

    record ByteBufferHolder() {
    }

    static List<String> tree(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.map(p -> root.relativize(p).toString()).sorted().toList();
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
