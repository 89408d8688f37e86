package io.ambientctl.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.RedirectMode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "mode", header = "Show or switch the redirection mode (ebpf, iptables or nftables)",
        description = "Show or switch the redirection mode of the node: ebpf (programs on the TC hooks of the "
                + "workloads' veths), iptables (ipsets, MARK and policy routing, TPROXY in ztunnel's namespace) or "
                + "nftables (the same as iptables in one table of ours per namespace, inet ambientctl, changed in one "
                + "transaction through libnftables).",
        footerHeading = "%nExamples:%n", footer = {"  ambientctl mode show", "  ambientctl mode set iptables --dry-run",
            "  ambientctl mode set nftables --dry-run"})
public class ModeCommand extends BaseCommand implements Runnable {
    /** The modes one can switch to (completion candidates). */
    static class Modes implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return java.util.List.of(RedirectMode.ebpf.name(), RedirectMode.iptables.name(),
                    RedirectMode.nftables.name()).iterator();
        }
    }

    @Override
    public void run() {
        spec.commandLine().usage(out());
    }

    @Command(name = "show", header = "The current mode and how many workloads are enrolled",
            description = "The current mode (none until something is enrolled or ztunnel is set), how many "
                    + "workloads are enrolled, and ztunnel's namespace. Reads the state file only; 'status' "
                    + "checks the kernel too.",
            footerHeading = "%nExamples:%n", footer = {"  ambientctl mode show", "  ambientctl mode show -o json"})
    static class Show extends BaseCommand implements Callable<Integer> {
        @Override
        public Integer call() {
            Node.Status s = node(null).status();
            Output.render(g(), out(), Docs.status(s), () -> out().println("mode: " + s.mode() + ", "
                    + s.workloads().size() + " workload(s) enrolled, ztunnel "
                    + (s.ztunnel() == null ? "not set" : s.ztunnel().netns())));
            return ExitCode.OK;
        }
    }

    @Command(name = "set", header = "Switch every enrolled workload to another mode, all or nothing", description = {
        "Switch every enrolled workload and ztunnel's side to MODE, all or nothing: install MODE for every "
                + "workload, verify it in the kernel, then remove the old mode. On any failure the new mode's objects "
                + "are removed and the old mode keeps working. Setting the current mode again reinstalls whatever is "
                + "missing.",
        "Established connections survive the switch: every mode delivers packets of an existing ztunnel socket "
                + "to it (sk lookup / -m socket / socket transparent) before anything else.",
        "In nftables mode each namespace's change is one nftables transaction (all or nothing in the kernel); "
                + "--dry-run prints the commands (nft syntax) and the policy routing."},
            footerHeading = "%nExamples:%n", footer = {"  ambientctl mode set iptables --dry-run   # shows the rules",
                "  ambientctl mode set iptables", "  ambientctl mode set nftables", "  ambientctl mode set ebpf",
                "  ambientctl mode set ebpf --attach tc     # clsact filters instead of TCX links"})
    static class Set extends BaseCommand implements Callable<Integer> {
        @Parameters(paramLabel = "MODE", completionCandidates = Modes.class,
                description = "The mode to switch to: ${COMPLETION-CANDIDATES}.")
        String mode;

        @Option(names = "--dry-run", description = "Show the plan; change nothing.")
        boolean dryRun;

        @Option(names = "--mark-bit", paramLabel = "BIT",
                description = "The one packet-mark bit the iptables and nftables modes set and match in the node's "
                        + "namespace (masked by itself; e.g. 0x1000, the default); kept in the state for every mode. "
                        + "Changing it applies the rules and routes again with the new bit.")
        String markBit;

        @Mixin
        WaitOption waitOption;

        @Mixin
        AttachOption attach;

        @Override
        public Integer call() {
            RedirectMode to = RedirectMode.parse(mode);
            Node.Switch sw = withProgress(node(waitOption.wait, attach.attachKind()), n -> n.modeSet(to,
                    markBit == null ? null : io.ambientctl.redirect.Marks.parseBit(markBit), dryRun));
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("dryRun", dryRun);
            doc.put("from", sw.from().name());
            doc.put("mode", sw.to().name());
            doc.put("changed", sw.changed());
            doc.put("workloads", sw.workloads());
            if (sw.rules() != null) {
                doc.put("rules", sw.rules());
            }
            if (!sw.warnings().isEmpty()) {
                doc.put("warnings", sw.warnings());
                sw.warnings().forEach(w -> err().println("ambientctl: warning: " + w));
            }
            Output.render(g(), out(), doc, () -> {
                if (!sw.changed()) {
                    out().println("mode: " + sw.to() + " (unchanged; " + sw.workloads().size() + " workload(s) checked)");
                    return;
                }
                out().println((dryRun ? "would switch " : "switched ") + sw.from() + " -> " + sw.to() + " for "
                        + sw.workloads().size() + " workload(s)" + (sw.workloads().isEmpty() ? ""
                                : ": " + String.join(", ", sw.workloads())));
                if (dryRun && sw.rules() != null) {
                    out().println();
                    out().print(sw.rules());
                }
            });
            return ExitCode.OK;
        }
    }
}
