package io.ambientctl.kube;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;

/**
 * Kubernetes Events (core/v1) on Pods, as {@code kubectl describe pod} shows them: type, reason, source
 * {@value #COMPONENT} on this node, message. Sent in the background (a few at a time, never holding up the
 * worker, the node lock or the annotations); the same reason and message on the same Pod again is one Event
 * whose count and last timestamp are patched, as the kubelet does. The RBAC grants create and patch on events.
 */
final class PodEvents implements AutoCloseable {
    static final String COMPONENT = "ambientctl-agent";
    static final String ENROLLED = "Enrolled";
    static final String UNENROLLED = "Unenrolled";
    static final String SKIPPED = "EnrollSkipped";
    static final String FAILED = "EnrollFailed";
    static final String REPAIRED = "RedirectionRepaired";
    private static final int REMEMBERED = 4096;

    private final KubernetesClient client;
    private final String nodeName;
    private final AgentMetrics metrics;
    private final Consumer<String> log;
    private final ExecutorService senders = Executors.newFixedThreadPool(2, r -> {
        Thread t = new Thread(r, "agent-events");
        t.setDaemon(true);
        return t;
    });
    /** Events sent, by Pod uid, reason and message: to count a repeat instead of a new Event (oldest forgotten). */
    private final Map<String, Sent> sent = new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Sent> e) {
            return size() > REMEMBERED;
        }
    };
    private volatile String lastFailure;

    private record Sent(String namespace, String name, int count) {
    }

    PodEvents(KubernetesClient client, String nodeName, AgentMetrics metrics, Consumer<String> log) {
        this.client = client;
        this.nodeName = nodeName;
        this.metrics = metrics;
        this.log = log;
    }

    void normal(Pod pod, String reason, String message) {
        record(pod, "Normal", reason, message);
    }

    void warning(Pod pod, String reason, String message) {
        record(pod, "Warning", reason, message);
    }

    private void record(Pod pod, String type, String reason, String message) {
        if (pod == null || pod.getMetadata() == null) {
            return;
        }
        metrics.event(reason);
        try {
            senders.submit(() -> send(pod, type, reason, message));
        } catch (java.util.concurrent.RejectedExecutionException stopping) {
            // the agent stops
        }
    }

    private void send(Pod pod, String type, String reason, String message) {
        String ns = pod.getMetadata().getNamespace();
        String key = Pods.uid(pod) + "\0" + reason + "\0" + message;
        String now = Instant.now().toString();
        Sent before;
        synchronized (sent) {
            before = sent.get(key);
        }
        try {
            if (before != null) {
                int count = before.count() + 1;
                client.v1().events().inNamespace(ns).withName(before.name()).patch(PatchContext.of(PatchType.JSON_MERGE),
                        "{\"count\":" + count + ",\"lastTimestamp\":\"" + now + "\"}");
                synchronized (sent) {
                    sent.put(key, new Sent(ns, before.name(), count));
                }
                return;
            }
            // named as the kubelet names its Events: the object's name, a dot, a unique suffix
            String name = pod.getMetadata().getName() + "." + Long.toHexString(System.currentTimeMillis())
                    + UUID.randomUUID().toString().substring(0, 8);
            Event e = new EventBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata()
                    .withNewInvolvedObject().withApiVersion("v1").withKind("Pod").withNamespace(ns)
                    .withName(pod.getMetadata().getName()).withUid(Pods.uid(pod)).endInvolvedObject()
                    .withType(type).withReason(reason).withMessage(message)
                    .withNewSource().withComponent(COMPONENT).withHost(nodeName).endSource()
                    .withReportingComponent(COMPONENT).withReportingInstance(nodeName)
                    .withFirstTimestamp(now).withLastTimestamp(now).withCount(1).build();
            client.v1().events().inNamespace(ns).resource(e).create();
            synchronized (sent) {
                sent.put(key, new Sent(ns, name, 1));
            }
            lastFailure = null;
        } catch (KubernetesClientException ex) {
            if (before != null && ex.getCode() == 404) {
                synchronized (sent) { // the API expired it: a new one next time
                    sent.remove(key);
                }
                send(pod, type, reason, message);
                return;
            }
            metrics.apiError("event");
            String m = "agent: cannot record Event " + reason + " on Pod " + ns + "/" + pod.getMetadata().getName()
                    + ": " + KubeClients.apiFailure("creating an Event", ex).getMessage();
            if (!m.equals(lastFailure)) { // once, not per Pod: the cause is the same for all (RBAC, the API)
                log.accept(m);
                lastFailure = m;
            }
        } catch (RuntimeException ex) {
            metrics.apiError("event");
            log.accept("agent: cannot record Event " + reason + " on Pod " + ns + "/" + pod.getMetadata().getName()
                    + ": " + ex.getMessage());
        }
    }

    /** Waits (up to 5 s) for the Events sent so far. */
    @Override
    public void close() {
        senders.shutdown();
        try {
            senders.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
