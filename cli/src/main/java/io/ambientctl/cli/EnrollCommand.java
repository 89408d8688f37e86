package io.ambientctl.cli;

import java.util.List;
import java.util.concurrent.Callable;

import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.Node;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "enroll", header = "Redirect workloads' traffic to ztunnel", description = {
    "Redirect the traffic of workloads to ztunnel in the node's current mode (eBPF: programs on the TC hooks "
            + "of each workload's host-side veth). Idempotent: enrolling twice is one enrollment; a workload "
            + "whose veth changed is re-enrolled. All targets or none: a missing target changes nothing (exit 4).",
    "The workload's addresses, interface and host-side veth are discovered from its network namespace."},
        footerHeading = "%nExamples:%n", footer = {
            "  ambientctl enroll --netns pod-a --netns pod-b",
            "  ambientctl enroll --netns /proc/4242/ns/net --dry-run -o json",
            "  ambientctl --lab demo enroll --netns demo-p1"})
public class EnrollCommand extends BaseCommand implements Callable<Integer> {
    @Mixin
    Targets targets;

    @Mixin
    WaitOption waitOption;

    @Option(names = "--dry-run", description = "Show what would be enrolled; change nothing.")
    boolean dryRun;

    @Override
    public Integer call() {
        if (targets.empty()) {
            throw new IllegalArgumentException("name what to enroll: --netns NAME|PATH (repeatable)");
        }
        List<NetNs> namespaces = targets.namespaces();
        List<Node.Outcome> done = withProgress(node(waitOption.wait), n -> n.enroll(namespaces, dryRun));
        Output.render(g(), out(), Docs.outcomes(done, dryRun), () -> {
            Table t = new Table("TARGET", "ACTION", "IPS", "HOST VETH");
            for (Node.Outcome o : done) {
                t.row(o.target(), o.action(), o.workload() == null ? "" : String.join(",", o.workload().ips()),
                        o.workload() == null ? "" : o.workload().hostInterface() + " (" + o.workload().hostIfindex() + ")");
            }
            t.print(out());
        });
        return ExitCode.OK;
    }
}
