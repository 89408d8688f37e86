package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.bpf.AttachedProgram;
import io.ambientctl.bpf.Tc;
import io.ambientctl.bpf.TcDirection;
import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.ebpf.Datapath;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.LabFixture;

/**
 * Every sequence of attach kinds and modes ends, after 'unenroll --all', with nothing of ours on any Pod's veth
 * (and, after 'ztunnel unset', on any veth); in between, each hook carries exactly one of our programs, of the
 * kind asked for ('auto': tc filters on Pods' veths, TCX on ztunnel's), status verifies, and traffic goes to
 * ztunnel. "Every sequence": one walk takes each of the 25 steps between the five states (eBPF with
 * auto, tcx or tc; iptables; nftables), the same state again included, from two workloads enrolled with
 * different kinds; and from that mixed start each state is also where an 'unenroll --all' ends a run.
 */
class AttachKindSequencesKernelTest {
    /** The states a node's workloads can be in, as the commands that reach them name them. */
    static final List<String> STATES = List.of("auto", "tcx", "tc", "iptables", "nftables");

    private LabFixture f;
    private Lab.Pod a;
    private Lab.Pod b;

    @BeforeEach
    void setUp() throws Exception {
        Kernel.requireFeature("TCX links", "6.6", Kernel::tcx);
        f = new LabFixture(3, null);
        a = f.pod(1);
        b = f.pod(2);
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
    }

    @AfterEach
    void tearDown() {
        if (f != null) {
            f.close();
        }
    }

    private Node node(AttachKind kind) {
        return new Node(f.config, Duration.ofSeconds(30), kind);
    }

    /** Our programs on the hooks of every veth in the node's and ztunnel's namespaces. */
    private List<String> ours() {
        List<String> out = new ArrayList<>();
        java.util.Set<Integer> ids = f.node.programs().keySet();
        for (NetNs ns : List.of(f.lab.node(), f.lab.ztunnel())) {
            out.addAll(ns.call(() -> {
                List<String> here = new ArrayList<>();
                for (Link l : Links.here()) {
                    for (TcDirection d : TcDirection.values()) {
                        for (AttachedProgram p : Tc.query(l.ifindex(), d)) {
                            if (ids.contains(p.progId()) || p.priority() == Tc.PRIORITY) {
                                here.add(l.name() + " " + d.label() + " " + p.kind().label());
                            }
                        }
                    }
                }
                return here;
            }));
        }
        return out;
    }

    private String hostIf(Lab.Pod pod) {
        return f.node.recorded().workload(pod.netns().display()).orElseThrow().hostInterface();
    }

    private void assertCaptured(String when) {
        for (Lab.Pod from : List.of(a, b)) {
            Traffic.Result r = Traffic.tcp(from.netns(), from.ipv4(), f.pod(3).ipv4(), 8080, "hi", LabFixture.SHORT);
            assertThat(r.answer()).as(when + ": " + from.name() + "'s answer").isEqualTo(f.pod(3).name() + " hi");
            assertThat(f.standIn.captures()).as(when + ": " + from.name() + " captured").anyMatch(c -> c.port() == 15001);
            f.standIn.clear();
        }
    }

    /** Enrolls a with tc filters and b with TCX links: a node whose workloads have different kinds. */
    private void enrollMixed() {
        node(AttachKind.TC).enroll(List.of(a.netns()), false);
        node(AttachKind.TCX).enroll(List.of(b.netns()), false);
        List<String> ours = ours();
        assertThat(ours).filteredOn(x -> x.startsWith(hostIf(a) + " "))
                .containsExactlyInAnyOrder(hostIf(a) + " ingress tc", hostIf(a) + " egress tc");
        assertThat(ours).filteredOn(x -> x.startsWith(hostIf(b) + " "))
                .containsExactlyInAnyOrder(hostIf(b) + " ingress tcx", hostIf(b) + " egress tcx");
        assertThat(f.node.status().verified()).as("status, mixed kinds").isTrue();
        assertCaptured("mixed kinds");
    }

