package io.ambientctl.redirect;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.NetNs;
import io.ambientctl.util.ExitCodeException;
import io.ambientctl.util.Faults;

/**
 * The node's redirection as a transaction, and nothing else: every changing operation takes the lock,
 * finishes an interrupted one (the journal), reads the state, acts on a batch through the current
 * mode's {@link Redirector}, and writes the state back; a failed operation rolls back what it did.
 * Targets are resolved into complete Workloads before the lock is taken, so every refusal comes before
 * the first change. Reading ({@link #status()}, {@link #recorded()}) takes no lock and changes nothing.
 */
public final class Node {
    /** Opens a mode's redirector; the kernel's by default, a fake one in tests of the transaction. */
    public interface Modes {
        Redirector open(RedirectMode mode, NodeConfig cfg, State state, AttachKind attachKind);

        Redirector reader(RedirectMode mode, NodeConfig cfg, State state);

        /** Every mode there is (to find leftovers of the others). */
        default List<RedirectMode> all() {
            return Redirectors.modes();
        }

        /** Whether a mode may have left objects on the node (cheap; see {@link Redirectors#traces}). */
        default boolean traces(NodeConfig cfg) {
            return Redirectors.traces(cfg);
        }

        /** Removes the policy routing in ztunnel's namespace ({@link ZtunnelRouting}, shared by every mode). */
        default void removeZtunnelRouting(NetNs ns) {
            ZtunnelRouting.remove(ns);
        }

        /** The workload's plumbing as it is now, or null when its namespace or veth is gone. */
        default Workload rediscover(NodeConfig cfg, Workload w) {
            NetNs ns = NetNs.parse(w.netns());
            try {
                return ns.exists() ? Discovery.fromNetns(ns, cfg.nodeNetns(), w.name(), w.namespace(), w.uid()) : null;
            } catch (RuntimeException e) {
                return null;
            }
        }
    }

    private static final Modes KERNEL = new Modes() {
        @Override
        public Redirector open(RedirectMode mode, NodeConfig cfg, State state, AttachKind attachKind) {
            return Redirectors.open(mode, cfg, state, attachKind);
        }

        @Override
        public Redirector reader(RedirectMode mode, NodeConfig cfg, State state) {
            return Redirectors.reader(mode, cfg, state);
        }
    };

    private final NodeConfig cfg;
    private final Duration lockWait;
    private final AttachKind attachKind;
    private final Modes modes;
    private Progress progress = Progress.NONE;

    public Node(NodeConfig cfg, Duration lockWait, AttachKind attachKind, Modes modes) {
        this.cfg = cfg;
        this.lockWait = lockWait;
        this.attachKind = attachKind;
        this.modes = modes;
    }

    public Node(NodeConfig cfg, Duration lockWait, AttachKind attachKind) {
        this(cfg, lockWait, attachKind, KERNEL);
    }

    public Node(NodeConfig cfg) {
        this(cfg, Duration.ZERO, null);
    }

    public NodeConfig config() {
        return cfg;
    }

    /** Reports the progress of the operations that loop over workloads to {@code listener}. */
    public Node progress(Progress listener) {
        this.progress = listener == null ? Progress.NONE : listener;
        return this;
    }

    /** What one target came to. {@code action}: enrolled, already-enrolled, re-enrolled, would-enroll, ... */
    public record Outcome(String target, String action, Workload workload) {
    }

    /**
     * What to enroll: a network namespace, and the identity of the workload in it (a Kubernetes Pod's
     * name, namespace and uid; for a bare namespace the name is the namespace's and the rest null), and
     * the addresses it must hold (a Pod's IPs as the API gives them; null: any), and its own DNS capture choice
     * ({@code false}: opted out, e.g. by the Pod annotation {@code ambient.istio.io/dns-capture: "false"}; null:
     * the node's).
     */
    public record Target(NetNs netns, String name, String namespace, String uid, List<String> expectIps,
                         Boolean dnsCapture) {
        public Target(NetNs netns, String name, String namespace, String uid, List<String> expectIps) {
            this(netns, name, namespace, uid, expectIps, null);
        }

        public Target(NetNs netns, String name, String namespace, String uid) {
            this(netns, name, namespace, uid, null, null);
        }

        public Target withDnsCapture(Boolean capture) {
            return new Target(netns, name, namespace, uid, expectIps, capture);
        }

        public static Target of(NetNs ns) {
            return new Target(ns, ns.display(), null, null, null, null);
        }

        /** The key the state knows the workload by (see {@link Workload#key()}). */
        public String key() {
            return namespace != null ? namespace + "/" + name : netns.display();
        }
    }

    @FunctionalInterface
    private interface Change<T> {
        T apply(State state, Redirector current);
    }

    /** Runs {@code body} under the lock with the journal naming {@code operation} (e.g. "enroll") while it runs. */
    private <T> T change(String operation, boolean dryRun, Change<T> body) {
        lastRecovery = List.of();
        lastUpgrade = List.of();
        long t0 = io.ambientctl.util.Trace.start();
        try (NodeState.Lock lock = NodeState.lock(cfg.stateDir(), lockWait)) {
            if (!dryRun) {
                // objects an older build installed are taken over first (journaled; in place, no gap)
                lastUpgrade = upgradeUnderLock();
            }
            if (!dryRun && NodeState.journal(cfg.stateDir()).isPresent()) {
                // an earlier operation was interrupted: bring the node back to its state file first
                String was = NodeState.journal(cfg.stateDir()).orElse("an operation");
                State state = NodeState.load(cfg.stateDir());
                try (Redirector current = modes.open(state.mode, cfg, state, attachKind)) {
                    List<String> did = new ArrayList<>();
                    did.add("finished the interrupted operation (" + was + ") by bringing the node back to its "
                            + "state file");
                    did.addAll(reconcile(state, current, false));
                    lastRecovery = did;
                    NodeState.save(cfg.stateDir(), state);
                    NodeState.endJournal(cfg.stateDir());
                }
            }
            State state = NodeState.load(cfg.stateDir());
            // a dry run reads only: no object loaded, no pin created
            try (Redirector current = dryRun ? modes.reader(state.mode, cfg, state)
                    : modes.open(state.mode, cfg, state, attachKind)) {
                io.ambientctl.util.Trace.since(t0, operation + ": lock, state loaded");
                if (!dryRun) {
                    NodeState.beginJournal(cfg.stateDir(), operation);
                }
                T result;
                try {
                    result = body.apply(state, current);
                } catch (RuntimeException e) {
                    // the operation rolled itself back; only a failed rollback leaves the journal for repair
                    if (!dryRun && e.getSuppressed().length == 0 && (e.getCause() == null
                            || e.getCause().getSuppressed().length == 0)) {
                        NodeState.endJournal(cfg.stateDir());
                    }
                    throw e;
                }
                if (!dryRun) {
                    long t = io.ambientctl.util.Trace.start();
                    state.layout = state.mode == RedirectMode.none ? 0 : State.LAYOUT; // what this build installs
                    Faults.step("save-state");
                    NodeState.save(cfg.stateDir(), state);
                    NodeState.endJournal(cfg.stateDir());
                    io.ambientctl.util.Trace.since(t, operation + ": state saved, journal ended");
                }
                return result;
            }
        }
    }

