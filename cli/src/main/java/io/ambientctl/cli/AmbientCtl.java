package io.ambientctl.cli;

import java.io.PrintWriter;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** The root command. */
@Command(name = "ambientctl", mixinStandardHelpOptions = true, versionProvider = VersionCommand.Provider.class,
        description = {
            "Administers the traffic redirection of an Istio ambient mesh node: moves chosen Pods' traffic to "
                    + "ztunnel with eBPF programs on their veths' TC hooks, or with iptables rules, switches "
                    + "between the two, and shows what the kernel holds."},
        subcommands = {
            VersionCommand.class,
            ZtunnelCommand.class,
            EnrollCommand.class,
            UnenrollCommand.class,
            ModeCommand.class,
            StatusCommand.class,
            AgentCommand.class,
            LabCommand.class,
            DemoCommand.class,
            picocli.CommandLine.HelpCommand.class,
        },
        footerHeading = "%nExit codes:%n", footer = {
            "  0   success",
            "  1   the operation failed (kernel, iptables, Kubernetes API); the message says what to do",
            "  2   usage error (unknown command, flag or mode)",
            "  3   preflight: a check the mode requires failed",
            "  4   a named target does not exist or is not on this node",
            "  5   another ambientctl holds the lock (see --wait)"})
public class AmbientCtl implements Runnable {
    @Mixin
    GlobalOptions global = new GlobalOptions();

    @Spec
    CommandSpec spec;

    final PrintWriter out;
    final PrintWriter err;

    AmbientCtl(PrintWriter out, PrintWriter err) {
        this.out = out;
        this.err = err;
    }

    @Override
    public void run() {
        spec.commandLine().usage(out);
    }
}
