package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.bpf.AttachedProgram;
import io.ambientctl.bpf.Tc;
import io.ambientctl.bpf.TcDirection;
import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.NetNs;
import io.ambientctl.testing.LabFixture;
import io.ambientctl.util.Faults;

/** Switching modes with enrolled workloads: captured after each switch, nothing of the other left. */
class ModeSwitchKernelTest {
    private LabFixture f;
    private Lab.Pod a;
    private Lab.Pod b;
    private Lab.Pod c;

    @BeforeEach
    void setUp() throws Exception {
        f = new LabFixture(3, null);
        a = f.pod(1);
        b = f.pod(2);
        c = f.pod(3);
    }

    @AfterEach
    void tearDown() {
        Faults.set(null);
        if (f != null) {
            f.close();
        }
    }

    private void assertCaptured() {
        int before = f.standIn.captures().size();
        assertThat(Traffic.tcp(a.netns(), null, b.ipv4(), 8080, "x", LabFixture.SHORT).answer())
                .isEqualTo(b.name() + " x");
        assertThat(Traffic.tcp(c.netns(), null, b.ipv6(), 8080, "y", LabFixture.SHORT).answer())
                .isEqualTo(b.name() + " y");
        assertThat(f.standIn.captures().subList(before, f.standIn.captures().size()))
                .extracting(ZtunnelStandInPorts::port).containsExactly(15001, 15006);
    }

    /** The ports, without importing the capture type everywhere. */
    interface ZtunnelStandInPorts {
        static int port(io.ambientctl.lab.ZtunnelStandIn.Capture c) {
            return c.port();
        }
    }

    private List<AttachedProgram> ourTcPrograms() {
        List<AttachedProgram> out = new ArrayList<>();
        for (NetNs ns : List.of(f.lab.node(), f.lab.ztunnel())) {
            for (Link l : Links.in(ns)) {
                for (TcDirection d : TcDirection.values()) {
                    out.addAll(ns.call(() -> Tc.query(l.ifindex(), d)).stream()
                            .filter(p -> p.name().startsWith("ambient_")).toList());
                }
            }
        }
        return out;
    }

    private String iptablesOf(NetNs ns) {
        return ns.exec("iptables-save").stdout() + ns.exec("ip6tables-save").stdout() + ns.exec("ipset", "list", "-n")
                .stdout() + ns.exec("ip", "rule", "show").stdout();
    }

    private void assertNoIptablesLeft() {
        for (NetNs ns : List.of(f.lab.node(), f.lab.ztunnel())) {
            String all = iptablesOf(ns);
            assertThat(all).doesNotContainIgnoringCase("ambient").doesNotContain("0x1000/0x1000");
        }
    }

    /** Our nftables table in either namespace (nft's view), or "" when neither has it. */
    private String nftablesOf(NetNs ns) {
        return ns.exec("nft", "list", "tables").stdout().lines().filter(l -> l.contains("ambientctl"))
                .reduce("", String::concat);
    }

    private void assertNoNftablesLeft() {
        for (NetNs ns : List.of(f.lab.node(), f.lab.ztunnel())) {
            assertThat(nftablesOf(ns)).isEmpty();
        }
    }

    /** After a switch to {@code mode}: nothing of the two others (their tables, sets, chains, programs, routing). */
    private void assertOnly(RedirectMode mode) {
        if (mode != RedirectMode.ebpf) {
            assertThat(ourTcPrograms()).isEmpty();
            assertThat(f.node.recorded().attachments).isEmpty();
        }
        if (mode != RedirectMode.nftables) {
            assertNoNftablesLeft();
        }
        if (mode == RedirectMode.ebpf) {
            assertNoIptablesLeft(); // also no fwmark 0x1000 rule
        } else if (mode == RedirectMode.nftables) {
            // iptables' chains and sets are gone; the node's fwmark routing is nftables' too now
            for (NetNs ns : List.of(f.lab.node(), f.lab.ztunnel())) {
                assertThat(ns.exec("iptables-save").stdout() + ns.exec("ip6tables-save").stdout() + ns.exec("ipset",
                        "list", "-n").stdout()).doesNotContainIgnoringCase("ambient");
            }
            assertThat(f.lab.node().exec("nft", "list", "table", "inet", "ambientctl").stdout()).contains("pods4")
                    .contains("pods6").contains("meta mark | 0x00001000");
            assertThat(f.lab.ztunnel().exec("nft", "list", "table", "inet", "ambientctl").stdout())
                    .contains("tproxy ip to :15001").contains("tproxy ip6 to :15006");
        }
    }