    private List<String> lastRecovery = List.of();
    private List<String> lastUpgrade = List.of();

    /** What the last changing call did to upgrade what an older build installed (empty: nothing to upgrade). */
    public List<String> lastUpgrade() {
        return lastUpgrade;
    }

    /** Whether the state records objects of an older layout than this build's (the next change upgrades them). */
    public static boolean needsUpgrade(State state) {
        return state.mode != RedirectMode.none && state.layout < State.LAYOUT;
    }

    /**
     * Under the lock: when the state records a mode installed by an older build (its layout), upgrades it in place
     * through the mode ({@link Redirector#upgrade}), journaled as "upgrade layout N -> M" (a journal already there,
     * of an interrupted operation, is kept: its recovery follows), and saves the state with the new layout and
     * "upgraded from". A failure leaves the node on the old layout (the mode rolls back) and is thrown; a kill leaves
     * the journal, and the next changing command upgrades again (the mode's upgrade is idempotent).
     */
    private List<String> upgradeUnderLock() {
        State state = NodeState.load(cfg.stateDir());
        if (!needsUpgrade(state)) {
            return List.of();
        }
        int from = state.layout;
        boolean ownJournal = NodeState.journal(cfg.stateDir()).isEmpty();
        if (ownJournal) {
            NodeState.beginJournal(cfg.stateDir(), "upgrade layout " + from + " -> " + State.LAYOUT);
        }
        List<String> did = new ArrayList<>();
        did.add("upgraded the " + state.mode + " mode in place from layout " + from + " (installed by an older "
                + "ambientctl) to layout " + State.LAYOUT);
        try (Redirector r = modes.open(state.mode, cfg, state, attachKind)) {
            did.addAll(r.upgrade(from));
        } catch (RuntimeException e) {
            if (ownJournal && e.getSuppressed().length == 0 && (e.getCause() == null
                    || e.getCause().getSuppressed().length == 0)) {
                NodeState.endJournal(cfg.stateDir()); // rolled back: the node is on the old layout, whole
            }
            throw e;
        }
        // the kernel is on the new layout: a failure from here on leaves the journal (the next command saves)
        state.layout = State.LAYOUT;
        state.upgradedFrom = from;
        Faults.step("save-state");
        NodeState.save(cfg.stateDir(), state);
        if (ownJournal) {
            NodeState.endJournal(cfg.stateDir());
        }
        return did;
    }

    /**
     * Upgrades what an older build installed, and nothing else (for a package's postinst and the agent's start):
     * idempotent; a node with nothing installed, or installed by this build, does nothing. Also finishes an
     * interrupted operation as every changing command does. Returns what it did (dry run: would do).
     */
    public List<String> upgrade(boolean dryRun) {
        if (dryRun) {
            State state = NodeState.load(cfg.stateDir());
            return needsUpgrade(state) ? List.of("would upgrade the " + state.mode + " mode in place from layout "
                    + state.layout + " to layout " + State.LAYOUT) : List.of();
        }
        if (!java.nio.file.Files.exists(cfg.stateDir().resolve(NodeState.FILE))) {
            return List.of(); // nothing recorded: nothing to upgrade, and no state file is written
        }
        if (!needsUpgrade(NodeState.load(cfg.stateDir())) && NodeState.journal(cfg.stateDir()).isEmpty()) {
            return List.of(); // this build's already: nothing is touched (checked again under the lock otherwise)
        }
        change("upgrade", false, (state, r) -> null);
        List<String> all = new ArrayList<>(lastUpgrade);
        all.addAll(lastRecovery);
        return all;
    }

    /** What the last changing call had to repair first (after an interrupted operation), or nothing. */
    public List<String> lastRecovery() {
        return lastRecovery;
    }

    /**
     * Reconciles the state file, the pinned objects, the attached programs, the chains and sets, and
     * the workloads that still exist: re-attaches what is missing, removes what belongs to vanished
     * workloads, removes what the state does not account for and leftovers of the other modes.
     * Returns what it did (with {@code dryRun}: would do), the recovery of an interrupted operation included.
     * Not rolled back: a failure keeps what it did (each step brings the node nearer its state file), the journal
     * is cleared, and running it again finishes.
     */
    public List<String> repair(boolean dryRun) {
        List<String> body = change("repair", dryRun, (state, r) -> {
            if (state.mode == RedirectMode.none && state.workloads.isEmpty() && state.ztunnel == null) {
                for (RedirectMode m : modes.all()) {
                    try (Redirector o = modes.reader(m, cfg, state)) {
                        if (!o.adoptable().workloads().isEmpty()) {
                            throw new IllegalStateException("the state file records nothing, but the " + m + " mode's "
                                    + "objects redirect " + o.adoptable().workloads().size() + " workload(s); repair "
                                    + "would take them out of the mesh. Run 'ambientctl repair --adopt' to rebuild the "
                                    + "state from the kernel and keep them, or 'ambientctl uninstall' to remove them");
                        }
                    }
                }
            }
            return reconcile(state, r, dryRun);
        });
        List<String> all = new ArrayList<>(lastUpgrade);
        all.addAll(lastRecovery);
        all.addAll(body);
        return all;
    }

    private Workload rediscover(Workload w) {
        return modes.rediscover(cfg, w);
    }

