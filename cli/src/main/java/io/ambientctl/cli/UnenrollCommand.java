package io.ambientctl.cli;

import java.util.List;
import java.util.concurrent.Callable;

import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.Node;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "unenroll", header = "Stop redirecting workloads' traffic", description = {
    "Stop redirecting workloads: remove their entries and detach ambientctl's programs from their veths "
            + "(nothing of other owners is touched). Idempotent: a workload that exists but is not enrolled is a "
            + "no-op; one that neither exists nor is enrolled is exit 4. A workload whose namespace or veth "
            + "vanished is unenrolled by name."},
        footerHeading = "%nExamples:%n", footer = {
            "  ambientctl unenroll --netns pod-a",
            "  ambientctl unenroll --all --dry-run"})
public class UnenrollCommand extends BaseCommand implements Callable<Integer> {
    @Mixin
    Targets targets;

    @Mixin
    WaitOption waitOption;

    @Option(names = "--all", description = "Unenroll every enrolled workload.")
    boolean all;

    @Option(names = "--dry-run", description = "Show what would be unenrolled; change nothing.")
    boolean dryRun;

    @Override
    public Integer call() {
        if (all == !targets.empty()) {
            throw new IllegalArgumentException("name what to unenroll: --netns NAME|PATH (repeatable), or --all");
        }
        List<NetNs> namespaces = all ? List.of() : targets.namespaces();
        List<Node.Outcome> done = withProgress(node(waitOption.wait), n -> n.unenroll(namespaces, all, dryRun));
        Output.render(g(), out(), Docs.outcomes(done, dryRun), () -> {
            if (done.isEmpty()) {
                out().println("nothing is enrolled");
                return;
            }
            Table t = new Table("TARGET", "ACTION");
            done.forEach(o -> t.row(o.target(), o.action()));
            t.print(out());
        });
        return ExitCode.OK;
    }
}
