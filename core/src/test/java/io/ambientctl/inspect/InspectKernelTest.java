package io.ambientctl.inspect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.bpf.BpfObject;
import io.ambientctl.bpf.Tc;
import io.ambientctl.bpf.TcDirection;
import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.net.Links;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.redirect.ebpf.Maps;
import io.ambientctl.redirect.iptables.Rules;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.LabFixture;
import io.ambientctl.util.ExitCodeException;

/** inspect and status after enrolling real namespaces, in each mode. */
class InspectKernelTest {
    private LabFixture f;
    private Lab.Pod a;
    private Lab.Pod b;

    @BeforeEach
    void setUp() throws Exception {
        f = new LabFixture(2, null);
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

    @Test
    void ebpfProgramsMapsAndOneWorkloadDecodedWithAForeignProgramListedAsOther() throws Exception {
        f.node.enroll(List.of(a.netns()), false);
        assertThat(Traffic.tcp(a.netns(), null, b.ipv4(), 8080, "x", LabFixture.SHORT).answered()).isTrue();
        int vp2 = Links.byName(Links.in(f.lab.node()), b.hostInterface()).orElseThrow().ifindex();
        Path other = Kernel.bpffsDir("actest-foreign");
        try (BpfObject foreign = BpfObject.openResource("selftest.bpf.o").load()) {
            f.lab.node().call(() -> Tc.attach(foreign.program("selftest_count"), vp2, TcDirection.INGRESS,
                    AttachKind.TCX, other.resolve("link")));
            Inspector in = new Inspector(f.config);

            List<Inspector.Program> ps = in.programs(false);
            assertThat(ps).filteredOn(p -> p.owner().equals("ambientctl")).extracting(Inspector.Program::name)
                    .containsExactlyInAnyOrder("ambient_ztunnel_ingress", "ambient_pod_ingress", "ambient_pod_egress");
            assertThat(ps).filteredOn(p -> p.owner().equals("other")).singleElement().satisfies(p -> {
                assertThat(p.name()).isEqualTo("selftest_count");
                assertThat(p.iface()).isEqualTo(b.hostInterface());
                assertThat(p.attach()).isEqualTo("tcx");
                assertThat(p.direction()).isEqualTo("ingress");
            });
            assertThat(in.programs(true)).extracting(Inspector.Program::name).contains("ambient_ztunnel_capture");

            Map<String, io.ambientctl.redirect.Redirector.Table> maps = new java.util.HashMap<>();
            in.maps(null, false).forEach(m -> maps.put(m.name(), m));
            assertThat(maps.keySet()).contains(Maps.WORKLOADS, Maps.ZTUNNEL, Maps.NODE_ADDRS, Maps.COUNTERS);
            io.ambientctl.redirect.Redirector.Table wm = maps.get(Maps.WORKLOADS);
            assertThat(wm.maxEntries()).isEqualTo(65536);
            assertThat(wm.entries()).hasSize(2).allSatisfy(e -> {
                Map<?, ?> v = (Map<?, ?>) e.get("value");
                assertThat(v.get("workload")).isEqualTo(a.netns().display());
                assertThat(v.get("interface")).isEqualTo(a.hostInterface());
            });
            assertThat(wm.entries()).extracting(e -> (Object) ((Map<?, ?>) e.get("key")).get("ip"))
                    .containsExactlyInAnyOrder((Object) a.ipv4(), (Object) a.ipv6());
            Map<?, ?> counters = (Map<?, ?>) maps.get(Maps.COUNTERS).entries().get(0).get("value");
            assertThat((Long) counters.get("outPackets")).isPositive();
            assertThat(((Map<?, ?>) maps.get(Maps.ZTUNNEL).entries().get(0).get("value")).get("interface"))
                    .isEqualTo("vzt");
            assertThat(in.maps(Maps.WORKLOADS, true).get(0).entries().get(0).get("key").toString()).hasSize(32);
            assertThatThrownBy(() -> in.maps("nope", false)).isInstanceOf(ExitCodeException.class);

            Map<String, Object> pod = in.workload(a.netns().display());
            assertThat((List<?>) pod.get("mapEntries")).hasSize(2);
            assertThat((List<?>) pod.get("programs")).hasSize(2);
            assertThat(pod.get("counters")).isNotNull();
            assertThatThrownBy(() -> in.workload(b.netns().display())).isInstanceOfSatisfying(ExitCodeException.class,
                    e -> assertThat(e.exitCode()).isEqualTo(4));
        } finally {
            Kernel.removeTree(other);
        }
    }

    @Test
    void iptablesSetEntriesRulesAndAStatusThatSeesAMissingEntry() {
        f.node.modeSet(RedirectMode.iptables, false);
        f.node.enroll(List.of(a.netns(), b.netns()), false);
        Inspector in = new Inspector(f.config);
        assertThat(in.maps(null, false)).isEmpty();
        Map<String, Object> pod = in.workload(a.netns().display());
        assertThat((List<?>) pod.get("setEntries")).hasSize(2).allSatisfy(x -> assertThat(x.toString())
                .doesNotContain("MISSING"));
        assertThat((List<?>) pod.get("rules")).anySatisfy(r -> assertThat(r.toString())
                .contains("--match-set ambient-pods-v4 src"));
        assertThat(f.node.status().verified()).isTrue();

        // someone removes a's address from the set behind our back
        f.lab.node().exec("ipset", "del", Rules.SET4, a.ipv4()).check();
        var st = f.node.status();
        assertThat(st.verified()).isFalse();
        assertThat(st.workloads()).filteredOn(w -> w.workload().key().equals(a.netns().display())).singleElement()
                .satisfies(w -> assertThat(w.verification().problems()).anySatisfy(p -> assertThat(p)
                        .contains(a.ipv4() + " is not in the node's set")));
        assertThat(st.workloads()).filteredOn(w -> w.workload().key().equals(b.netns().display())).singleElement()
                .satisfies(w -> assertThat(w.verification().verified()).isTrue());
        assertThat(new Inspector(f.config).workload(a.netns().display()).get("setEntries").toString())
                .contains("MISSING");
    }
}
