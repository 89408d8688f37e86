package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
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
 * Every sequence of attach kinds and modes ends, after 'unenroll --all', with nothing of ours on any veth;
 * in between, each hook carries exactly one of our programs, of the kind asked for ('auto': tc filters on
 * Pods' veths, TCX on ztunnel's), and traffic goes to ztunnel.
 */
class AttachKindSequencesKernelTest {
    private LabFixture f;
    private Lab.Pod a;

    @BeforeEach
    void setUp() throws Exception {
        Kernel.requireFeature("TCX links", "6.6", Kernel::tcx);
        f = new LabFixture(2, null);
        a = f.pod(1);
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

    private String hostIf() {
        return f.node.recorded().workload(a.netns().display()).orElseThrow().hostInterface();
    }

    private void assertCaptured() {
        Traffic.Result r = Traffic.tcp(a.netns(), a.ipv4(), f.pod(2).ipv4(), 8080, "hi", LabFixture.SHORT);
        assertThat(r.answer()).isEqualTo(f.pod(2).name() + " hi");
        assertThat(f.standIn.captures()).anyMatch(c -> c.port() == 15001);
        f.standIn.clear();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
        "auto,tcx,tc,auto",
        "tcx,auto,iptables,tc",
        "tc,iptables,tcx,auto",
        "auto,iptables,auto,tcx",
    })
    void eachStepHasOneHookOfTheKindAskedAndNothingIsLeftAfterUnenrollAll(String sequence) {
        String[] steps = sequence.split(",");
        node(kind(steps[0])).enroll(List.of(a.netns()), false);
        for (int i = 0; i < steps.length; i++) {
            String s = steps[i];
            if (i > 0) {
                if (s.equals("iptables")) {
                    f.node.modeSet(RedirectMode.iptables, false);
                } else {
                    node(kind(s)).modeSet(RedirectMode.ebpf, false);
                }
            }
            List<String> ours = ours();
            if (s.equals("iptables")) {
                assertThat(ours).as("after " + s).isEmpty();
            } else {
                String podKind = s.equals("tcx") ? "tcx" : "tc";
                // ztunnel's hooks follow 'ztunnel set' (auto: TCX) and 'mode set'; 'enroll' leaves them
                String ztKind = i > 0 && s.equals("tc") ? "tc" : "tcx";
                assertThat(ours).as("after " + s).filteredOn(x -> x.startsWith(hostIf() + " "))
                        .containsExactlyInAnyOrder(hostIf() + " ingress " + podKind, hostIf() + " egress " + podKind);
                assertThat(ours).as("ztunnel's hooks after " + s).filteredOn(x -> !x.startsWith(hostIf() + " "))
                        .hasSize(2).allMatch(x -> x.endsWith(" " + ztKind));
            }
            assertThat(f.node.status().verified()).as("status after " + s).isTrue();
            assertCaptured();
        }
        String veth = hostIf();
        f.node.unenroll(List.of(), true, false);
        f.node.ztunnelUnset(false);
        assertThat(ours()).filteredOn(x -> x.startsWith(veth + " ") || x.contains("ingress"))
                .as("our programs after unenroll --all and ztunnel unset").isEmpty();
        assertThat(f.lab.node().exec("tc", "qdisc", "show", "dev", veth).stdout())
                .as("the clsact qdisc ambientctl created on the pod's veth").doesNotContain("clsact");
        try (var s = Files.list(Datapath.linksDir(f.bpffs))) {
            assertThat(s.toList()).as("link pins").isEmpty();
        } catch (java.io.IOException e) {
            // no links directory: nothing pinned
        }
    }

    private static AttachKind kind(String s) {
        return switch (s) {
            case "tcx" -> AttachKind.TCX;
            case "tc" -> AttachKind.TC;
            default -> null;
        };
    }
}
