package io.ambientctl.testing;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;

import io.ambientctl.kube.NodeName;
import io.ambientctl.kube.Pods;
import io.ambientctl.lab.Lab;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;

/**
 * fabric8's API server for tests as a process of its own, for running an agent from outside the JVM (the image's
 * agent under podman, the packages' agent): CRUD mode with watches on 127.0.0.1, an ambient namespace with one Pod
 * per pod of an existing lab (their IPs, this node's name), ztunnel's Pod on the lab's ztunnel. Writes a kubeconfig,
 * then prints one line per change of the number of annotated Pods ("annotated K/N after T ms") and "all annotated"
 * when every Pod is; runs until killed.
 *
 * <p>usage: MockApiServer LAB PODS KUBECONFIG
 */
public final class MockApiServer {
    /** The mock logs every request at INFO through java.util.logging (held: JUL keeps loggers weakly). */
    private static final java.util.logging.Logger MOCK_LOG = java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

    private MockApiServer() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: MockApiServer LAB PODS KUBECONFIG");
            System.exit(2);
        }
        MOCK_LOG.setLevel(java.util.logging.Level.WARNING);
        Lab lab = Lab.named(args[0], Integer.parseInt(args[1]));
        if (!lab.isUp() || !lab.pod(lab.pods().size()).netns().exists()) {
            System.err.println("no lab " + args[0] + " with " + args[1] + " pods: run 'ambientctl lab up --name " + args[0]
                    + " --pods " + args[1] + "' first");
            System.exit(1);
        }
        Path kubeconfig = Path.of(args[2]);
        String node = NodeName.resolve(null);
        KubernetesMockServer server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubeFixture.NodeFieldDispatcher(), false);
        server.init(InetAddress.getLoopbackAddress(), 0);
        try (NamespacedKubernetesClient client = server.createClient()) {
            Files.writeString(kubeconfig, """
                    apiVersion: v1
                    kind: Config
                    clusters:
                    - name: mock
                      cluster:
                        server: %s
                    users:
                    - name: agent
                      user:
                        token: mock-token
                    contexts:
                    - name: mock
                      context:
                        cluster: mock
                        user: agent
                    current-context: mock
                    """.formatted("http://127.0.0.1:" + server.getPort() + "/")); // not "localhost": ::1 first in some places
            String ns = "mesh";
            client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns)
                    .withLabels(Map.of(Pods.DATAPLANE_MODE, Pods.AMBIENT)).endMetadata().build()).create();
            client.pods().inNamespace(KubeFixture.ZTUNNEL_NS).resource(pod(KubeFixture.ZTUNNEL_NS, "ztunnel-1",
                    Map.of("app", "ztunnel"), node, Lab.ZTUNNEL_IP4, Lab.ZTUNNEL_IP6)).create();
            long t0 = System.nanoTime();
            for (Lab.Pod p : lab.pods()) {
                client.pods().inNamespace(ns).resource(pod(ns, p.name(), Map.of("app", "mesh"), node, p.ipv4(), p.ipv6()))
                        .create();
            }
            int total = lab.pods().size();
            System.out.printf("mock API server %s: %d Pods of lab %s on node %s; kubeconfig %s%n",
                    client.getConfiguration().getMasterUrl(), total, args[0], node, kubeconfig);
            System.out.flush();
            Thread watcher = new Thread(() -> report(client, ns, total, t0), "annotations");
            watcher.setDaemon(true);
            watcher.start();
            new java.util.concurrent.CountDownLatch(1).await(); // until killed
        } finally {
            server.destroy();
        }
    }

    private static void report(NamespacedKubernetesClient client, String ns, int total, long t0) {
        long last = -1;
        while (true) {
            long annotated = client.pods().inNamespace(ns).list().getItems().stream().filter(Pods::annotated).count();
            if (annotated != last) {
                System.out.printf("annotated %d/%d after %d ms%n", annotated, total, (System.nanoTime() - t0) / 1_000_000);
                if (annotated == total) {
                    System.out.println("all annotated");
                }
                System.out.flush();
                last = annotated;
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private static Pod pod(String ns, String name, Map<String, String> labels, String node, String ip4, String ip6) {
        return new PodBuilder().withNewMetadata().withNamespace(ns).withName(name).withUid(UUID.randomUUID().toString())
                .withLabels(labels).withCreationTimestamp(Instant.now().toString()).endMetadata()
                .withNewSpec().withNodeName(node).addNewContainer().withName("app").withImage("app").endContainer()
                .endSpec()
                .withNewStatus().withPhase("Running").withPodIP(ip4)
                .addNewPodIP().withIp(ip4).endPodIP().addNewPodIP().withIp(ip6).endPodIP()
                .addNewCondition().withType("Ready").withStatus("True").endCondition()
                .endStatus().build();
    }
}
