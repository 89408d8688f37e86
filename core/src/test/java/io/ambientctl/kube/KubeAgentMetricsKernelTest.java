package io.ambientctl.kube;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.testing.KubeFixture;
import io.ambientctl.testing.LabFixture;
import io.ambientctl.util.Exec;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;

/**
 * The agent's Prometheus metrics, scraped over HTTP and checked by the real consumer's tool ({@code promtool
 * check metrics}, Debian package prometheus), with the per-workload counters moving when lab traffic flows and a
 * workload's series gone when it leaves; and the Kubernetes Events it records on Pods (enrolled, skipped and why,
 * failed and why), as the API server for tests holds them.
 */
class KubeAgentMetricsKernelTest {
    static final Duration SOON = Duration.ofSeconds(30);

    KubeFixture k;
    Agent agent;
    Lab.Pod a;
    Lab.Pod b;
    Lab.Pod c;
    final List<String> log = new CopyOnWriteArrayList<>();
    final HttpClient http = HttpClient.newHttpClient();

    @BeforeEach
    void setUp() throws Exception {
        k = new KubeFixture(3, null);
        a = k.lab.pod(1);
        b = k.lab.pod(2);
        c = k.lab.pod(3);
        k.ztunnelPod("ztunnel-1");
        k.namespace("shop", Map.of(Pods.DATAPLANE_MODE, Pods.AMBIENT));
        k.namespace("other", Map.of());
        k.pod("shop", "p1", a, Map.of("app", "p1"));
        k.pod("shop", "p2", b, Map.of("app", "p2"));
        k.pod("other", "p3", c, Map.of("app", "p3"));
        KubeNode kube = new KubeNode(k.client, k.lab.node, k.options(), false);
        agent = kube.startAgent(KubeAgentKernelTest.settings().withVerifyEvery(Duration.ofSeconds(1))
                .withMetricsAddress(AgentSettings.metricsAddress("127.0.0.1:0")), log::add);
        KubeFixture.await("p1, p2 enrolled (log: " + log + ")", SOON,
                () -> k.lab.node.recorded().workloads.size() == 2 && k.lab.node.recorded().ztunnel != null);
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

    String scrape() throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + agent.metricsPort()
                + "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        return r.body();
    }

    /** The value of the one sample {@code name{labels}} (labels as exposed, in order), or -1 when absent. */
    static double value(String text, String series) {
        Matcher m = Pattern.compile("^" + Pattern.quote(series) + " (\\S+)$", Pattern.MULTILINE).matcher(text);
        return m.find() ? Double.parseDouble(m.group(1)) : -1;
    }

    static String out(String metric, String pod) {
        return metric + "{direction=\"out\",namespace=\"shop\",pod=\"" + pod + "\"}";
    }

