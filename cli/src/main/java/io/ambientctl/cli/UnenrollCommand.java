package io.ambientctl.cli;

import java.util.List;
import java.util.concurrent.Callable;

import io.ambientctl.kube.KubeNode;
import io.ambientctl.redirect.Node;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "unenroll", header = "Stop redirecting workloads' traffic", description = {
    "Stop redirecting workloads: remove their entries and detach ambientctl's programs from their veths "
            + "(nothing of other owners is touched). Idempotent: a workload that exists but is not enrolled is a "
            + "no-op; one that neither exists nor is enrolled is exit 4. A workload whose namespace or veth "
            + "vanished is unenrolled by name.",
    "Pods are named as for enroll; an enrolled Pod is unenrolled even when it is gone from the API, and loses the "
            + "annotation ambient.istio.io/redirection when it is not. --all stays local: it does not touch the API."},
        footerHeading = "%nExamples:%n", footer = {
            "  ambientctl unenroll shop/web-7d9f",
            "  ambientctl unenroll -n shop -l app=web",
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
            throw new IllegalArgumentException("name what to unenroll: Pods (NAME -n NS, NS/NAME, -l SELECTOR, -A), "
                    + "--netns NAME|PATH (repeatable), or --all");
        }
        targets.check("unenroll");
        List<Node.Outcome> done;
        if (targets.kube()) {
            try (KubeNode kube = KubeSupport.connect(g(), node(waitOption.wait))) {
                done = kube.unenroll(targets.selection(), dryRun).outcomes();
            }
        } else {
            done = withProgress(node(waitOption.wait), n -> n.unenroll(all ? List.of() : targets.namespaces(), all, dryRun));
        }
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
