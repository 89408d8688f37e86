package io.ambientctl.kube;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.State;
import io.ambientctl.redirect.Workload;
import io.ambientctl.redirect.Ztunnel;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.informers.cache.Cache;

/**
 * The node agent: informers on this node's Pods (the API filters by spec.nodeName) and on the
 * namespaces; every event marks Pod keys dirty, and one worker reconciles them in batches: a Pod in
 * the ambient mesh (istio.io/dataplane-mode=ambient on it or its namespace, not "none" on it) that
 * runs here is enrolled and annotated; an enrolled Pod that left the mesh, stopped or was deleted is
 * unenrolled. ztunnel's own Pod is followed: when it is replaced (new veth, new MAC) the node's
 * ztunnel is set again. On start, and every resync period, every Pod the API shows and every Pod
 * the node state holds is reconciled, so a restart or a missed event repairs itself.
 *
 * <p>Every {@code verifyEvery} (and after each resync) a kernel check verifies every enrolled workload and
 * ztunnel's side against the kernel in one read of the node ({@link Node#status()}, as {@code ambientctl status}
 * does); when anything drifted (an entry deleted by hand, a veth re-created, hooks, chains, rules or the nft
 * table removed by another tool, the pins lost in a reboot) it repairs the node through {@link Node#repair}
 * under the node lock, with a log line, a metric per repair by kind, and an Event on the Pod concerned. The
 * check also refreshes the per-workload counters of the Prometheus metrics ({@link AgentMetrics}).
 *
 * <p>Stopping leaves the redirection in place (the Pods keep their traffic going through ztunnel);
 * workloads of bare network namespaces (not Pods) are never touched.
 */
public final class Agent implements AutoCloseable {
    static final String ZTUNNEL_KEY = "@ztunnel";
    /** The kernel check's key: queued by its timer, run by the worker between batches (never beside one). */
    static final String KERNEL_KEY = "@kernel";

    private final KubernetesClient client;
    private final Node node;
    private final KubeOptions options;
    private final String nodeName;
    private final AgentSettings settings;
    private final Consumer<String> log;
    private final ScheduledExecutorService timer;
    private final WorkQueue queue;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final AtomicLong heartbeat = new AtomicLong(System.nanoTime());
    private final AtomicLong enrolls = new AtomicLong();
    private final AtomicLong unenrolls = new AtomicLong();
    private volatile SharedIndexInformer<Pod> pods;
    private volatile SharedIndexInformer<Namespace> namespaces;
    private final CountDownLatch closeDone = new CountDownLatch(1);
    private HealthServer health;
    private Thread worker;
    private volatile boolean stopping;
    private boolean closed;
    private volatile boolean reconciledOnce;
    private volatile String lastZtunnelProblem;
    private final AgentMetrics metrics = new AgentMetrics();
    private final PodEvents events;
    /** The mode as the last kernel check saw it (for the Events' messages). */
    private volatile io.ambientctl.redirect.RedirectMode mode;
    private volatile String lastKernelProblem;
    /** When the kernel check came due and was put behind waiting Pods (0: not waiting). */
    private long checkDueSince;
    /** Pods told (by an Event) why they are skipped, by key: told once per reason. */
    private final java.util.Map<String, String> skipped = new java.util.concurrent.ConcurrentHashMap<>();
    /** istio-cni's node agent Pods seen on this node (told once each). */
    private final java.util.Set<String> istioCniSeen = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private volatile String refusal;

