package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.bpf.AttachedProgram;
import io.ambientctl.bpf.BpfObject;
import io.ambientctl.bpf.Codecs;
import io.ambientctl.bpf.Tc;
import io.ambientctl.bpf.TcDirection;
import io.ambientctl.bpf.TypedMap;
import io.ambientctl.lab.Traffic;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Links;
import io.ambientctl.redirect.ebpf.EbpfRedirector;
import io.ambientctl.testing.Kernel;

/** The redirection suite plus what only the eBPF mode has: TC programs, counters, other owners' programs. */
abstract class EbpfRedirectionSuite extends RedirectionSuite {
    @Override
    boolean redirectedInKernel(String ip) {
        try (EbpfRedirector e = new EbpfRedirector(f.config, f.node.recorded(), kind())) {
            return e.datapath().workloads().get(IpAddrs.parse(ip)).isPresent();
        }
    }

    @Test
    void ourProgramsHangOnTheVethAndLeaveWithTheWorkload() {
        ztunnel();
        enroll(a);
        Set<Integer> ours = ourProgramIds();
        List<AttachedProgram> there = hooks(a.hostInterface());
        assertThat(there).hasSize(2).allSatisfy(p -> {
            assertThat(ours).contains(p.progId());
            assertThat(p.kind()).isEqualTo(kind());
        });
        assertThat(there).extracting(AttachedProgram::name).containsExactlyInAnyOrder("ambient_pod_ing",
                "ambient_pod_egr");
        assertThat(tcp(a, b.ipv4(), 8080).answered()).isTrue();
        assertThat(f.node.status().workloads().get(0).counters().outPackets()).isPositive();
        f.node.unenroll(List.of(a.netns()), false, false);
        assertThat(hooks(a.hostInterface())).isEmpty();
    }

    @Test
    void failClosedDropsAreCounted() {
        enroll(a);
        assertThat(tcp(a, b.ipv4(), 8080).answered()).isFalse();
        assertThat(f.node.status().workloads().get(0).counters().droppedPackets()).isPositive();
    }

    @Test
    void anotherOwnersProgramOnTheSameVethKeepsRunning() throws Exception {
        int ifindex = Links.byName(Links.in(f.lab.node()), a.hostInterface()).orElseThrow().ifindex();
        Path otherPins = Kernel.bpffsDir("actest-other");
        try (BpfObject other = BpfObject.openResource("selftest.bpf.o").load()) {
            // another agent's program, attached before ours the way that agent would
            if (kind() == AttachKind.TCX) {
                f.lab.node().call(() -> Tc.attach(other.program("selftest_count"), ifindex, TcDirection.INGRESS,
                        AttachKind.TCX, otherPins.resolve("link")));
            } else {
                other.program("selftest_count").pin(otherPins.resolve("prog"));
                f.lab.node().exec("tc", "qdisc", "add", "dev", a.hostInterface(), "clsact").check();
                f.lab.node().exec("tc", "filter", "add", "dev", a.hostInterface(), "ingress", "pref", "1", "bpf",
                        "da", "object-pinned", otherPins.resolve("prog").toString()).check();
            }
            TypedMap<Integer, Long> stats = new TypedMap<>(other.map("selftest_stats"), Codecs.U32, Codecs.U64);
            ztunnel();
            enroll(a);
            assertThat(tcp(a, b.ipv4(), 8080).answer()).isEqualTo(b.name() + " hello");
            assertThat(f.standIn.captures()).hasSize(1);
            assertThat(stats.get(6)).hasValueSatisfying(n -> assertThat(n).isPositive());
            assertThat(hooks(a.hostInterface())).filteredOn(p -> p.name().equals("selftest_count")).hasSize(1);

            f.node.unenroll(List.of(a.netns()), false, false);
            // theirs is still there, and still runs, after ours left
            assertThat(hooks(a.hostInterface())).extracting(AttachedProgram::name).containsExactly("selftest_count");
            long before = stats.get(6).orElse(0L);
            assertThat(tcp(a, b.ipv4(), 8080).answer()).isEqualTo(b.name() + " hello");
            assertThat(stats.get(6).orElse(0L)).isGreaterThan(before);
        } finally {
            Kernel.removeTree(otherPins);
        }
    }
}
