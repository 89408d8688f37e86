package io.ambientctl.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

import io.ambientctl.redirect.Node;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "uninstall", header = "Remove all of ambientctl's redirection from the node",
         description = {
    "Remove everything ambientctl put on the node: unenroll every workload (enrolled Pods keep their "
            + "annotation: this is local, as unenroll --all), forget ztunnel and remove its side and routing, remove "
            + "each mode's objects (eBPF programs, TCX links and pins under the bpffs directory; iptables chains, "
            + "rules, ipsets and policy routes), then the state file. Traffic then flows as without ambientctl. "
            + "Idempotent: on a clean node it does nothing. Stop the node agent first, or it enrolls its Pods again.",
    "Run it before removing the package (the .deb refuses to be removed while workloads are enrolled).",
    "A state file or pins written by a newer ambientctl are refused (a downgrade); --force removes them anyway, as far "
            + "as this version can read them (the hooks the state records, every pin under the bpffs directory, each "
            + "mode's chains and table by name)."},
        footerHeading = "%nExamples:%n", footer = {
            "  ambientctl uninstall --dry-run",
            "  ambientctl uninstall                    # then the package can go: apt-get purge ambientctl",
            "  ambientctl --lab lab uninstall -o json"})
public class UninstallCommand extends BaseCommand implements Callable<Integer> {
    @Option(names = "--dry-run", description = "Say what would be removed; change nothing.")
    boolean dryRun;

    @Option(names = "--force", description = "Also when the state file or the pins were written by a newer "
            + "ambientctl (a downgrade): remove them anyway; every enrolled Pod leaves the mesh until enrolled again.")
    boolean force;

    @Mixin
    WaitOption waitOption;

    @Override
    public Integer call() {
        Node.Purge p = force ? node(waitOption.wait).purgeForce(dryRun) : node(waitOption.wait).purge(dryRun);
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("dryRun", dryRun);
        doc.put("unenrolled", Docs.outcomes(p.unenrolled(), dryRun));
        doc.put("ztunnel", p.ztunnel() == null ? null : Docs.ztunnel(p.ztunnel()));
        doc.put("removed", p.removed());
        Output.render(g(), out(), doc, () -> {
            String would = dryRun ? "would remove: " : "removed: ";
            p.unenrolled().forEach(o -> out().println((dryRun ? "would unenroll: " : "unenrolled: ") + o.target()));
            if (p.ztunnel() != null) {
                out().println((dryRun ? "would forget ztunnel: " : "forgot ztunnel: ") + p.ztunnel().netns());
            }
            p.removed().forEach(r -> out().println(would + r));
            if (p.unenrolled().isEmpty() && p.ztunnel() == null && p.removed().isEmpty()) {
                out().println("nothing to remove: ambientctl holds nothing on this node");
            }
        });
        return ExitCode.OK;
    }
}
