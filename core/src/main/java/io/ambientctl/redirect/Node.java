package io.ambientctl.redirect;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.ebpf.EbpfRedirector;
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

    @FunctionalInterface
    private interface Change<T> {
        T apply(State state, EbpfRedirector ebpf);
    }

    private <T> T change(boolean dryRun, Change<T> body) {
        try (NodeState.Lock lock = NodeState.lock(cfg.stateDir(), lockWait)) {
            State state = NodeState.load(cfg.stateDir());
            try (EbpfRedirector ebpf = new EbpfRedirector(cfg, state, attachKind)) {
                T result = body.apply(state, ebpf);
                if (!dryRun) {
                    NodeState.save(cfg.stateDir(), state);
                }
                return result;
            }
        }
    }

    private static void requireModeUsable(State s) {
        if (s.mode == RedirectMode.iptables) {
            throw new IllegalStateException("the node is in iptables mode, which this build cannot drive");
        }
    }

    /** Enrolls the workloads in these network namespaces: all of them, or none on failure. */
    public List<Outcome> enroll(List<NetNs> targets, boolean dryRun) {
        return change(dryRun, (state, ebpf) -> {
            requireModeUsable(state);
            // discover every target first: a missing one fails the call before anything changes
            List<Workload> found = new ArrayList<>();
            for (NetNs ns : targets) {
                Workload w = Discovery.fromNetns(ns, cfg.nodeNetns(), ns.display(), null, null);
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
                            && !dryRun && ebpf.verify(known.get()).verified()) {
                        out.add(new Outcome(fresh.key(), "already-enrolled", known.get()));
                        continue;
                    }
                    action = known.isPresent() ? "re-enrolled" : "enrolled";
                    if (dryRun) {
                        out.add(new Outcome(fresh.key(), "would-" + (known.isPresent() ? "re-enroll" : "enroll"),
                                fresh));
                        continue;
                    }
                    if (known.isPresent() && !known.get().samePlumbing(fresh)) {
                        ebpf.unenroll(known.get()); // the pod's plumbing changed (restarted): drop the old
                    }
                    Workload w = state.put(fresh);
                    ebpf.enroll(w);
                    done.add(w);
                    out.add(new Outcome(w.key(), action, w));
                }
                if (!dryRun && !done.isEmpty()) {
                    ebpf.refreshNodeAddresses();
                    if (state.mode == RedirectMode.none) {
                        state.mode = RedirectMode.ebpf;
                        ebpf.applyOptions(state.options());
                    }
                }
            } catch (RuntimeException e) {
                for (Workload w : done) {
                    try {
                        ebpf.unenroll(w);
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
        return change(dryRun, (state, ebpf) -> {
            requireModeUsable(state);
            List<Workload> chosen = new ArrayList<>();
            List<Outcome> out = new ArrayList<>();
            if (all) {
                chosen.addAll(state.workloads);
            } else {
                for (NetNs ns : targets) {
                    Optional<Workload> w = state.workload(ns.display());
                    if (w.isPresent()) {
                        chosen.add(w.get());
                    } else if (ns.exists()) {
                        out.add(new Outcome(ns.display(), "not-enrolled", null));
                    } else {
                        throw ExitCodeException.notFound("network namespace " + ns.display()
                                + " neither exists nor is enrolled");
                    }
                }
            }
            for (Workload w : chosen) {
                if (!dryRun) {
                    ebpf.unenroll(w);
                    state.remove(w.key());
                }
                out.add(new Outcome(w.key(), dryRun ? "would-unenroll" : "unenrolled", w));
            }
            return out;
        });
    }

    /** Declares the node's ztunnel (in a network namespace) and installs its side. */
    public Ztunnel ztunnelSet(NetNs ns, Boolean dnsCapture, Boolean failOpen, boolean dryRun) {
        return change(dryRun, (state, ebpf) -> {
            requireModeUsable(state);
            Workload w = Discovery.fromNetns(ns, cfg.nodeNetns(), ns.display(), null, null);
            if (state.workload(w.key()).isPresent()) {
                throw new IllegalArgumentException(ns.display() + " is an enrolled workload; unenroll it first");
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
            ebpf.installZtunnel(zt, state.options());
            if (old != null && !old.netns().equals(zt.netns())) {
                ZtunnelRouting.remove(NetNs.parse(old.netns()));
            }
            state.ztunnel = zt;
            if (state.mode == RedirectMode.none) {
                state.mode = RedirectMode.ebpf;
            }
            return zt;
        });
    }

    /** Forgets ztunnel: enrolled workloads then fail closed (or open, if chosen). */
    public Ztunnel ztunnelUnset(boolean dryRun) {
        return change(dryRun, (state, ebpf) -> {
            Ztunnel old = state.ztunnel;
            if (!dryRun) {
                ebpf.uninstallZtunnel(old, state.options());
                state.ztunnel = null;
            }
            return old;
        });
    }

    /** Switches every enrolled workload to {@code mode}; this build drives eBPF only. */
    public RedirectMode modeSet(RedirectMode mode, boolean dryRun) {
        if (mode != RedirectMode.ebpf) {
            throw new IllegalArgumentException("mode " + mode + " is not available in this build; use ebpf");
        }
        return change(dryRun, (state, ebpf) -> {
            if (!dryRun && state.mode != RedirectMode.ebpf) {
                if (state.ztunnel != null) {
                    ebpf.installZtunnel(state.ztunnel, state.options());
                } else {
                    ebpf.applyOptions(state.options());
                }
                for (Workload w : state.workloads) {
                    ebpf.enroll(w);
                }
                state.mode = RedirectMode.ebpf;
            }
            return RedirectMode.ebpf;
        });
    }

    /** The state as recorded (no lock, no kernel). */
    public State recorded() {
        return NodeState.load(cfg.stateDir());
    }

    /** One workload as the kernel has it. */
    public record WorkloadStatus(Workload workload, Verification verification, Maps.Counters counters) {
    }

    public record Status(RedirectMode mode, Ztunnel ztunnel, DatapathOptions options, List<WorkloadStatus> workloads) {
    }

    /** Mode, ztunnel and every workload with whether the kernel agrees (read-only; no lock). */
    public Status status() {
        State state = NodeState.load(cfg.stateDir());
        List<WorkloadStatus> out = new ArrayList<>();
        if (state.mode == RedirectMode.ebpf && !state.workloads.isEmpty()) {
            try (EbpfRedirector ebpf = new EbpfRedirector(cfg, state, attachKind)) {
                for (Workload w : state.workloads) {
                    out.add(new WorkloadStatus(w, ebpf.verify(w), ebpf.counters(w)));
                }
            }
        } else {
            for (Workload w : state.workloads) {
                out.add(new WorkloadStatus(w, Verification.of(List.of("mode is " + state.mode)), Maps.ZERO));
            }
        }
        return new Status(state.mode, state.ztunnel, state.options(), out);
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
