package io.ambientctl.kube;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.Redirector;
import io.ambientctl.redirect.Redirectors;
import io.ambientctl.redirect.ZtunnelRouting;
import io.ambientctl.redirect.ebpf.EbpfRedirector;
import io.ambientctl.redirect.iptables.Rules;
import io.ambientctl.redirect.nftables.NftRules;
import io.ambientctl.testing.KubeFixture;
import io.ambientctl.testing.LabFixture;
import io.fabric8.kubernetes.api.model.Event;

/**
 * The agent's kernel check repairs drift, in every mode, by its next run (every 2 s here): a workload's entry
 * deleted by hand, a Pod's veth re-created with a new ifindex, ztunnel's routing rules removed, the mode's
 * objects removed by another tool (iptables chains flushed, the nft table deleted, the eBPF hooks' qdisc
 * deleted), and everything in the kernel lost while the state file stayed (a reboot). Each time: the repair is
 * counted under its kind, the node verifies again, and real traffic is captured by ztunnel again. (That the
 * kernel had drifted is shown by the agent's repair of that kind: a check of the traffic right after the drift
 * would race the agent's next check, which may already have repaired it.)
 */
class KubeAgentDriftKernelTest {
    static final Duration CHECK = Duration.ofSeconds(2);
    static final Duration SOON = Duration.ofSeconds(60);

    KubeFixture k;
    Agent agent;
    final List<String> log = new CopyOnWriteArrayList<>();

    @AfterEach
    void tearDown() {
        try {
            if (agent != null) {
                agent.close();
            }
        } finally {
            if (k != null) {
                k.close();
            }
        }
    }

    boolean captured(Lab.Pod from, Lab.Pod to) {
        int before = k.lab.standIn.captures().size();
        Traffic.Result r = Traffic.tcp(from.netns(), null, to.ipv4(), 8080, "d", LabFixture.SHORT);
        return r.answered() && k.lab.standIn.captures().size() > before;
    }

    /** Repairs counted of any of {@code kinds} so far. */
    long repairs(Set<Drift.Kind> kinds) {
        return kinds.stream().mapToLong(kd -> agent.metrics().repairs(kd)).sum();
    }

    /**
     * Waits for the next repair of one of {@code kinds} (counted as the kernel check saw the drift), then for the
     * node to verify and {@code a}'s traffic to be captured.
     */
    void repaired(String what, Set<Drift.Kind> kinds, long before, Lab.Pod a, Lab.Pod c) {
        try {
            KubeFixture.await(() -> what + ": a repair of kind " + kinds.stream().map(Drift.Kind::label).toList()
                    + " (log: " + log + ")", SOON, () -> repairs(kinds) > before);
        } catch (AssertionError e) {
            // what the agent's threads were doing, to tell a slow check from a stuck one: in the message, which is
            // what a CI log keeps
            StringBuilder threads = new StringBuilder();
            Thread.getAllStackTraces().forEach((t, st) -> {
                if (t.getName().startsWith("agent") || t.getName().startsWith("netns")
                        || t.getName().startsWith("exec")) {
                    threads.append("\n").append(t.getName()).append(" (").append(t.getState()).append("): ")
                            .append(java.util.Arrays.stream(st).limit(30).map(String::valueOf)
                                    .collect(java.util.stream.Collectors.joining("\n    ")));
                }
            });
            // and the processes it waits for (a child that does not exit holds a check for up to 60 s)
            String children = ProcessHandle.current().descendants().map(ph -> ph.pid() + " " + ph.info().commandLine()
                    .orElse("?") + " (started " + ph.info().startInstant().map(Object::toString).orElse("?") + ")")
                    .collect(java.util.stream.Collectors.joining("; "));
            String now;
            try {
                io.ambientctl.redirect.Node.Status st = k.lab.node.status();
                now = "verified " + st.verified() + ", node problems " + st.nodeProblems() + ", workloads "
                        + st.workloads().stream().map(w -> w.workload().key() + " " + w.verification().problems())
                        .toList() + ", pins " + java.util.Arrays.toString(k.lab.bpffs.toFile().list());
            } catch (RuntimeException x) {
                now = "status failed: " + x;
            }
            throw new AssertionError(e.getMessage() + "; status now: " + now + "; kernel checks "
                    + agent.metrics().checks() + "; processes: "
                    + children + "; threads:" + threads, e);
        }
        KubeFixture.await(() -> what + ": the node verifies again (log: " + log + ")", SOON,
                () -> k.lab.node.status().verified());
        assertThat(captured(a, c)).as(what + ": captured again").isTrue();
        System.out.println("drift repaired: " + what + " (" + kinds.stream().map(Drift.Kind::label).toList() + ")");
    }

