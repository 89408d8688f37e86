package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.bpf.AttachedProgram;
import io.ambientctl.bpf.BpfObject;
import io.ambientctl.bpf.Codecs;
import io.ambientctl.bpf.Tc;
import io.ambientctl.bpf.TcAttachment;
import io.ambientctl.bpf.TcDirection;
import io.ambientctl.bpf.TypedMap;
import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn.Capture;
import io.ambientctl.net.Links;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.ebpf.EbpfRedirector;
import io.ambientctl.testing.CrowdedNode;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.LabFixture;
import io.ambientctl.util.ExitCodeException;

/**
 * Redirection end to end on a lab of real namespaces: real TCP/UDP between pods, asserted by where
 * it went (the ztunnel stand-in records what it captured, with the original destination). The
 * subclasses run it in eBPF mode with TCX links, with clsact filters, and in iptables mode.
 */
abstract class RedirectionSuite {
    LabFixture f;
    Lab.Pod a;
    Lab.Pod b;
    Lab.Pod c;

    /** eBPF attach kind (null for iptables mode). */
    abstract AttachKind kind();

    RedirectMode mode() {
        return RedirectMode.ebpf;
    }

    /** Whether the kernel redirects this IP (map entry / set member). */
    abstract boolean redirectedInKernel(String ip);

    LabFixture fixture() {
        return f;
    }

    @BeforeEach
    void setUp() throws Exception {
        if (kind() == AttachKind.TCX) {
            io.ambientctl.testing.Kernel.requireFeature("TCX links", "6.6", io.ambientctl.testing.Kernel::tcx);
        }
        f = new LabFixture(3, kind());
        a = f.pod(1);
        b = f.pod(2);
        c = f.pod(3);
        if (mode() != RedirectMode.ebpf) {
            f.node.modeSet(mode(), false);
        }
    }

    @AfterEach
    void tearDown() {
        if (f != null) {
            f.close();
        }
    }

    Traffic.Result tcp(Lab.Pod from, String dst, int port) {
        return Traffic.tcp(from.netns(), null, dst, port, "hello", LabFixture.SHORT);
    }

    void ztunnel() {
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
    }

    void enroll(Lab.Pod... pods) {
        f.node.enroll(java.util.Arrays.stream(pods).map(Lab.Pod::netns).toList(), false);
    }

