package io.ambientctl.kube;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.junit.jupiter.api.Test;

import io.ambientctl.lab.Lab;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.redirect.ebpf.EbpfRedirector;
import io.ambientctl.testing.BulkPods;
import io.ambientctl.testing.KubeFixture;

/**
 * 500 Pods created at once in an ambient namespace, each backed by a real network namespace on the
 * lab's node: the agent enrolls them all. How long it took is printed (not asserted: the machine is
 * shared), and the map holds every address of every Pod.
 */
class KubeAgentBurstKernelTest {
    static final int PODS = Integer.getInteger("burst.pods", 500);

    @Test
    void fiveHundredPodsCreatedInABurstAreAllEnrolled() throws Exception {
        try (KubeFixture k = new KubeFixture(1, null); BulkPods bulk = new BulkPods(k.lab.lab, PODS)) {
            KubeNode kube = new KubeNode(k.client, k.lab.node, k.options(), false);
            k.ztunnelPod("ztunnel-1");
            k.namespace("burst", Map.of(Pods.DATAPLANE_MODE, Pods.AMBIENT));
            List<String> log = new java.util.concurrent.CopyOnWriteArrayList<>();
            try (Agent agent = kube.startAgent(KubeAgentKernelTest.settings(), log::add)) {
                KubeFixture.await("agent ready", Duration.ofSeconds(30), agent::ready);
                List<Lab.Pod> pods = bulk.pods();
                long t0 = System.nanoTime();
                ExecutorService creators = Executors.newFixedThreadPool(8);
                for (int i = 0; i < pods.size(); i++) {
                    Lab.Pod p = pods.get(i);
                    String name = "burst-" + (i + 1);
                    creators.submit(() -> k.pod("burst", name, p, Map.of("app", "burst")));
                }
                creators.shutdown();
                assertThat(creators.awaitTermination(2, java.util.concurrent.TimeUnit.MINUTES)).isTrue();
                long created = System.nanoTime();
                try {
                    KubeFixture.await(PODS + " Pods enrolled", Duration.ofMinutes(5),
                            () -> k.lab.node.recorded().workloads.size() == PODS);
                } catch (AssertionError e) {
                    log.stream().filter(l -> !l.startsWith("agent: enrolled")).limit(40).forEach(System.out::println);
                    throw e;
                }
                long enrolled = System.nanoTime();
                log.stream().filter(l -> l.startsWith("agent: batch")).forEach(System.out::println);
                KubeFixture.await(PODS + " Pods annotated", Duration.ofMinutes(2), () -> k.client.pods()
                        .inNamespace("burst").list().getItems().stream().filter(Pods::annotated).count() == PODS);
                long annotated = System.nanoTime();
                System.out.printf("burst: %d Pods created in %d ms; all enrolled %d ms after the first create, all "
                                + "annotated after %d ms; enrolled and annotated %d ms after the last create%n", PODS,
                        (created - t0) / 1_000_000, (enrolled - t0) / 1_000_000, (annotated - t0) / 1_000_000,
                        (annotated - created) / 1_000_000);
                try (EbpfRedirector e = new EbpfRedirector(k.lab.config, k.lab.node.recorded(), null)) {
                    var map = e.datapath().workloads();
                    for (Lab.Pod p : pods) {
                        assertThat(map.get(IpAddrs.parse(p.ipv4()))).as(p.ipv4()).isPresent();
                        assertThat(map.get(IpAddrs.parse(p.ipv6()))).as(p.ipv6()).isPresent();
                    }
                }
                assertThat(agent.enrolled()).isEqualTo(PODS);
                // the Events go out in the background: all of them recorded too (and the agent idle before it closes)
                KubeFixture.await(PODS + " Enrolled Events", Duration.ofMinutes(2), () -> k.client.v1().events()
                        .inNamespace("burst").list().getItems().stream()
                        .filter(e -> "Enrolled".equals(e.getReason())).count() == PODS);
                System.out.printf("burst: the %d Enrolled Events recorded %d ms after the last create%n", PODS,
                        (System.nanoTime() - created) / 1_000_000);
            }
        }
    }
}