    @Test
    void switchesAmongAllThreeModesKeepWorkloadsCapturedAndLeaveNothingOfTheOthers() {
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        f.node.enroll(List.of(a.netns(), b.netns()), false);
        assertNoNftablesLeft();
        for (RedirectMode to : List.of(RedirectMode.nftables, RedirectMode.iptables, RedirectMode.nftables,
                RedirectMode.ebpf, RedirectMode.nftables, RedirectMode.ebpf)) {
            Node.Switch sw = f.node.modeSet(to, false);
            assertThat(sw.changed()).isTrue();
            assertThat(f.node.recorded().mode).isEqualTo(to);
            assertCaptured();
            assertOnly(to);
            assertThat(f.node.status().verified()).as("after the switch to " + to + ": " + f.node.status())
                    .isTrue();
            assertThat(f.node.status().nodeProblems()).isEmpty();
        }
        assertThat(ourTcPrograms()).hasSize(6);
        assertThat(f.lab.ztunnel().call(ZtunnelRouting::presentHere)).isTrue();
        // same mode again: nothing to change, and repair finds nothing to do in nftables mode either
        f.node.modeSet(RedirectMode.nftables, false);
        assertThat(f.node.modeSet(RedirectMode.nftables, false).changed()).isFalse();
        assertThat(f.node.repair(false)).isEmpty();
        f.node.unenroll(List.of(), true, false);
        f.node.modeSet(RedirectMode.ebpf, false);
        assertNoNftablesLeft();
        assertNoIptablesLeft();
    }

    @Test
    void nftablesDryRunShowsTheRulesetAndChangesNothing() {
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        f.node.enroll(List.of(a.netns()), false);
        Node.Switch sw = f.node.modeSet(RedirectMode.nftables, true);
        assertThat(sw.rules()).contains("add table inet ambientctl").contains("iifname \"vzt\" return")
                .contains("tproxy ip6 to :15008").contains("meta mark set meta mark | 0x00001000");
        assertThat(f.node.recorded().mode).isEqualTo(RedirectMode.ebpf);
        assertNoNftablesLeft();
    }

    @Test
    void aSwitchToOrFromNftablesThatFailsHalfWayLeavesTheOldModeFullyWorking() {
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        f.node.enroll(List.of(a.netns(), b.netns()), false);
        // eBPF -> nftables: the ztunnel table, the node table, the routing, the elements
        for (String fault : List.of("fail@1:nft", "fail@2:nft", "fail@3:nft", "fail@1:ip-rule", "fail@2:ip-route")) {
            Faults.set(fault);
            assertThatThrownBy(() -> f.node.modeSet(RedirectMode.nftables, false)).as(fault)
                    .hasMessageContaining("the node stays in ebpf mode").hasMessageContaining("injected fault");
            Faults.set(null);
            assertThat(f.node.recorded().mode).isEqualTo(RedirectMode.ebpf);
            assertOnly(RedirectMode.ebpf);
            assertCaptured();
            assertThat(f.node.status().verified()).isTrue();
        }
        // iptables -> nftables, and nftables -> iptables
        f.node.modeSet(RedirectMode.iptables, false);
        Faults.set("fail@2:nft");
        assertThatThrownBy(() -> f.node.modeSet(RedirectMode.nftables, false))
                .hasMessageContaining("the node stays in iptables mode");
        Faults.set(null);
        assertNoNftablesLeft();
        assertCaptured();
        assertThat(f.node.status().verified()).as(f.node.status().toString()).isTrue();
        f.node.modeSet(RedirectMode.nftables, false);
        Faults.set("fail@2:iptables-restore");
        assertThatThrownBy(() -> f.node.modeSet(RedirectMode.iptables, false))
                .hasMessageContaining("the node stays in nftables mode");
        Faults.set(null);
        assertOnly(RedirectMode.nftables);
        assertCaptured();
        assertThat(f.node.status().verified()).as(f.node.status().toString()).isTrue();
    }

    @Test
    void ebpfToIptablesToEbpfKeepsWorkloadsCapturedAndLeavesNothingOfTheOther() {
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        List<String> steps = new java.util.ArrayList<>();
        f.node.progress((phase, done, total) -> steps.add(phase + " " + done + "/" + total));
        f.node.enroll(List.of(a.netns(), b.netns()), false);
        assertThat(steps).startsWith("discovering 0/2").contains("enrolling 0/2").endsWith("enrolling 2/2");
        assertCaptured();
        assertThat(ourTcPrograms()).hasSize(6); // 2 per pod veth, ztunnel's veth and its eth0
        assertNoIptablesLeft();

        steps.clear();
        Node.Switch sw = f.node.modeSet(RedirectMode.iptables, false);
        // the progress a CLI renders: ztunnel's side + each workload installed, each verified, the old mode removed
        assertThat(steps).contains("installing iptables 0/3", "installing iptables 3/3", "verifying iptables 2/2")
                .endsWith("removing ebpf 1/1");
        f.node.progress(null);
        assertThat(sw.from()).isEqualTo(RedirectMode.ebpf);
        assertThat(f.node.recorded().mode).isEqualTo(RedirectMode.iptables);
        assertCaptured();
        assertThat(ourTcPrograms()).isEmpty();
        assertThat(f.node.recorded().attachments).isEmpty();
        assertThat(iptablesOf(f.lab.node())).contains("AMBIENT-PREROUTING").contains("ambient-pods-v4");
        assertThat(f.node.status().verified()).isTrue();

        f.node.modeSet(RedirectMode.ebpf, false);
        assertCaptured();
        assertNoIptablesLeft();
        assertThat(ourTcPrograms()).hasSize(6);
        assertThat(f.node.status().verified()).isTrue();
        // the ztunnel routing both modes share is still in place
        assertThat(f.lab.ztunnel().call(ZtunnelRouting::presentHere)).isTrue();
    }

