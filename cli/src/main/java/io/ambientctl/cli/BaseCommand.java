package io.ambientctl.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;

import io.ambientctl.bpf.LibbpfInfo;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.NodeState;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** What every command shares: the global options, output, and the node it works on. */
@Command(mixinStandardHelpOptions = true, sortOptions = false,
        exitCodeListHeading = ExitCode.HEADING, exitCodeList = {ExitCode.L0, ExitCode.L1, ExitCode.L2, ExitCode.L3,
            ExitCode.L4, ExitCode.L5})
abstract class BaseCommand {
    @Spec
    CommandSpec spec;

    AmbientCtl root() {
        return (AmbientCtl) spec.root().userObject();
    }

    GlobalOptions g() {
        return root().global;
    }

    PrintWriter out() {
        return root().out;
    }

    PrintWriter err() {
        return root().err;
    }

    /** A progress or diagnostic line on stderr (not with --quiet). */
    void info(String line) {
        if (!g().quiet) {
            err().println(line);
            err().flush();
        }
    }

    NodeConfig config() {
        GlobalOptions g = g();
        if (g.verbose) {
            LibbpfInfo.logTo(line -> err().println(line));
        }
        NodeState.noteTo(line -> info("ambientctl: " + line));
        NodeConfig.requireAbsolute("--state-dir", g.stateDir);
        if (g.lab != null) {
            for (String o : new String[] {"--bpffs", "--node-netns"}) {
                if (given(o)) {
                    throw new IllegalArgumentException("--lab " + g.lab + " sets " + o + " itself (the lab's "
                            + (o.equals("--bpffs") ? "pins under " + labBpffs(g.lab) : "namespace " + g.lab + "-node")
                            + "): give --lab or " + o + ", not both");
                }
            }
            io.ambientctl.lab.Lab lab = io.ambientctl.lab.Lab.named(g.lab, 1);
            return new NodeConfig(labBpffs(g.lab), labStateDir(g, g.lab), lab.node());
        }
        NetNs nodeNs = g.nodeNetns == null ? NetNs.self() : NetNs.parse(g.nodeNetns);
        return new NodeConfig(g.bpffs, g.stateDir, nodeNs);
    }

    /** Whether {@code option} was given on the command line (at the root or after a subcommand's name). */
    boolean given(String option) {
        picocli.CommandLine.ParseResult pr = spec.root().commandLine().getParseResult();
        for (; pr != null; pr = pr.subcommand()) {
            if (pr.hasMatchedOption(option)) {
                return true;
            }
        }
        return false;
    }

    static Path labBpffs(String lab) {
        return Path.of("/sys/fs/bpf/ambientctl-lab-" + lab);
    }

    static Path labStateDir(GlobalOptions g, String lab) {
        NodeConfig.requireAbsolute("--state-dir", g.stateDir);
        return labStateDir(g.stateDir, lab);
    }

    /** Where lab {@code lab}'s state lives under the state directory {@code stateDir}. */
    static Path labStateDir(Path stateDir, String lab) {
        return stateDir.resolve("lab-" + lab);
    }

    Node node(Duration wait) {
        return node(wait, null);
    }

    /** The node, attaching eBPF programs as {@code attach} says (null: TCX where the kernel has it). */
    Node node(Duration wait, io.ambientctl.bpf.AttachKind attach) {
        return new Node(config(), wait == null ? Duration.ZERO : wait, attach);
    }

    /**
     * Runs an operation over many workloads with a progress bar on stderr when a person watches (a
     * terminal, table output, not --quiet; see {@link ProgressView}); the bar is gone before the result
     * is rendered.
     */
    <T> T withProgress(Node node, java.util.function.Function<Node, T> operation) {
        ProgressView view = ProgressView.forCommand(root().terminal, g());
        if (view == null) {
            return operation.apply(node);
        }
        try (view) {
            return operation.apply(node.progress(view));
        }
    }
}
