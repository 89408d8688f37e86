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

@Command(name = "mode", description = "Show or switch the redirection mode of the node.",
        subcommands = {ModeCommand.Show.class, ModeCommand.Set.class})
public class ModeCommand extends BaseCommand implements Runnable {
    @Override
    public void run() {
        spec.commandLine().usage(out());
    }

    @Command(name = "show", description = "The current mode and how many workloads are enrolled.")
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

    @Command(name = "set", description = {
        "Switch every enrolled workload and ztunnel's side to MODE, all or nothing. This build drives ebpf."},
            footerHeading = "%nExamples:%n", footer = {"  ambientctl mode set ebpf", "  ambientctl mode set ebpf --dry-run"})
    static class Set extends BaseCommand implements Callable<Integer> {
        @Parameters(paramLabel = "MODE", description = "ebpf or iptables.")
        String mode;

        @Option(names = "--dry-run", description = "Show the plan; change nothing.")
        boolean dryRun;

        @Mixin
        WaitOption waitOption;

        @Override
        public Integer call() {
            RedirectMode m = node(waitOption.wait).modeSet(RedirectMode.parse(mode), dryRun);
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("dryRun", dryRun);
            doc.put("mode", m.name());
            Output.render(g(), out(), doc, () -> out().println((dryRun ? "would switch to " : "mode: ") + m));
            return ExitCode.OK;
        }
    }
}
