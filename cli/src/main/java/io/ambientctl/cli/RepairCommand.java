package io.ambientctl.cli;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "repair", header = "Reconcile the state file with the kernel and say what was done.",
         description = {
    "Reconcile the state file with the kernel: re-attach what is missing, re-enroll workloads whose veth changed, "
            + "remove what belongs to vanished workloads (namespace or veth gone), remove kernel objects the state "
            + "does not account for (after an interrupted operation) and leftovers of the other mode, and follow "
            + "ztunnel when its namespace was recreated. Says what it did. Every changing command does this first "
            + "when an earlier one was interrupted.",
    "",
    "With --adopt, rebuild a lost, moved or corrupt (moved aside) state file from the kernel: the mode whose "
            + "objects hold workloads says which addresses (and, in eBPF mode, veths) are enrolled; the namespaces "
            + "holding them are found and named by their network namespace (Pod names cannot come from the kernel; "
            + "the agent re-attributes them); the redirection stays in place throughout. Without a state file and "
            + "with workloads redirected, a plain repair refuses: it would take them out of the mesh.",
    "",
    "With --upgrade, only take over in place what an older ambientctl installed (its layout of maps, pins or rules) "
            + "and nothing else: the programs are replaced on every hook without a gap, the maps' entries copied, the "
            + "rules replaced in one transaction. Idempotent; with nothing recorded, or everything of this version "
            + "already, it does nothing. Every changing command (and the agent's start) does the same first. The "
            + "Debian package's postinst runs it on an upgrade."},
        footerHeading = "%nExamples:%n", footer = {"  ambientctl repair --dry-run", "  ambientctl repair -o json",
            "  ambientctl repair --adopt", "  ambientctl repair --upgrade"})
public class RepairCommand extends BaseCommand implements Callable<Integer> {
    @Option(names = "--dry-run", description = "Say what would be done; change nothing.")
    boolean dryRun;

    @Option(names = "--adopt", description = "Rebuild a lost state file from what the kernel redirects, and keep it.")
    boolean adopt;

    @Option(names = "--upgrade", description = "Only upgrade in place what an older ambientctl installed (nothing "
            + "else is repaired).")
    boolean upgrade;

    @Mixin
    WaitOption waitOption;

    @Override
    public Integer call() {
        if (adopt && upgrade) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--adopt and --upgrade do not go "
                    + "together (--adopt rebuilds a lost state file; a later changing command upgrades)");
        }
        var n = node(waitOption.wait);
        List<String> done = adopt ? n.adopt(dryRun) : upgrade ? n.upgrade(dryRun) : n.repair(dryRun);
        io.ambientctl.redirect.State after = n.recorded();
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("dryRun", dryRun);
        doc.put("adopt", adopt);
        doc.put("upgrade", upgrade);
        doc.put("layout", after.layout);
        doc.put("upgradedFrom", after.upgradedFrom);
        doc.put("actions", done);
        Output.render(g(), out(), doc, () -> {
            if (done.isEmpty()) {
                out().println(upgrade ? "nothing to upgrade" + (after.layout > 0 ? ": layout " + after.layout
                        + " is this version's" : ": nothing installed")
                        : "nothing to repair: the kernel has what the state file records");
            } else {
                done.forEach(a -> out().println((dryRun ? "would: " : "") + a));
            }
            if (after.upgradedFrom != null && !done.isEmpty()) {
                out().println("layout " + after.layout + " (upgraded from layout " + after.upgradedFrom + ")");
            }
        });
        return ExitCode.OK;
    }
}
