package io.ambientctl.observe;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.redirect.Workload;
import io.ambientctl.redirect.nftables.Nftables;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.LabFixture;
import io.ambientctl.util.Exec;

/**
 * explain in the iptables and nftables modes on a lab with real traffic: for each path (outbound, inbound, HBONE,
 * DNS passed and captured, the node's addresses, fail closed without ztunnel, ztunnel not listening, and a set
 * member deleted by hand) the traffic goes where explain says, step by step from the live rules; explain changes
 * nothing (rules, counters of the TCP/UDP rules, sets).
 */
class NetfilterExplainKernelTest {
    LabFixture f;
    Lab.Pod a;
    Lab.Pod b;
    Lab.Pod c;
    RedirectMode mode;

    void setUp(RedirectMode m) throws Exception {
        if (m == RedirectMode.nftables) {
            Kernel.requireThat("libnftables.so.1 (apt-get install libnftables1)", Nftables.available());
        }
        mode = m;
        f = new LabFixture(3, null);
        a = f.pod(1);
        b = f.pod(2);
        c = f.pod(3);
        f.node.modeSet(m, false);
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

    void enroll(Boolean dnsCapture, Lab.Pod... pods) {
        f.node.enroll(Arrays.stream(pods).map(Lab.Pod::netns).toList(), dnsCapture, false);
    }

    String key(Lab.Pod p) {
        return f.node.recorded().workloads.stream().filter(w -> w.hostInterface().equals(p.hostInterface()))
                .map(Workload::key).findFirst().orElseThrow();
    }

    Traffic.Result tcp(Lab.Pod from, String dst, int port) {
        return Traffic.tcp(from.netns(), null, dst, port, "hello", LabFixture.SHORT);
    }

    Explanation explain(Lab.Pod from, String dst, int port, boolean udp) {
        Explanation e = f.node.explain(new Probe(key(from), null, IpAddrs.parse(dst), port, udp));
        assertThat(e.mode()).isEqualTo(mode.name());
        return e;
    }

    Explanation explainFrom(String src, String dst, int port) {
        return f.node.explain(new Probe(null, IpAddrs.parse(src), IpAddrs.parse(dst), port, false));
    }

    static Explanation.Step step(Explanation e, String hookPrefix, String where) {
        return e.steps().stream().filter(s -> s.hook().startsWith(hookPrefix) && s.where().startsWith(where))
                .reduce((x, y) -> y).orElseThrow(() -> new AssertionError("no step " + hookPrefix + " in " + where
                        + " in " + e));
    }

    /** The node's chain (mangle / nftables' prerouting at priority mangle) in the node's netns: its last step. */
    Explanation.Step nodeChain(Explanation e) {
        return step(e, mode == RedirectMode.iptables ? "mangle" : "inet ambientctl prerouting", "node netns");
    }

    Explanation.Step ztChain(Explanation e) {
        return step(e, mode == RedirectMode.iptables ? "mangle" : "inet ambientctl prerouting", "ztunnel's netns");
    }

    /** Our rules, sets and the counters of our TCP/UDP rules (what explain's packet would move) in both netns. */
    String snapshot() {
        StringBuilder sb = new StringBuilder();
        for (NetNs ns : List.of(f.lab.node(), f.lab.ztunnel())) {
            if (mode == RedirectMode.iptables) {
                for (String tool : List.of("iptables-save", "ip6tables-save")) {
                    for (String table : List.of("raw", "mangle")) {
                        for (String l : ns.exec(List.of(tool, "-c", "-t", table)).stdout().lines().toList()) {
                            if (l.startsWith("#")) {
                                continue;
                            }
                            boolean l4 = l.contains("-p tcp") || l.contains("-p udp");
                            sb.append(l4 ? l : l.replaceFirst("^\\[\\d+:\\d+\\] ", "")).append('\n');
                        }
                    }
                }
                sb.append(ns.exec(List.of("ipset", "list")).stdout());
            } else {
                sb.append(ns.exec(List.of("nft", "list", "ruleset")).stdout());
            }
            sb.append(ns.exec(List.of("ip", "rule", "show")).stdout());
        }
        return sb.toString();
    }

    @ParameterizedTest
    @EnumSource(value = RedirectMode.class, names = {"iptables", "nftables"})
    void outboundInboundAndHboneGoWhereExplainSaysAndExplainChangesNothing(RedirectMode m) throws Exception {
        setUp(m);
        ztunnel(false);
        enroll(null, a, b);

        String before = snapshot();
        Explanation e = explain(a, c.ipv4(), 8080, false);
        Explanation e6 = explain(a, c.ipv6(), 8080, false);
        List<Explanation> in = new ArrayList<>();
        for (int port : new int[] {8080, 15008}) {
            in.add(explainFrom(c.ipv6(), b.ipv6(), port));
        }
        assertThat(snapshot()).as("explain changed nothing").isEqualTo(before);

        assertThat(tcp(a, c.ipv4(), 8080).answer()).isEqualTo(c.name() + " hello");
        assertThat(tcp(a, c.ipv6(), 8080).answer()).isEqualTo(c.name() + " hello");
        assertThat(f.standIn.captures()).extracting(ZtunnelStandIn.Capture::port).containsExactly(15001, 15001);
        for (Explanation x : List.of(e, e6)) {
            assertThat(x.workload()).isEqualTo(key(a));
            assertThat(nodeChain(x).decision()).startsWith("mark 0x1000");
            assertThat(nodeChain(x).note()).contains("is in set");
            Explanation.Step route = step(x, "routing", "node netns");
            assertThat(route.decision()).isEqualTo("to ztunnel");
            assertThat(route.target()).isEqualTo(f.node.recorded().ztunnel.hostInterface());
            assertThat(route.note()).contains("route get").contains("mark 0x1000");
            assertThat(ztChain(x).decision()).isEqualTo("tproxy");
            assertThat(ztChain(x).listenerPort()).isEqualTo(15001);
            assertThat(x.verdict()).isEqualTo("to ztunnel's outbound listener 15001");
        }
        assertThat(e.packet()).isEqualTo("tcp " + a.ipv4() + ":40000 -> " + c.ipv4() + ":8080");
        if (mode == RedirectMode.iptables) {
            // the raw chain's notrack is walked too
            assertThat(step(e, "raw AMBIENT-PREROUTING", "node netns").decision()).isEqualTo("notrack");
        } else {
            assertThat(step(e, "inet ambientctl untrack", "node netns").decision()).isEqualTo("notrack");
        }

        // inbound to b from c (not enrolled), IPv6, on 8080 and on the HBONE port
        f.standIn.clear();
        assertThat(tcp(c, b.ipv6(), 8080).answer()).isEqualTo(b.name() + " hello");
        assertThat(tcp(c, b.ipv6(), 15008).answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).extracting(ZtunnelStandIn.Capture::port).containsExactly(15006, 15008);
        assertThat(in.get(0).workload()).isEqualTo(key(b));
        assertThat(nodeChain(in.get(0)).where()).isEqualTo("node netns, in " + c.hostInterface());
        assertThat(ztChain(in.get(0)).listenerPort()).isEqualTo(15006);
        assertThat(in.get(0).verdict()).isEqualTo("to ztunnel's inbound listener 15006; ztunnel delivers it to "
                + key(b));
        assertThat(ztChain(in.get(1)).listenerPort()).isEqualTo(15008);
        assertThat(in.get(1).verdict()).startsWith("to ztunnel's HBONE listener 15008");
    }

    @ParameterizedTest
    @EnumSource(value = RedirectMode.class, names = {"iptables", "nftables"})
    void dnsPassedAndCapturedAndTheNodesAddresses(RedirectMode m) throws Exception {
        setUp(m);
        ztunnel(false);
        enroll(null, a);
        enroll(false, b); // b opts out of DNS capture

        // DNS not captured (node-wide off)
        assertThat(Traffic.udp(a.netns(), c.ipv4(), 53, "query", LabFixture.SHORT).answer())
                .isEqualTo(c.name() + " query");
        Explanation e = explain(a, c.ipv4(), 53, true);
        assertThat(nodeChain(e).decision()).isEqualTo("return");
        assertThat(nodeChain(e).reason()).isEqualTo("dnsNotCaptured");
        assertThat(step(e, "routing", "node netns").target()).isEqualTo(c.hostInterface());
        assertThat(e.verdict()).isEqualTo("passes to the node's routing, not redirected (dnsNotCaptured)");

        // captured: a's DNS to ztunnel's 15053; b (opted out) still straight to the server
        ztunnel(true);
        f.standIn.clear();
        assertThat(Traffic.udp(a.netns(), c.ipv4(), 53, "query", LabFixture.SHORT).answer())
                .isEqualTo("ztunnel-dns:query");
        assertThat(Traffic.udp(b.netns(), c.ipv4(), 53, "query", LabFixture.SHORT).answer())
                .isEqualTo(c.name() + " query");
        assertThat(f.standIn.captures()).extracting(ZtunnelStandIn.Capture::port).containsExactly(15053);
        e = explain(a, c.ipv4(), 53, true);
        assertThat(nodeChain(e).decision()).startsWith("mark");
        assertThat(ztChain(e).listenerPort()).isEqualTo(15053);
        assertThat(e.verdict()).isEqualTo("to ztunnel's DNS listener 15053");
        Explanation opted = explain(b, c.ipv4(), 53, true);
        assertThat(nodeChain(opted).reason()).isEqualTo("dnsNotCaptured");
        assertThat(opted.verdict()).contains("not redirected (dnsNotCaptured)");

        // a pod to a node address: delivered to the node, not captured
        f.standIn.clear();
        try (AutoCloseable node = Traffic.echoServers(f.lab.node(), "node", 8081)) {
            assertThat(tcp(a, Lab.NODE_IP4, 8081).answer()).isEqualTo("node hello");
            assertThat(tcp(a, Lab.NODE_IP6, 8081).answer()).isEqualTo("node hello");
        }
        assertThat(f.standIn.captures()).isEmpty();
        for (String ip : List.of(Lab.NODE_IP4, Lab.NODE_IP6)) {
            e = explain(a, ip, 8081, false);
            assertThat(nodeChain(e).reason()).isEqualTo("nodeAddress");
            assertThat(step(e, "routing", "node netns").decision()).isEqualTo("local");
            assertThat(e.verdict()).isEqualTo("passes to the node's routing, not redirected (nodeAddress)");
        }
        // the node's own address to an enrolled pod: the node's packets never meet PREROUTING
        assertThat(Traffic.tcp(f.lab.node(), Lab.NODE_IP4, a.ipv4(), 8080, "probe", LabFixture.SHORT).answer())
                .isEqualTo(a.name() + " probe");
        assertThat(f.standIn.captures()).isEmpty();
        e = explainFrom(Lab.NODE_IP4, a.ipv4(), 8080);
        assertThat(e.steps()).extracting(Explanation.Step::reason).containsExactly("nodeAddress");
        assertThat(e.verdict()).isEqualTo("passes into " + key(a) + " directly (nodeAddress)");
    }

    @ParameterizedTest
    @EnumSource(value = RedirectMode.class, names = {"iptables", "nftables"})
    void dropsWithoutZtunnelAndWithZtunnelNotListening(RedirectMode m) throws Exception {
        setUp(m);
        enroll(null, a); // no ztunnel, fail closed (the default)
        assertThat(tcp(a, c.ipv4(), 8080).answered()).isFalse();
        Explanation e = explain(a, c.ipv4(), 8080, false);
        assertThat(nodeChain(e).decision()).startsWith("mark");
        Explanation.Step route = step(e, "routing", "node netns");
        assertThat(route.decision()).isEqualTo("drop");
        assertThat(route.reason()).isEqualTo("noZtunnel");
        assertThat(route.note()).contains("blackhole");
        assertThat(e.verdict()).startsWith("dropped").contains("noZtunnel");

        ztunnel(false);
        f.standIn.close(); // ztunnel set but not listening
        try {
            assertThat(tcp(a, c.ipv4(), 8080).answered()).isFalse();
            e = explain(a, c.ipv4(), 8080, false);
            assertThat(step(e, "routing", "node netns").decision()).isEqualTo("to ztunnel");
            assertThat(ztChain(e).reason()).isEqualTo("noListener");
            assertThat(ztChain(e).decision()).isEqualTo("drop");
            assertThat(e.steps()).anySatisfy(s -> assertThat(s.note()).contains("no socket listens on 15001"));
            assertThat(e.verdict()).isEqualTo("dropped in ztunnel's netns (noListener, port 15001)");
        } finally {
            f.standIn = null; // closed above
        }
    }

    @ParameterizedTest
    @EnumSource(value = RedirectMode.class, names = {"iptables", "nftables"})
    void aSetMemberOrARuleDeletedByHandShowsInTheWalkAsInTheTraffic(RedirectMode m) throws Exception {
        setUp(m);
        ztunnel(false);
        enroll(null, a, b);
        NetNs node = f.lab.node();
        // a's IPv4 address out of the node's set by hand: its traffic is no longer marked, it goes straight to c
        if (mode == RedirectMode.iptables) {
            Exec.Result r = node.exec(List.of("ipset", "del", "ambient-pods-v4", a.ipv4()));
            assertThat(r.ok()).as(r.stderr()).isTrue();
        } else {
            Exec.Result r = node.exec(List.of("nft", "delete", "element", "inet", "ambientctl", "pods4",
                    "{ " + a.ipv4() + " }"));
            assertThat(r.ok()).as(r.stderr()).isTrue();
        }
        assertThat(tcp(a, c.ipv4(), 8080).answer()).isEqualTo(c.name() + " hello");
        assertThat(f.standIn.captures()).isEmpty();
        Explanation e = explain(a, c.ipv4(), 8080, false);
        assertThat(e.steps()).noneSatisfy(s -> assertThat(s.decision()).startsWith("mark"));
        assertThat(step(e, "routing", "node netns").target()).isEqualTo(c.hostInterface());
        assertThat(e.verdict()).isEqualTo("passes to the node's routing, not redirected (notEnrolled)");

        // b's IPv6 traffic still goes to ztunnel, until the rules marking TCP from and to b are deleted by hand
        assertThat(explain(b, c.ipv6(), 8080, false).verdict()).isEqualTo("to ztunnel's outbound listener 15001");
        for (String dir : List.of("src", "dst")) {
            if (mode == RedirectMode.iptables) {
                Exec.Result r = node.exec(List.of("ip6tables", "-t", "mangle", "-D", "AMBIENT-PREROUTING", "-p",
                        "tcp", "-m", "set", "--match-set", "ambient-pods-v6", dir, "-j", "MARK", "--set-xmark",
                        "0x1000/0x1000"));
                assertThat(r.ok()).as(r.stderr()).isTrue();
            } else {
                String listing = node.exec(List.of("nft", "-a", "list", "chain", "inet", "ambientctl", "prerouting"))
                        .stdout();
                String match = "ip6 " + (dir.equals("src") ? "saddr" : "daddr") + " @pods6 meta mark set";
                String handle = listing.lines().filter(l -> l.contains(match)).findFirst().orElseThrow()
                        .replaceAll(".*# handle (\\d+).*", "$1").strip();
                Exec.Result r = node.exec(List.of("nft", "delete", "rule", "inet", "ambientctl", "prerouting",
                        "handle", handle));
                assertThat(r.ok()).as(r.stderr()).isTrue();
            }
        }
        assertThat(tcp(b, c.ipv6(), 8080).answer()).isEqualTo(c.name() + " hello");
        assertThat(f.standIn.captures()).isEmpty();
        e = explain(b, c.ipv6(), 8080, false);
        assertThat(e.steps()).noneSatisfy(s -> assertThat(s.decision()).startsWith("mark"));
        assertThat(e.verdict()).isEqualTo("passes to the node's routing, not redirected (notEnrolled)");

        // b's IPv4 traffic goes to ztunnel until the node's marking chain is cut off by hand (iptables: the jump
        // to it; nftables: the whole table)
        assertThat(explain(b, c.ipv4(), 8080, false).verdict()).isEqualTo("to ztunnel's outbound listener 15001");
        Exec.Result r = mode == RedirectMode.iptables
                ? node.exec(List.of("iptables", "-t", "mangle", "-D", "PREROUTING", "-j", "AMBIENT-PREROUTING"))
                : node.exec(List.of("nft", "delete", "table", "inet", "ambientctl"));
        assertThat(r.ok()).as(r.stderr()).isTrue();
        assertThat(tcp(b, c.ipv4(), 8080).answer()).isEqualTo(c.name() + " hello");
        assertThat(f.standIn.captures()).isEmpty();
        e = explain(b, c.ipv4(), 8080, false);
        assertThat(e.steps()).anySatisfy(s -> assertThat(s.decision()).isEqualTo("not reached"));
        assertThat(step(e, "routing", "node netns").target()).isEqualTo(c.hostInterface());
        assertThat(e.verdict()).startsWith("passes to the node's routing, not redirected: none of ambientctl's "
                + "chains runs");
    }
}
