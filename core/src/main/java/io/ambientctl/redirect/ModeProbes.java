package io.ambientctl.redirect;

import java.nio.file.Path;
import java.util.List;

import io.ambientctl.observe.ProgramCost;
import io.ambientctl.redirect.ebpf.ProgramCosts;
import io.ambientctl.redirect.iptables.Backend;
import io.ambientctl.redirect.nftables.Nftables;

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

    /**
     * The rules (-A lines, both families) the iptables mode's two backends hold in the calling thread's namespace:
     * {nft, legacy}, -1 for a backend whose tools are missing.
     */
    public static int[] iptablesRules() {
        return new int[] {Backend.rules(Backend.NFT), Backend.rules(Backend.LEGACY)};
    }

    /**
     * The save tools {IPv4, IPv6} of the iptables backend the iptables mode would use in the calling thread's
     * namespace (e.g. iptables-nft-save, ip6tables-nft-save).
     */
    public static List<String> iptablesSaveTools() {
        Backend b = Backend.detect();
        return List.of(b.tool(false, "save"), b.tool(true, "save"));
    }

    /**
     * Where libnftables (the nftables mode's library) is, having loaded it; throws, naming where it looked and
     * the fix, when it cannot be loaded.
     */
    public static Path nftablesLibrary() {
        Nftables.require();
        return Nftables.find();
    }

    /** Whether the loaded libnftables gives JSON output (the nftables mode reads the kernel's state as JSON). */
    public static boolean nftablesJson() {
        return Nftables.jsonSupported();
    }

    /**
     * Runs {@code commands} through libnftables as one transaction in the calling thread's namespace (a probe of
     * what the nftables mode's rules need); throws with the library's errors when the kernel refuses them.
     */
    public static void nftables(String commands) {
        Nftables.run(commands);
    }
}
