package io.ambientctl.redirect;

import java.util.List;

import io.ambientctl.observe.ProgramCost;
import io.ambientctl.redirect.ebpf.ProgramCosts;

/**
 * What preflight and bench ask of a mode's own kernel machinery without reaching into the mode: the one place
 * besides {@link Redirectors} that names the modes' packages (LayeringTest holds it). Each method only hands
 * over to the mode; the answers are mode-neutral values.
 */
public final class ModeProbes {
    private ModeProbes() {
    }

    /**
     * The per-packet cost of the eBPF datapath's pod programs, build against build ({@code bench --program-cost}):
     * each build's object loaded unpinned (nothing stays in the kernel), its maps filled, its programs test-run
     * {@code repeat} times per round. {@code previous}: an older build's object, or null.
     */
    public static List<ProgramCost> programCost(byte[] previous, int rounds, int repeat) {
        return ProgramCosts.measure(previous, rounds, repeat);
    }

}
