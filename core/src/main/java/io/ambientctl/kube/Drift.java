package io.ambientctl.kube;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * What a repair of the node ({@code Node.repair}) did, one line each, sorted into kinds of drift for the
 * metric {@code ambientctl_drift_repairs_total{kind}} and, where a line names a workload, the Pod it concerns.
 */
final class Drift {
    private Drift() {
    }

    enum Kind {
        /** A workload's redirection was missing or wrong (map entry, set member, hook): re-enrolled. */
        WORKLOAD("workload"),
        /** A workload's veth was re-created (new ifindex or MAC): re-enrolled on the new one. */
        VETH("veth"),
        /** A workload's namespace or veth vanished: unenrolled. */
        WORKLOAD_GONE("workload_gone"),
        /** ztunnel's side (its hooks, chains, routing rules) was incomplete, or ztunnel was re-plumbed or gone. */
        ZTUNNEL("ztunnel"),
        /** The node's own objects of the mode (chains, jumps, the nft table, rules) were missing or altered. */
        NODE("node"),
        /** The eBPF datapath's pins were gone (a reboot, or bpffs unmounted): loaded and pinned again. */
        PINS("pins"),
        /** Kernel objects the state does not account for were removed. */
        UNRECORDED("unrecorded"),
        /** Another mode's leftovers were removed. */
        OTHER_MODE("other_mode"),
        /** An operation interrupted earlier (the journal) was finished. */
        INTERRUPTED("interrupted"),
        OTHER("other");

        private final String label;

        Kind(String label) {
            this.label = label;
        }

        String label() {
            return label;
        }
    }

    /** One repair: its kind(s), the workload key it concerns (or null) and the line as the repair said it. */
    record Repair(Set<Kind> kinds, String key, String line) {
    }

    /**
     * Sorts the lines of a repair; {@code before}: what the kernel check saw (opening the mode for the repair may
     * already restore part of it, e.g. the pins, so what the check saw and no line names counts too).
     */
    static List<Repair> classify(io.ambientctl.redirect.Node.Status before, List<String> lines) {
        List<String> keys = before.workloads().stream().map(w -> w.workload().key()).toList();
        List<Repair> out = new ArrayList<>();
        Set<Kind> seen = new LinkedHashSet<>();
        Set<String> named = new java.util.HashSet<>();
        for (String line : lines) {
            String key = keys.stream().filter(k -> line.startsWith(k + ": ")).findFirst().orElse(null);
            Repair r = new Repair(kinds(line, key), key, line);
            out.add(r);
            seen.addAll(r.kinds());
            if (key != null) {
                named.add(key);
            }
        }
        for (String p : before.nodeProblems()) {
            Kind k = nodeProblem(p);
            if (!seen.contains(k)) {
                seen.add(k);
                out.add(new Repair(Set.of(k), null, p + ": repaired"));
            }
        }
        for (var w : before.workloads()) {
            if (!w.verification().verified() && !named.contains(w.workload().key())) {
                out.add(new Repair(Set.of(Kind.WORKLOAD), w.workload().key(), w.workload().key() + ": "
                        + String.join("; ", w.verification().problems()) + ": re-enrolled"));
            }
        }
        return out;
    }

    /** A problem {@code Node.status()} saw on the node as a whole. */
    private static Kind nodeProblem(String p) {
        return p.contains("not pinned") ? Kind.PINS : p.startsWith("an operation was interrupted") ? Kind.INTERRUPTED
                : p.startsWith("leftovers of the") ? Kind.OTHER_MODE : p.startsWith("not in the state file")
                ? Kind.UNRECORDED : p.contains("ztunnel") ? Kind.ZTUNNEL : Kind.NODE;
    }

    private static Set<Kind> kinds(String line, String key) {
        Set<Kind> k = new LinkedHashSet<>();
        if (key != null) {
            String rest = line.substring(key.length() + 2);
            k.add(rest.startsWith("re-plumbed") ? Kind.VETH : rest.contains("is gone: unenrolled") ? Kind.WORKLOAD_GONE
                    : Kind.WORKLOAD);
        } else if (line.startsWith("finished the interrupted operation")) {
            k.add(Kind.INTERRUPTED);
        } else if (line.startsWith("removed leftovers of the")) {
            k.add(Kind.OTHER_MODE);
        } else if (line.startsWith("ztunnel was re-plumbed") || line.startsWith("ztunnel's namespace")) {
            k.add(Kind.ZTUNNEL);
        } else if (line.startsWith("ztunnel's side was incomplete (") || line.startsWith("the node's objects were "
                + "incomplete (")) {
            // the node-wide problems the mode's verifyNode gave, joined by "; ", in parentheses
            String inner = line.substring(line.indexOf('(') + 1, Math.max(line.indexOf('(') + 1,
                    line.lastIndexOf("): reinstalled")));
            for (String p : inner.split("; ")) {
                k.add(nodeProblem(p));
            }
        } else if (line.startsWith("detach ") || line.startsWith("delete ") || line.startsWith("remove ")) {
            k.add(Kind.UNRECORDED);
        } else {
            k.add(Kind.OTHER);
        }
        return k;
    }
}