    @ParameterizedTest
    @EnumSource(value = RedirectMode.class, names = {"ebpf", "iptables", "nftables"})
    void everyKindOfDriftIsRepairedByTheNextKernelCheck(RedirectMode mode) throws Exception {
        k = new KubeFixture(3, null);
        Lab.Pod a = k.lab.pod(1);
        Lab.Pod b = k.lab.pod(2);
        Lab.Pod c = k.lab.pod(3);
        if (mode != RedirectMode.ebpf) {
            k.lab.node.modeSet(mode, false);
        }
        KubeNode kube = new KubeNode(k.client, k.lab.node, k.options(), false);
        k.ztunnelPod("ztunnel-1");
        k.namespace("shop", Map.of(Pods.DATAPLANE_MODE, Pods.AMBIENT));
        k.pod("shop", "p1", a, Map.of("app", "p1"));
        k.pod("shop", "p2", b, Map.of("app", "p2"));
        k.pod("shop", "p3", c, Map.of("app", "p3", Pods.DATAPLANE_MODE, Pods.NONE));
        agent = kube.startAgent(KubeAgentKernelTest.settings().withVerifyEvery(CHECK), log::add);
        KubeFixture.await("p1, p2 enrolled and ztunnel set (log: " + log + ")", SOON, () -> {
            var s = k.lab.node.recorded();
            return s.ztunnel != null && s.workloads.size() == 2;
        });
        assertThat(k.lab.node.recorded().mode).isEqualTo(mode);
        KubeFixture.await("the node verifies", SOON, () -> k.lab.node.status().verified());
        assertThat(captured(a, c)).isTrue();
        AgentMetrics m = agent.metrics();

        // 1. a workload's entry deleted by hand (bpftool map delete / ipset del / nft delete element)
        long n = m.repairs(Drift.Kind.WORKLOAD);
        switch (mode) {
            case ebpf -> {
                try (EbpfRedirector e = new EbpfRedirector(k.lab.config, k.lab.node.recorded(), null)) {
                    assertThat(e.datapath().workloads().delete(IpAddrs.parse(a.ipv4()))).isTrue();
                }
            }
            case iptables -> k.lab.lab.node().exec("ipset", "del", Rules.SET4, a.ipv4()).check();
            default -> k.lab.lab.node().exec("nft", "delete", "element", NftRules.FAMILY, NftRules.TABLE,
                    NftRules.SET4, "{ " + a.ipv4() + " }").check();
        }
        repaired("a workload's entry deleted", Set.of(Drift.Kind.WORKLOAD), n, a, c);
        KubeFixture.await("an Event RedirectionRepaired on p1", SOON, () -> events("shop", "p1").stream()
                .anyMatch(e -> e.getReason().equals(PodEvents.REPAIRED)));

        // 2. the Pod's veth re-created (same namespace, new ifindex)
        n = m.repairs(Drift.Kind.VETH);
        int before = k.lab.node.recorded().workload("shop/p1").orElseThrow().hostIfindex();
        k.lab.lab.replumbPod(a);
        if (mode == RedirectMode.ebpf) {
            repaired("the Pod's veth re-created", Set.of(Drift.Kind.VETH), n, a, c);
            assertThat(k.lab.node.recorded().workload("shop/p1").orElseThrow().hostIfindex()).isNotEqualTo(before);
        } else {
            // the netfilter modes match the Pod's addresses, not its veth: nothing in the kernel drifted
            long checks = m.checks();
            KubeFixture.await("two more kernel checks", SOON, () -> m.checks() >= checks + 2);
            assertThat(m.repairs(Drift.Kind.VETH)).isEqualTo(n);
            assertThat(k.lab.node.status().verified()).isTrue();
            assertThat(captured(a, c)).as("still captured on the new veth").isTrue();
        }

        // 3. ztunnel's routing rules removed
        n = m.repairs(Drift.Kind.ZTUNNEL);
        ZtunnelRouting.remove(k.lab.lab.ztunnel());
        repaired("ztunnel's routing rules removed", Set.of(Drift.Kind.ZTUNNEL), n, a, c);

        // 4. the mode's objects removed by another tool
        switch (mode) {
            case ebpf -> {
                n = m.repairs(Drift.Kind.WORKLOAD);
                k.lab.lab.node().exec("tc", "qdisc", "del", "dev", a.hostInterface(), "clsact").check();
                repaired("the hooks' qdisc on p1's veth deleted", Set.of(Drift.Kind.WORKLOAD), n, a, c);
            }
            case iptables -> {
                n = m.repairs(Drift.Kind.NODE);
                k.lab.lab.node().exec("iptables", "-t", "mangle", "-F", Rules.CHAIN).check();
                k.lab.lab.node().exec("ip6tables", "-t", "mangle", "-F", Rules.CHAIN).check();
                repaired("the node's chains flushed", Set.of(Drift.Kind.NODE), n, a, c);
            }
            default -> {
                n = m.repairs(Drift.Kind.NODE);
                k.lab.lab.node().exec("nft", "delete", "table", NftRules.FAMILY, NftRules.TABLE).check();
                repaired("the node's nft table deleted", Set.of(Drift.Kind.NODE), n, a, c);
            }
        }

        // 5. a reboot: everything of the mode gone from the kernel (pins, programs, hooks; chains, sets, rules),
        // ztunnel's routing too; the state file stays
        // (not done at once: the kernel check may see it half done, e.g. the hooks detached but the pins still
        // there, and count the repair by what it saw: any kind will do)
        Set<Drift.Kind> any = java.util.EnumSet.allOf(Drift.Kind.class);
        n = repairs(any);
        long w = m.repairs(Drift.Kind.WORKLOAD);
        try (Redirector r = Redirectors.open(mode, k.lab.config, k.lab.node.recorded(), null)) {
            r.uninstall();
        }
        ZtunnelRouting.remove(k.lab.lab.ztunnel());
        Node.Status lost = k.lab.node.status();
        System.out.println("everything lost: status verified " + lost.verified() + ", " + lost.nodeProblems()
                + ", checks " + m.checks() + ", pins " + java.util.Arrays.toString(k.lab.bpffs.toFile().list()));
        repaired("everything lost but the state file", any, n, a, c);
        assertThat(m.repairs(Drift.Kind.WORKLOAD)).as("both workloads re-enrolled").isGreaterThanOrEqualTo(w + 2);
        assertThat(captured(b, c)).isTrue();
        assertThat(k.lab.node.recorded().workloads).hasSize(2);
    }

    List<Event> events(String ns, String pod) {
        return k.client.v1().events().inNamespace(ns).list().getItems().stream()
                .filter(e -> pod.equals(e.getInvolvedObject().getName())).toList();
    }
}
