package io.ambientctl.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn;
import io.ambientctl.lab.ZtunnelStandIn.Capture;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Links;
import io.ambientctl.redirect.Workload;
import io.ambientctl.redirect.Ztunnel;
import io.ambientctl.redirect.ebpf.EbpfRedirector;
import io.ambientctl.redirect.ebpf.Maps;
import io.ambientctl.testing.KubeFixture;
import io.ambientctl.testing.LabFixture;
import io.fabric8.kubernetes.api.model.Pod;

/**
 * The node agent against fabric8's API server for tests, backed by a real lab: labels on namespaces
 * and Pods move Pods in and out of the redirection, deletions remove them, a replaced ztunnel Pod is
 * followed into the ztunnel map, and an agent restarted after missing events converges.
 */
class KubeAgentKernelTest {
    static final Duration SOON = Duration.ofSeconds(15);

    KubeFixture k;
    KubeNode kube;
    Agent agent;
    final List<String> log = new CopyOnWriteArrayList<>();
    Lab.Pod a;
    Lab.Pod b;
    Lab.Pod c;

    @BeforeEach
    void setUp() throws Exception {
        k = new KubeFixture(3, null);
        a = k.lab.pod(1);
        b = k.lab.pod(2);
        c = k.lab.pod(3);
        kube = new KubeNode(k.client, k.lab.node, k.options(), false);
        k.ztunnelPod("ztunnel-1");
        k.namespace("shop", Map.of());
        k.namespace("other", Map.of());
        k.pod("shop", "p1", a, Map.of("app", "p1"));
        k.pod("shop", "p2", b, Map.of("app", "p2"));
        k.pod("other", "p3", c, Map.of("app", "p3"));
    }

    @AfterEach
    void tearDown() {
        try {
            if (agent != null) {
                agent.close();
            }
        } finally {
            if (k != null) {
                k.close();
            }
        }
    }

    static AgentSettings settings() {
        return new AgentSettings(Duration.ofHours(1), 0, Duration.ofSeconds(30), 256, Duration.ofSeconds(2));
    }

    Agent start() {
        return kube.startAgent(settings(), log::add);
    }

    Set<String> enrolled() {
        return k.lab.node.recorded().workloads.stream().map(Workload::key).collect(Collectors.toSet());
    }

    void awaitEnrolled(String... keys) {
        Set<String> want = Set.of(keys);
        KubeFixture.await("enrolled = " + want + " (log: " + log + ")", SOON, () -> enrolled().equals(want));
    }

    boolean annotated(String ns, String name) {
        Pod p = k.get(ns, name);
        return p != null && Pods.annotated(p);
    }

    Traffic.Result tcp(Lab.Pod from, String dst) {
        return Traffic.tcp(from.netns(), null, dst, 8080, "hello", LabFixture.SHORT);
    }

    @Test
    void labelsOnNamespacesAndPodsMovePodsInAndOutOfTheMesh() throws Exception {
        agent = start();
        KubeFixture.await("ztunnel set", SOON, () -> k.lab.node.recorded().ztunnel != null);
        assertThat(enrolled()).isEmpty();

        long t0 = System.nanoTime();
        k.labelNamespace("shop", Pods.DATAPLANE_MODE, Pods.AMBIENT);
        awaitEnrolled("shop/p1", "shop/p2");
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("agent: namespace labelled -> 2 Pods enrolled in " + ms + " ms");
        KubeFixture.await("annotated", SOON, () -> annotated("shop", "p1") && annotated("shop", "p2"));
        assertThat(annotated("other", "p3")).isFalse();
        assertThat(tcp(a, c.ipv4()).answer()).isEqualTo(c.name() + " hello");
        assertThat(k.lab.standIn.captures()).extracting(Capture::port).containsExactly(15001);

        // a Pod's own "none" opts it out; "ambient" on a Pod enrolls it in an unlabelled namespace
        k.label("shop", "p2", Pods.DATAPLANE_MODE, Pods.NONE);
        k.label("other", "p3", Pods.DATAPLANE_MODE, Pods.AMBIENT);
        awaitEnrolled("shop/p1", "other/p3");
        KubeFixture.await("p2's annotation removed", SOON, () -> !annotated("shop", "p2"));

        k.labelNamespace("shop", Pods.DATAPLANE_MODE, null);
        awaitEnrolled("other/p3");
        KubeFixture.await("p1's annotation removed", SOON, () -> !annotated("shop", "p1"));
        k.lab.standIn.clear();
        assertThat(tcp(a, b.ipv4()).answer()).isEqualTo(b.name() + " hello");
        assertThat(k.lab.standIn.captures()).isEmpty();
        assertThat(k.lab.node.status().verified()).isTrue();
        assertThat(agent.enrolled()).isEqualTo(3);
        assertThat(agent.unenrolled()).isEqualTo(2);
    }