    Agent(KubernetesClient client, Node node, KubeOptions options, AgentSettings settings, Consumer<String> log) {
        this.client = client;
        this.node = node;
        this.options = options;
        this.nodeName = options.nodeName();
        this.settings = settings;
        this.log = log == null ? s -> { } : log;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "agent-timer");
            t.setDaemon(true);
            return t;
        });
        this.queue = new WorkQueue(timer, settings.maxRetryDelay());
        this.events = new PodEvents(client, nodeName, metrics, this.log);
    }

    /** The first wait before connecting to the API again, and the longest. */
    static final Duration FIRST_RETRY = Duration.ofSeconds(1);
    static final Duration MAX_RETRY = Duration.ofSeconds(30);

    /**
     * Starts the health endpoints (not ready yet) and the worker, which connects: starts the informers and waits
     * for their first listing (while the API server cannot be reached or refuses, one log line per attempt, the
     * next after 1 s, doubling up to 30 s), reconciles everything, then follows events.
     */
    void start() {
        // the client's informers log each failed listing with its stack trace: the agent says it in one line
        System.setProperty("org.slf4j.simpleLogger.log.io.fabric8.kubernetes.client.informers", "off");
        try {
            if (settings.healthPort() >= 0) {
                health = HealthServer.start(settings.healthPort(), this::live, this::ready);
                log.accept("health: listening on 127.0.0.1:" + health.port());
            }
            if (settings.metricsAddress() != null) {
                metrics.serve(settings.metricsAddress());
                log.accept("metrics: listening on " + io.ambientctl.net.IpAddrs.format(
                        settings.metricsAddress().getAddress()) + ":" + metrics.port() + " (/metrics)");
            }
            worker = new Thread(this::run, "agent-worker");
            worker.setDaemon(true);
            worker.start();
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private void run() {
        try {
            Duration delay = FIRST_RETRY;
            while (!stopping) {
                heartbeat.set(System.nanoTime());
                String failure = connect();
                if (failure == null || stopping) {
                    break; // (an attempt cut short by stopping is no failure to report)
                }
                log.accept("agent: " + failure + "; not ready, retry in " + delay.toSeconds() + " s");
                long until = System.nanoTime() + delay.toNanos();
                while (!stopping && System.nanoTime() < until) {
                    heartbeat.set(System.nanoTime());
                    Thread.sleep(Math.min(200, Math.max(1, (until - System.nanoTime()) / 1_000_000)));
                }
                delay = delay.multipliedBy(2).compareTo(MAX_RETRY) > 0 ? MAX_RETRY : delay.multipliedBy(2);
            }
            if (!stopping) {
                work();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            stopped.countDown();
        }
    }

    /** Starts the informers and waits for their first listing; null when they listed, else what went wrong. */
    private String connect() throws InterruptedException {
        SharedIndexInformer<Pod> p = null;
        SharedIndexInformer<Namespace> n = null;
        try {
            p = client.pods().inAnyNamespace().withField("spec.nodeName", nodeName).runnableInformer(0);
            p.addEventHandler(new ResourceEventHandler<Pod>() {
                @Override
                public void onAdd(Pod pod) {
                    podChanged(pod);
                }

                @Override
                public void onUpdate(Pod old, Pod pod) {
                    podChanged(pod);
                }

                @Override
                public void onDelete(Pod pod, boolean unknownFinalState) {
                    podChanged(pod);
                }
            });
            n = client.namespaces().runnableInformer(0);
            n.addEventHandler(new ResourceEventHandler<Namespace>() {
                @Override
                public void onAdd(Namespace ns) {
                    namespaceChanged(ns);
                }

                @Override
                public void onUpdate(Namespace old, Namespace ns) {
                    if (!Objects.equals(mode(old), mode(ns))) {
                        namespaceChanged(ns);
                    }
                }

                @Override
                public void onDelete(Namespace ns, boolean unknownFinalState) {
                    namespaceChanged(ns);
                }
            });
            synchronized (this) {
                if (stopping) {
                    return null;
                }
                pods = p;
                namespaces = n;
            }
            CompletableFuture<Void> both = CompletableFuture.allOf(p.start().toCompletableFuture(),
                    n.start().toCompletableFuture());
            long deadline = System.nanoTime() + settings.syncTimeout().toNanos();
            while (true) { // in slices, so the worker counts as live (/healthz) while it waits for the API
                heartbeat.set(System.nanoTime());
                try {
                    both.get(Math.min(1000, Math.max(1, (deadline - System.nanoTime()) / 1_000_000)),
                            TimeUnit.MILLISECONDS);
                    break;
                } catch (java.util.concurrent.TimeoutException slice) {
                    if (stopping || System.nanoTime() >= deadline) {
                        throw slice;
                    }
                }
            }
            // istio-cni's node agent is looked for before the first change (the handlers may not have seen the
            // listing yet)
            p.getStore().list().stream().filter(this::istioCniHere).forEach(this::istioCni);
            if (refusal != null) {
                return null;
            }
            log.accept("agent: node " + nodeName + ", " + p.getStore().list().size() + " Pods here, "
                    + n.getStore().list().size() + " namespaces; reconciling");
            enqueueEverything();
            timer.scheduleAtFixedRate(this::enqueueEverything, settings.resync().toMillis(),
                    settings.resync().toMillis(), TimeUnit.MILLISECONDS);
            timer.scheduleAtFixedRate(() -> queue.add(KERNEL_KEY), settings.verifyEvery().toMillis(),
                    settings.verifyEvery().toMillis(), TimeUnit.MILLISECONDS);
            return null;
        } catch (java.util.concurrent.TimeoutException e) {
            stopInformers(p, n);
            metrics.apiError("watch");
            return "the API at " + client.getMasterUrl() + " did not list Pods and namespaces within "
                    + settings.syncTimeout().toSeconds() + " s (is it reachable, and may this account list them?)";
        } catch (java.util.concurrent.ExecutionException | RuntimeException e) {
            stopInformers(p, n);
            metrics.apiError("watch");
            Throwable c = e instanceof java.util.concurrent.ExecutionException ? e.getCause() : e;
            while (c instanceof java.util.concurrent.CompletionException && c.getCause() != null) {
                c = c.getCause();
            }
            return c instanceof io.fabric8.kubernetes.client.KubernetesClientException k
                    ? KubeClients.apiFailure("watching Pods and namespaces at " + client.getMasterUrl(), k).getMessage()
                    : "cannot watch Pods and namespaces at " + client.getMasterUrl() + ": " + rootMessage(c);
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable r = t;
        while (r.getCause() != null && r.getCause() != r) {
            r = r.getCause();
        }
        String m = r.getMessage() != null ? r.getMessage() : r.getClass().getSimpleName();
        return t.getMessage() != null && t != r && !t.getMessage().contains(m) ? t.getMessage() + " (" + m + ")" : m;
    }

    private synchronized void stopInformers(SharedIndexInformer<Pod> p, SharedIndexInformer<Namespace> n) {
        if (p != null) {
            p.stop();
        }
        if (n != null) {
            n.stop();
        }
        pods = null;
        namespaces = null;
    }

    private static String mode(Namespace ns) {
        return ns == null || ns.getMetadata().getLabels() == null ? null
                : ns.getMetadata().getLabels().get(Pods.DATAPLANE_MODE);
    }

    private void podChanged(Pod p) {
        if (istioCniHere(p)) {
            istioCni(p);
        }
        queue.add(Pods.key(p));
        if (Pods.isZtunnel(p, options.ztunnelNamespace())) {
            queue.add(ZTUNNEL_KEY);
        }
    }

    /** istio-cni's node agent (label k8s-app=istio-cni-node) on this node, not terminating. */
    private boolean istioCniHere(Pod p) {
        return p.getMetadata().getLabels() != null && KubeNode.ISTIO_CNI_LABEL_VALUE.equals(
                p.getMetadata().getLabels().get(KubeNode.ISTIO_CNI_LABEL)) && nodeName.equals(Pods.nodeName(p))
                && !Pods.terminating(p);
    }

    /**
     * istio-cni's node agent runs here (at the first listing, or started later): with --take-over its Pods are
     * ours, said once; without it the agent stops before (or after) its batch at hand, with the refusal as its
     * failure: two controllers of the same label and annotation would fight over the Pods.
     */
    private void istioCni(Pod p) {
        String key = Pods.key(p);
        if (!istioCniSeen.add(key)) {
            return;
        }
        if (settings.takeOver()) {
            log.accept("agent: istio-cni's node agent runs on this node (Pod " + key + "); taking its Pods over "
                    + "(--take-over)");
            return;
        }
        refusal = "istio-cni's node agent runs on this node (Pod " + key + "): it owns the istio.io/dataplane-mode "
                + "label and the ambient.istio.io/redirection annotation too, and two controllers would fight over the "
                + "Pods; remove istio-cni from this node first, or run with --take-over to take its Pods over";
        log.accept("agent: " + refusal + "; stopping (the redirection stays as it is)");
        stopping = true;
    }

    /** Why the agent stopped by itself (istio-cni's node agent on this node without --take-over), else null. */
    public String refusal() {
        return refusal;
    }

    private void namespaceChanged(Namespace ns) {
        if (pods == null) {
            return;
        }
        for (Pod p : pods.getIndexer().byIndex(Cache.NAMESPACE_INDEX, ns.getMetadata().getName())) {
            queue.add(Pods.key(p));
        }
    }

    /** Every Pod the API shows here, every Pod workload the node holds, and ztunnel. */
    private void enqueueEverything() {
        SharedIndexInformer<Pod> informer = pods;
        if (informer == null) {
            return;
        }
        queue.add(ZTUNNEL_KEY);
        informer.getStore().list().forEach(p -> queue.add(Pods.key(p)));
        try {
            node.recorded().workloads.stream().filter(w -> w.namespace() != null).forEach(w -> queue.add(w.key()));
        } catch (RuntimeException e) {
            log.accept("agent: cannot read the node state: " + e.getMessage());
        }
        queue.add(KERNEL_KEY); // after the Pods: what they change is no drift
    }

    private void work() throws InterruptedException {
        boolean watching = true;
        while (!stopping) {
            heartbeat.set(System.nanoTime());
            boolean now = pods.isWatching() && namespaces.isWatching();
            if (now != watching) {
                log.accept(now ? "agent: watching the API again" : "agent: lost the watch on the API at "
                        + client.getMasterUrl() + "; the client reconnects (not ready meanwhile)");
                if (!now) {
                    metrics.apiError("watch");
                }
                watching = now;
            }
            List<String> batch = queue.take(settings.batch(), Duration.ofMillis(500));
            if (batch.isEmpty()) {
                if (!reconciledOnce) {
                    reconciledOnce = true;
                    log.accept("agent: ready");
                }
                continue;
            }
            boolean check = batch.remove(KERNEL_KEY);
            if (!batch.isEmpty()) {
                long t0 = System.nanoTime();
                try {
                    int errors = reconcile(batch);
                    metrics.reconciled(System.nanoTime() - t0, errors);
                } catch (RuntimeException e) {
                    metrics.reconciled(System.nanoTime() - t0, 1);
                    log.accept("agent: reconciling " + batch.size() + " keys failed, will retry: " + e.getMessage());
                    batch.forEach(queue::retryLater);
                }
            }
            if (check) {
                // Pods waiting go first (a burst is not slowed by a check between its batches), but a check waits
                // at most one period
                long due = System.nanoTime();
                if (checkDueSince == 0) {
                    checkDueSince = due;
                }
                if (queue.size() > 0 && due - checkDueSince < settings.verifyEvery().toNanos()) {
                    queue.add(KERNEL_KEY);
                } else {
                    checkDueSince = 0;
                    verifyKernel();
                }
            }
        }
    }

    private record Change(Pod pod, Node.Target target) {
    }

    /** Reconciles the keys with the node; returns how many failed (and come back later). */
    private int reconcile(List<String> batch) {
        int errors = 0;
        if (batch.remove(ZTUNNEL_KEY)) {
            try {
                reconcileZtunnel();
            } catch (RuntimeException e) {
                errors++;
                log.accept("agent: following ztunnel failed, will retry: " + e.getMessage());
                queue.retryLater(ZTUNNEL_KEY);
            }
        }
        State state = node.recorded();
        if (state.mode != io.ambientctl.redirect.RedirectMode.none) {
            mode = state.mode;
        }
        PodNetns where = PodNetns.of(node.config().nodeNetns());
        List<Change> enroll = new ArrayList<>();
        List<Change> unenroll = new ArrayList<>();
        for (String key : batch) {
            Pod p = pods.getStore().getByKey(key);
            Optional<Workload> rec = state.workload(key);
            if (p == null) {
                skipped.remove(key);
            }
            if (p != null && wanted(p)) {
                skipped.remove(key);
                if (rec.isPresent() && Objects.equals(rec.get().uid(), Pods.uid(p))
                        && NetNs.parse(rec.get().netns()).exists()) {
                    if (!Pods.annotated(p)) {
                        annotate(key, true);
                    }
                    queue.forget(key);
                    continue;
                }
                try {
                    long tf = io.ambientctl.util.Trace.start();
                    PodNetns.Located at = where.find(key, Pods.ips(p));
                    io.ambientctl.util.Trace.since(tf, "agent: " + key + " located");
                    enroll.add(new Change(p, new Node.Target(at.netns(), p.getMetadata().getName(),
                            p.getMetadata().getNamespace(), Pods.uid(p), null, Pods.dnsCapture(p))));
                } catch (RuntimeException e) {
                    errors++;
                    String retry = "retry in " + queue.retryLater(key).toMillis() + " ms";
                    log.accept("agent: " + key + ": " + e.getMessage() + "; " + retry);
                    events.warning(p, PodEvents.FAILED, "Cannot redirect this Pod's traffic to ztunnel on node "
                            + nodeName + ": " + e.getMessage() + "; " + retry);
                }
            } else if (rec.isPresent()) {
                PodRef ref = PodRef.parse(key, null);
                unenroll.add(new Change(p, new Node.Target(null, ref.name(), ref.namespace(), null)));
            } else {
                if (p != null && Pods.annotated(p)) {
                    annotate(key, false);
                }
                if (p != null) {
                    skip(key, p);
                }
                queue.forget(key);
            }
        }
        long t0 = System.nanoTime();
        if (!unenroll.isEmpty()) {
            errors += apply(unenroll, false);
        }
        if (!enroll.isEmpty()) {
            errors += apply(enroll, true);
        }
        if (enroll.size() + unenroll.size() > 1) {
            log.accept("agent: batch of " + batch.size() + " keys: " + enroll.size() + " to enroll, " + unenroll.size()
                    + " to unenroll, " + (System.nanoTime() - t0) / 1_000_000 + " ms");
        }
        return errors;
    }

    /**
     * A Pod that asks for the mesh (ambient on it, or on its namespace and not none on it) but is not enrolled
     * for a lasting reason (an Istio sidecar, the host network) is told why by an Event, once per reason. Not
     * yet running or without an IP is no reason: it is enrolled when it runs.
     */
    private void skip(String key, Pod p) {
        if (Pods.isZtunnel(p, options.ztunnelNamespace()) || !nodeName.equals(Pods.nodeName(p))) {
            return;
        }
        java.util.Map<String, String> labels = p.getMetadata().getLabels();
        String own = labels == null ? null : labels.get(Pods.DATAPLANE_MODE);
        Namespace ns = namespaces.getStore().getByKey(p.getMetadata().getNamespace());
        String nsMode = ns == null ? null : mode(ns);
        if (!(Pods.AMBIENT.equals(own) || (!Pods.NONE.equals(own) && Pods.AMBIENT.equals(nsMode)))) {
            skipped.remove(key);
            return;
        }
        String why = null;
        java.util.Map<String, String> annotations = p.getMetadata().getAnnotations();
        if (annotations != null && annotations.containsKey(Pods.SIDECAR_STATUS)) {
            why = "it has an Istio sidecar (annotation " + Pods.SIDECAR_STATUS + "), which handles its traffic; "
                    + "remove the sidecar to use the ambient mesh";
        } else if (Pods.hostNetwork(p)) {
            why = "it uses the host network (hostNetwork: true): its traffic is the node's own and would loop "
                    + "through ztunnel";
        }
        if (why != null && !why.equals(skipped.put(key, why))) {
            log.accept("agent: " + key + " is in an ambient " + (Pods.AMBIENT.equals(own) ? "Pod label" : "namespace")
                    + " but skipped: " + why);
            events.normal(p, PodEvents.SKIPPED, "Not redirected to ztunnel although "
                    + (Pods.AMBIENT.equals(own) ? "labelled " : "its namespace is labelled ") + Pods.DATAPLANE_MODE
                    + "=" + Pods.AMBIENT + ": " + why);
        }
    }

    /** In the mesh, on this node, and redirectable now. */
    private boolean wanted(Pod p) {
        if (Pods.refusal(p, nodeName, options.ztunnelNamespace()).isPresent()) {
            return false;
        }
        Namespace ns = namespaces.getStore().getByKey(p.getMetadata().getNamespace());
        return Pods.inMesh(p, ns);
    }

    /**
     * The whole batch under one lock; if that fails, one by one, so one bad Pod holds up no other. Returns how
     * many failed.
     */
    private int apply(List<Change> changes, boolean enroll) {
        try {
            run(changes, enroll);
            return 0;
        } catch (RuntimeException e) {
            if (changes.size() == 1) {
                Change c = changes.get(0);
                String key = c.target().key();
                String retry = "retry in " + queue.retryLater(key).toMillis() + " ms";
                log.accept("agent: " + (enroll ? "enrolling " : "unenrolling ") + key + " failed: " + e.getMessage()
                        + "; " + retry);
                events.warning(c.pod(), PodEvents.FAILED, (enroll ? "Redirecting this Pod's traffic to ztunnel"
                        : "Removing this Pod's redirection") + " on node " + nodeName + " failed: " + e.getMessage()
                        + "; " + retry);
                return 1;
            }
        }
        int failed = 0;
        for (Change c : changes) {
            failed += apply(List.of(c), enroll);
        }
        return failed;
    }

    private void run(List<Change> changes, boolean enroll) {
        List<Node.Target> targets = changes.stream().map(Change::target).toList();
        java.util.Map<String, Workload> done = new java.util.HashMap<>();
        List<Node.Outcome> outcomes = enroll ? node.enrollTargets(targets, false)
                : node.unenrollTargets(targets, false, false);
        for (Node.Outcome o : outcomes) {
            if (o.workload() != null) {
                done.put(o.workload().key(), o.workload());
            }
        }
        // the annotations, several PATCHes at once (one at a time, 500 Pods wait seconds on the API's round trips)
        List<java.util.concurrent.CompletableFuture<Void>> patches = new ArrayList<>();
        for (Change c : changes) {
            String key = c.target().key();
            (enroll ? enrolls : unenrolls).incrementAndGet();
            log.accept("agent: " + (enroll ? "enrolled " : "unenrolled ") + key);
            if (c.pod() != null) {
                patches.add(java.util.concurrent.CompletableFuture.runAsync(() -> annotate(key, enroll), annotators));
                Workload w = done.get(key);
                String ips = w == null || w.ips() == null ? "" : " (" + String.join(", ", w.ips()) + ")";
                if (enroll) {
                    events.normal(c.pod(), PodEvents.ENROLLED, "Traffic" + ips + " redirected to ztunnel on node "
                            + nodeName + (mode != null && mode != io.ambientctl.redirect.RedirectMode.none
                            ? " (" + mode + " mode)" : ""));
                } else {
                    events.normal(c.pod(), PodEvents.UNENROLLED, "Traffic" + ips + " no longer redirected to ztunnel "
                            + "on node " + nodeName);
                }
            }
            queue.forget(key);
        }
        long tp = io.ambientctl.util.Trace.start();
        patches.forEach(java.util.concurrent.CompletableFuture::join);
        io.ambientctl.util.Trace.since(tp, "agent: " + patches.size() + " annotations patched");
    }

    /** Sends the annotations' PATCHes, a few at a time. */
    private final java.util.concurrent.ExecutorService annotators = Executors.newFixedThreadPool(8, r -> {
        Thread t = new Thread(r, "agent-annotate");
        t.setDaemon(true);
        return t;
    });

    private void annotate(String key, boolean enabled) {
        try {
            RedirectionAnnotation.set(client, PodRef.parse(key, null), enabled);
        } catch (RuntimeException e) {
            metrics.apiError("annotate");
            log.accept("agent: " + e.getMessage() + "; retry in " + queue.retryLater(key).toMillis() + " ms");
        }
    }

    /**
     * The kernel check: every enrolled workload and the node's objects verified against the kernel in one read
     * (read-only, no lock); when anything drifted, the node is repaired through {@link Node#repair} (under the
     * lock, as any change), each repair logged, counted by kind and told to its Pod.
     */
    private void verifyKernel() {
        long t0 = System.nanoTime();
        Node.Status st;
        try {
            st = node.status();
        } catch (RuntimeException e) {
            metrics.kernelCheckFailed();
            kernelProblem("agent: kernel check failed: " + e.getMessage() + "; again in "
                    + settings.verifyEvery().toSeconds() + " s");
            return;
        }
        metrics.kernel(st, System.nanoTime() - t0);
        mode = st.mode();
        if (st.verified()) {
            if (lastKernelProblem != null) {
                log.accept("agent: kernel check: the node is as its state says again");
                lastKernelProblem = null;
            }
            return;
        }
        List<String> did;
        long t1 = System.nanoTime();
        try {
            did = node.repair(false);
        } catch (RuntimeException e) {
            metrics.kernelCheckFailed();
            List<String> problems = new ArrayList<>(st.nodeProblems());
            st.workloads().stream().filter(w -> !w.verification().verified())
                    .forEach(w -> problems.add(w.workload().key() + ": " + String.join("; ", w.verification().problems())));
            kernelProblem("agent: kernel check: the node drifted from its state (" + String.join("; ", problems)
                    + ") and repairing it failed: " + e.getMessage() + "; tried again in "
                    + settings.verifyEvery().toSeconds() + " s");
            return;
        }
        for (Drift.Repair r : Drift.classify(st, did)) {
            r.kinds().forEach(metrics::repaired);
            log.accept("agent: repaired drift (" + r.kinds().stream().map(Drift.Kind::label)
                    .collect(java.util.stream.Collectors.joining(", ")) + "): " + r.line());
            SharedIndexInformer<Pod> informer = pods;
            Pod p = r.key() == null || informer == null ? null : informer.getStore().getByKey(r.key());
            if (p != null) {
                events.warning(p, PodEvents.REPAIRED, "The kernel had drifted from this Pod's redirection on node "
                        + nodeName + "; repaired: " + r.line().substring(r.key().length() + 2));
            }
        }
        long t2 = System.nanoTime();
        // checked again: the metrics get the counters as they are now, and what the repair could not fix is said
        Node.Status after;
        try {
            after = node.status();
        } catch (RuntimeException e) {
            kernelProblem("agent: kernel check after the repair failed: " + e.getMessage());
            return;
        }
        metrics.kernel(after, System.nanoTime() - t2);
        if (after.verified()) {
            log.accept("agent: kernel check: drift repaired in " + (t2 - t1) / 1_000_000 + " ms");
            lastKernelProblem = null;
        } else {
            metrics.kernelCheckFailed();
            List<String> problems = new ArrayList<>(after.nodeProblems());
            after.workloads().stream().filter(w -> !w.verification().verified()).forEach(w -> problems.add(
                    w.workload().key() + ": " + String.join("; ", w.verification().problems())));
            kernelProblem("agent: kernel check: still not as the state says after the repair: "
                    + String.join("; ", problems) + "; tried again in " + settings.verifyEvery().toSeconds() + " s");
        }
    }

    private void kernelProblem(String message) {
        if (!message.equals(lastKernelProblem)) {
            log.accept(message);
            lastKernelProblem = message;
        }
    }

    /** ztunnel's Ready Pod here (the newest): set it as the node's ztunnel when it is not already. */
    private void reconcileZtunnel() {
        Optional<Pod> zt = pods.getStore().list().stream()
                .filter(p -> Pods.isZtunnel(p, options.ztunnelNamespace()) && nodeName.equals(Pods.nodeName(p)))
                .filter(p -> Pods.running(p) && Pods.ready(p) && !Pods.ips(p).isEmpty() && !Pods.terminating(p))
                .max(Comparator.comparing(p -> String.valueOf(p.getMetadata().getCreationTimestamp())));
        if (zt.isEmpty()) {
            String problem = "no Ready ztunnel Pod on this node yet; enrolled Pods "
                    + "keep the last ztunnel set (fail closed if it is gone)";
            if (!problem.equals(lastZtunnelProblem)) {
                log.accept("agent: " + problem);
                lastZtunnelProblem = problem;
            }
            return;
        }
        lastZtunnelProblem = null;
        Pod p = zt.get();
        PodNetns.Located at = PodNetns.of(node.config().nodeNetns()).find(Pods.key(p), Pods.ips(p));
        Ztunnel cur = node.recorded().ztunnel;
        if (cur != null && Pods.key(p).equals(cur.namespace() + "/" + cur.name()) && cur.netns().equals(at.netns().display())
                && (at.hostIfindex() < 0 || at.hostIfindex() == cur.hostIfindex())) {
            return;
        }
        Ztunnel set = node.ztunnelSet(new Node.Target(at.netns(), p.getMetadata().getName(),
                p.getMetadata().getNamespace(), Pods.uid(p)), null, null, false);
        log.accept("agent: ztunnel is " + Pods.key(p) + " (" + set.netns() + ", veth " + set.hostInterface() + ")");
        queue.forget(ZTUNNEL_KEY);
    }

    /** The worker is alive and turned within the last minute. */
    public boolean live() {
        return !stopping && worker != null && worker.isAlive()
                && System.nanoTime() - heartbeat.get() < TimeUnit.MINUTES.toNanos(1);
    }

    /** Started, reconciled once, and the informers are watching. */
    public boolean ready() {
        SharedIndexInformer<Pod> p = pods;
        SharedIndexInformer<Namespace> n = namespaces;
        return live() && reconciledOnce && p != null && n != null && p.isWatching() && n.isWatching();
    }

    /** The metrics port actually bound (-1 without one). */
    public int metricsPort() {
        return metrics.port();
    }

    AgentMetrics metrics() {
        return metrics;
    }

    /** The health port actually bound (-1 without one). */
    public int healthPort() {
        return health == null ? -1 : health.port();
    }

    /** Pods enrolled and unenrolled since start. */
    public long enrolled() {
        return enrolls.get();
    }

    public long unenrolled() {
        return unenrolls.get();
    }

    /** Blocks until the agent stops. */
    public void awaitStop() throws InterruptedException {
        stopped.await();
    }

    /** Stops watching and lets the worker finish its batch; the redirection stays as it is. */
    @Override
    public void close() {
        boolean first;
        synchronized (this) {
            first = !closed;
            if (first) {
                closed = true;
                stopping = true;
                timer.shutdownNow();
                // stopped, not forgotten: the worker finishes the batch at hand with their caches
                if (pods != null) {
                    pods.stop();
                }
                if (namespaces != null) {
                    namespaces.stop();
                }
            }
        }
        if (!first) {
            // a second caller (the signal's hook and the command's own close) waits for the first
            try {
                closeDone.await(40, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return;
        }
        try {
            if (worker != null) {
                try {
                    worker.join(TimeUnit.SECONDS.toMillis(30));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            } else {
                stopped.countDown();
            }
            if (health != null) {
                health.close();
            }
            annotators.shutdown();
            events.close();
            metrics.close();
            log.accept("agent: stopped; the redirection stays as it is");
        } finally {
            closeDone.countDown();
        }
    }
}
