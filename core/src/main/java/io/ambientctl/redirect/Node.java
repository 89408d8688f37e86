package io.ambientctl.redirect;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.ebpf.EbpfRedirector;
import io.ambientctl.redirect.iptables.IptablesRedirector;
import io.ambientctl.redirect.ebpf.Maps;
import io.ambientctl.util.ExitCodeException;
import io.ambientctl.util.Faults;

/**
 * The node's redirection, as commands change it: every changing operation takes the lock, reads
 * the state, acts through the current mode's {@link Redirector}, and writes the state back. A failed
 * operation rolls back what it did, so nothing is left half-done.
 */
public final class Node {
    private final NodeConfig cfg;
    private final Duration lockWait;
    private final AttachKind attachKind;
    private Progress progress = Progress.NONE;

    public Node(NodeConfig cfg, Duration lockWait, AttachKind attachKind) {
        this.cfg = cfg;
        this.lockWait = lockWait;
        this.attachKind = attachKind;
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
     * name, namespace and uid; for a bare namespace the name is the namespace's and the rest null).
     */
    public record Target(NetNs netns, String name, String namespace, String uid) {
        public static Target of(NetNs ns) {
            return new Target(ns, ns.display(), null, null);
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

    /** The redirector of {@code mode} (eBPF for "none": the default mode). */
    public Redirector redirector(RedirectMode mode, State state) {
        return mode == RedirectMode.iptables ? new IptablesRedirector(cfg, state)
                : new EbpfRedirector(cfg, state, attachKind);
    }

    /** Runs {@code body} under the lock with the journal naming {@code operation} (e.g. "enroll") while it runs. */
    private <T> T change(String operation, boolean dryRun, Change<T> body) {
        try (NodeState.Lock lock = NodeState.lock(cfg.stateDir(), lockWait)) {
            if (!dryRun && NodeState.journal(cfg.stateDir()).isPresent()) {
                // an earlier operation was interrupted: bring the node back to its state file first
                State state = NodeState.load(cfg.stateDir());
                try (Redirector current = redirector(state.mode, state)) {
                    lastRecovery = reconcile(state, current, false);
                    NodeState.save(cfg.stateDir(), state);
                    NodeState.endJournal(cfg.stateDir());
                }
            }
            State state = NodeState.load(cfg.stateDir());
            try (Redirector current = redirector(state.mode, state)) {
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
                    Faults.step("save-state");
                    NodeState.save(cfg.stateDir(), state);
                    NodeState.endJournal(cfg.stateDir());
                }
                return result;
            }
        }
    }

    private List<String> lastRecovery = List.of();

    /** What the last changing call had to repair first (after an interrupted operation), or nothing. */
    public List<String> lastRecovery() {
        return lastRecovery;
    }

    /**
     * Reconciles the state file, the pinned objects, the attached programs, the chains and sets, and
     * the workloads that still exist: re-attaches what is missing, removes what belongs to vanished
     * workloads, removes what the state does not account for and leftovers of the other mode.
     * Returns what it did (with {@code dryRun}: would do).
     */
    public List<String> repair(boolean dryRun) {
        return change("repair", dryRun, (state, r) -> reconcile(state, r, dryRun));
    }

    private List<String> reconcile(State state, Redirector r, boolean dryRun) {
        List<String> done = new ArrayList<>();
        // ztunnel: gone, re-plumbed (restarted), or its side missing
        Ztunnel zt = state.ztunnel;
        if (zt != null) {
            NetNs ns = NetNs.parse(zt.netns());
            Workload fresh = null;
            try {
                fresh = ns.exists() ? Discovery.fromNetns(ns, cfg.nodeNetns(), zt.name(), zt.namespace(), null) : null;
            } catch (RuntimeException e) {
                fresh = null;
            }
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
        // workloads: vanished, re-plumbed, or not redirecting
        for (Workload w : new ArrayList<>(state.workloads)) {
            Workload fresh = null;
            NetNs ns = NetNs.parse(w.netns());
            try {
                fresh = ns.exists() ? Discovery.fromNetns(ns, cfg.nodeNetns(), w.name(), w.namespace(), w.uid()) : null;
            } catch (RuntimeException e) {
                fresh = null;
            }
            if (fresh == null) {
                done.add(w.key() + ": its namespace or veth is gone: unenrolled");
                if (!dryRun) {
                    r.unenroll(w);
                    state.remove(w.key());
                }
            } else if (!fresh.samePlumbing(w)) {
                done.add(w.key() + ": re-plumbed (" + w.hostInterface() + " -> " + fresh.hostInterface() + "): re-enrolled");
                if (!dryRun) {
                    r.unenroll(w);
                    Workload nw = state.put(fresh);
                    r.enroll(nw);
                }
            } else {
                Verification v = r.verify(w);
                if (!v.verified()) {
                    done.add(w.key() + ": " + String.join("; ", v.problems()) + ": re-enrolled");
                    if (!dryRun) {
                        r.enroll(w);
                    }
                }
            }
        }
        // what the state does not account for, and the other mode's leftovers
        done.addAll(r.reconcile(dryRun));
        for (RedirectMode other : List.of(RedirectMode.ebpf, RedirectMode.iptables)) {
            if (other == r.mode() && state.mode != RedirectMode.none) {
                continue;
            }
            try (Redirector o = redirector(other, state)) {
                if (o.present()) {
                    done.add("removed leftovers of the " + other + " mode");
                    if (!dryRun) {
                        o.uninstall();
                    }
                }
            }
        }
        if (!dryRun && !done.isEmpty()) {
            r.refreshNodeAddresses();
        }
        return done;
    }

    /** Enrolls the workloads in these network namespaces: all of them, or none on failure. */
    public List<Outcome> enroll(List<NetNs> targets, boolean dryRun) {
        return enrollTargets(targets.stream().map(Target::of).toList(), dryRun);
    }

    /** Enrolls these targets: all of them, or none on failure. */
    public List<Outcome> enrollTargets(List<Target> targets, boolean dryRun) {
        return change("enroll", dryRun, (state, r) -> {
            // discover every target first: a missing one fails the call before anything changes
            List<Workload> found = new ArrayList<>();
            List<io.ambientctl.net.Link> hostLinks = io.ambientctl.net.Links.in(cfg.nodeNetns());
            progress.update("discovering", 0, targets.size());
            // each discovery reads a namespace through iproute2: several at once
            java.util.concurrent.atomic.AtomicInteger seen = new java.util.concurrent.atomic.AtomicInteger();
            java.util.function.Function<Target, Workload> discover = t -> {
                Workload w = Discovery.fromNetns(t.netns(), cfg.nodeNetns(), hostLinks, t.name(), t.namespace(),
                        t.uid());
                progress.update("discovering", seen.incrementAndGet(), targets.size());
                return w;
            };
            if (targets.size() > 4) {
                java.util.concurrent.ForkJoinPool pool = new java.util.concurrent.ForkJoinPool(8);
                try {
                    found.addAll(pool.submit(() -> targets.parallelStream().map(discover).toList()).join());
                } catch (RuntimeException e) {
                    throw e.getCause() instanceof RuntimeException re ? re : e;
                } finally {
                    pool.shutdown();
                }
            } else {
                targets.forEach(t -> found.add(discover.apply(t)));
            }
            for (Workload w : found) {
                if (state.ztunnel != null && state.ztunnel.netns().equals(w.netns())) {
                    throw new IllegalArgumentException("refusing to enroll " + w.netns() + ": it is ztunnel's");
                }
            }
            List<Outcome> out = new ArrayList<>();
            List<Workload> done = new ArrayList<>();
            State before = copy(state);
            try {
                List<Workload> knownSame = found.stream().map(f -> state.workload(f.key()).filter(k -> k.samePlumbing(f)))
                        .flatMap(Optional::stream).toList();
                java.util.Set<String> verified = new java.util.HashSet<>();
                if (!dryRun) {
                    List<Verification> vs = r.verifyAll(knownSame); // one read of the kernel for all of them
                    for (int i = 0; i < vs.size(); i++) {
                        if (vs.get(i).verified()) {
                            verified.add(knownSame.get(i).key());
                        }
                    }
                }
                int step = 0;
                progress.update(dryRun ? "planning" : "enrolling", 0, found.size());
                for (Workload fresh : found) {
                    progress.update(dryRun ? "planning" : "enrolling", step++, found.size());
                    Optional<Workload> known = state.workload(fresh.key());
                    String action;
                    if (known.isPresent() && known.get().samePlumbing(fresh) && verified.contains(fresh.key())) {
                        Workload kept = known.get();
                        if (!java.util.Objects.equals(kept.uid(), fresh.uid())) {
                            kept = state.put(fresh); // a new Pod of the same name in the same sandbox: its identity
                        }
                        out.add(new Outcome(fresh.key(), "already-enrolled", kept));
                        continue;
                    }
                    action = known.isPresent() ? "re-enrolled" : "enrolled";
                    if (dryRun) {
                        out.add(new Outcome(fresh.key(), "would-" + (known.isPresent() ? "re-enroll" : "enroll"),
                                fresh));
                        continue;
                    }
                    if (known.isPresent() && !known.get().samePlumbing(fresh)) {
                        r.unenroll(known.get()); // the pod's plumbing changed (restarted): drop the old
                    }
                    Workload w = state.put(fresh);
                    done.add(w);
                    out.add(new Outcome(w.key(), action, w));
                }
                r.enrollAll(done); // one batch: a mode may apply it at once
                progress.update(dryRun ? "planning" : "enrolling", found.size(), found.size());
                if (!dryRun && !done.isEmpty()) {
                    r.refreshNodeAddresses();
                    if (state.mode == RedirectMode.none) {
                        state.mode = r.mode();
                        r.applyOptions(state.options());
                    }
                }
            } catch (RuntimeException e) {
                for (Workload w : done) {
                    try {
                        r.unenroll(w);
                    } catch (RuntimeException suppressed) {
                        e.addSuppressed(suppressed);
                    }
                }
                restore(state, before);
                throw e;
            }
            return out;
        });
    }

    /**
     * Unenrolls by network namespace name or path (or every workload with {@code all}). A target
     * that exists but is not enrolled is a no-op; one that neither exists nor is enrolled is exit 4.
     */
    public List<Outcome> unenroll(List<NetNs> targets, boolean all, boolean dryRun) {
        return unenrollTargets(targets.stream().map(Target::of).toList(), all, dryRun);
    }

    /**
     * Unenrolls by key (see {@link Target#key()}), or every workload with {@code all}. A target that
     * is not enrolled is a no-op when its namespace exists (or it is a Pod: the caller checked it),
     * and exit 4 otherwise.
     */
    public List<Outcome> unenrollTargets(List<Target> targets, boolean all, boolean dryRun) {
        return change("unenroll", dryRun, (state, r) -> {
            List<Workload> chosen = new ArrayList<>();
            List<Outcome> out = new ArrayList<>();
            if (all) {
                chosen.addAll(state.workloads);
            } else {
                for (Target t : targets) {
                    Optional<Workload> w = state.workload(t.key());
                    if (w.isPresent()) {
                        chosen.add(w.get());
                    } else if (t.namespace() != null || (t.netns() != null && t.netns().exists())) {
                        out.add(new Outcome(t.key(), "not-enrolled", null));
                    } else {
                        throw ExitCodeException.notFound("network namespace " + t.key()
                                + " neither exists nor is enrolled");
                    }
                }
            }
            int step = 0;
            progress.update("unenrolling", 0, chosen.size());
            if (!dryRun) {
                r.unenrollAll(chosen);
                chosen.forEach(w -> state.remove(w.key()));
            }
            for (Workload w : chosen) {
                out.add(new Outcome(w.key(), dryRun ? "would-unenroll" : "unenrolled", w));
                progress.update("unenrolling", ++step, chosen.size());
            }
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
        NetNs ns = where.netns();
        return change("ztunnel set", dryRun, (state, r) -> {
            Workload w = Discovery.fromNetns(ns, cfg.nodeNetns(), where.name(), where.namespace(), where.uid());
            if (state.workload(w.key()).isPresent()
                    || state.workloads.stream().anyMatch(x -> x.netns().equals(w.netns()))) {
                throw new IllegalArgumentException(where.key() + " is an enrolled workload; unenroll it first");
            }
            Ztunnel zt = Ztunnel.of(w);
            if (dryRun) {
                return zt;
            }
            if (dnsCapture != null) {
                state.dnsCapture = dnsCapture;
            }
            if (failOpen != null) {
                state.failOpen = failOpen;
            }
            Ztunnel old = state.ztunnel;
            r.installZtunnel(zt, state.options());
            if (old != null && !old.netns().equals(zt.netns())) {
                ZtunnelRouting.remove(NetNs.parse(old.netns()));
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
                    ZtunnelRouting.remove(NetNs.parse(old.netns()));
                }
                state.ztunnel = null;
            }
            return old;
        });
    }

    /** The plan of a mode switch: what would be installed and removed. */
    public record Switch(RedirectMode from, RedirectMode to, List<String> workloads, String rules, boolean changed) {
    }

    /**
     * Switches every enrolled workload and ztunnel's side to {@code mode}, all or nothing: installs
     * the new mode for everyone, verifies it, then removes the old one. On any failure the new mode's
     * objects are removed again and the old mode, never touched, keeps working.
     */
    public Switch modeSet(RedirectMode mode, boolean dryRun) {
        if (mode == RedirectMode.none) {
            throw new IllegalArgumentException("mode none is not a mode to switch to; use 'unenroll --all'");
        }
        return change("mode set", dryRun, (state, old) -> {
            List<String> keys = state.workloads.stream().map(Workload::key).toList();
            String rules = null;
            if (mode == RedirectMode.iptables) {
                try (IptablesRedirector ipt = new IptablesRedirector(cfg, state)) {
                    rules = ipt.plan(state.ztunnel, state.options());
                }
            }
            if (state.mode == mode) {
                // same mode: make sure everything is in place (a no-op when it is)
                if (!dryRun) {
                    install(old, state, progress);
                }
                return new Switch(state.mode, mode, keys, rules, false);
            }
            if (dryRun) {
                return new Switch(state.mode, mode, keys, rules, true);
            }
            RedirectMode from = state.mode;
            try (Redirector next = redirector(mode, state)) {
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
                if (from != RedirectMode.none) {
                    progress.update("removing " + from, 0, 1);
                    old.uninstall();
                    progress.update("removing " + from, 1, 1);
                }
                state.mode = mode;
            }
            return new Switch(from, mode, keys, rules, true);
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
        r.enrollAll(state.workloads);
        progress.update(phase, total, total);
        r.refreshNodeAddresses();
    }

    /** The state as recorded (no lock, no kernel). */
    public State recorded() {
        return NodeState.load(cfg.stateDir());
    }

    /** One workload as the kernel has it. */
    public record WorkloadStatus(Workload workload, Verification verification, Maps.Counters counters) {
    }

    public record Status(RedirectMode mode, Ztunnel ztunnel, DatapathOptions options, List<WorkloadStatus> workloads,
                         List<String> nodeProblems) {
        /** Everything recorded is in the kernel. */
        public boolean verified() {
            return nodeProblems.isEmpty() && workloads.stream().allMatch(w -> w.verification().verified());
        }
    }

    /** Mode, ztunnel and every workload with whether the kernel agrees (read-only; no lock). */
    public Status status() {
        State state = NodeState.load(cfg.stateDir());
        List<WorkloadStatus> out = new ArrayList<>();
        List<String> nodeProblems = new ArrayList<>();
        NodeState.journal(cfg.stateDir()).ifPresent(j -> nodeProblems.add("an operation was interrupted (" + j
                + "); the next changing command, or 'ambientctl repair', finishes it"));
        if (state.mode != RedirectMode.none) {
            try (Redirector r = redirector(state.mode, state)) {
                nodeProblems.addAll(r.verifyNode());
                List<Verification> vs = r.verifyAll(state.workloads);
                for (int i = 0; i < vs.size(); i++) {
                    Workload w = state.workloads.get(i);
                    out.add(new WorkloadStatus(w, vs.get(i), r.counters(w)));
                }
                r.reconcile(true).forEach(x -> nodeProblems.add("not in the state file: " + x.replaceFirst(
                        "^(detach|delete|remove) ", "")));
            }
        }
        // (with nothing recorded, status stays cheap: 'repair' finds leftovers of an earlier installation)
        for (RedirectMode other : List.of(RedirectMode.ebpf, RedirectMode.iptables)) {
            if (other == state.mode || state.mode == RedirectMode.none) {
                continue;
            }
            try (Redirector o = redirector(other, state)) {
                if (o.present()) {
                    nodeProblems.add("leftovers of the " + other + " mode are on the node ('ambientctl repair' "
                            + "removes them)");
                }
            }
        }
        return new Status(state.mode, state.ztunnel, state.options(), out, nodeProblems);
    }

    private static State copy(State s) {
        State c = new State();
        c.mode = s.mode;
        c.ztunnel = s.ztunnel;
        c.dnsCapture = s.dnsCapture;
        c.failOpen = s.failOpen;
        c.nextId = s.nextId;
        c.workloads = new ArrayList<>(s.workloads);
        Map<String, List<Hook>> a = new LinkedHashMap<>();
        s.attachments.forEach((k, v) -> a.put(k, new ArrayList<>(v)));
        c.attachments = a;
        return c;
    }

    private static void restore(State into, State from) {
        into.mode = from.mode;
        into.ztunnel = from.ztunnel;
        into.nextId = from.nextId;
        into.workloads = from.workloads;
        into.attachments = from.attachments;
    }
    // ---- uninstall: everything of ambientctl off the node ----

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
            for (RedirectMode m : List.of(RedirectMode.ebpf, RedirectMode.iptables)) {
                try (Redirector r = redirector(m, state)) {
                    if (r.present()) {
                        removed.add(m == RedirectMode.ebpf ? "eBPF programs, links and pins under " + cfg.bpffs()
                                : "iptables chains and rules, ipsets, policy routes");
                        if (!dryRun) {
                            r.uninstall();
                        }
                    }
                } catch (io.ambientctl.util.Exec.ExecException e) {
                    // a mode whose tools are missing (no iptables or ipset installed) holds nothing to remove
                    removed.add(m + ": not checked (" + e.getMessage() + ")");
                }
            }
            for (String f : List.of(NodeState.FILE, NodeState.JOURNAL)) {
                java.nio.file.Path p = cfg.stateDir().resolve(f);
                if (java.nio.file.Files.exists(p)) {
                    removed.add(p.toString());
                    if (!dryRun) {
                        try {
                            java.nio.file.Files.delete(p);
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException("cannot remove " + p, e);
                        }
                    }
                }
            }
        }
        return new Purge(unenrolled, zt, removed);
    }
}