    private static String hostPort(String ip, int port) {
        return (ip.contains(":") ? "[" + ip + "]" : ip) + ":" + port;
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void outboundTcpIsCapturedOn15001WithTheOriginalDestination(boolean v6) {
        String dst = v6 ? b.ipv6() : b.ipv4();
        assertThat(tcp(a, dst, 8080).answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).isEmpty();

        ztunnel();
        enroll(a);
        Traffic.Result r = tcp(a, dst, 8080);
        assertThat(r.error()).isNull();
        assertThat(r.answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).singleElement().satisfies(cap -> {
            assertThat(cap.protocol()).isEqualTo("tcp");
            assertThat(cap.port()).isEqualTo(15001);
            assertThat(cap.originalDestination()).isEqualTo(hostPort(dst, 8080));
            assertThat(cap.source()).startsWith(hostPort(v6 ? a.ipv6() : a.ipv4(), 0).replace(":0", ":"));
        });
        assertThat(f.node.status().mode()).isEqualTo(mode());
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void inboundTcpIsCapturedOn15006And15008ForTheHbonePort(boolean v6) {
        String dst = v6 ? b.ipv6() : b.ipv4();
        ztunnel();
        enroll(b);
        Traffic.Result r = tcp(c, dst, 8080);
        assertThat(r.answer()).isEqualTo(b.name() + " hello");
        r = tcp(c, dst, 15008);
        assertThat(r.answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).extracting(Capture::port, Capture::originalDestination)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(15006, hostPort(dst, 8080)),
                        org.assertj.core.groups.Tuple.tuple(15008, hostPort(dst, 15008)));
        assertThat(f.standIn.captures()).allSatisfy(cap -> assertThat(cap.source())
                .startsWith(hostPort(v6 ? c.ipv6() : c.ipv4(), 0).replace(":0", ":")));
    }

    /**
     * kube-proxy's Service NAT on the node (its iptables or its nftables form): an enrolled pod's connection to
     * the ClusterIP reaches ztunnel with the VIP and port as destination and the pod's own source, also after
     * kube-proxy re-synced its jumps to the top; an unenrolled pod keeps getting the NAT.
     */
    @ParameterizedTest
    @ValueSource(strings = {"iptables", "nftables"})
    void serviceTrafficReachesZtunnelWithTheVipWhateverKubeProxysFlavour(String kubeProxy) {
        boolean nft = kubeProxy.equals("nftables");
        if (nft) {
            CrowdedNode.kubeProxyNftables(f.lab.node(), b.ipv4());
        } else {
            CrowdedNode.kubeProxyIptables(f.lab.node(), b.ipv4());
        }
        assertThat(tcp(a, CrowdedNode.VIP, CrowdedNode.VIP_PORT).answer()).isEqualTo(b.name() + " hello");
        ztunnel();
        enroll(a);
        for (int round = 0; round < 2; round++) {
            assertThat(tcp(a, CrowdedNode.VIP, CrowdedNode.VIP_PORT).answer()).as("round " + round)
                    .isEqualTo(b.name() + " hello");
            assertThat(f.standIn.captures()).as("round " + round).singleElement().satisfies(cap -> {
                assertThat(cap.port()).isEqualTo(15001);
                assertThat(cap.originalDestination()).isEqualTo(CrowdedNode.VIP + ":" + CrowdedNode.VIP_PORT);
                assertThat(cap.source()).startsWith(a.ipv4() + ":");
            });
            f.standIn.clear();
            assertThat(tcp(c, CrowdedNode.VIP, CrowdedNode.VIP_PORT).answer()).isEqualTo(b.name() + " hello");
            assertThat(f.standIn.captures()).isEmpty();
            if (nft) {
                CrowdedNode.resyncNftables(f.lab.node());
            } else {
                CrowdedNode.resyncIptables(f.lab.node());
            }
        }
    }

    @Test
    void podToPodWithBothEnrolledGoesThroughZtunnelOnce() {
        ztunnel();
        enroll(a, b);
        assertThat(tcp(a, b.ipv4(), 8080).answer()).isEqualTo(b.name() + " hello");
        // the client side is captured outbound; ztunnel's own connection to b is not captured again
        assertThat(f.standIn.captures()).extracting(Capture::port).containsExactly(15001);
    }

    @Test
    void dnsPassesByDefaultAndIsCapturedWithDnsCapture() {
        ztunnel();
        enroll(a);
        Traffic.Result r = Traffic.udp(a.netns(), c.ipv4(), 53, "query", LabFixture.SHORT);
        assertThat(r.answer()).isEqualTo(c.name() + " query");
        assertThat(f.standIn.captures()).isEmpty();

        f.node.ztunnelSet(f.lab.ztunnel(), true, null, false);
        r = Traffic.udp(a.netns(), c.ipv4(), 53, "query", LabFixture.SHORT);
        assertThat(f.standIn.captures()).singleElement().satisfies(cap -> {
            assertThat(cap.protocol()).isEqualTo("udp");
            assertThat(cap.port()).isEqualTo(15053);
            assertThat(cap.originalDestination()).isEqualTo(c.ipv4() + ":53");
        });
        assertThat(r.answer()).isEqualTo("ztunnel-dns:query");
    }

    /**
     * A workload that opted out of DNS capture (the Pod annotation ambient.istio.io/dns-capture: "false";
     * {@code enroll --no-dns-capture}) keeps its DNS away from ztunnel while the node captures DNS; its other
     * traffic is captured (eBPF mode: the programs honour WORKLOAD_F_NO_DNS_CAPTURE in its map entries).
     */
    @Test
    void aWorkloadThatOptedOutOfDnsCaptureKeepsItsDnsWhileTheNodeCapturesIt() {
        f.node.ztunnelSet(f.lab.ztunnel(), true, null, false);
        f.node.enroll(List.of(a.netns()), false, false);
        enroll(b);
        assertThat(f.node.recorded().workload(a.netns().display()).orElseThrow().dnsCapture()).isFalse();
        Traffic.Result r = Traffic.udp(a.netns(), c.ipv4(), 53, "query", LabFixture.SHORT);
        assertThat(r.answer()).isEqualTo(c.name() + " query");
        assertThat(tcp(a, c.ipv4(), 53).answer()).isEqualTo(c.name() + " hello");
        assertThat(f.standIn.captures()).isEmpty();
        r = Traffic.udp(b.netns(), c.ipv4(), 53, "query", LabFixture.SHORT);
        assertThat(r.answer()).isEqualTo("ztunnel-dns:query");
        f.standIn.clear();
        assertThat(tcp(a, c.ipv4(), 8080).answer()).isEqualTo(c.name() + " hello");
        assertThat(f.standIn.captures()).extracting(Capture::port).containsExactly(15001);
        assertThat(f.node.status().verified()).isTrue();
        // enrolled again without the opt-out: it follows the node's choice
        f.standIn.clear();
        assertThat(f.node.enroll(List.of(a.netns()), false)).extracting(Node.Outcome::action)
                .containsExactly("re-enrolled");
        r = Traffic.udp(a.netns(), c.ipv4(), 53, "query", LabFixture.SHORT);
        assertThat(r.answer()).isEqualTo("ztunnel-dns:query");
    }

    @Test
    void trafficFromTheNodesIpToAnEnrolledPodIsNotCaptured() {
        ztunnel();
        enroll(b);
        Traffic.Result r = Traffic.tcp(f.lab.node(), Lab.NODE_IP4, b.ipv4(), 8080, "probe", LabFixture.SHORT);
        assertThat(r.answer()).isEqualTo(b.name() + " probe");
        r = Traffic.tcp(f.lab.node(), Lab.NODE_IP6, b.ipv6(), 8080, "probe", LabFixture.SHORT);
        assertThat(r.answer()).isEqualTo(b.name() + " probe");
        assertThat(f.standIn.captures()).isEmpty();
    }

    Set<Integer> ourProgramIds() {
        try (EbpfRedirector e = new EbpfRedirector(f.config, f.node.recorded(), kind())) {
            return e.programs().keySet();
        }
    }

    List<AttachedProgram> hooks(String hostIf) {
        int ifindex = Links.byName(Links.in(f.lab.node()), hostIf).orElseThrow().ifindex();
        return f.lab.node().call(() -> {
            List<AttachedProgram> all = new java.util.ArrayList<>(Tc.query(ifindex, TcDirection.INGRESS));
            all.addAll(Tc.query(ifindex, TcDirection.EGRESS));
            return all;
        });
    }

    @Test
    void afterUnenrollNothingIsCapturedAndNothingOfTheWorkloadRemains() {
        ztunnel();
        enroll(a, b);
        assertThat(redirectedInKernel(a.ipv4())).isTrue();
        assertThat(redirectedInKernel(b.ipv6())).isTrue();

        var out = f.node.unenroll(List.of(a.netns(), b.netns()), false, false);
        assertThat(out).extracting(Node.Outcome::action).containsOnly("unenrolled");
        assertThat(tcp(a, b.ipv4(), 8080).answer()).isEqualTo(b.name() + " hello");
        assertThat(tcp(c, b.ipv6(), 8080).answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).isEmpty();
        assertThat(hooks(a.hostInterface())).isEmpty();
        assertThat(hooks(b.hostInterface())).isEmpty();
        for (String ip : List.of(a.ipv4(), a.ipv6(), b.ipv4(), b.ipv6())) {
            assertThat(redirectedInKernel(ip)).as(ip).isFalse();
        }
        assertThat(f.node.recorded().workloads).isEmpty();
    }

    @Test
    void withoutZtunnelAnEnrolledPodsTrafficIsDroppedNotLeaked() {
        enroll(a);
        Traffic.Result r = tcp(a, b.ipv4(), 8080);
        assertThat(r.answered()).isFalse();
        assertThat(tcp(c, a.ipv6(), 8080).answered()).isFalse();

        ztunnel();
        assertThat(tcp(a, b.ipv4(), 8080).answer()).isEqualTo(b.name() + " hello");
        f.node.ztunnelUnset(false);
        assertThat(tcp(a, b.ipv4(), 8080).answered()).isFalse();
        assertThat(f.standIn.captures()).hasSize(1);
    }

    @Test
    void enrollAndUnenrollAreIdempotentAndMissingTargetsAreNotFound() {
        ztunnel();
        assertThat(f.node.enroll(List.of(a.netns()), false)).extracting(Node.Outcome::action).containsExactly("enrolled");
        assertThat(f.node.enroll(List.of(a.netns()), false)).extracting(Node.Outcome::action)
                .containsExactly("already-enrolled");
        assertThat(f.node.recorded().workloads).hasSize(1);
        assertThat(f.node.unenroll(List.of(b.netns()), false, false)).extracting(Node.Outcome::action)
                .containsExactly("not-enrolled");
        NetNs ghost = NetNs.named("acl-ghost-" + Kernel.unique());
        assertThatThrownBy(() -> f.node.unenroll(List.of(ghost), false, false))
                .isInstanceOfSatisfying(ExitCodeException.class, e -> assertThat(e.exitCode()).isEqualTo(4));
        assertThatThrownBy(() -> f.node.enroll(List.of(b.netns(), ghost), false))
                .isInstanceOfSatisfying(ExitCodeException.class, e -> assertThat(e.exitCode()).isEqualTo(4));
        assertThat(f.node.recorded().workloads).hasSize(1); // b was not enrolled: all or nothing
        assertThatThrownBy(() -> f.node.enroll(List.of(f.lab.node()), false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("node's own");
        assertThat(f.node.enroll(List.of(b.netns()), true)).extracting(Node.Outcome::action)
                .containsExactly("would-enroll");
        assertThat(f.node.recorded().workloads).hasSize(1);
        assertThat(f.node.status().workloads()).allSatisfy(w -> assertThat(w.verification().verified()).isTrue());
    }

    @Test
    void aWorkloadWhoseNamespaceVanishedIsUnenrolledCleanlyByName() {
        ztunnel();
        enroll(a, c);
        c.netns().delete();
        assertThat(f.node.status().workloads()).filteredOn(w -> w.workload().key().equals(c.netns().display()))
                .singleElement().satisfies(w -> assertThat(w.verification().verified()).isFalse());
        assertThat(f.node.unenroll(List.of(c.netns()), false, false)).extracting(Node.Outcome::action)
                .containsExactly("unenrolled");
        assertThat(redirectedInKernel(c.ipv4())).isFalse();
        assertThat(redirectedInKernel(a.ipv4())).isTrue();
        assertThat(tcp(a, b.ipv4(), 8080).answer()).isEqualTo(b.name() + " hello");
    }
}
