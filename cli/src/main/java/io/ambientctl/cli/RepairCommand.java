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
            + "when an earlier one was interrupted."},
        footerHeading = "%nExamples:%n", footer = {"  ambientctl repair --dry-run", "  ambientctl repair -o json"})
public class RepairCommand extends BaseCommand implements Callable<Integer> {
    @Option(names = "--dry-run", description = "Say what would be done; change nothing.")
    boolean dryRun;

    @Mixin
    WaitOption waitOption;

    @Override
    public Integer call() {
        List<String> done = node(waitOption.wait).repair(dryRun);
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("dryRun", dryRun);
        doc.put("actions", done);
        Output.render(g(), out(), doc, () -> {
            if (done.isEmpty()) {
                out().println("nothing to repair: the kernel has what the state file records");
            } else {
                done.forEach(a -> out().println((dryRun ? "would: " : "") + a));
            }
        });
        return ExitCode.OK;
    }
}