    private List<String> reconcile(State state, Redirector r, boolean dryRun) {
        List<String> done = new ArrayList<>();
        // ztunnel: gone, re-plumbed (restarted), or its side missing
        Ztunnel zt = state.ztunnel;
        if (zt != null) {
            Workload fresh = rediscover(zt.asWorkload());
            if (fresh == null) {
                done.add("ztunnel's namespace " + zt.netns() + " is gone: forgot ztunnel (enrolled traffic "
                        + (state.failOpen ? "passes" : "is dropped") + " until 'ztunnel set')");
                if (!dryRun) {
                    r.uninstallZtunnel(zt, state.options());
                    state.ztunnel = null;
                }
            } else if (!fresh.samePlumbing(zt.asWorkload()) || fresh.podIfindex() != zt.podIfindex()) {
                done.add("ztunnel was re-plumbed (veth " + zt.hostInterface() + " -> " + fresh.hostInterface() + " "
                        + fresh.hostIfindex() + "): reinstalled its side");
                if (!dryRun) {
                    Ztunnel nz = Ztunnel.of(fresh);
                    r.installZtunnel(nz, state.options());
                    state.ztunnel = nz;
                }
            } else if (state.mode != RedirectMode.none && !r.verifyNode().isEmpty()) {
                done.add("ztunnel's side was incomplete (" + String.join("; ", r.verifyNode()) + "): reinstalled");
                if (!dryRun) {
                    r.installZtunnel(zt, state.options());
                }
            }
        } else if (state.mode != RedirectMode.none && !r.verifyNode().isEmpty()) {
            done.add("the node's objects were incomplete (" + String.join("; ", r.verifyNode()) + "): reinstalled");
            if (!dryRun) {
                r.applyOptions(state.options());
            }
        }
        // workloads: vanished, re-plumbed, or not redirecting (one read of the kernel for all)
        List<Workload> gone = new ArrayList<>();
        List<Workload> replumbedOld = new ArrayList<>();
        List<Workload> replumbedNew = new ArrayList<>();
        List<Workload> same = new ArrayList<>();
        for (Workload w : new ArrayList<>(state.workloads)) {
            Workload fresh = rediscover(w);
            if (fresh == null) {
                done.add(w.key() + ": its namespace or veth is gone: unenrolled");
                gone.add(w);
            } else if (!fresh.samePlumbing(w)) {
                done.add(w.key() + ": re-plumbed (" + w.hostInterface() + " -> " + fresh.hostInterface()
                        + "): re-enrolled");
                replumbedOld.add(w);
                replumbedNew.add(fresh);
            } else {
                same.add(w);
            }
        }
        List<Verification> vs = r.verifyAll(same);
        List<Workload> broken = new ArrayList<>();
        for (int i = 0; i < same.size(); i++) {
            if (!vs.get(i).verified()) {
                done.add(same.get(i).key() + ": " + String.join("; ", vs.get(i).problems()) + ": re-enrolled");
                broken.add(same.get(i));
            }
        }
        if (!dryRun) {
            r.unenroll(gone);
            gone.forEach(w -> state.remove(w.key()));
            r.unenroll(replumbedOld);
            List<Workload> renewed = replumbedNew.stream().map(state::put).toList();
            List<Workload> again = new ArrayList<>(renewed);
            again.addAll(broken);
            r.enroll(again);
        }
        // what the state does not account for, and the other modes' leftovers (in every namespace we touch)
        done.addAll(r.reconcile(dryRun));
        for (RedirectMode other : modes.all()) {
            if (other == r.mode() && state.mode != RedirectMode.none) {
                continue;
            }
            try (Redirector o = dryRun ? modes.reader(other, cfg, state) : modes.open(other, cfg, state, attachKind)) {
                if (o.present()) {
                    done.add("removed leftovers of the " + other + " mode");
                    if (!dryRun) {
                        o.uninstall();
                    }
                }
            }
        }
        if (!dryRun && !done.isEmpty() && state.mode != RedirectMode.none) {
            r.refreshNodeAddresses();
        }
        return done;
    }

    /**
     * Rebuilds a lost (or moved) state file from the kernel, so that losing it costs no Pod its redirection:
     * the mode whose objects hold workloads says which addresses (eBPF: and veths and counter ids) are
     * enrolled; the namespaces holding them are found by their veth or addresses, and named by the namespace
     * (a Pod's name cannot come from the kernel: the agent re-attributes them). Then the mode is installed
     * again over what is there (the same hooks and entries: no gap), and what no namespace holds is removed.
     * Refused when the state file records anything. Returns what it did (with {@code dryRun}: would do).
     */
    public List<String> adopt(boolean dryRun) {
        return change("repair --adopt", dryRun, (state, r) -> {
            if (!state.workloads.isEmpty() || state.ztunnel != null) {
                throw new IllegalStateException("the state file records " + state.workloads.size() + " workload(s)"
                        + (state.ztunnel != null ? " and ztunnel" : "") + "; --adopt rebuilds a lost state file only "
                        + "(run 'ambientctl repair')");
            }
            RedirectMode mode = null;
            Redirector.Adoptable found = Redirector.Adoptable.NONE;
            for (RedirectMode m : modes.all()) {
                try (Redirector reader = modes.reader(m, cfg, state)) {
                    Redirector.Adoptable a = reader.adoptable();
                    if (a.workloads().size() > found.workloads().size() || (mode == null && !a.empty())) {
                        mode = m;
                        found = a;
                    }
                }
            }
            List<String> done = new ArrayList<>();
            if (mode == null) {
                done.add("nothing to adopt: no mode's objects hold a workload or ztunnel");
                return done;
            }
            List<Workload> spaces = Discovery.candidates(cfg.nodeNetns());
            Map<Integer, Workload> byVeth = new java.util.HashMap<>();
            Map<String, Workload> byIp = new java.util.HashMap<>();
            for (Workload w : spaces) {
                byVeth.put(w.hostIfindex(), w);
                w.ips().forEach(ip -> byIp.put(ip, w));
            }
            List<Workload> adopted = new ArrayList<>();
            Set<String> keys = new HashSet<>();
            int maxId = 0;
            for (Redirector.Found f : found.workloads()) {
                Workload w = f.hostIfindex() > 0 ? byVeth.get(f.hostIfindex())
                        : byIp.get(io.ambientctl.net.IpAddrs.format(f.ips().get(0)));
                String ips = f.ips().stream().map(io.ambientctl.net.IpAddrs::format).toList().toString();
                if (w == null) {
                    done.add(ips + ": no namespace holds it any more: left out (its entries are removed)");
                    continue;
                }
                if (!keys.add(w.key())) {
                    continue; // another address of a workload adopted already
                }
                int id = f.id(); // 0 where the mode does not know it (a new one is given below)
                maxId = Math.max(maxId, id);
                adopted.add(w.withId(id));
                done.add("adopted " + w.key() + " " + w.ips() + " on " + w.hostInterface() + " as enrolled in " + mode
                        + " mode");
            }
            Workload zt = null;
            for (Workload w : spaces) {
                if ((found.ztunnelHostIfindex() > 0 && w.hostIfindex() == found.ztunnelHostIfindex())
                        || (found.ztunnelHostInterface() != null && w.hostInterface().equals(found.ztunnelHostInterface()))) {
                    zt = w;
                }
            }
            if (zt != null) {
                done.add("adopted ztunnel in " + zt.key() + " (" + zt.hostInterface() + ")");
            }
            if (dryRun) {
                return done;
            }
            state.mode = mode;
            int next = maxId + 1;
            for (Workload w : adopted) {
                state.workloads.add(w.id() > 0 ? w : w.withId(next++));
            }
            state.nextId = Math.max(next, state.workloads.stream().mapToInt(Workload::id).max().orElse(0) + 1);
            state.ztunnel = zt == null ? null : Ztunnel.of(zt);
            try (Redirector m = modes.open(mode, cfg, state, attachKind)) {
                if (state.ztunnel != null) {
                    m.installZtunnel(state.ztunnel, state.options());
                } else {
                    m.applyOptions(state.options());
                }
                m.enroll(state.workloads); // over what is there: the same hooks and entries
                m.refreshNodeAddresses();
                done.addAll(m.reconcile(false));
            }
            return done;
        });
    }

