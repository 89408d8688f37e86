package io.ambientctl.kube;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import io.ambientctl.redirect.Counters;
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.RedirectMode;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.core.metrics.Info;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * The agent's Prometheus metrics (the Prometheus Java client writes the exposition format), in a registry of
 * their own, served on {@code --metrics-address} at /metrics.
 *
 * <p>The per-workload series come from the last kernel check's snapshot ({@link #kernel}): only workloads
 * enrolled then have series, so a workload's series go with it (bounded cardinality: one series per enrolled
 * workload and direction). A workload enrolled by network namespace (not a Pod) carries {@code namespace=""} and
 * its network namespace as {@code pod}.
 */
final class AgentMetrics implements AutoCloseable {
    /** A repair of drift, by kind (see {@link Drift.Kind}). */
    private final Counter driftRepairs;
    private final Counter reconcileRuns;
    private final Counter reconcileErrors;
    private final Histogram reconcileDuration;
    private final Counter kernelChecks;
    private final Counter kernelCheckErrors;
    private final Histogram kernelCheckDuration;
    private final Counter apiErrors;
    private final Counter podEvents;
    private final Info mode;
    private final Gauge ztunnelPresent;
    private final Gauge enrolled;
    final PrometheusRegistry registry = new PrometheusRegistry();
    private volatile Snapshot last = new Snapshot(List.of());
    private HTTPServer server;

    /** One workload's counters as the last kernel check read them. */
    record Row(String namespace, String pod, Counters counters) {
    }

    /** What the last kernel check read: the enrolled workloads' counters (empty in the modes that count none). */
    record Snapshot(List<Row> rows) {
    }

