package io.ambientctl.observe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn;
import io.ambientctl.net.NetNs;
import io.ambientctl.net.Nflog;
import io.ambientctl.redirect.Marks;
import io.ambientctl.redirect.NetfilterMonitor;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.redirect.Workload;
import io.ambientctl.testing.LabFixture;

/**
 * monitor in the iptables and nftables modes on a lab with real traffic: for each path the redirection suite
 * covers, the log rules' NFLOG group, read in the node's and ztunnel's namespaces, reports the decision the
 * traffic met; nothing logged while no monitor is bound arrives later; a second monitor is refused; a closed
 * monitor leaves nothing bound.
 */
class NetfilterMonitorKernelTest {
    LabFixture f;
    Lab.Pod a;
    Lab.Pod b;
    Lab.Pod c;

    void setUp(RedirectMode mode) throws Exception {
        f = new LabFixture(3, null);
        a = f.pod(1);
        b = f.pod(2);
        c = f.pod(3);
        f.node.modeSet(mode, false);
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

    boolean bound(NetNs ns) {
        return ns.call(() -> Nflog.boundHere(Marks.NFLOG_GROUP));
    }

    @ParameterizedTest
    @EnumSource(value = RedirectMode.class, names = {"iptables", "nftables"})
    void outboundInboundAndHboneAsTheMonitorSawThem(RedirectMode mode) throws Exception {
        setUp(mode);
        ztunnel(false);
        enroll(a, b);
        // traffic while no monitor is bound: the kernel logs nothing, so nothing old arrives later
        assertThat(tcp(a, c.ipv4(), 8080).answered()).isTrue();
        try (Monitor m = f.node.monitor(MonitorOptions.defaults())) {
            assertThat(drain(m)).isEmpty();
            f.standIn.clear();
            assertThat(tcp(a, c.ipv4(), 8080).answer()).isEqualTo(c.name() + " hello");
            List<Decision> ds = drain(m);
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo(NetfilterMonitor.NODE_HOOK);
                assertThat(d.workload()).isEqualTo(key(a));
                assertThat(d.decision()).isEqualTo("outbound");
                assertThat(d.direction()).isEqualTo("outbound");
                assertThat(d.protocol()).isEqualTo("tcp");
                assertThat(d.src()).startsWith(a.ipv4() + ":");
                assertThat(d.dst()).isEqualTo(ep(c.ipv4(), 8080));
                assertThat(d.tcpFlags()).isEqualTo("SYN");
                assertThat(d.reason()).isNull();
            });
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo(NetfilterMonitor.ZTUNNEL_HOOK);
                assertThat(d.workload()).isEqualTo(key(a));
                assertThat(d.decision()).isEqualTo("assigned");
                assertThat(d.listenerPort()).isEqualTo(15001);
                assertThat(d.dst()).isEqualTo(ep(c.ipv4(), 8080));
                assertThat(d.tcpFlags()).isEqualTo("SYN");
            });
            assertThat(ds).noneSatisfy(d -> assertThat(d.decision()).isEqualTo("drop"));
            assertThat(f.standIn.captures()).extracting(ZtunnelStandIn.Capture::port).containsExactly(15001);

            // inbound to b from c (not enrolled), IPv6, on 8080 and on the HBONE port; ztunnel then connects to b
            f.standIn.clear();
            assertThat(tcp(c, b.ipv6(), 8080).answer()).isEqualTo(b.name() + " hello");
            assertThat(tcp(c, b.ipv6(), 15008).answer()).isEqualTo(b.name() + " hello");
            ds = drain(m);
            for (int port : new int[] {8080, 15008}) {
                int listener = port == 15008 ? 15008 : 15006;
                assertThat(ds).anySatisfy(d -> {
                    assertThat(d.hook()).isEqualTo(NetfilterMonitor.NODE_HOOK);
                    assertThat(d.workload()).isEqualTo(key(b));
                    assertThat(d.decision()).isEqualTo("inbound");
                    assertThat(d.direction()).isEqualTo("inbound");
                    assertThat(d.dst()).isEqualTo(ep(b.ipv6(), port));
                    assertThat(d.tcpFlags()).isEqualTo("SYN");
                });
                assertThat(ds).anySatisfy(d -> {
                    assertThat(d.hook()).isEqualTo(NetfilterMonitor.ZTUNNEL_HOOK);
                    assertThat(d.decision()).isEqualTo("assigned");
                    assertThat(d.listenerPort()).isEqualTo(listener);
                    assertThat(d.direction()).isEqualTo("inbound");
                    assertThat(d.workload()).isEqualTo(key(b));
                    assertThat(d.dst()).isEqualTo(ep(b.ipv6(), port));
                });
                assertThat(ds).anySatisfy(d -> {
                    assertThat(d.hook()).isEqualTo(NetfilterMonitor.NODE_HOOK);
                    assertThat(d.decision()).isEqualTo("pass");
                    assertThat(d.reason()).isEqualTo("fromZtunnel");
                    assertThat(d.workload()).isEqualTo(key(b));
                    assertThat(d.direction()).isEqualTo("inbound");
                    assertThat(d.dst()).isEqualTo(ep(b.ipv6(), port));
                });
            }
            assertThat(f.standIn.captures()).extracting(ZtunnelStandIn.Capture::port).containsExactly(15006, 15008);
            Monitor.Summary s = m.summary();
            assertThat(s.decisions()).isPositive();
            assertThat(s.lost()).isZero();
            assertThat(s.rateLimited()).isEqualTo(-1);
            assertThat(s.note()).contains(mode.name()).contains(String.valueOf(Marks.NFLOG_GROUP));
        }
    }

    @ParameterizedTest
    @EnumSource(value = RedirectMode.class, names = {"iptables", "nftables"})
    void dnsPassAndCaptureAndTheNodesOwnTraffic(RedirectMode mode) throws Exception {
        setUp(mode);
        ztunnel(false);
        enroll(a, b);
        try (Monitor m = f.node.monitor(MonitorOptions.defaults())) {
            assertThat(Traffic.udp(a.netns(), c.ipv4(), 53, "query", LabFixture.SHORT).answer())
                    .isEqualTo(c.name() + " query");
            List<Decision> ds = drain(m);
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo(NetfilterMonitor.NODE_HOOK);
                assertThat(d.workload()).isEqualTo(key(a));
                assertThat(d.protocol()).isEqualTo("udp");
                assertThat(d.direction()).isEqualTo("outbound");
                assertThat(d.decision()).isEqualTo("pass");
                assertThat(d.reason()).isEqualTo("dnsNotCaptured");
                assertThat(d.dst()).isEqualTo(ep(c.ipv4(), 53));
            });
            assertThat(ds).noneSatisfy(d -> assertThat(d.hook()).isEqualTo(NetfilterMonitor.ZTUNNEL_HOOK));

            // the node's own address to an enrolled pod: the pod's answer to the node passes (nodeAddress)
            f.standIn.clear();
            assertThat(Traffic.tcp(f.lab.node(), Lab.NODE_IP4, b.ipv4(), 8080, "probe", LabFixture.SHORT).answer())
                    .isEqualTo(b.name() + " probe");
            ds = drain(m);
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo(NetfilterMonitor.NODE_HOOK);
                assertThat(d.decision()).isEqualTo("pass");
                assertThat(d.reason()).isEqualTo("nodeAddress");
                assertThat(d.workload()).isEqualTo(key(b));
                assertThat(d.src()).isEqualTo(ep(b.ipv4(), 8080));
                assertThat(d.dst()).startsWith(Lab.NODE_IP4 + ":");
                assertThat(d.tcpFlags()).isEqualTo("SYN,ACK");
            });
            assertThat(ds).noneSatisfy(d -> assertThat(d.hook()).isEqualTo(NetfilterMonitor.ZTUNNEL_HOOK));
            assertThat(f.standIn.captures()).isEmpty();
        }

        ztunnel(true);
        try (Monitor m = f.node.monitor(MonitorOptions.defaults())) {
            assertThat(Traffic.udp(a.netns(), c.ipv4(), 53, "query", LabFixture.SHORT).answer())
                    .isEqualTo("ztunnel-dns:query");
            List<Decision> ds = drain(m);
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo(NetfilterMonitor.NODE_HOOK);
                assertThat(d.decision()).isEqualTo("outbound");
                assertThat(d.protocol()).isEqualTo("udp");
                assertThat(d.dst()).isEqualTo(ep(c.ipv4(), 53));
            });
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo(NetfilterMonitor.ZTUNNEL_HOOK);
                assertThat(d.listenerPort()).isEqualTo(15053);
                assertThat(d.decision()).isEqualTo("assigned");
                assertThat(d.workload()).isEqualTo(key(a));
                assertThat(d.protocol()).isEqualTo("udp");
            });
        }
    }

    @ParameterizedTest
    @EnumSource(value = RedirectMode.class, names = {"iptables", "nftables"})
    void dropsWithoutZtunnelAndWithZtunnelNotListening(RedirectMode mode) throws Exception {
        setUp(mode);
        enroll(a);
        try (Monitor m = f.node.monitor(MonitorOptions.defaults())) {
            assertThat(tcp(a, c.ipv4(), 8080).answered()).isFalse();
            List<Decision> ds = drain(m);
            assertThat(ds).isNotEmpty().allSatisfy(d -> {
                assertThat(d.hook()).isEqualTo(NetfilterMonitor.NODE_HOOK);
                assertThat(d.workload()).isEqualTo(key(a));
                assertThat(d.decision()).isEqualTo("drop");
                assertThat(d.reason()).isEqualTo("noZtunnel");
                assertThat(d.dst()).isEqualTo(ep(c.ipv4(), 8080));
            });
        }

        ztunnel(false);
        f.standIn.close(); // ztunnel set but not listening
        try (Monitor m = f.node.monitor(MonitorOptions.defaults())) {
            assertThat(tcp(a, c.ipv4(), 8080).answered()).isFalse();
            List<Decision> ds = drain(m);
            assertThat(ds).anySatisfy(d -> {
                assertThat(d.hook()).isEqualTo(NetfilterMonitor.ZTUNNEL_HOOK);
                assertThat(d.workload()).isEqualTo(key(a));
                assertThat(d.decision()).isEqualTo("drop");
                assertThat(d.reason()).isEqualTo("noListener");
                assertThat(d.listenerPort()).isEqualTo(15001);
                assertThat(d.dst()).isEqualTo(ep(c.ipv4(), 8080));
            });
            assertThat(ds).noneSatisfy(d -> assertThat(d.decision()).isEqualTo("assigned"));
        } finally {
            f.standIn = null; // closed above
        }
    }

    @ParameterizedTest
    @EnumSource(value = RedirectMode.class, names = {"iptables", "nftables"})
    void aSecondMonitorIsRefusedAndAClosedOneLeavesNothingBound(RedirectMode mode) throws Exception {
        setUp(mode);
        ztunnel(false);
        enroll(a);
        NetNs node = f.lab.node();
        NetNs zt = f.lab.ztunnel();
        assertThat(bound(node)).isFalse();
        assertThat(bound(zt)).isFalse();
        try (Monitor m = f.node.monitor(MonitorOptions.defaults())) {
            assertThat(bound(node)).isTrue();
            assertThat(bound(zt)).isTrue();
            assertThatThrownBy(() -> f.node.monitor(MonitorOptions.defaults()))
                    .hasMessageContaining("another monitor is running (group " + Marks.NFLOG_GROUP + ")");
            // the refused one left the first one's binding alone
            assertThat(tcp(a, c.ipv4(), 8080).answered()).isTrue();
            assertThat(drain(m)).anySatisfy(d -> assertThat(d.decision()).isEqualTo("outbound"));
            assertThatThrownBy(() -> f.node.monitor(new MonitorOptions(true, 100)))
                    .hasMessageContaining("--every-packet is eBPF mode only");
        }
        assertThat(bound(node)).isFalse();
        assertThat(bound(zt)).isFalse();
        try (Monitor m = f.node.monitor(MonitorOptions.defaults())) {
            assertThat(tcp(a, c.ipv4(), 8080).answered()).isTrue();
            assertThat(drain(m)).anySatisfy(d -> assertThat(d.decision()).isEqualTo("assigned"));
        }
        assertThat(bound(node)).isFalse();
    }
}