    /** Enrolls the workloads in these network namespaces: all of them, or none on failure. */
    public List<Outcome> enroll(List<NetNs> targets, boolean dryRun) {
        return enroll(targets, null, dryRun);
    }

    /** As {@link #enroll(List, boolean)}; {@code dnsCapture} false: these workloads opt out of DNS capture. */
    public List<Outcome> enroll(List<NetNs> targets, Boolean dnsCapture, boolean dryRun) {
        return enrollTargets(targets.stream().map(t -> Target.of(t).withDnsCapture(dnsCapture)).toList(), dryRun);
    }

    /**
     * Turns targets into complete Workloads (their veth, addresses, MACs, namespace identity), several at
     * once; refuses (before anything changes) a missing namespace, the node's own, one without a veth to the
     * node, a Pod whose namespace lacks an IP the API gives it. Takes no lock.
     */
    public List<Workload> resolve(List<Target> targets) {
        io.ambientctl.util.Trace.mark("resolve: begins");
        // the node's interfaces, and the ids it gives the targets' namespaces (a veth's peer must be there), at once
        long t = io.ambientctl.util.Trace.start();
        List<String> files = targets.stream().map(x -> x.netns().path().toString()).toList();
        Object[] node = cfg.nodeNetns().call(() -> new Object[] {Links.hereWithoutAddresses(),
                Links.nsidsHere(files)});
        @SuppressWarnings("unchecked")
        List<Link> hostLinks = (List<Link>) node[0];
        @SuppressWarnings("unchecked")
        Map<String, Integer> nsids = (Map<String, Integer>) node[1];
        t = io.ambientctl.util.Trace.since(t, "resolve: the node's links and the namespaces' ids read");
        progress.update("discovering", 0, targets.size());
        List<Discovery.Request> requests = targets.stream().map(x -> new Discovery.Request(x.netns(),
                nsids.get(x.netns().path().toString()), x.name(), x.namespace(), x.uid())).toList();
        // each namespace is entered and read over rtnetlink, on a few reused threads
        List<Workload> found = new ArrayList<>(Discovery.fromNetnsAll(requests, cfg.nodeNetns(), hostLinks,
                Math.min(8, Math.max(2, Runtime.getRuntime().availableProcessors() * 2))));
        for (int i = 0; i < targets.size(); i++) {
            if (targets.get(i).dnsCapture() != null) {
                found.set(i, found.get(i).withDnsCapture(targets.get(i).dnsCapture()));
            }
        }
        io.ambientctl.util.Trace.since(t, "resolve: " + targets.size() + " namespaces discovered");
        for (int i = 0; i < targets.size(); i++) {
            Target x = targets.get(i);
            Workload w = found.get(i);
            if (x.expectIps() != null) {
                List<String> missing = x.expectIps().stream().filter(ip -> !w.ips().contains(ip)).toList();
                if (!missing.isEmpty()) {
                    throw new IllegalStateException("Pod " + x.key() + ": its namespace " + w.netns()
                            + " does not hold " + String.join(", ", missing) + " (it holds "
                            + String.join(", ", w.ips()) + "); check the CNI");
                }
            }
        }
        progress.update("discovering", targets.size(), targets.size());
        return found;
    }

    /** Enrolls these targets: all of them, or none on failure. */
    public List<Outcome> enrollTargets(List<Target> targets, boolean dryRun) {
        return enrollWorkloads(resolve(targets), dryRun);
    }

