package io.ambientctl.cli;

import java.nio.file.Path;

import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** The options every command takes (CLI.md, "Global options"). */
public class GlobalOptions {
    public enum Format { table, json, yaml }

    @Option(names = {"-o", "--output"}, scope = ScopeType.INHERIT, paramLabel = "FORMAT",
            description = "Output format: ${COMPLETION-CANDIDATES} (default: table).")
    Format output = Format.table;

    @Option(names = "--bpffs", scope = ScopeType.INHERIT, paramLabel = "DIR",
            description = "bpffs directory for ambientctl's pins (default: /sys/fs/bpf/ambientctl).")
    Path bpffs = Path.of("/sys/fs/bpf/ambientctl");

    @Option(names = "--state-dir", scope = ScopeType.INHERIT, paramLabel = "DIR",
            description = "Directory of the state file and the lock (default: /var/lib/ambientctl).")
    Path stateDir = DEFAULT_STATE_DIR;

    static final Path DEFAULT_STATE_DIR = Path.of("/var/lib/ambientctl");

    @Option(names = "--kubeconfig", scope = ScopeType.INHERIT, paramLabel = "FILE",
            description = "Kubeconfig file, as kubectl (default: the in-cluster service account, then ~/.kube/config).")
    Path kubeconfig;

    @Option(names = "--context", scope = ScopeType.INHERIT, paramLabel = "NAME", description = "Kubeconfig context.")
    String context;

    @Option(names = "--node", scope = ScopeType.INHERIT, paramLabel = "NAME",
            description = "This node's name (default: $NODE_NAME, then the host name).")
    String node;

    @Option(names = "--ztunnel-namespace", scope = ScopeType.INHERIT, paramLabel = "NS",
            description = "Namespace of ztunnel's Pods (label app=ztunnel), for 'ztunnel set --auto', the agent, and "
                    + "to refuse enrolling ztunnel itself (default: istio-system).")
    String ztunnelNamespace = "istio-system";

    @Option(names = "--node-netns", scope = ScopeType.INHERIT, paramLabel = "NETNS",
            completionCandidates = NetnsNames.class,
            description = "The node's network namespace, where pods' host-side veths live (default: the one "
                    + "ambientctl runs in). The lab uses it to stand in for a node.")
    String nodeNetns;

    @Option(names = "--lab", scope = ScopeType.INHERIT, paramLabel = "NAME",
            description = "Work on the local lab NAME (see 'lab up'): its node namespace NAME-node, pins under "
                    + "/sys/fs/bpf/ambientctl-lab-NAME and state under STATE_DIR/lab-NAME.")
    String lab;

    @Option(names = {"-v", "--verbose"}, scope = ScopeType.INHERIT, description = "More detail on stderr.")
    boolean verbose;

    @Option(names = {"-q", "--quiet"}, scope = ScopeType.INHERIT, description = "Only errors on stderr.")
    boolean quiet;

    @Option(names = "--stacktrace", scope = ScopeType.INHERIT, description = "Print stack traces of errors.")
    boolean stacktrace;

    public Format output() {
        return output;
    }
}
