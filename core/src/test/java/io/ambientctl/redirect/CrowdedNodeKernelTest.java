package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import io.ambientctl.bpf.BpfObject;
import io.ambientctl.bpf.Codecs;
import io.ambientctl.bpf.TypedMap;
import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn.Capture;
import io.ambientctl.testing.CrowdedNode;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.LabFixture;
import io.ambientctl.util.Exec;

/**
 * The redirection paths that matter, once more on a crowded node, in every mode, on one lab: kube-proxy's Service
 * NAT in both forms (iptables: 10.96.0.10, nftables: 10.96.0.20, both to pod 2) with its 0x4000 masquerade mark
 * and its INVALID drop, a container engine's masquerade by mark 0x2000, another owner's policy routing rules, a
 * CNI-like TC program on pod 1's veth, and another owner's bit 0x4000 set on pod 1's packets before ours. Every
 * path goes where it should; ours leave with the mode, and the other owners' rules stay as they were.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CrowdedNodeKernelTest {
    LabFixture f;
    Lab.Pod a;
    Lab.Pod b;
    Lab.Pod c;
    BpfObject cni;
    TypedMap<Integer, Long> cniStats;
    Path cniPins;
    String before;

    static final String OTHER = "other-marks";

    @BeforeAll
    void crowd() throws Exception {
        f = new LabFixture(3, null);
        a = f.pod(1);
        b = f.pod(2);
        c = f.pod(3);
        CrowdedNode.kubeProxyIptables(f.lab.node(), b.ipv4());
        CrowdedNode.kubeProxyNftables(f.lab.node(), b.ipv4(), CrowdedNode.VIP2);
        CrowdedNode.engineAndRouting(f.lab.node());
        // another owner's bit (kube-proxy's masquerade bit) on pod 1's packets before our mangle-priority rules,
        // counted where they are forwarded: a mark write of ours that cleared it would show as no count
        String other = "table inet " + OTHER + " {\n chain pre { type filter hook prerouting priority -160; ip saddr "
                + a.ipv4() + " meta mark set meta mark | 0x4000; }\n chain forwarded { type filter hook forward priority 10; "
                + "ip saddr " + a.ipv4() + " meta mark & 0x4000 == 0x4000 counter; }\n}\n";
        f.lab.node().call(() -> Exec.run(List.of("nft", "-f", "-"), other).check());
        // a CNI's TC program on pod 1's veth, attached before ours as that CNI would
        cniPins = Kernel.bpffsDir("actest-cni");
        cni = BpfObject.openResource("selftest.bpf.o").load();
        cni.program("selftest_count").pin(cniPins.resolve("prog"));
        f.lab.node().exec("tc", "qdisc", "add", "dev", a.hostInterface(), "clsact").check();
        f.lab.node().exec("tc", "filter", "add", "dev", a.hostInterface(), "ingress", "pref", "1", "bpf", "da",
                "object-pinned", cniPins.resolve("prog").toString()).check();
        cniStats = new TypedMap<>(cni.map("selftest_stats"), Codecs.U32, Codecs.U64);
        before = CrowdedNode.snapshot(f.lab.node()) + f.lab.node().exec("tc", "filter", "show", "dev",
                a.hostInterface(), "ingress").stdout();
    }

    @AfterAll
    void tearDown() {
        try {
            if (cni != null) {
                cni.close();
            }
            if (cniPins != null) {
                Kernel.removeTree(cniPins);
            }
        } finally {
            if (f != null) {
                f.close();
            }
        }
    }

    /** Every connection here is expected to be answered: a loaded CI machine gets more than LabFixture.SHORT. */
    static final java.time.Duration ANSWER = java.time.Duration.ofSeconds(5);

    private Traffic.Result tcp(Lab.Pod from, String dst, int port) {
        return Traffic.tcp(from.netns(), null, dst, port, "hello", ANSWER);
    }

    private static String hostPort(String ip, int port) {
        return (ip.contains(":") ? "[" + ip + "]" : ip) + ":" + port;
    }

    private long otherBitCounted() {
        String t = f.lab.node().exec("nft", "list", "chain", "inet", OTHER, "forwarded").stdout();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("packets (\\d+)").matcher(t);
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    @ParameterizedTest
    @EnumSource(value = RedirectMode.class, names = {"ebpf", "iptables", "nftables"})
    void everyPathGoesWhereItShouldAndTheOtherOwnersRulesStayAsTheyWere(RedirectMode mode) {
        f.standIn.clear();
        f.node.modeSet(mode, false);
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        f.node.enroll(List.of(a.netns()), false);
        long cniBefore = cniStats.get(6).orElse(0L);
        long otherBefore = otherBitCounted();

        // outbound, both families, and Service traffic in both of kube-proxy's forms: the destination asked for
        for (String dst : List.of(c.ipv4(), c.ipv6())) {
            Traffic.Result r = tcp(a, dst, 8080);
            assertThat(r.answer()).as(mode + " " + dst).isEqualTo(c.name() + " hello");
        }
        for (String vip : List.of(CrowdedNode.VIP, CrowdedNode.VIP2)) {
            assertThat(tcp(a, vip, CrowdedNode.VIP_PORT).answer()).as(mode + " " + vip).isEqualTo(b.name() + " hello");
        }
        // inbound: 15006, and 15008 for the HBONE port
        assertThat(tcp(c, a.ipv4(), 8080).answer()).as(mode.name()).isEqualTo(a.name() + " hello");
        assertThat(tcp(c, a.ipv6(), 15008).answer()).as(mode.name()).isEqualTo(a.name() + " hello");
        assertThat(f.standIn.captures()).as(mode.name()).extracting(Capture::port, Capture::originalDestination)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple(15001, hostPort(c.ipv4(), 8080)),
                        org.assertj.core.groups.Tuple.tuple(15001, hostPort(c.ipv6(), 8080)),
                        org.assertj.core.groups.Tuple.tuple(15001, hostPort(CrowdedNode.VIP, 80)),
                        org.assertj.core.groups.Tuple.tuple(15001, hostPort(CrowdedNode.VIP2, 80)),
                        org.assertj.core.groups.Tuple.tuple(15006, hostPort(a.ipv4(), 8080)),
                        org.assertj.core.groups.Tuple.tuple(15008, hostPort(a.ipv6(), 15008)));
        f.standIn.clear();
        // what is not ours to capture: an unenrolled pod's Service traffic (NATed), the node's probes, DNS
        assertThat(tcp(c, CrowdedNode.VIP2, CrowdedNode.VIP_PORT).answer()).isEqualTo(b.name() + " hello");
        assertThat(tcp(c, CrowdedNode.VIP, CrowdedNode.VIP_PORT).answer()).isEqualTo(b.name() + " hello");
        assertThat(Traffic.tcp(f.lab.node(), Lab.NODE_IP4, a.ipv4(), 8080, "probe", ANSWER).answer())
                .isEqualTo(a.name() + " probe");
        assertThat(Traffic.udp(a.netns(), c.ipv4(), 53, "query", ANSWER).answer())
                .isEqualTo(c.name() + " query");
        assertThat(f.standIn.captures()).as(mode.name()).isEmpty();
        // the CNI's program saw pod 1's packets; in the netfilter modes the other owner's bit survived our mark
        assertThat(cniStats.get(6).orElse(0L)).isGreaterThan(cniBefore);
        if (mode != RedirectMode.ebpf) {
            assertThat(otherBitCounted()).as(mode.name()).isGreaterThan(otherBefore);
        }
        assertThat(f.node.status().verified()).isTrue();

        f.node.purge(false);
        String after = CrowdedNode.snapshot(f.lab.node()) + f.lab.node().exec("tc", "filter", "show", "dev",
                a.hostInterface(), "ingress").stdout();
        assertThat(after).as(mode.name()).isEqualTo(before);
        assertThat(tcp(a, CrowdedNode.VIP, CrowdedNode.VIP_PORT).answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).isEmpty();
    }
}
