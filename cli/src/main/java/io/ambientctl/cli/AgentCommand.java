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
    "Health: GET http://127.0.0.1:PORT/healthz (live) and /readyz (watching and reconciled). While the API server "
            + "cannot be reached the agent is live but not ready, and tries again after 1 s, doubling up to 30 s, one "
            + "line each time. Stops on SIGTERM or SIGINT, leaving the redirection in place."},
        footerHeading = "%nExamples:%n", footer = {
            "  NODE_NAME=worker-1 ambientctl agent",
            "  ambientctl agent --kubeconfig ~/.kube/config --node worker-1 --health-port 0"})
public class AgentCommand extends BaseCommand implements Callable<Integer> {
    @Option(names = "--health-port", paramLabel = "PORT",
            description = "Port of /healthz and /readyz on 127.0.0.1 (default: " + AgentSettings.DEFAULT_HEALTH_PORT
                    + "; 0: any free port, printed on start as 'health: listening on 127.0.0.1:PORT'; -1: none).")
    int healthPort = AgentSettings.DEFAULT_HEALTH_PORT;

    @Option(names = "--resync", paramLabel = "DURATION", converter = WaitOption.DurationConverter.class,
            description = "Reconcile everything this often, besides events (default: 5m).")
    Duration resync = Duration.ofMinutes(5);

    @Option(names = "--lock-wait", paramLabel = "DURATION", converter = WaitOption.DurationConverter.class,
            description = "How long a change waits for the node lock held by another ambientctl (default: 30s).")
    Duration lockWait = Duration.ofSeconds(30);

    @Override
    public Integer call() throws InterruptedException {
        AgentSettings settings = AgentSettings.defaults().withResync(resync).withHealthPort(healthPort);
        // what an older agent (or CLI) installed is upgraded in place before anything else (a rolling update)
        node(lockWait).upgrade(false).forEach(line -> info("upgrade: " + line));
        try (KubeNode kube = KubeSupport.connect(g(), node(lockWait));
             var agent = kube.startAgent(settings, this::info)) {
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
        }
        return ExitCode.OK;
    }
}
