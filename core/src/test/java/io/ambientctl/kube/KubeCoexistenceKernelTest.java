package io.ambientctl.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.lab.Lab;
import io.ambientctl.testing.KubeFixture;
import io.fabric8.kubernetes.api.model.Pod;

/**
 * Pods and another controller of the ambient mesh (istio-cni), and a Pod's own DNS capture choice: a Pod that
 * another controller redirects (annotated ambient.istio.io/redirection=enabled, not in ambientctl's state) is
 * refused with the reason, or skipped in a selection; a Pod annotated ambient.istio.io/dns-capture: "false" is
 * enrolled with its opt-out recorded.
 */
class KubeCoexistenceKernelTest {
    KubeFixture k;
    KubeNode kube;

    @BeforeEach
    void setUp() throws Exception {
        k = new KubeFixture(2, null);
        kube = new KubeNode(k.client, k.lab.node, k.options(), false);
    }

    @AfterEach
    void tearDown() {
        if (k != null) {
            k.close();
        }
    }

    private Pod annotated(String name, Lab.Pod p, Map<String, String> annotations) {
        Pod spec = k.podSpec("shop", name, p, Map.of("app", name), k.nodeName);
        spec.getMetadata().setAnnotations(annotations);
        return k.create(spec);
    }

    @Test
    void aPodRedirectedByAnotherControllerIsRefusedAndAPodsDnsOptOutIsRecorded() {
        k.ztunnelPod("ztunnel-abcde");
        kube.ztunnelSet(null, null, null, false);
        k.namespace("shop", Map.of());
        annotated("theirs", k.lab.pod(1), Map.of(Pods.REDIRECTION_ANNOTATION, Pods.REDIRECTION_ENABLED));
        annotated("nodns", k.lab.pod(2), Map.of(Pods.DNS_CAPTURE_ANNOTATION, "false"));

        assertThatThrownBy(() -> kube.enroll(new PodSelection(List.of("theirs"), "shop", null, false), false))
                .hasMessageContaining("shop/theirs").hasMessageContaining("another controller");
        KubeNode.Result r = kube.enroll(new PodSelection(List.of(), "shop", null, false), false);
        assertThat(r.skipped()).singleElement().satisfies(s -> {
            assertThat(s.pod()).isEqualTo("shop/theirs");
            assertThat(s.reason()).contains("istio-cni");
        });
        assertThat(r.outcomes()).singleElement().satisfies(o -> {
            assertThat(o.target()).isEqualTo("shop/nodns");
            assertThat(o.workload().dnsCapture()).isFalse();
        });
        assertThat(k.lab.node.recorded().workload("shop/nodns").orElseThrow().noDnsCapture()).isTrue();
        assertThat(k.lab.node.recorded().workload("shop/theirs")).isEmpty();
        // ours, annotated by us: enrolling it again is no refusal
        assertThat(kube.enroll(new PodSelection(List.of("nodns"), "shop", null, false), false).outcomes())
                .extracting(io.ambientctl.redirect.Node.Outcome::action).containsExactly("already-enrolled");
    }

    @Test
    void theAgentStopsWhenIstioCnisNodeAgentStartsOnThisNodeButNotOnAnother() throws Exception {
        // the agent runs (the API had no istio-cni then); istio-cni's node agent elsewhere changes nothing; on this
        // node it stops the agent, with the refusal as its failure, and what it enrolled stays redirected
        k.ztunnelPod("ztunnel-abcde");
        k.namespace("shop", Map.of(Pods.DATAPLANE_MODE, Pods.AMBIENT));
        k.create(k.podSpec("shop", "app", k.lab.pod(1), Map.of("k8s-app", "something-else"), k.nodeName));
        List<String> log = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (Agent agent = kube.startAgent(KubeAgentKernelTest.settings(), log::add)) {
            KubeFixture.await("ready and shop/app enrolled (" + log + ")", java.time.Duration.ofSeconds(60),
                    () -> agent.ready() && k.lab.node.recorded().workload("shop/app").isPresent());
            k.namespace("kube-system", Map.of());
            k.create(k.podSpec("kube-system", "istio-cni-node-fghij", k.lab.pod(2),
                    Map.of(KubeNode.ISTIO_CNI_LABEL, KubeNode.ISTIO_CNI_LABEL_VALUE), "another-node"));
            // a Pod of this node created after it: the agent has seen the other one by then
            k.create(k.podSpec("shop", "later", k.lab.pod(2), Map.of("app", "later"), k.nodeName));
            KubeFixture.await("shop/later enrolled (" + log + ")", java.time.Duration.ofSeconds(60),
                    () -> k.lab.node.recorded().workload("shop/later").isPresent());
            assertThat(agent.refusal()).isNull();
            assertThat(agent.ready()).isTrue();

            k.create(k.podSpec("kube-system", "istio-cni-node-abcde", k.lab.pod(2),
                    Map.of(KubeNode.ISTIO_CNI_LABEL, KubeNode.ISTIO_CNI_LABEL_VALUE), k.nodeName));
            KubeFixture.await("the agent stops (" + log + ")", java.time.Duration.ofSeconds(30), () -> !agent.live());
            assertThat(agent.refusal()).contains("istio-cni's node agent runs on this node (Pod "
                    + "kube-system/istio-cni-node-abcde)").contains("--take-over");
            assertThat(log).anyMatch(l -> l.contains("stopping (the redirection stays as it is)"));
        }
        assertThat(k.lab.node.recorded().workloads).extracting(io.ambientctl.redirect.Workload::key)
                .containsExactlyInAnyOrder("shop/app", "shop/later");
        assertThat(k.lab.node.status().verified()).isTrue();
        assertThat(k.dispatcher.nodeSelectors).anyMatch(sel -> sel.contains("spec.nodeName=" + k.nodeName));

        // started again beside it: it refuses before any change; with --take-over it runs and says so
        log.clear();
        try (Agent agent = kube.startAgent(KubeAgentKernelTest.settings(), log::add)) {
            agent.awaitStop();
            assertThat(agent.refusal()).contains("kube-system/istio-cni-node-abcde");
            assertThat(log).noneMatch(l -> l.contains("reconciling"));
        }
        log.clear();
        try (Agent agent = kube.startAgent(KubeAgentKernelTest.settings().withTakeOver(true), log::add)) {
            KubeFixture.await("ready beside istio-cni (" + log + ")", java.time.Duration.ofSeconds(60), agent::ready);
            assertThat(log).anyMatch(l -> l.contains("istio-cni-node-abcde); taking its Pods over (--take-over)"));
            assertThat(agent.refusal()).isNull();
        }
    }
}