    @Test
    void dryRunShowsTheRulesAndChangesNothing() {
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        f.node.enroll(List.of(a.netns()), false);
        Node.Switch sw = f.node.modeSet(RedirectMode.iptables, true);
        assertThat(sw.rules()).contains("-j TPROXY --tproxy-mark 0x111/0xfff --on-port 15001")
                .contains("-i vzt -j RETURN");
        assertThat(f.node.recorded().mode).isEqualTo(RedirectMode.ebpf);
        assertNoIptablesLeft();
    }

    @Test
    void aSwitchThatFailsHalfWayLeavesTheOldModeFullyWorking() {
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        f.node.enroll(List.of(a.netns(), b.netns()), false);
        for (String fault : List.of("fail@3:iptables-restore", "fail@2:ipset", "fail@1:ip-route")) {
            Faults.set(fault);
            assertThatThrownBy(() -> f.node.modeSet(RedirectMode.iptables, false))
                    .hasMessageContaining("the node stays in ebpf mode").hasMessageContaining("injected fault");
            Faults.set(null);
            assertThat(f.node.recorded().mode).isEqualTo(RedirectMode.ebpf);
            assertNoIptablesLeft();
            assertCaptured();
            assertThat(f.node.status().verified()).isTrue();
        }
        // and the other way: a failing eBPF attach leaves iptables mode working
        f.node.modeSet(RedirectMode.iptables, false);
        Faults.set("fail@4:tc-attach");
        assertThatThrownBy(() -> f.node.modeSet(RedirectMode.ebpf, false))
                .hasMessageContaining("the node stays in iptables mode");
        Faults.set(null);
        assertThat(ourTcPrograms()).isEmpty();
        assertCaptured();
        assertThat(f.node.status().verified()).isTrue();
    }

    @Test
    void aConnectionOpenAcrossSwitchesSurvives() throws Exception {
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        f.node.enroll(List.of(a.netns()), false);
        Socket s = a.netns().call(() -> {
            Socket x = new Socket();
            x.connect(new InetSocketAddress(IpAddrs.parse(b.ipv4()), 8080), 2000);
            x.setSoTimeout(2000);
            return x;
        });
        try (s) {
            assertThat(roundTrip(s, "one")).isEqualTo(b.name() + " one");
            f.node.modeSet(RedirectMode.iptables, false);
            assertThat(roundTrip(s, "two")).isEqualTo(b.name() + " two");
            f.node.modeSet(RedirectMode.ebpf, false);
            assertThat(roundTrip(s, "three")).isEqualTo(b.name() + " three");
            f.node.modeSet(RedirectMode.nftables, false);
            assertThat(roundTrip(s, "four")).isEqualTo(b.name() + " four");
            f.node.modeSet(RedirectMode.iptables, false);
            assertThat(roundTrip(s, "five")).isEqualTo(b.name() + " five");
            f.node.modeSet(RedirectMode.nftables, false);
            assertThat(roundTrip(s, "six")).isEqualTo(b.name() + " six");
            f.node.modeSet(RedirectMode.ebpf, false);
            assertThat(roundTrip(s, "seven")).isEqualTo(b.name() + " seven");
        }
        assertThat(f.standIn.captures()).hasSize(1); // one connection, captured once, kept by ztunnel
    }

    private static String roundTrip(Socket s, String msg) throws Exception {
        OutputStream out = s.getOutputStream();
        out.write(msg.getBytes(StandardCharsets.UTF_8));
        out.flush();
        InputStream in = s.getInputStream();
        byte[] buf = new byte[256];
        int n = in.read(buf);
        return new String(buf, 0, Math.max(n, 0), StandardCharsets.UTF_8);
    }

    @Test
    void concurrentChangesSerializeAndNoEnrollmentIsLost() throws Exception {
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Callable<Object>> tasks = new ArrayList<>();
            for (Lab.Pod p : List.of(a, b, c)) {
                tasks.add(() -> new Node(f.config, java.time.Duration.ofSeconds(60), null).enroll(List.of(p.netns()),
                        false));
            }
            for (Future<Object> r : pool.invokeAll(tasks)) {
                r.get();
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(f.node.recorded().workloads).hasSize(3);
        assertThat(f.node.status().verified()).isTrue();
        assertThat(f.node.recorded().workloads).extracting(Workload::id).doesNotHaveDuplicates();
    }
}
