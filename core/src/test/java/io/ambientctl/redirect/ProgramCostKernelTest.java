package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.ambientctl.bpf.BpfObject;
import io.ambientctl.bpf.Features;
import io.ambientctl.observe.ProgramCost;
import io.ambientctl.redirect.ebpf.Datapath;
import io.ambientctl.testing.Kernel;

/**
 * {@code bench --program-cost} through its mode-neutral entry point: every build's pod programs test-run on the
 * kernel, interleaved round by round, with an older build's object first when given. (The figures themselves go
 * into the bench, not into assertions.)
 */
class ProgramCostKernelTest {
    @Test
    void everyVariantsPodProgramsRunRoundByRound() {
        Kernel.requireFeature("BPF_MAP_TYPE_RINGBUF (the monitor-on variant)", "5.8", Features::ringbuf);
        byte[] previous = BpfObject.resourceBytes(Datapath.OBJECT); // this build stands in for an older one
        List<ProgramCost> runs = ModeProbes.programCost(previous, 2, 10);

        List<String> variants = List.of("previous", "monitor-off", "no-monitor-build", "monitor-on");
        assertThat(runs).hasSize(2 * variants.size() * 2);
        for (int i = 0; i < runs.size(); i++) {
            ProgramCost r = runs.get(i);
            assertThat(r.round()).isEqualTo(1 + i / (variants.size() * 2));
            assertThat(r.variant()).isEqualTo(variants.get(i / 2 % variants.size()));
            assertThat(r.program()).isEqualTo(i % 2 == 0 ? Datapath.POD_INGRESS : Datapath.POD_EGRESS);
            assertThat(r.nsPerPacket()).isNotNegative();
        }
    }
}
