package io.ambientctl.redirect;

import java.util.Arrays;
import java.util.List;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.redirect.ebpf.EbpfRedirector;
import io.ambientctl.redirect.iptables.IptablesRedirector;
import io.ambientctl.redirect.nftables.NftablesRedirector;

/**
 * The one place that opens a mode: its {@link Redirector} for changing or for reading. With {@link ModeProbes}
 * (what preflight and bench ask of a mode's machinery) the only code outside the modes that names them.
 */
public final class Redirectors {
    private Redirectors() {
    }

    /** Every mode there is (not "none"). */
    public static List<RedirectMode> modes() {
        return Arrays.stream(RedirectMode.values()).filter(m -> m != RedirectMode.none).toList();
    }

    /**
     * The redirector of {@code mode} for a changing command (eBPF for "none": the default mode);
     * {@code attachKind} null is {@code auto}.
     */
    public static Redirector open(RedirectMode mode, NodeConfig cfg, State state, AttachKind attachKind) {
        return switch (mode) {
            case iptables -> new IptablesRedirector(cfg, state, false);
            case nftables -> new NftablesRedirector(cfg, state, false);
            case ebpf, none -> new EbpfRedirector(cfg, state, attachKind, false);
        };
    }

    /** The redirector of {@code mode} for a reading command: it loads nothing, creates no pin, changes nothing. */
    public static Redirector reader(RedirectMode mode, NodeConfig cfg, State state) {
        return switch (mode) {
            case iptables -> new IptablesRedirector(cfg, state, true);
            case nftables -> new NftablesRedirector(cfg, state, true);
            case ebpf, none -> new EbpfRedirector(cfg, state, null, true);
        };
    }

    /**
     * Whether any mode may have left objects on the node, cheaply (no mode loaded, no native library): the
     * eBPF mode's pinned maps, or the policy routing rule the netfilter modes install. Status uses it to look
     * further only where there is something to find.
     */
    public static boolean traces(NodeConfig cfg) {
        // this build's maps (Datapath.mapsDir) or layout 1's, by path: Datapath's class is not loaded for this
        if (java.nio.file.Files.isDirectory(cfg.bpffs().resolve("layout" + State.LAYOUT).resolve("maps"))
                || java.nio.file.Files.isDirectory(cfg.bpffs().resolve("maps"))) {
            return true;
        }
        try {
            return cfg.nodeNetns().call(NodeRouting::anyHere);
        } catch (RuntimeException e) {
            return false; // no node namespace, no ip(8): nothing of ours to find there
        }
    }

    /**
     * Removes every mode's node-wide objects under {@code cfg} without a state to go by (a lab or a bench
     * taken down: its namespaces, and with them the hooks and rules inside, are gone already).
     */
    public static void forget(NodeConfig cfg) {
        try (Redirector r = new EbpfRedirector(cfg, new State(), null, false)) {
            r.uninstall();
        }
    }
}
