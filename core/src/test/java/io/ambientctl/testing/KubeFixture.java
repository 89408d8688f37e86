package io.ambientctl.testing;

import java.io.IOException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.kube.KubeOptions;
import io.ambientctl.kube.NodeName;
import io.ambientctl.lab.Lab;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;

/**
 * A lab of real network namespaces (see {@link LabFixture}) behind fabric8's API server for tests in
 * CRUD mode with watches: the test creates Pods whose IPs are the lab pods' and whose node is this
 * node's name, so enrolling a Pod through the API does real kernel work. Close removes everything.
 */
public final class KubeFixture implements AutoCloseable {
    public static final String ZTUNNEL_NS = "istio-system";

    public final LabFixture lab;
    public final KubernetesMockServer server;
    public final NamespacedKubernetesClient client;
    public final String nodeName;
    public final NodeFieldDispatcher dispatcher;
    private Path kubeconfig;

    /** The mock server logs every request at INFO through java.util.logging (held: JUL keeps loggers weakly). */
    private static final java.util.logging.Logger MOCK_LOG = java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

    static {
        MOCK_LOG.setLevel(java.util.logging.Level.WARNING);
    }

    public KubeFixture(int pods, AttachKind kind) throws IOException {
        Kernel.require();
        nodeName = NodeName.resolve(null);
        LabFixture l = new LabFixture(pods, kind);
        KubernetesMockServer s = null;
        try {
            dispatcher = new NodeFieldDispatcher();
            s = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
            s.init();
            client = s.createClient();
        } catch (RuntimeException | Error e) { // an Error too: a class that fails to load must not leak the lab
            try {
                if (s != null) {
                    s.destroy();
                }
            } finally {
                l.close();
            }
            throw e;
        }
        lab = l;
        server = s;
    }

    public KubeOptions options() {
        return new KubeOptions(null, null, nodeName, ZTUNNEL_NS);
    }

    /** A kubeconfig file for the mock API (context "mock"), for the command line. */
    public Path kubeconfig() throws IOException {
        if (kubeconfig == null) {
            kubeconfig = Files.createTempFile("ambientctl-kubeconfig", ".yaml");
            Files.writeString(kubeconfig, """
                    apiVersion: v1
                    kind: Config
                    clusters:
                    - name: mock
                      cluster:
                        server: %s
                    users:
                    - name: tester
                      user:
                        token: test-token
                    contexts:
                    - name: mock
                      context:
                        cluster: mock
                        user: tester
                        namespace: default
                    current-context: mock
                    """.formatted(client.getConfiguration().getMasterUrl()));
        }
        return kubeconfig;
    }