    /** Takes the node to {@code state} ('mode set'), then checks every hook, status and traffic. */
    private void go(String from, String state) {
        String step = from + " -> " + state;
        switch (state) {
            case "iptables" -> f.node.modeSet(RedirectMode.iptables, false);
            case "nftables" -> f.node.modeSet(RedirectMode.nftables, false);
            default -> node(kind(state)).modeSet(RedirectMode.ebpf, false);
        }
        List<String> ours = ours();
        if (state.equals("iptables") || state.equals("nftables")) {
            assertThat(ours).as("our programs after " + step).isEmpty();
        } else {
            String podKind = state.equals("tcx") ? "tcx" : "tc";
            String ztKind = state.equals("tc") ? "tc" : "tcx"; // 'mode set ebpf' attaches ztunnel's hooks too
            List<String> pods = new ArrayList<>();
            for (Lab.Pod p : List.of(a, b)) {
                String veth = hostIf(p);
                pods.add(veth);
                assertThat(ours).as(p.name() + "'s hooks after " + step).filteredOn(x -> x.startsWith(veth + " "))
                        .containsExactlyInAnyOrder(veth + " ingress " + podKind, veth + " egress " + podKind);
            }
            assertThat(ours).as("ztunnel's hooks after " + step)
                    .filteredOn(x -> pods.stream().noneMatch(v -> x.startsWith(v + " ")))
                    .hasSize(2).allMatch(x -> x.endsWith(" " + ztKind));
        }
        assertThat(f.node.status().verified()).as("status after " + step).isTrue();
        assertCaptured(step);
    }

    /** After 'unenroll --all': nothing of ours on the Pods' veths; after 'ztunnel unset': nothing at all. */
    private void assertNothingLeftAfterUnenrollAllAndZtunnelUnset(String after) {
        List<String> veths = List.of(hostIf(a), hostIf(b));
        f.node.unenroll(List.of(), true, false);
        assertThat(ours()).as("our programs on the Pods' veths after " + after + ", unenroll --all")
                .filteredOn(x -> veths.stream().anyMatch(v -> x.startsWith(v + " "))).isEmpty();
        for (String veth : veths) {
            assertThat(f.lab.node().exec("tc", "qdisc", "show", "dev", veth).stdout())
                    .as("the clsact qdisc ambientctl created on " + veth + " after " + after).doesNotContain("clsact");
        }
        f.node.ztunnelUnset(false);
        assertThat(ours()).as("our programs anywhere after " + after + ", unenroll --all, ztunnel unset").isEmpty();
        try (var s = Files.list(Datapath.linksDir(f.bpffs))) {
            assertThat(s.toList()).as("link pins after " + after).isEmpty();
        } catch (java.io.IOException e) {
            // no links directory: nothing pinned
        }
    }

    /**
     * A walk of the complete graph of {@link #STATES}, a self-loop at each, that takes each of its 25 edges once
     * (an Eulerian circuit: every state has as many ways in as out), from and back to {@code start}.
     */
    static List<String> everyStep(String start) {
        java.util.Map<String, java.util.Deque<String>> left = new java.util.LinkedHashMap<>();
        for (String u : STATES) {
            left.put(u, new java.util.ArrayDeque<>(STATES));
        }
        // Hierholzer's algorithm
        java.util.Deque<String> stack = new java.util.ArrayDeque<>(List.of(start));
        java.util.LinkedList<String> circuit = new java.util.LinkedList<>();
        while (!stack.isEmpty()) {
            String u = stack.peek();
            if (left.get(u).isEmpty()) {
                circuit.addFirst(stack.pop());
            } else {
                stack.push(left.get(u).poll());
            }
        }
        return circuit;
    }

    @Test
    void theWalkHasEveryStepOnce() {
        List<String> walk = everyStep("auto");
        assertThat(walk).hasSize(STATES.size() * STATES.size() + 1).startsWith("auto").endsWith("auto");
        java.util.Set<String> steps = new java.util.HashSet<>();
        for (int i = 1; i < walk.size(); i++) {
            assertThat(steps.add(walk.get(i - 1) + ">" + walk.get(i))).as("step taken twice").isTrue();
        }
        assertThat(steps).hasSize(25);
    }

    @Test
    void everyStepBetweenKindsAndModesKeepsOneHookOfTheKindAskedAndNothingIsLeftAtTheEnd() {
        enrollMixed();
        List<String> walk = everyStep("auto");
        go("mixed", walk.get(0));
        for (int i = 1; i < walk.size(); i++) {
            go(walk.get(i - 1), walk.get(i));
        }
        assertNothingLeftAfterUnenrollAllAndZtunnelUnset("the walk");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"mixed", "auto", "tcx", "tc", "iptables", "nftables"})
    void unenrollAllFromEachStateLeavesNothing(String state) {
        enrollMixed();
        if (!state.equals("mixed")) {
            go("mixed", state);
        }
        assertNothingLeftAfterUnenrollAllAndZtunnelUnset(state);
    }

    private static AttachKind kind(String s) {
        return switch (s) {
            case "tcx" -> AttachKind.TCX;
            case "tc" -> AttachKind.TC;
            default -> null;
        };
    }
}
