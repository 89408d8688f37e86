package io.ambientctl.cli;

import java.time.Duration;
import java.util.concurrent.Callable;

import io.ambientctl.kube.AgentSettings;
import io.ambientctl.kube.KubeNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "agent", header = "Run the node agent: enroll this node's Pods in the ambient mesh, unenroll the rest.", description = {
    "Run the node agent: watch this node's Pods and the namespaces (informers, not polling) and keep the redirection "
            + "equal to the ambient mesh: a running Pod labelled istio.io/dataplane-mode=ambient, or in a namespace so "
            + "labelled (and not labelled none itself), is enrolled and annotated ambient.istio.io/redirection=enabled; "
            + "the rest, and deleted Pods, are unenrolled. ztunnel's Pod (app=ztunnel in --ztunnel-namespace) is followed "
            + "when it is replaced. On start and every --resync everything is reconciled, so a restart repairs missed "
            + "events. Workloads enrolled by network namespace (--netns) are left alone.",
    "Every --verify-every the kernel is checked: every enrolled workload and ztunnel's side verified in one read of "
            + "the node, as 'status' does; what drifted (an entry deleted by hand, a veth re-created, hooks, chains, "
            + "rules or the nft table removed by another tool, the pins lost in a reboot) is repaired as 'repair' "
            + "does, with a log line, a metric and an Event on the Pod. Events (core/v1) on the Pods: Enrolled, "
            + "Unenrolled, EnrollSkipped, EnrollFailed, RedirectionRepaired.",
    "Metrics: Prometheus text format at http://--metrics-address/metrics (ambientctl_* series: per-workload "
            + "redirected packets and bytes and drops in eBPF mode, enrolled workloads, mode, ztunnel present, "
            + "reconcile runs, duration and errors, kernel checks, drift repairs by kind, API errors).",
    "Health: GET http://127.0.0.1:PORT/healthz (live) and /readyz (watching and reconciled). While the API server "
            + "cannot be reached the agent is live but not ready, and tries again after 1 s, doubling up to 30 s, one "
            + "line each time. Stops on SIGTERM or SIGINT, leaving the redirection in place."},
        footerHeading = "%nExamples:%n", footer = {
            "  NODE_NAME=worker-1 ambientctl agent",
            "  ambientctl agent --kubeconfig ~/.kube/config --node worker-1 --health-port 0",
            "  ambientctl agent --verify-every 30s --metrics-address 127.0.0.1:9884"})
public class AgentCommand extends BaseCommand implements Callable<Integer> {
    @Option(names = "--health-port", paramLabel = "PORT",
            description = "Port of /healthz and /readyz on 127.0.0.1 (default: " + AgentSettings.DEFAULT_HEALTH_PORT
                    + "; 0: any free port, printed on start as 'health: listening on 127.0.0.1:PORT'; -1: none).")
    int healthPort = AgentSettings.DEFAULT_HEALTH_PORT;

    @Option(names = "--resync", paramLabel = "DURATION", converter = WaitOption.DurationConverter.class,
            description = "Reconcile everything this often, besides events (default: 5m).")
    Duration resync = Duration.ofMinutes(5);

    @Option(names = "--verify-every", paramLabel = "DURATION", converter = WaitOption.DurationConverter.class,
            description = "Check the kernel against the node state this often and repair what drifted (default: 10s).")
    Duration verifyEvery = AgentSettings.DEFAULT_VERIFY_EVERY;

    @Option(names = "--metrics-address", paramLabel = "HOST:PORT",
            description = "Where to serve Prometheus metrics (/metrics): HOST:PORT, [IPv6]:PORT, :PORT (all addresses) "
                    + "or none (default: " + AgentSettings.DEFAULT_METRICS_ADDRESS + "; port 0: any free port, printed "
                    + "on start as 'metrics: listening on HOST:PORT').")
    String metricsAddress = AgentSettings.DEFAULT_METRICS_ADDRESS;

    @Option(names = "--lock-wait", paramLabel = "DURATION", converter = WaitOption.DurationConverter.class,
            description = "How long a change waits for the node lock held by another ambientctl (default: 30s).")
    Duration lockWait = Duration.ofSeconds(30);

    @Option(names = "--take-over", description = "Run even when istio-cni is on this node (its CNI configuration, its "
            + "ISTIO_* chains, ztunnel's /var/run/ztunnel, or its node agent's Pod (k8s-app=istio-cni-node) on this node), taking its Pods over; without it the agent refuses to run "
            + "beside istio-cni (two controllers of the same label and annotation would fight), and a running agent stops "
            + "(exit 1) when istio-cni's node agent Pod starts on this node.")
    boolean takeOver;

    @Override
    public Integer call() throws InterruptedException {
        io.ambientctl.preflight.KernelProbes probes = new io.ambientctl.preflight.KernelProbes(config().nodeNetns());
        try {
            io.ambientctl.preflight.Coexistence.requireNoIstioCni(probes.nodeRules(),
                    io.ambientctl.preflight.Coexistence.IstioPaths.REAL, takeOver, this::info);
        } finally {
            probes.close();
        }
        AgentSettings settings = AgentSettings.defaults().withResync(resync).withHealthPort(healthPort)
                .withVerifyEvery(verifyEvery).withMetricsAddress(AgentSettings.metricsAddress(metricsAddress));
        // what an older agent (or CLI) installed is upgraded in place before anything else (a rolling update)
        node(lockWait).upgrade(false).forEach(line -> info("upgrade: " + line));
        // istio-cni's node agent Pod on this node: the agent looks for it in its first listing, before any change,
        // and in every later event (istio-cni installed while the agent runs); without --take-over it stops
        try (KubeNode kube = KubeSupport.connect(g(), node(lockWait))) {
            return run(kube, settings.withTakeOver(takeOver));
        }
    }

    private Integer run(KubeNode kube, AgentSettings settings) throws InterruptedException {
        String refusal;
        try (var agent = kube.startAgent(settings, this::info)) {
            info("agent: running on node " + kube.nodeName()); // the health port: its own line, as soon as it listens
            // SIGTERM/SIGINT: stop watching, finish the batch at hand, leave the redirection as it is
            Thread stop = new Thread(agent::close, "agent-stop");
            Runtime.getRuntime().addShutdownHook(stop);
            try {
                agent.awaitStop();
            } finally {
                try {
                    Runtime.getRuntime().removeShutdownHook(stop);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is running: it stops the agent
                }
            }
            refusal = agent.refusal();
        }
        if (refusal != null) {
            throw new IllegalStateException(refusal);
        }
        return ExitCode.OK;
    }
}
