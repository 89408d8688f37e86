package io.ambientctl.cli;

import java.util.Map;
import java.util.concurrent.Callable;

import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.NodeState;
import picocli.CommandLine.Command;

@Command(name = "status", header = "Mode, ztunnel and each enrolled workload as the kernel has it",
        description = "Mode, ztunnel, and every enrolled workload with whether the kernel has "
        + "its redirection as recorded (and, if not, what is off), plus its redirected packet counters. Exit code 1 "
        + "when anything recorded is not in the kernel: a workload declared enrolled but not redirecting, or an "
        + "operation was interrupted; while another ambientctl's operation is in progress (it holds the lock) status "
        + "says so and exits 0.",
        footerHeading = "%nExamples:%n", footer = {"  ambientctl status", "  ambientctl status -o json"})
public class StatusCommand extends BaseCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        io.ambientctl.util.Trace.mark("status command");
        Node.Status s = node(null).status();
        // a changing command that holds the lock now is under way, not interrupted: say so, and exit 0 (what
        // is read here may be half-way through it)
        NodeState.JournalStatus journal = NodeState.journalStatus(config().stateDir());
        Map<String, Object> doc = Docs.status(s);
        if (journal.inProgress()) {
            doc.put("inProgress", journal.text());
        }
        Output.render(g(), out(), doc, () -> {
            out().println("mode:    " + s.mode());
            if (s.layout() > 0) {
                out().println("layout:  " + s.layout() + (s.upgradedFrom() != null ? " (upgraded from layout "
                        + s.upgradedFrom() + ")" : ""));
            }
            if (journal.inProgress()) {
                out().println("in progress: " + journal.text() + " (what follows may change as it proceeds)");
            }
            out().println("ztunnel: " + (s.ztunnel() == null ? "not set (enrolled traffic "
                    + (s.options().failOpen() ? "passes: fail open)" : "is dropped: fail closed)")
                    : s.ztunnel().netns() + " " + String.join(",", s.ztunnel().ips())));
            out().println("dns:     " + (s.options().dnsCapture() ? "captured" : "not captured"));
            int bit = s.options().markBit();
            boolean netfilter = s.mode() == io.ambientctl.redirect.RedirectMode.iptables
                    || s.mode() == io.ambientctl.redirect.RedirectMode.nftables;
            out().println("marks:   node " + io.ambientctl.redirect.Marks.node(bit) + (netfilter ? "" : " (not in use in "
                    + s.mode() + " mode)") + ", table " + io.ambientctl.redirect.Marks.NODE_TABLE + " pref "
                    + io.ambientctl.redirect.Marks.NODE_RULE_PREF + "; ztunnel's netns "
                    + io.ambientctl.redirect.Marks.tproxy() + ", table " + io.ambientctl.redirect.Marks.ZTUNNEL_TABLE
                    + " pref " + io.ambientctl.redirect.Marks.ZTUNNEL_RULE_PREF);
            s.nodeProblems().forEach(p -> out().println("PROBLEM: " + p));
            if (s.workloads().isEmpty()) {
                out().println("no workloads enrolled");
                return;
            }
            Table t = new Table("WORKLOAD", "IPS", "HOST VETH", "VERIFIED", "OUT PKTS", "IN PKTS", "DROPPED");
            for (Node.WorkloadStatus w : s.workloads()) {
                t.row(w.workload().key(), String.join(",", w.workload().ips()),
                        w.workload().hostInterface() + " (" + w.workload().hostIfindex() + ")",
                        w.verification().verified() ? "yes" : "NO: " + String.join("; ", w.verification().problems()),
                        w.counters().outPackets(), w.counters().inPackets(), w.counters().droppedPackets());
            }
            t.print(out());
            // the drops by reason, for the workloads that had any
            for (Node.WorkloadStatus w : s.workloads()) {
                if (w.counters().droppedPackets() > 0) {
                    out().println("drops of " + w.workload().key() + ": " + w.counters().dropsByReason().entrySet()
                            .stream().filter(e -> e.getValue() > 0).map(e -> e.getKey() + " " + e.getValue())
                            .collect(java.util.stream.Collectors.joining(", ")));
                }
            }
        });
        if (!s.verified() && journal.inProgress()) {
            err().println("ambientctl: an operation is in progress (" + journal.text() + "); run 'ambientctl status' "
                    + "again when it has finished");
            return ExitCode.OK;
        }
        if (!s.verified()) {
            err().println("ambientctl: the kernel does not have everything the node state records (see above); "
                    + "'ambientctl enroll' of the workload, or 'ambientctl mode set " + s.mode() + "', reinstalls it");
            return ExitCode.FAILED;
        }
        return ExitCode.OK;
    }
}
