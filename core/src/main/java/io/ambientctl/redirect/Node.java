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

/**
 * The node's redirection, as commands change it: every changing operation takes the lock, reads
 * the state, acts through the current mode's {@link Redirector}, and writes the state back. A failed
 * operation rolls back what it did, so nothing is left half-done.
 */
public final class Node {
    private final NodeConfig cfg;
    private final Duration lockWait;
    private final AttachKind attachKind;

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

    private <T> T change(boolean dryRun, Change<T> body) {
        try (NodeState.Lock lock = NodeState.lock(cfg.stateDir(), lockWait)) {
            State state = NodeState.load(cfg.stateDir());
            try (Redirector current = redirector(state.mode, state)) {
                T result = body.apply(state, current);
                if (!dryRun) {
                    NodeState.save(cfg.stateDir(), state);
                }
                return result;
            }
        }
    }

    /** Enrolls the workloads in these network namespaces: all of them, or none on failure. */
    public List<Outcome> enroll(List<NetNs> targets, boolean dryRun) {
        return enrollTargets(targets.stream().map(Target::of).toList(), dryRun);
    }

    /** Enrolls these targets: all of them, or none on failure. */
    public List<Outcome> enrollTargets(List<Target> targets, boolean dryRun) {
        return change(dryRun, (state, r) -> {
            // discover every target first: a missing one fails the call before anything changes
            List<Workload> found = new ArrayList<>();
            List<Link> hostLinks = targets.size() > 1 ? Links.in(cfg.nodeNetns())
                    : null; // one listing of the node's veths for a batch
            for (Target t : targets) {
                NetNs ns = t.netns();
                Workload w = Discovery.fromNetns(ns, cfg.nodeNetns(), hostLinks, t.name(), t.namespace(), t.uid());
                if (state.ztunnel != null && state.ztunnel.netns().equals(w.netns())) {
                    throw new IllegalArgumentException("refusing to enroll " + ns.display() + ": it is ztunnel's");
                }
                found.add(w);
            }
            List<Outcome> out = new ArrayList<>();
            List<Workload> done = new ArrayList<>();
            State before = copy(state);
            try {
                for (Workload fresh : found) {
                    Optional<Workload> known = state.workload(fresh.key());
                    String action;
                    if (known.isPresent() && known.get().samePlumbing(fresh)
                            && !dryRun && r.verify(known.get()).verified()) {
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
                    r.enroll(w);
                    done.add(w);
                    out.add(new Outcome(w.key(), action, w));
                }
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
        return change(dryRun, (state, r) -> {
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
            for (Workload w : chosen) {
                if (!dryRun) {
                    r.unenroll(w);
                    state.remove(w.key());
                }
                out.add(new Outcome(w.key(), dryRun ? "would-unenroll" : "unenrolled", w));
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
        return change(dryRun, (state, r) -> {
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
        return change(dryRun, (state, r) -> {
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
        return change(dryRun, (state, old) -> {
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
                    install(old, state);
                }
                return new Switch(state.mode, mode, keys, rules, false);
            }
            if (dryRun) {
                return new Switch(state.mode, mode, keys, rules, true);
            }
            RedirectMode from = state.mode;
            try (Redirector next = redirector(mode, state)) {
                try {
                    install(next, state);
                    List<String> problems = new ArrayList<>(next.verifyNode());
                    for (Workload w : state.workloads) {
                        next.verify(w).problems().forEach(p -> problems.add(w.key() + ": " + p));
                    }
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
                    old.uninstall();
                }
                state.mode = mode;
            }
            return new Switch(from, mode, keys, rules, true);
        });
    }

    private static void install(Redirector r, State state) {
        if (state.ztunnel != null) {
            r.installZtunnel(state.ztunnel, state.options());
        } else {
            r.applyOptions(state.options());
        }
        for (Workload w : state.workloads) {
            r.enroll(w);
        }
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
        if (state.mode != RedirectMode.none) {
            try (Redirector r = redirector(state.mode, state)) {
                nodeProblems.addAll(r.verifyNode());
                for (Workload w : state.workloads) {
                    out.add(new WorkloadStatus(w, r.verify(w), r.counters(w)));
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
}