    /**
     * Enrolls resolved workloads (see {@link #resolve}) as one batch: all of them, or none on failure. A
     * namespace enrolled already under another name or path is "already-enrolled" as that workload.
     */
    public List<Outcome> enrollWorkloads(List<Workload> found, boolean dryRun) {
        return change("enroll", dryRun, (state, r) -> {
            for (Workload w : found) {
                if (state.ztunnel != null && (state.ztunnel.netns().equals(w.netns())
                        || w.sameNetns(state.ztunnel.asWorkload()))) {
                    throw new IllegalArgumentException("refusing to enroll " + w.netns() + ": it is ztunnel's");
                }
            }
            List<Outcome> out = new ArrayList<>();
            List<Workload> batch = new ArrayList<>();
            List<Workload> added = new ArrayList<>(); // not enrolled before this call: what a rollback removes
            List<Workload> replaced = new ArrayList<>();
            State before = state.copy();
            // one read of the kernel for the known ones with unchanged plumbing
            List<Workload> knownSame = found.stream().map(f -> known(state, f).filter(k -> k.samePlumbing(f)))
                    .flatMap(Optional::stream).toList();
            Set<String> verified = new HashSet<>();
            List<Verification> vs = r.verifyAll(knownSame);
            for (int i = 0; i < vs.size(); i++) {
                if (vs.get(i).verified()) {
                    verified.add(knownSame.get(i).key());
                }
            }
            Set<String> inBatch = new HashSet<>();
            for (Workload fresh : found) {
                Optional<Workload> known = known(state, fresh);
                if (known.isPresent() && !known.get().key().equals(fresh.key())) {
                    // the same namespace reached by another name or path, or a Pod of another name in it
                    out.add(new Outcome(fresh.key(), "already-enrolled", known.get())); // as known.get().key()
                    continue;
                }
                if (!inBatch.add(fresh.key())) {
                    continue; // named twice
                }
                if (known.isPresent() && known.get().samePlumbing(fresh) && verified.contains(fresh.key())) {
                    Workload kept = known.get();
                    if (!dryRun && (!Objects.equals(kept.uid(), fresh.uid())
                            || !Objects.equals(kept.netnsId(), fresh.netnsId()))) {
                        kept = state.put(fresh); // a new Pod of the same name in the same sandbox: its identity
                    }
                    out.add(new Outcome(fresh.key(), "already-enrolled", kept));
                    continue;
                }
                if (dryRun) {
                    out.add(new Outcome(fresh.key(), "would-" + (known.isPresent() ? "re-enroll" : "enroll"), fresh));
                    continue;
                }
                if (known.isPresent() && !known.get().samePlumbing(fresh)) {
                    replaced.add(known.get()); // the pod's plumbing changed (restarted): drop the old
                }
                Workload w = state.put(fresh);
                batch.add(w);
                if (known.isEmpty()) {
                    added.add(w);
                }
                out.add(new Outcome(w.key(), known.isPresent() ? "re-enrolled" : "enrolled", w));
            }
            if (dryRun || (batch.isEmpty() && replaced.isEmpty())) {
                return out;
            }
            progress.update("enrolling", 0, batch.size());
            try {
                r.unenroll(replaced);
                r.enroll(batch); // one batch: the mode applies it at once
                if (state.mode == RedirectMode.none) {
                    state.mode = r.mode();
                    r.applyOptions(state.options());
                }
                r.refreshNodeAddresses();
            } catch (RuntimeException e) {
                try {
                    r.unenroll(added);
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
                restore(state, before);
                throw e;
            }
            progress.update("enrolling", batch.size(), batch.size());
            return out;
        });
    }

    /** The enrolled workload of the same key, else the one in the same network namespace. */
    private static Optional<Workload> known(State state, Workload fresh) {
        Optional<Workload> byKey = state.workload(fresh.key());
        if (byKey.isPresent()) {
            return byKey;
        }
        return fresh.netnsId() == null ? Optional.empty()
                : state.workloads.stream().filter(w -> fresh.netnsId().equals(w.netnsId())).findFirst();
    }

    /**
     * Unenrolls by network namespace name or path (or every workload with {@code all}). A target
     * that exists but is not enrolled is a no-op; one that neither exists nor is enrolled is exit 4.
     */
    public List<Outcome> unenroll(List<NetNs> targets, boolean all, boolean dryRun) {
        return unenrollTargets(targets.stream().map(Target::of).toList(), all, dryRun);
    }

    /**
     * Unenrolls by key (see {@link Target#key()}), or every workload with {@code all}; a namespace given by
     * another name or path than it was enrolled under is found by its identity. A target that is not
     * enrolled is a no-op when its namespace exists (or it is a Pod: the caller checked it), and exit 4
     * otherwise.
     */
    public List<Outcome> unenrollTargets(List<Target> targets, boolean all, boolean dryRun) {
        // identities of netns targets not known by key, read before the lock
        Map<String, String> identities = new LinkedHashMap<>();
        State seen = NodeState.load(cfg.stateDir());
        for (Target t : targets) {
            if (t.namespace() == null && t.netns() != null && seen.workload(t.key()).isEmpty() && t.netns().exists()) {
                try {
                    identities.put(t.key(), t.netns().identity());
                } catch (RuntimeException e) {
                    // gone meanwhile: found by key or not at all
                }
            }
        }
        return change("unenroll", dryRun, (state, r) -> {
            List<Workload> chosen = new ArrayList<>();
            Set<String> chosenKeys = new HashSet<>();
            List<Outcome> out = new ArrayList<>();
            if (all) {
                chosen.addAll(state.workloads);
            } else {
                for (Target t : targets) {
                    Optional<Workload> w = state.workload(t.key());
                    String id = identities.get(t.key());
                    if (w.isEmpty() && id != null) {
                        w = state.workloads.stream().filter(x -> id.equals(x.netnsId())).findFirst();
                    }
                    if (w.isPresent()) {
                        if (chosenKeys.add(w.get().key())) {
                            chosen.add(w.get());
                        }
                    } else if (t.namespace() != null || (t.netns() != null && t.netns().exists())) {
                        out.add(new Outcome(t.key(), "not-enrolled", null));
                    } else {
                        throw ExitCodeException.notFound("network namespace " + t.key()
                                + " neither exists nor is enrolled");
                    }
                }
            }
            progress.update("unenrolling", 0, chosen.size());
            if (!dryRun) {
                r.unenroll(chosen);
                chosen.forEach(w -> state.remove(w.key()));
            }
            for (Workload w : chosen) {
                out.add(new Outcome(w.key(), dryRun ? "would-unenroll" : "unenrolled", w));
            }
            progress.update("unenrolling", chosen.size(), chosen.size());
            return out;
        });
    }

    /** Declares the node's ztunnel (in a network namespace) and installs its side. */
    public Ztunnel ztunnelSet(NetNs ns, Boolean dnsCapture, Boolean failOpen, boolean dryRun) {
        return ztunnelSet(Target.of(ns), dnsCapture, failOpen, dryRun);
    }

    /**
     * Declares the node's ztunnel and installs its side; {@code zt} carries ztunnel's network namespace
     * and, for ztunnel's Pod, the Pod's name and namespace (shown by status).
     */
    public Ztunnel ztunnelSet(Target where, Boolean dnsCapture, Boolean failOpen, boolean dryRun) {
        Workload w = Discovery.fromNetns(where.netns(), cfg.nodeNetns(), where.name(), where.namespace(), where.uid());
        return ztunnelSetWorkload(w, dnsCapture, failOpen, dryRun);
    }

    /** As {@link #ztunnelSet(Target, Boolean, Boolean, boolean)} with ztunnel's workload resolved already. */
    Ztunnel ztunnelSetWorkload(Workload w, Boolean dnsCapture, Boolean failOpen, boolean dryRun) {
        return change("ztunnel set", dryRun, (state, r) -> {
            if (state.workload(w.key()).isPresent() || state.workloads.stream().anyMatch(x -> x.sameNetns(w)
                    || x.netns().equals(w.netns()))) {
                throw new IllegalArgumentException(w.key() + " is an enrolled workload; unenroll it first");
            }
            Ztunnel zt = Ztunnel.of(w);
            if (dryRun) {
                return zt;
            }
            DatapathOptions before = state.options();
            if (dnsCapture != null) {
                state.dnsCapture = dnsCapture;
            }
            if (failOpen != null) {
                state.failOpen = failOpen;
            }
            Ztunnel old = state.ztunnel;
            r.installZtunnel(zt, state.options());
            if (old != null && !old.netns().equals(zt.netns())) {
                // the old ztunnel's side comes back when its routing cannot be removed: all or nothing
                removeZtunnelRouting("ztunnel set", old, () -> {
                    r.installZtunnel(old, before);
                    modes.removeZtunnelRouting(NetNs.parse(zt.netns()));
                });
            }
            state.ztunnel = zt;
            if (state.mode == RedirectMode.none) {
                state.mode = r.mode();
            }
            return zt;
        });
    }

    /** Forgets ztunnel: enrolled workloads then fail closed (or open, if chosen). */
    public Ztunnel ztunnelUnset(boolean dryRun) {
        return change("ztunnel unset", dryRun, (state, r) -> {
            Ztunnel old = state.ztunnel;
            if (!dryRun) {
                r.uninstallZtunnel(old, state.options());
                if (old != null) {
                    removeZtunnelRouting("ztunnel unset", old, () -> r.installZtunnel(old, state.options()));
                }
                state.ztunnel = null;
            }
            return old;
        });
    }

    /**
     * Removes the policy routing in {@code old}'s namespace; when that fails (and the namespace is still there: a gone
     * one took its routing along), {@code undo} puts ztunnel's side back (and takes the new one's routing away) and
     * the failure is thrown (a failed undo is suppressed in it: {@link #change} then leaves the journal for repair).
     */
    private void removeZtunnelRouting(String operation, Ztunnel old, Runnable undo) {
        NetNs ns = NetNs.parse(old.netns());
        try {
            modes.removeZtunnelRouting(ns);
        } catch (RuntimeException e) {
            if (!ns.exists()) {
                return; // gone meanwhile: so is its routing
            }
            IllegalStateException failed = new IllegalStateException(operation + " failed, ztunnel stays in "
                    + old.netns() + ": cannot remove the policy routing in its namespace (" + e.getMessage() + "); "
                    + "if that namespace is no longer a live network namespace, 'ambientctl repair' forgets it", e);
            try {
                undo.run();
            } catch (RuntimeException suppressed) {
                failed.addSuppressed(suppressed);
            }
            throw failed;
        }
    }

    /** The plan of a mode switch: what would be installed and removed. */
    public record Switch(RedirectMode from, RedirectMode to, List<String> workloads, String rules, boolean changed,
                         List<String> warnings) {
        public Switch(RedirectMode from, RedirectMode to, List<String> workloads, String rules, boolean changed) {
            this(from, to, workloads, rules, changed, List.of());
        }
    }

    /**
     * Switches every enrolled workload and ztunnel's side to {@code mode}, all or nothing: installs
     * the new mode for everyone, verifies it, then removes the old one. On any failure the new mode's
     * objects are removed again and the old mode, never touched, keeps working.
     */
    public Switch modeSet(RedirectMode mode, boolean dryRun) {
        return modeSet(mode, null, dryRun);
    }

    /**
     * As {@link #modeSet(RedirectMode, boolean)}, and with {@code markBit} non-null the node's mark bit becomes
     * that one bit (kept in the state for every mode): in the same mode its rules and routes are applied again
     * with the new bit (the old bit's go).
     */
    public Switch modeSet(RedirectMode mode, Integer markBit, boolean dryRun) {
        if (mode == RedirectMode.none) {
            throw new IllegalArgumentException("mode none is not a mode to switch to; use 'unenroll --all'");
        }
        if (markBit != null) {
            Marks.requireBit(markBit);
        }
        return change("mode set", dryRun, (state, old) -> {
            boolean bitChanged = markBit != null && state.options().markBit() != markBit;
            if (markBit != null && !dryRun) {
                state.markBit = markBit;
            }
            List<String> keys = state.workloads.stream().map(Workload::key).toList();
            String rules;
            try (Redirector planner = modes.reader(mode, cfg, state)) {
                rules = planner.plan(state.ztunnel, markBit == null ? state.options()
                        : state.options().withMarkBit(markBit));
            }
            if (state.mode == mode) {
                // same mode: make sure everything is in place (a no-op when it is; another attach kind re-hooks;
                // a new mark bit replaces the old one's rules and routes)
                if (!dryRun) {
                    install(old, state, progress);
                }
                return new Switch(state.mode, mode, keys, rules, bitChanged);
            }
            if (dryRun) {
                return new Switch(state.mode, mode, keys, rules, true);
            }
            RedirectMode from = state.mode;
            old.checkRemovable(); // before anything changes: the mode left must come off wholly
            try (Redirector next = modes.open(mode, cfg, state, attachKind)) {
                try {
                    install(next, state, progress);
                    List<String> problems = new ArrayList<>(next.verifyNode());
                    progress.update("verifying " + mode, 0, state.workloads.size());
                    List<Verification> vs = next.verifyAll(state.workloads); // one read of the kernel for all
                    for (int i = 0; i < vs.size(); i++) {
                        String key = state.workloads.get(i).key();
                        vs.get(i).problems().forEach(p -> problems.add(key + ": " + p));
                    }
                    progress.update("verifying " + mode, state.workloads.size(), state.workloads.size());
                    if (!problems.isEmpty()) {
                        throw new IllegalStateException("the " + mode + " mode did not verify: "
                                + String.join("; ", problems));
                    }
                } catch (RuntimeException e) {
                    try {
                        next.uninstall();
                    } catch (RuntimeException suppressed) {
                        e.addSuppressed(suppressed);
                    }
                    throw new IllegalStateException("switching to " + mode + " failed, the node stays in " + from
                            + " mode: " + e.getMessage(), e);
                }
                // the new mode is in place and verified: the switch is done, whatever removing the old one does
                state.mode = mode;
                List<String> warnings = new ArrayList<>();
                if (from != RedirectMode.none) {
                    progress.update("removing " + from, 0, 1);
                    try {
                        old.uninstall();
                    } catch (RuntimeException e) {
                        warnings.add("switched to " + mode + ", but removing the " + from + " mode's objects failed: "
                                + e.getMessage() + "; 'ambientctl repair' removes what is left");
                    }
                    progress.update("removing " + from, 1, 1);
                }
                return new Switch(from, mode, keys, rules, true, warnings);
            }
        });
    }

    private static void install(Redirector r, State state, Progress progress) {
        String phase = "installing " + r.mode();
        int total = state.workloads.size() + 1;
        progress.update(phase, 0, total);
        if (state.ztunnel != null) {
            r.installZtunnel(state.ztunnel, state.options());
        } else {
            r.applyOptions(state.options());
        }
        progress.update(phase, 1, total);
        r.enroll(state.workloads);
        progress.update(phase, total, total);
        r.refreshNodeAddresses();
    }

    /** The state as recorded (no lock, no kernel). */
    public State recorded() {
        return NodeState.load(cfg.stateDir());
    }

    /** One workload as the kernel has it. */
    public record WorkloadStatus(Workload workload, Verification verification, Counters counters) {
    }

    /**
     * {@code layout}: of the installed mode's objects (0: none installed); {@code upgradedFrom}: the layout the last
     * upgrade in place took the node from (null: never upgraded).
     */
    public record Status(RedirectMode mode, Ztunnel ztunnel, DatapathOptions options, List<WorkloadStatus> workloads,
                         List<String> nodeProblems, int layout, Integer upgradedFrom) {
        /** Everything recorded is in the kernel. */
        public boolean verified() {
            return nodeProblems.isEmpty() && workloads.stream().allMatch(w -> w.verification().verified());
        }
    }

    /** Mode, ztunnel and every workload with whether the kernel agrees (read-only: no lock, no new pin). */
    public Status status() {
        io.ambientctl.util.Trace.mark("status: begins");
        State state = NodeState.load(cfg.stateDir());
        io.ambientctl.util.Trace.mark("status: state loaded");
        List<WorkloadStatus> out = new ArrayList<>();
        List<String> nodeProblems = new ArrayList<>();
        NodeState.JournalStatus journal = NodeState.journalStatus(cfg.stateDir()); // in progress: not a problem
        if (journal.interrupted()) {
            nodeProblems.add("an operation was interrupted (" + journal.text()
                    + "); the next changing command, or 'ambientctl repair', finishes it");
        }
        if (needsUpgrade(state)) {
            nodeProblems.add("the " + state.mode + " mode's objects are of layout " + state.layout + " (installed by an "
                    + "older ambientctl); they keep redirecting, and the next changing command, or 'ambientctl repair "
                    + "--upgrade', upgrades them in place to layout " + State.LAYOUT);
        }
        // the other modes' leftovers are looked for meanwhile (their tools are processes and libraries: their
        // time overlaps the current mode's reading of the kernel)
        java.util.concurrent.CompletableFuture<List<String>> others = java.util.concurrent.CompletableFuture
                .supplyAsync(() -> {
                    long t0 = io.ambientctl.util.Trace.start();
                    List<String> found = otherModes(state);
                    io.ambientctl.util.Trace.since(t0, "status: other modes (on their thread)");
                    return found;
                });
        long t = io.ambientctl.util.Trace.start();
        if (state.mode != RedirectMode.none) {
            try (Redirector r = modes.reader(state.mode, cfg, state)) {
                nodeProblems.addAll(r.verifyNode());
                t = io.ambientctl.util.Trace.since(t, "status: verifyNode");
                List<Verification> vs = r.verifyAll(state.workloads);
                t = io.ambientctl.util.Trace.since(t, "status: verifyAll");
                Map<Integer, Counters> counters = r.counters(state.workloads);
                t = io.ambientctl.util.Trace.since(t, "status: counters");
                for (int i = 0; i < vs.size(); i++) {
                    Workload w = state.workloads.get(i);
                    out.add(new WorkloadStatus(w, vs.get(i), counters.getOrDefault(w.id(), Counters.ZERO)));
                }
                r.reconcile(true).forEach(x -> nodeProblems.add("not in the state file: " + x.replaceFirst(
                        "^(detach|delete|remove) ", "")));
                t = io.ambientctl.util.Trace.since(t, "status: reconcile (dry run)");
            }
        }
        try {
            nodeProblems.addAll(others.join());
        } catch (java.util.concurrent.CompletionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : e;
        }
        io.ambientctl.util.Trace.since(t, "status: other modes (waited for)");
        io.ambientctl.util.Trace.mark("status: ends");
        return new Status(state.mode, state.ztunnel, state.options(), out, nodeProblems, state.layout,
                state.upgradedFrom);
    }

    /** Leftovers of the modes the state is not in; with nothing recorded, what a lost state file left redirected. */
    private List<String> otherModes(State state) {
        List<String> problems = new ArrayList<>();
        // with nothing recorded, look further only where a mode left a trace (a fresh node stays cheap)
        if (state.mode == RedirectMode.none && !modes.traces(cfg)) {
            return problems;
        }
        for (RedirectMode other : modes.all()) {
            if (state.mode == RedirectMode.none) {
                try (Redirector o = modes.reader(other, cfg, state)) {
                    Redirector.Adoptable a = o.adoptable();
                    if (!a.empty()) {
                        problems.add("the state file records nothing, but the " + other + " mode's objects hold "
                                + a.workloads().size() + " workload(s)" + (a.ztunnelHostIfindex() > 0
                                || a.ztunnelHostInterface() != null ? " and ztunnel" : "") + " (a lost or moved state "
                                + "file?): 'ambientctl repair --adopt' rebuilds the state from them and keeps them "
                                + "redirected");
                    }
                }
            } else if (other != state.mode) {
                try (Redirector o = modes.reader(other, cfg, state)) {
                    if (o.present()) {
                        problems.add("leftovers of the " + other + " mode are on the node ('ambientctl repair' "
                                + "removes them)");
                    }
                }
            }
        }
        return problems;
    }

    /** The workload as the current mode has it in the kernel (read-only). */
    public Map<String, Object> describe(Workload w) {
        State state = NodeState.load(cfg.stateDir());
        try (Redirector r = modes.reader(state.mode, cfg, state)) {
            return r.describe(w);
        }
    }

    /** The current mode's tables (eBPF: pinned maps), decoded or raw (read-only). */
    public List<Redirector.Table> tables(String only, boolean raw) {
        State state = NodeState.load(cfg.stateDir());
        try (Redirector r = modes.reader(RedirectMode.ebpf, cfg, state)) {
            return r.tables(only, raw);
        }
    }

    /** The netfilter tables of {@code mode} in the node's and ztunnel's namespaces, decoded (read-only). */
    public List<RuleTable> ruleTables(RedirectMode mode) {
        State state = NodeState.load(cfg.stateDir());
        try (Redirector r = modes.reader(mode, cfg, state)) {
            return r.ruleTables();
        }
    }

    /**
     * A monitor of the node's datapath (monitor and explain: see io.ambientctl.observe). No lock, no journal:
     * the monitor lease is not node state. Closing the monitor closes the mode it read.
     */
    public io.ambientctl.observe.Monitor monitor(io.ambientctl.observe.MonitorOptions options) {
        State state = NodeState.load(cfg.stateDir());
        requireInstalled(state, "monitor");
        Redirector r = modes.reader(state.mode, cfg, state);
        try {
            io.ambientctl.observe.Monitor m = r.monitor(options);
            return new io.ambientctl.observe.Monitor() {
                @Override
                public int poll(int timeoutMs, java.util.function.Consumer<io.ambientctl.observe.Decision> sink) {
                    return m.poll(timeoutMs, sink);
                }

                @Override
                public Summary summary() {
                    return m.summary();
                }

                @Override
                public void close() {
                    try {
                        m.close();
                    } finally {
                        r.close();
                    }
                }
            };
        } catch (RuntimeException e) {
            r.close();
            throw e;
        }
    }

    /** Where a crafted packet goes on this node now, hook by hook (read-only: nothing counted, nothing pinned). */
    public io.ambientctl.observe.Explanation explain(io.ambientctl.observe.Probe probe) {
        State state = NodeState.load(cfg.stateDir());
        requireInstalled(state, "explain");
        try (Redirector r = modes.reader(state.mode, cfg, state)) {
            return r.explain(probe);
        }
    }

    private static void requireInstalled(State state, String verb) {
        if (state.mode == RedirectMode.none) {
            throw io.ambientctl.util.ExitCodeException.notFound("nothing is installed on this node (mode none): "
                    + "nothing to " + verb + "; 'ambientctl mode set ebpf' installs the redirection");
        }
    }

    /** The BPF programs ambientctl owns on this node, id to full name (read-only). */
    public Map<Integer, String> programs() {
        State state = NodeState.load(cfg.stateDir());
        Map<Integer, String> ids = new java.util.HashMap<>();
        for (RedirectMode m : modes.all()) {
            try (Redirector r = modes.reader(m, cfg, state)) {
                ids.putAll(r.programs());
            }
        }
        return ids;
    }

    private static void restore(State into, State from) {
        into.mode = from.mode;
        into.layout = from.layout;
        into.upgradedFrom = from.upgradedFrom;
        into.ztunnel = from.ztunnel;
        into.nextId = from.nextId;
        into.workloads = from.workloads;
        into.attachments = from.attachments;
    }
    // ---- uninstall: everything of ambientctl off the node ----

    /**
     * {@link #purge}, also when the state file or the pins were made by a newer ambientctl (which this one refuses to
     * read or load: a downgrade): then every mode's objects are removed as far as the state can be read loosely
     * ({@link NodeState#loadLoosely}: the hooks it records, the chains and tables by name, every pin under BPFFS of
     * any layout), ztunnel's routing, and the state file. Every enrolled Pod leaves the mesh.
     */
    public Purge purgeForce(boolean dryRun) {
        try {
            NodeState.load(cfg.stateDir());
            try (Redirector probe = modes.reader(RedirectMode.ebpf, cfg, new State())) {
                probe.verifyNode(); // refuses pins of a newer layout
            }
            return purge(dryRun);
        } catch (NodeState.Downgrade newer) {
            // written by a newer ambientctl: removed by what can be read of it, below
        }
        State loose = NodeState.loadLoosely(cfg.stateDir());
        List<String> removed = new ArrayList<>();
        try (NodeState.Lock lock = NodeState.lock(cfg.stateDir(), lockWait)) {
            for (RedirectMode m : modes.all()) {
                try (Redirector r = dryRun ? modes.reader(m, cfg, loose) : modes.open(m, cfg, loose, attachKind)) {
                    if (r.present()) {
                        removed.add(m + " mode's objects (written by a newer ambientctl)");
                        if (!dryRun) {
                            r.uninstall();
                        }
                    }
                } catch (io.ambientctl.util.Exec.ExecException e) {
                    removed.add(m + ": not checked (" + e.getMessage() + ")");
                }
            }
            if (loose.ztunnel != null) {
                removed.add("ztunnel's routing in " + loose.ztunnel.netns());
                if (!dryRun) {
                    NetNs ns = NetNs.parse(loose.ztunnel.netns());
                    if (ns.exists()) {
                        ZtunnelRouting.remove(ns);
                    }
                }
            }
            removeStateFiles(dryRun, removed);
        }
        return new Purge(List.of(), loose.ztunnel, removed);
    }

    /** The state file and the journal go last (with a dry run: are listed only). Call under the lock. */
    private void removeStateFiles(boolean dryRun, List<String> removed) {
        for (String f : List.of(NodeState.FILE, NodeState.JOURNAL)) {
            java.nio.file.Path p = cfg.stateDir().resolve(f);
            if (java.nio.file.Files.exists(p)) {
                removed.add(p.toString());
                if (!dryRun) {
                    try {
                        java.nio.file.Files.delete(p);
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException("cannot remove " + p + ": " + e.getMessage()
                                + " (remove it by hand)", e);
                    }
                }
            }
        }
    }

    /** What {@link #purge} did (with a dry run: would do): the workloads unenrolled, ztunnel forgotten, what went. */
    public record Purge(List<Outcome> unenrolled, Ztunnel ztunnel, List<String> removed) {
    }

    /**
     * Removes all of ambientctl's redirection from the node, built from the operations above: unenrolls every
     * workload, forgets ztunnel (its side and routing), then each mode's {@link Redirector#uninstall()} where
     * it has objects (programs, links, pins; chains, rules, sets), then the state file. Idempotent.
     */
    public Purge purge(boolean dryRun) {
        State before = recorded();
        // only what there is: a changing call on an empty node would write a state file again
        List<Outcome> unenrolled = before.workloads.isEmpty() ? List.of() : unenrollTargets(List.of(), true, dryRun);
        Ztunnel zt = before.ztunnel == null ? null : ztunnelUnset(dryRun);
        List<String> removed = new ArrayList<>();
        try (NodeState.Lock lock = NodeState.lock(cfg.stateDir(), lockWait)) {
            State state = NodeState.load(cfg.stateDir());
            for (RedirectMode m : modes.all()) {
                try (Redirector r = dryRun ? modes.reader(m, cfg, state) : modes.open(m, cfg, state, attachKind)) {
                    if (r.present()) {
                        removed.add(switch (m) {
                            case ebpf -> "eBPF programs, links and pins under " + cfg.bpffs();
                            case iptables -> "iptables chains and rules, ipsets, policy routes";
                            default -> m + " table (inet ambientctl), policy routes";
                        });
                        if (!dryRun) {
                            r.uninstall();
                        }
                    }
                } catch (io.ambientctl.util.Exec.ExecException e) {
                    // a mode whose tools are missing (no iptables or ipset installed) holds nothing to remove
                    removed.add(m + ": not checked (" + e.getMessage() + ")");
                }
            }
            removeStateFiles(dryRun, removed);
        }
        return new Purge(unenrolled, zt, removed);
    }
}
