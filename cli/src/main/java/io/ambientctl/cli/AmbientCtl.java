package io.ambientctl.cli;

import java.io.PrintWriter;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
    /**
     * Every subcommand by name, in the order help lists them. Add new commands here. The names are written
     * here, not read from each class's {@code @Command} (that would parse every command's annotations on every
     * start); MainTest checks that they agree.
     */
    static final Map<String, Class<?>> COMMANDS = ordered(
            "version", VersionCommand.class,
            "preflight", PreflightCommand.class,
            "ztunnel", ZtunnelCommand.class,
            "enroll", EnrollCommand.class,
            "unenroll", UnenrollCommand.class,
            "mode", ModeCommand.class,
            "status", StatusCommand.class,
            "inspect", InspectCommand.class,
            "monitor", MonitorCommand.class,
            "explain", ExplainCommand.class,
            "repair", RepairCommand.class,
            "uninstall", UninstallCommand.class,
            "agent", AgentCommand.class,
            "lab", LabCommand.class,
            "demo", DemoCommand.class,
            "bench", BenchCommand.class,
            "shell", ShellCommand.class,
            "completion", CompletionCommand.class,
            "help", picocli.CommandLine.HelpCommand.class);

    /** The subcommands of the commands that have them, by name, in help's order (built only when invoked). */
    static final Map<Class<?>, Map<String, Class<?>>> NESTED = Map.of(
            ZtunnelCommand.class, ordered("set", ZtunnelCommand.Set.class, "show", ZtunnelCommand.Show.class,
                    "unset", ZtunnelCommand.Unset.class),
            ModeCommand.class, ordered("show", ModeCommand.Show.class, "set", ModeCommand.Set.class),
            InspectCommand.class, ordered("programs", InspectCommand.Programs.class, "maps", InspectCommand.MapsCmd.class,
                    "nftables", InspectCommand.NftablesCmd.class, "pod", InspectCommand.Pod.class),
            LabCommand.class, ordered("up", LabCommand.Up.class, "down", LabCommand.Down.class,
                    "status", LabCommand.Status.class, "serve", LabCommand.Serve.class));

    /** Commands that need the whole tree: they show or complete every command. */
    static final List<String> NEED_ALL = List.of("help", "completion", "shell");

    private static Map<String, Class<?>> ordered(Object... nameThenClass) {
        Map<String, Class<?>> m = new LinkedHashMap<>();
        for (int i = 0; i < nameThenClass.length; i += 2) {
            m.put((String) nameThenClass[i], (Class<?>) nameThenClass[i + 1]);
        }
        return Collections.unmodifiableMap(m);
    }

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