    @Test
    void metricsPassPromtoolAndTheCountersMoveWithTraffic() throws Exception {
        KubeFixture.await("a kernel check with p1 and p2", SOON, () -> {
            try {
                return value(scrape(), "ambientctl_workloads_enrolled") == 2;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        String first = scrape();
        // the real consumer's linter, on the exposition as served
        Path file = Files.createTempFile("ambientctl-metrics", ".txt");
        try {
            Files.writeString(file, first);
            Exec.Result lint = Exec.run(List.of("sh", "-c", "promtool check metrics < " + file));
            assertThat(lint.exitCode()).as("promtool check metrics (apt-get install prometheus): " + lint.stdout()
                    + lint.stderr()).isZero();
        } finally {
            Files.deleteIfExists(file);
        }
        assertThat(value(first, "ambientctl_mode_info{mode=\"ebpf\"}")).isEqualTo(1);
        assertThat(value(first, "ambientctl_ztunnel_present")).isEqualTo(1);
        assertThat(value(first, "ambientctl_reconcile_runs_total")).isGreaterThanOrEqualTo(1);
        assertThat(value(first, "ambientctl_kernel_checks_total")).isGreaterThanOrEqualTo(1);
        assertThat(value(first, "ambientctl_drift_repairs_total{kind=\"pins\"}")).isZero();
        assertThat(first).contains("ambientctl_reconcile_duration_seconds_bucket{le=\"0.5\"}")
                .contains("# TYPE ambientctl_workload_redirected_packets_total counter");
        double packets = value(first, out("ambientctl_workload_redirected_packets_total", "p1"));
        double bytes = value(first, out("ambientctl_workload_redirected_bytes_total", "p1"));
        assertThat(packets).isGreaterThanOrEqualTo(0);
        assertThat(value(first, "ambientctl_workload_dropped_packets_total{namespace=\"shop\",pod=\"p1\",reason=\"noZtunnel\"}")).isZero();

        for (int i = 0; i < 5; i++) {
            assertThat(Traffic.tcp(a.netns(), null, c.ipv4(), 8080, "m" + i, LabFixture.SHORT).answered()).isTrue();
        }
        KubeFixture.await("p1's redirected packets and bytes grow", SOON, () -> {
            try {
                String now = scrape();
                return value(now, out("ambientctl_workload_redirected_packets_total", "p1")) >= packets + 5
                        && value(now, out("ambientctl_workload_redirected_bytes_total", "p1")) > bytes;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        // p2 leaves the mesh: its series go with it
        k.label("shop", "p2", Pods.DATAPLANE_MODE, Pods.NONE);
        KubeFixture.await("p2's series gone", SOON, () -> {
            try {
                String now = scrape();
                return value(now, "ambientctl_workloads_enrolled") == 1 && !now.contains("pod=\"p2\"");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    List<Event> events(String ns, String pod) {
        return k.client.v1().events().inNamespace(ns).list().getItems().stream()
                .filter(e -> pod.equals(e.getInvolvedObject().getName())).toList();
    }

    Event awaitEvent(String ns, String pod, String reason) {
        KubeFixture.await("Event " + reason + " on " + ns + "/" + pod + " (log: " + log + ")", SOON,
                () -> events(ns, pod).stream().anyMatch(e -> e.getReason().equals(reason)));
        return events(ns, pod).stream().filter(e -> e.getReason().equals(reason)).findFirst().orElseThrow();
    }

    @Test
    void eventsOnThePodsSayEnrolledSkippedAndFailedAndWhy() {
        Event enrolled = awaitEvent("shop", "p1", PodEvents.ENROLLED);
        assertThat(enrolled.getType()).isEqualTo("Normal");
        assertThat(enrolled.getMessage()).contains(a.ipv4()).contains("redirected to ztunnel on node " + k.nodeName);
        assertThat(enrolled.getSource().getComponent()).isEqualTo(PodEvents.COMPONENT);
        assertThat(enrolled.getInvolvedObject().getKind()).isEqualTo("Pod");
        assertThat(enrolled.getInvolvedObject().getUid()).isEqualTo(k.get("shop", "p1").getMetadata().getUid());
        assertThat(enrolled.getCount()).isEqualTo(1);

        // in an ambient namespace but on the host network: skipped, and told why (once)
        Pod host = k.podSpec("shop", "hostnet", c, Map.of("app", "h"), k.nodeName);
        host.getSpec().setHostNetwork(true);
        k.create(host);
        Event skipped = awaitEvent("shop", "hostnet", PodEvents.SKIPPED);
        assertThat(skipped.getMessage()).contains("host network");

        // addresses no namespace of this node holds: the enrollment fails, told with the reason and the retry
        Lab.Pod ghost = new Lab.Pod("ghost", a.netns(), "10.77.9.9", "fd77::9:9", "vp9");
        k.pod("shop", "ghost", ghost, Map.of("app", "g"));
        Event failed = awaitEvent("shop", "ghost", PodEvents.FAILED);
        assertThat(failed.getType()).isEqualTo("Warning");
        assertThat(failed.getMessage()).contains("10.77.9.9").contains("retry in");
        // retried, failing the same way: one Event whose count grows (patched), not one per retry
        KubeFixture.await("the failure's Event counted again", SOON, () -> events("shop", "ghost").stream()
                .anyMatch(e -> e.getReason().equals(PodEvents.FAILED) && e.getCount() != null && e.getCount() > 1));

        k.label("shop", "p1", Pods.DATAPLANE_MODE, Pods.NONE);
        assertThat(awaitEvent("shop", "p1", PodEvents.UNENROLLED).getMessage()).contains("no longer redirected");
        assertThat(events("other", "p3")).isEmpty();
    }
}