    AgentMetrics() {
        driftRepairs = Counter.builder().name("ambientctl_drift_repairs_total")
                .help("Repairs of the kernel's redirection that the agent's kernel check made, by kind of drift")
                .labelNames("kind").register(registry);
        for (Drift.Kind k : Drift.Kind.values()) {
            driftRepairs.labelValues(k.label()); // every kind shows, at 0, before its first repair
        }
        reconcileRuns = Counter.builder().name("ambientctl_reconcile_runs_total")
                .help("Batches of Pods the agent reconciled with the node").register(registry);
        reconcileErrors = Counter.builder().name("ambientctl_reconcile_errors_total")
                .help("Pods (or whole batches) whose reconciliation failed and is retried").register(registry);
        reconcileDuration = Histogram.builder().name("ambientctl_reconcile_duration_seconds")
                .help("Time to reconcile one batch of Pods (enroll/unenroll under the node lock, annotations)")
                .classicOnly().classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
                .register(registry);
        kernelChecks = Counter.builder().name("ambientctl_kernel_checks_total")
                .help("Kernel checks: every enrolled workload verified against the kernel in one read of the node")
                .register(registry);
        kernelCheckErrors = Counter.builder().name("ambientctl_kernel_check_errors_total")
                .help("Kernel checks or repairs that failed (the log says why)").register(registry);
        kernelCheckDuration = Histogram.builder().name("ambientctl_kernel_check_duration_seconds")
                .help("Time of one kernel check (without the repair it may trigger)")
                .classicOnly().classicUpperBounds(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
                .register(registry);
        apiErrors = Counter.builder().name("ambientctl_api_errors_total")
                .help("Failed calls to the Kubernetes API, by operation (watch, annotate, event)")
                .labelNames("operation").register(registry);
        podEvents = Counter.builder().name("ambientctl_pod_events_total")
                .help("Kubernetes Events the agent recorded on Pods, by reason").labelNames("reason")
                .register(registry);
        mode = Info.builder().name("ambientctl_mode_info").help("The node's redirection mode (ebpf, iptables, "
                + "nftables; none before anything is enrolled)").labelNames("mode").register(registry);
        mode.setLabelValues(RedirectMode.none.name());
        ztunnelPresent = Gauge.builder().name("ambientctl_ztunnel_present")
                .help("1 when the node has a ztunnel set, else 0 (enrolled Pods then fail closed, or open if chosen)")
                .register(registry);
        enrolled = Gauge.builder().name("ambientctl_workloads_enrolled")
                .help("Workloads the node's state holds as enrolled").register(registry);
        workloadCounter("ambientctl_workload_redirected_packets_total",
                "Packets of the workload redirected to ztunnel, by direction (out: sent by the workload, in: sent to "
                        + "it); eBPF mode only", true, true);
        workloadCounter("ambientctl_workload_redirected_bytes_total",
                "Bytes of the workload redirected to ztunnel, by direction (out: sent by the workload, in: sent to it); "
                        + "eBPF mode only", false, true);
        workloadCounter("ambientctl_workload_dropped_packets_total",
                "Packets of the workload dropped by the datapath, by reason (noZtunnel: fail closed, no ztunnel set; "
                        + "noListener: ztunnel not listening; assignFailed; rewriteFailed); eBPF mode only",
                true, false);
    }

    /**
     * The per-workload counters, read at scrape time from the last kernel check's snapshot. The drops: one series
     * per workload and drop reason of the datapath's table (DropReason; every reason shows, at 0).
     */
    private void workloadCounter(String name, String help, boolean packets, boolean directions) {
        CounterWithCallback.Builder b = CounterWithCallback.builder().name(name).help(help);
        if (directions) {
            b.labelNames("namespace", "pod", "direction").callback(cb -> {
                for (Row r : last.rows()) {
                    Counters c = r.counters();
                    cb.call(packets ? c.outPackets() : c.outBytes(), r.namespace(), r.pod(), "out");
                    cb.call(packets ? c.inPackets() : c.inBytes(), r.namespace(), r.pod(), "in");
                }
            });
        } else {
            b.labelNames("namespace", "pod", "reason").callback(cb -> {
                for (Row r : last.rows()) {
                    for (Map.Entry<String, Long> d : r.counters().dropsByReason().entrySet()) {
                        cb.call(d.getValue(), r.namespace(), r.pod(), d.getKey());
                    }
                }
            });
        }
        b.register(registry);
    }

    /** Serves /metrics on {@code address} (null: not served). */
    void serve(InetSocketAddress address) {
        if (address == null) {
            return;
        }
        try {
            ExecutorService pool = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "agent-metrics");
                t.setDaemon(true);
                return t;
            });
            server = HTTPServer.builder().inetAddress(address.getAddress()).port(address.getPort()).registry(registry)
                    .registerHealthHandler(false).executorService(pool).buildAndStart();
        } catch (IOException e) {
            throw new IllegalStateException("agent: cannot listen on " + address.getHostString() + ":"
                    + address.getPort() + " for metrics (" + e.getMessage() + "); pick another --metrics-address, or "
                    + "'none'", e);
        }
    }

    /** The metrics port actually bound (-1 when not served). */
    int port() {
        return server == null ? -1 : server.getPort();
    }

    /** What one kernel check read: mode, ztunnel, the enrolled workloads and their counters. */
    void kernel(Node.Status st, long nanos) {
        kernelChecks.inc();
        kernelCheckDuration.observe(nanos / 1e9);
        mode.setLabelValues(st.mode().name());
        ztunnelPresent.set(st.ztunnel() != null ? 1 : 0);
        enrolled.set(st.workloads().size());
        last = new Snapshot(st.workloads().stream().map(w -> new Row(
                w.workload().namespace() != null ? w.workload().namespace() : "",
                w.workload().namespace() != null ? w.workload().name() : w.workload().netns(), w.counters())).toList());
    }

    void kernelCheckFailed() {
        kernelCheckErrors.inc();
    }

    void repaired(Drift.Kind kind) {
        driftRepairs.labelValues(kind.label()).inc();
    }

    void reconciled(long nanos, int errors) {
        reconcileRuns.inc();
        reconcileDuration.observe(nanos / 1e9);
        if (errors > 0) {
            reconcileErrors.inc(errors);
        }
    }

    void reconcileError() {
        reconcileErrors.inc();
    }

    void apiError(String operation) {
        apiErrors.labelValues(operation).inc();
    }

    void event(String reason) {
        podEvents.labelValues(reason).inc();
    }

    /** The counts, for tests and the bench: a drift kind's repairs. */
    long repairs(Drift.Kind kind) {
        return (long) driftRepairs.labelValues(kind.label()).get();
    }

    /** Kernel checks run so far. */
    long checks() {
        return kernelChecks.getLongValue();
    }

    @Override
    public void close() {
        if (server != null) {
            server.close();
        }
    }

    /** The counters per workload id, as a map for lookups (tests). */
    Map<String, Counters> countersByKey() {
        Map<String, Counters> m = new java.util.HashMap<>();
        last.rows().forEach(r -> m.put(r.namespace().isEmpty() ? r.pod() : r.namespace() + "/" + r.pod(),
                r.counters()));
        return m;
    }
}