    public Namespace namespace(String name, Map<String, String> labels) {
        return client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name)
                .withLabels(labels).endMetadata().build()).createOr(x -> x.update());
    }

    /** A running Pod on {@code node} whose IPs are lab pod {@code p}'s. */
    public Pod pod(String ns, String name, Lab.Pod p, Map<String, String> labels, String node) {
        return create(podSpec(ns, name, p, labels, node));
    }

    /** The Pod {@link #pod} would create, not created. */
    public Pod podSpec(String ns, String name, Lab.Pod p, Map<String, String> labels, String node) {
        return new PodBuilder().withNewMetadata().withNamespace(ns).withName(name)
                .withUid(UUID.randomUUID().toString()).withLabels(labels)
                .withCreationTimestamp(Instant.now().toString()).endMetadata()
                .withNewSpec().withNodeName(node).addNewContainer().withName("app").withImage("app").endContainer()
                .endSpec()
                .withNewStatus().withPhase("Running").withPodIP(p.ipv4())
                .addNewPodIP().withIp(p.ipv4()).endPodIP().addNewPodIP().withIp(p.ipv6()).endPodIP()
                .addNewCondition().withType("Ready").withStatus("True").endCondition()
                .endStatus().build();
    }

    public Pod pod(String ns, String name, Lab.Pod p, Map<String, String> labels) {
        return pod(ns, name, p, labels, nodeName);
    }

    /** ztunnel's Pod (app=ztunnel in istio-system) on the lab's ztunnel stand-in. */
    public Pod ztunnelPod(String name) {
        return create(new PodBuilder().withNewMetadata().withNamespace(ZTUNNEL_NS).withName(name)
                .withUid(UUID.randomUUID().toString()).withLabels(Map.of("app", "ztunnel"))
                .withCreationTimestamp(Instant.now().toString()).endMetadata()
                .withNewSpec().withNodeName(nodeName).addNewContainer().withName("istio-proxy").withImage("ztunnel")
                .endContainer().endSpec()
                .withNewStatus().withPhase("Running").withPodIP(Lab.ZTUNNEL_IP4)
                .addNewPodIP().withIp(Lab.ZTUNNEL_IP4).endPodIP().addNewPodIP().withIp(Lab.ZTUNNEL_IP6).endPodIP()
                .addNewCondition().withType("Ready").withStatus("True").endCondition()
                .endStatus().build());
    }

    public Pod create(Pod p) {
        return client.pods().inNamespace(p.getMetadata().getNamespace()).resource(p).create();
    }

    public Pod get(String ns, String name) {
        return client.pods().inNamespace(ns).withName(name).get();
    }

    public void label(String ns, String name, String key, String value) {
        client.pods().inNamespace(ns).withName(name).edit(p -> {
            if (value == null) {
                p.getMetadata().getLabels().remove(key);
            } else {
                p.getMetadata().getLabels().put(key, value);
            }
            return p;
        });
    }

    public void labelNamespace(String ns, String key, String value) {
        client.namespaces().withName(ns).edit(n -> {
            Map<String, String> l = n.getMetadata().getLabels() == null ? new HashMap<>()
                    : new HashMap<>(n.getMetadata().getLabels());
            if (value == null) {
                l.remove(key);
            } else {
                l.put(key, value);
            }
            n.getMetadata().setLabels(l);
            return n;
        });
    }

    /** Waits until {@code cond} holds (polling the test's own view, not the code under test). */
    public static void await(String what, Duration timeout, BooleanSupplier cond) {
        await(() -> what, timeout, cond);
    }

    /** As {@link #await(String, Duration, BooleanSupplier)}; {@code what} is told as it is when the wait ends. */
    public static void await(java.util.function.Supplier<String> what, Duration timeout, BooleanSupplier cond) {
        long end = System.nanoTime() + timeout.toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for " + what.get());
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what.get());
            }
        }
    }

    @Override
    public void close() {
        try {
            client.close();
        } finally {
            try {
                server.destroy();
            } catch (IllegalStateException e) {
                // fabric8's mock blocks its event loop when a watch closes while it still sends that watch events
                // (WatchEventsListener.onClosed waits for its executor), and then cannot close in time: a quirk of
                // the test server, not of the code under test, whose assertions ran before this
                System.err.println("KubeFixture: the mock API server did not close in time (" + e.getMessage() + ")");
            } finally {
                try {
                    if (kubeconfig != null) {
                        Files.deleteIfExists(kubeconfig);
                    }
                } catch (IOException e) {
                    // a temp file
                } finally {
                    lab.close();
                }
            }
        }
    }

    /**
     * The CRUD dispatcher, plus what it lacks: the field selector spec.nodeName, which the real API
     * server applies to Pods. The mock only knows metadata.name/namespace and would match nothing,
     * so this one removes that requirement (the code under test filters by node itself too) and records
     * it, so tests can assert the request asked the server for this node's Pods only.
     */
    public static final class NodeFieldDispatcher extends KubernetesCrudDispatcher {
        private static final Pattern FIELD_SELECTOR = Pattern.compile("([?&])fieldSelector=([^&]*)");
        public final List<String> nodeSelectors = new CopyOnWriteArrayList<>();

        String strip(String path) {
            Matcher m = FIELD_SELECTOR.matcher(path);
            if (!m.find()) {
                return path;
            }
            String selector = URLDecoder.decode(m.group(2), StandardCharsets.UTF_8);
            List<String> keep = new ArrayList<>();
            for (String req : selector.split(",")) {
                if (req.startsWith("spec.nodeName=")) {
                    nodeSelectors.add(path.substring(0, path.indexOf('?') < 0 ? path.length() : path.indexOf('?'))
                            + " " + req);
                } else if (!req.isEmpty()) {
                    keep.add(req);
                }
            }
            String replacement = keep.isEmpty() ? m.group(1)
                    : m.group(1) + "fieldSelector=" + URLEncoder.encode(String.join(",", keep), StandardCharsets.UTF_8)
                    + "&";
            String out = path.substring(0, m.start()) + replacement + path.substring(m.end());
            out = out.replace("?&", "?").replace("&&", "&");
            return out.endsWith("&") || out.endsWith("?") ? out.substring(0, out.length() - 1) : out;
        }

        /** PATCHes of these paths (e.g. /api/v1/namespaces/NS/pods/NAME) are answered with this HTTP code. */
        public final java.util.Map<String, Integer> refusePatch = new java.util.concurrent.ConcurrentHashMap<>();

        @Override
        public MockResponse handlePatch(io.fabric8.mockwebserver.http.RecordedRequest request) {
            Integer code = refusePatch.get(request.getPath());
            if (code != null) {
                return new MockResponse().setResponseCode(code).setBody("{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                        + "\"status\":\"Failure\",\"message\":\"patch refused by the test\",\"code\":" + code + "}");
            }
            return super.handlePatch(request);
        }

        @Override
        public MockResponse handleGet(String path) {
            return super.handleGet(strip(path));
        }

        @Override
        public MockResponse handleWatch(String path) {
            return super.handleWatch(strip(path));
        }
    }
}