    @Test
    void aDeletedPodsEntryIsGoneFromTheStateAndTheKernel() {
        k.labelNamespace("shop", Pods.DATAPLANE_MODE, Pods.AMBIENT);
        agent = start();
        awaitEnrolled("shop/p1", "shop/p2");
        k.client.pods().inNamespace("shop").withName("p2").delete();
        awaitEnrolled("shop/p1");
        try (EbpfRedirector e = new EbpfRedirector(k.lab.config, k.lab.node.recorded(), null)) {
            assertThat(e.datapath().workloads().get(IpAddrs.parse(b.ipv4()))).isEmpty();
            assertThat(e.datapath().workloads().get(IpAddrs.parse(b.ipv6()))).isEmpty();
            assertThat(e.datapath().workloads().get(IpAddrs.parse(a.ipv6()))).isPresent();
        }
    }

    @Test
    void aReplacedZtunnelPodIsFollowedIntoTheZtunnelMap() {
        k.labelNamespace("shop", Pods.DATAPLANE_MODE, Pods.AMBIENT);
        agent = start();
        awaitEnrolled("shop/p1", "shop/p2");
        KubeFixture.await("ztunnel-1 set", SOON, () -> k.lab.node.recorded().ztunnel != null);
        Ztunnel first = k.lab.node.recorded().ztunnel;
        assertThat(first.name()).isEqualTo("ztunnel-1");
        assertThat(first.hostInterface()).isEqualTo("vzt");

        // ztunnel restarts: its Pod is replaced, with a new namespace behind a new veth with a new MAC
        k.lab.standIn.close();
        k.lab.lab.replaceZtunnel("vzt2");
        k.lab.standIn = ZtunnelStandIn.start(k.lab.lab.ztunnel(), null);
        k.client.pods().inNamespace(KubeFixture.ZTUNNEL_NS).withName("ztunnel-1").delete();
        k.ztunnelPod("ztunnel-2");

        KubeFixture.await("ztunnel-2 set (log: " + log + ")", SOON, () -> {
            Ztunnel z = k.lab.node.recorded().ztunnel;
            return z != null && z.name().equals("ztunnel-2");
        });
        Ztunnel second = k.lab.node.recorded().ztunnel;
        int vzt2 = Links.byName(Links.in(k.lab.lab.node()), "vzt2").orElseThrow().ifindex();
        assertThat(second.hostInterface()).isEqualTo("vzt2");
        assertThat(second.hostIfindex()).isEqualTo(vzt2);
        assertThat(second.podMac()).isNotEqualTo(first.podMac());
        try (EbpfRedirector e = new EbpfRedirector(k.lab.config, k.lab.node.recorded(), null)) {
            Maps.ZtunnelInfo zi = e.datapath().ztunnel().get(0).orElseThrow();
            assertThat(zi.ifindex()).isEqualTo(vzt2);
            assertThat(zi.mac().toString()).isEqualTo(second.podMac());
        }
        assertThat(tcp(a, b.ipv6()).answer()).isEqualTo(b.name() + " hello");
        assertThat(k.lab.standIn.captures()).extracting(Capture::port).contains(15001);
        assertThat(k.lab.node.status().verified()).isTrue();
    }

    @Test
    void anAgentRestartedAfterMissingEventsConverges() throws Exception {
        k.labelNamespace("shop", Pods.DATAPLANE_MODE, Pods.AMBIENT);
        agent = start();
        awaitEnrolled("shop/p1", "shop/p2");
        // its annotations too: the mock API server blocks its event loop when a watch closes while it still
        // sends events (WatchEventsListener.onClosed awaits its executor), which a real API server does not
        KubeFixture.await("annotated", SOON, () -> annotated("shop", "p1") && annotated("shop", "p2"));
        agent.close();
        agent = null;

        // while no agent runs: one Pod deleted, one opted out, one opted in
        k.client.pods().inNamespace("shop").withName("p2").delete();
        k.label("shop", "p1", Pods.DATAPLANE_MODE, Pods.NONE);
        k.label("other", "p3", Pods.DATAPLANE_MODE, Pods.AMBIENT);
        assertThat(enrolled()).containsExactlyInAnyOrder("shop/p1", "shop/p2");

        // and while the new one starts: p2 comes back (a new Pod, new uid, same name)
        Thread churn = new Thread(() -> k.pod("shop", "p2", b, Map.of("app", "p2")));
        agent = start();
        churn.start();
        churn.join();
        awaitEnrolled("shop/p2", "other/p3");
        String uid = k.get("shop", "p2").getMetadata().getUid();
        KubeFixture.await("the new p2 (uid " + uid + ") recorded", SOON,
                () -> uid.equals(k.lab.node.recorded().workload("shop/p2").map(Workload::uid).orElse(null)));
        KubeFixture.await("annotations converge", SOON,
                () -> !annotated("shop", "p1") && annotated("shop", "p2") && annotated("other", "p3"));
        assertThat(k.lab.node.status().verified()).isTrue();
    }

    @Test
    void healthAndReadinessAnswerOnLoopbackAndStopWithTheAgent() throws Exception {
        agent = start();
        int port = agent.healthPort();
        assertThat(port).isPositive();
        KubeFixture.await("ready", SOON, agent::ready);
        HttpClient http = HttpClient.newHttpClient();
        for (String path : List.of("/healthz", "/readyz")) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(path).isEqualTo(200);
        }
        agent.close();
        assertThat(agent.live()).isFalse();
        assertThatThrownBy(() -> http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/healthz"))
                .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString()))
                .isInstanceOf(IOException.class);
        agent = null;
    }
}
