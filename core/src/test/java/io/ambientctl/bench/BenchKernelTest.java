package io.ambientctl.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import io.ambientctl.net.NetNs;
import io.ambientctl.testing.Kernel;

/** The bench end to end, short: the report's shape, and each path carried traffic by the expected route. */
class BenchKernelTest {
    @Test
    void everyPathCarriesTrafficByItsRouteAndASwitchUnderLoadLosesNothing() throws Exception {
        Kernel.require();
        String name = "acb" + Kernel.unique();
        List<String> said = new ArrayList<>();
        Bench.Options o = new Bench.Options(name, Duration.ofMillis(400), 2, 0, 256, Bench.PATHS, List.of(1, 50), 1,
                List.of(3), Duration.ofMillis(1500), 200);
        Bench.Report r = new Bench(o, said::add).run();

        // direct and proxy once, ebpf, iptables and nftables for each pod count
        assertThat(r.runs()).extracting(Bench.Run::mode).containsExactly("direct", "proxy", "ebpf", "iptables",
                "nftables", "ebpf", "iptables", "nftables");
        assertThat(r.runs()).allSatisfy(x -> {
            assertThat(x.requests()).as(x.mode()).isPositive();
            assertThat(x.errors()).as(x.mode()).isZero();
            assertThat(x.qps()).isPositive();
            assertThat(x.p50Ms()).isPositive().isLessThanOrEqualTo(x.p99Ms());
            assertThat(x.p99Ms()).isLessThanOrEqualTo(x.maxMs());
        });
        // the route: ztunnel saw every connection of the proxied and redirected paths, none of direct
        assertThat(r.runs()).filteredOn(x -> x.mode().equals("direct")).allSatisfy(x -> assertThat(x.captured()).isZero());
        assertThat(r.runs()).filteredOn(x -> !x.mode().equals("direct"))
                .allSatisfy(x -> assertThat(x.captured()).as(x.mode()).isEqualTo(o.connections()));
        assertThat(r.runs()).filteredOn(x -> x.pods() == 50).hasSize(3);
        assertThat(r.histograms()).containsKeys("direct", "proxy", "ebpf", "iptables", "ebpf +50", "iptables +50",
                "nftables", "nftables +50");

        assertThat(r.controlPlane()).extracting(Bench.ControlPlane::operation)
                .containsExactly("enroll", "status", "agent kernel check (ebpf)", "mode set iptables",
                        "agent kernel check (iptables)", "mode set ebpf", "mode set nftables",
                        "agent kernel check (nftables)", "mode set ebpf (from nftables)", "unenroll");
        assertThat(r.controlPlane()).allSatisfy(c -> assertThat(c.workloads()).isEqualTo(3));
        assertThat(r.switches()).extracting(Bench.Switch::to).containsExactly("iptables", "ebpf", "nftables", "ebpf");
        assertThat(r.switches()).allSatisfy(s -> {
            assertThat(s.requests()).isPositive();
            assertThat(s.failed()).as(s.from() + " -> " + s.to()).isZero();
        });
        assertThat(said).isNotEmpty();
        // nothing of the bench is left
        assertThat(NetNs.named(name + "-node").exists()).isFalse();
        assertThat(NetNs.named(name + "-cp-node").exists()).isFalse();
        assertThat(java.nio.file.Path.of("/sys/fs/bpf/ambientctl-bench-" + name)).doesNotExist();
    }
}
