package io.ambientctl.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import io.ambientctl.kube.KubeNode;
import io.ambientctl.redirect.Node;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "enroll", header = "Redirect workloads' traffic to ztunnel", description = {
    "Redirect the traffic of workloads to ztunnel in the node's current mode (eBPF: programs on the TC hooks "
            + "of each workload's host-side veth). Idempotent: enrolling twice is one enrollment; a workload "
            + "whose veth changed is re-enrolled. All targets or none: a missing target changes nothing (exit 4).",
    "A Pod is named as kubectl names it (NAME with -n, NS/NAME, -l SELECTOR, -A) and must run on this node; its "
            + "network namespace is found from its IPs (every IP, both families) and on success it gets the "
            + "annotation ambient.istio.io/redirection=enabled. Named Pods that are not found or not on this node are "
            + "exit 4; a selection skips what it cannot enroll and says why.",
    "The workload's addresses, interface and host-side veth are discovered from its network namespace."},
        footerHeading = "%nExamples:%n", footer = {
            "  ambientctl enroll web-7d9f -n shop",
            "  ambientctl enroll shop/web-7d9f shop/db-0",
            "  ambientctl enroll -A -l app=web",
            "  ambientctl enroll --netns pod-a --netns pod-b",
            "  ambientctl enroll -A -l tier=batch --attach tc   # many at once",
            "  ambientctl enroll --netns /proc/4242/ns/net --dry-run -o json",
            "  ambientctl --lab demo enroll --netns demo-p1"})
public class EnrollCommand extends BaseCommand implements Callable<Integer> {
    @Mixin
    Targets targets;

    @Mixin
    WaitOption waitOption;

    @Mixin
    AttachOption attach;

    @Option(names = "--dry-run", description = "Show what would be enrolled; change nothing.")
    boolean dryRun;

    @Option(names = "--no-dns-capture", description = "These workloads (--netns) opt out of DNS capture: their "
            + "UDP/TCP 53 is not sent to ztunnel even when the node captures DNS (a Pod opts out with the annotation "
            + "ambient.istio.io/dns-capture: \"false\"). Enrolling without it again follows the node's choice.")
    boolean noDnsCapture;

    @Override
    public Integer call() {
        io.ambientctl.util.Trace.mark("enroll command");
        if (targets.empty()) {
            throw new IllegalArgumentException("name what to enroll: Pods (NAME -n NS, NS/NAME, -l SELECTOR, -A) or "
                    + "--netns NAME|PATH (repeatable)");
        }
        targets.check("enroll");
        if (noDnsCapture && targets.kube()) {
            throw new IllegalArgumentException("--no-dns-capture is for --netns targets; a Pod opts out of DNS capture "
                    + "with the annotation ambient.istio.io/dns-capture: \"false\"");
        }
        List<Node.Outcome> done;
        List<Map<String, Object>> skipped = new ArrayList<>();
        if (targets.kube()) {
            try (KubeNode kube = KubeSupport.connect(g(), node(waitOption.wait, attach.attachKind()))) {
                KubeNode.Result r = kube.enroll(targets.selection(), dryRun);
                done = r.outcomes();
                r.skipped().forEach(s -> skipped.add(Map.of("pod", s.pod(), "reason", s.reason())));
            }
        } else {
            done = withProgress(node(waitOption.wait, attach.attachKind()),
                    n -> n.enroll(targets.namespaces(), noDnsCapture ? Boolean.FALSE : null, dryRun));
        }
        io.ambientctl.util.Trace.mark("enroll: done, output next");
        Map<String, Object> doc = Docs.outcomes(done, dryRun);
        if (targets.kube()) {
            doc.put("skipped", skipped);
        }
        Output.render(g(), out(), doc, () -> {
            skipped.forEach(s -> info("skipped " + s.get("pod") + ": " + s.get("reason")));
            if (done.isEmpty()) {
                out().println("no Pods to enroll on this node");
                return;
            }
            Table t = new Table("TARGET", "ACTION", "IPS", "HOST VETH");
            for (Node.Outcome o : done) {
                boolean alias = o.workload() != null && !o.workload().key().equals(o.target());
                t.row(o.target(), o.action() + (alias ? " as " + o.workload().key() : ""), o.workload() == null ? "" : String.join(",", o.workload().ips()),
                        o.workload() == null ? "" : o.workload().hostInterface() + " (" + o.workload().hostIfindex() + ")");
            }
            t.print(out());
        });
        return ExitCode.OK;
    }
}
