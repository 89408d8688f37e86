package io.ambientctl.cli;

import java.io.PrintWriter;
import java.util.List;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * The root command. Its subcommands are {@link #COMMANDS}, added by {@link Main}: all of them for help,
 * completion, the shell and the generated docs, only the one invoked otherwise (a local command does not
 * pay for building the others' model, nor load what they use).
 */
@Command(name = "ambientctl", mixinStandardHelpOptions = true, versionProvider = VersionCommand.Provider.class,
        header = "Istio ambient mesh node redirection with eBPF or iptables",
        description = {
            "Administers the traffic redirection of an Istio ambient mesh node: moves chosen Pods' traffic to "
                    + "ztunnel with eBPF programs on their veths' TC hooks, or with iptables rules, switches "
                    + "between the two, and shows what the kernel holds."},
        exitCodeListHeading = ExitCode.HEADING, exitCodeList = {ExitCode.L0, ExitCode.L1, ExitCode.L2, ExitCode.L3,
            ExitCode.L4, ExitCode.L5},
        footerHeading = "%nExamples:%n", footer = {
            "  ambientctl demo                          # the whole story on a local lab",
            "  ambientctl ztunnel set --netns ztunnel",
            "  ambientctl enroll --netns pod-a --netns pod-b",
            "  ambientctl status -o json",
            "  ambientctl shell                         # interactive, with completion",
            "",
            "Every command has a man page: man ambientctl-enroll (or 'ambientctl help enroll')."})
public class AmbientCtl implements Runnable {
    /** Every subcommand, in the order help lists them. Add new commands here. */
    static final List<Class<?>> COMMANDS = List.of(
            VersionCommand.class,
            PreflightCommand.class,
            ZtunnelCommand.class,
            EnrollCommand.class,
            UnenrollCommand.class,
            ModeCommand.class,
            StatusCommand.class,
            InspectCommand.class,
            RepairCommand.class,
            AgentCommand.class,
            LabCommand.class,
            DemoCommand.class,
            BenchCommand.class,
            ShellCommand.class,
            CompletionCommand.class,
            picocli.CommandLine.HelpCommand.class);

    /** Commands that need the whole tree: they show or complete every command. */
    static final List<String> NEED_ALL = List.of("help", "completion", "shell");

    @Mixin
    GlobalOptions global = new GlobalOptions();

    @Spec
    CommandSpec spec;

    final PrintWriter out;
    final PrintWriter err;

    /** Whether a person is at a terminal (stdin and stdout are one): progress bars, the shell's colours. */
    boolean terminal;

    AmbientCtl(PrintWriter out, PrintWriter err) {
        this.out = out;
        this.err = err;
    }

    @Override
    public void run() {
        spec.commandLine().usage(out);
    }
}
