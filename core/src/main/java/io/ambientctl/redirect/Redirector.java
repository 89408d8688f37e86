package io.ambientctl.redirect;

import java.net.InetAddress;
import java.util.List;
import java.util.Map;

/**
 * One redirection mode, behind a narrow mode-neutral interface that works on batches. Each mode owns
 * all of its kernel bookkeeping (pins, attach kinds, sets, chains, routes); nothing outside the mode
 * reaches into it. Every changing operation is idempotent and leaves nothing half-done when it fails.
 * Switching mode is: install the new one for every workload, verify, remove the old one. The policy
 * routing inside ztunnel's namespace ({@link ZtunnelRouting}) is shared by every mode and is not
 * removed by {@link #uninstall()}.
 * <p>
 * A redirector opened for reading ({@link Redirectors#reader}) only reads: it loads nothing through
 * the verifier and creates no pin; its changing methods throw.
 */
public interface Redirector extends AutoCloseable {
    RedirectMode mode();

    /** Installs ztunnel's side (and the datapath options: DNS capture, fail-open). */
    void installZtunnel(Ztunnel zt, DatapathOptions options);

    /** Removes ztunnel's side; enrolled workloads then fail closed (or open, if chosen). */
    void uninstallZtunnel(Ztunnel zt, DatapathOptions options);

    /** Applies the options without a ztunnel (before one is set). */
    void applyOptions(DatapathOptions options);

    /**
     * Installs the redirection of every workload of the batch (re-installs it where it is partly there);
     * on failure none of the batch is left enrolled by this call.
     */
    void enroll(List<Workload> batch);

    /** Removes the redirection of every workload of the batch; what is already gone is fine. */
    void unenroll(List<Workload> batch);

    /** Verifies many with one read of the kernel for all of them; in the order given. */
    List<Verification> verifyAll(List<Workload> ws);

    /** Problems of the mode's node-wide objects (ztunnel side, chains, routing): empty when all is in place. */
    List<String> verifyNode();

    /** The node's own addresses bypass the mesh; re-read them where the mode keeps a copy. */
    default void refreshNodeAddresses() {
    }

    /** What the mode counted for each workload (by workload id), where it counts (else empty). */
    default Map<Integer, Counters> counters(List<Workload> ws) {
        return Map.of();
    }

    /**
     * Kernel objects of this mode that the state does not account for (a workload's entries or hooks
     * after an interrupted operation, for instance); removes them unless {@code dryRun}. Returns what
     * it found / did, one line each.
     */
    List<String> reconcile(boolean dryRun);

    /** Whether any object of this mode is on the node (to find leftovers of another mode). */
    boolean present();

    /**
     * Whether this mode's objects that use the node's policy routing ({@link NodeRouting}, which the netfilter
     * modes share) are in the node's namespace: the other netfilter mode removes the routing only when not.
     */
    default boolean holdsNodeRouting() {
        return false;
    }

    /** Removes everything of this mode from the node (but the shared ztunnel routing). */
    void uninstall();

    /**
     * Refuses (throws) when {@link #uninstall()} could not remove this mode wholly, before anything changes (a
     * mode switch checks the mode it leaves): e.g. a state that names objects outside the mode's own.
     */
    default void checkRemovable() {
    }

    /**
     * Takes over in place what an older build of this mode installed ({@code fromLayout}: the layout the state
     * records) and brings it to this build's layout, every workload redirected at every instant; idempotent (a run
     * interrupted at any step is finished by running it again). Returns what it did, one line each.
     */
    default List<String> upgrade(int fromLayout) {
        return List.of();
    }

    /** What installing this mode on the node would apply, for {@code --dry-run} (null when nothing textual). */
    default String plan(Ztunnel zt, DatapathOptions options) {
        return null;
    }

    /** One workload as this mode has it in the kernel (entries, rules, hooks), decoded for people. */
    Map<String, Object> describe(Workload w);

    /** The mode's tables (eBPF: the pinned maps; iptables: sets), decoded (or raw), or only the one named. */
    default List<Table> tables(String only, boolean raw) {
        return List.of();
    }

    /** The mode's netfilter tables in the node's and ztunnel's namespaces, decoded (nftables mode). */
    default List<RuleTable> ruleTables() {
        return List.of();
    }

    /** The BPF programs this mode owns, id to full name (to tell its programs from other owners' on a hook). */
    default Map<Integer, String> programs() {
        return Map.of();
    }

    /**
     * Benchmarks only: enters {@code extra} addresses as if enrolled (no hooks), to measure a large
     * table's per-packet cost; {@code clear} removes the ones entered before.
     */
    default void benchFill(List<InetAddress> extra, boolean clear) {
        throw new UnsupportedOperationException(mode() + " mode has no bench fill");
    }

    /**
     * What this mode's kernel objects say is enrolled, read without a state (to rebuild a lost state file):
     * per workload its addresses and, where the mode knows them, its host veth, MAC and counter id; and
     * ztunnel's host veth. Empty when nothing of the mode holds a workload.
     */
    default Adoptable adoptable() {
        return Adoptable.NONE;
    }

    /** A workload as a mode's kernel objects have it: {@code hostIfindex} 0 and {@code id} 0 where unknown. */
    record Found(int id, int hostIfindex, List<InetAddress> ips) {
    }

    /** See {@link #adoptable()}; {@code ztunnelHostIfindex} 0 and {@code ztunnelHostInterface} null: none found. */
    record Adoptable(List<Found> workloads, int ztunnelHostIfindex, String ztunnelHostInterface) {
        public static final Adoptable NONE = new Adoptable(List.of(), 0, null);

        public boolean empty() {
            return workloads.isEmpty() && ztunnelHostIfindex == 0 && ztunnelHostInterface == null;
        }
    }

    /** A decoded table of a mode: a pinned map, or a set. */
    record Table(String name, String type, int maxEntries, int count, List<Map<String, Object>> entries) {
    }

    /**
     * Starts monitoring this mode's decisions: no lock, no journal. eBPF: it holds the monitor lease while polled
     * (a reader may do this: the lease is not node state); iptables, nftables: it binds the log rules' NFLOG
     * group in the node's and ztunnel's namespaces.
     */
    default io.ambientctl.observe.Monitor monitor(io.ambientctl.observe.MonitorOptions options) {
        throw new UnsupportedOperationException("'monitor' is not available in " + mode() + " mode: see what a "
                + "workload has with 'ambientctl inspect pod --netns NAME' and 'ambientctl status'");
    }

    /** Where one crafted packet goes, hook by hook, as the node's mode decides now; changes nothing. */
    default io.ambientctl.observe.Explanation explain(io.ambientctl.observe.Probe probe) {
        throw new UnsupportedOperationException("'explain' is not available in " + mode() + " mode: see what a "
                + "workload has with 'ambientctl inspect pod --netns NAME' and 'ambientctl status'");
    }

    @Override
    void close();
}
