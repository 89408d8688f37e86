package io.ambientctl.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn.Capture;
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.Workload;
import io.ambientctl.redirect.Ztunnel;
import io.ambientctl.testing.KubeFixture;
import io.ambientctl.testing.LabFixture;
import io.ambientctl.util.ExitCodeException;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;

/**
 * Pods as targets through fabric8's API server for tests, backed by real network namespaces: enrolling
 * a Pod by name, selector or in all namespaces does real kernel work, asserted with real traffic
 * captured by the ztunnel stand-in; refusals carry their exit codes; the annotation follows.
 */
class KubeEnrollKernelTest {
    KubeFixture k;
    KubeNode kube;
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
    }

    @AfterEach
    void tearDown() {
        if (k != null) {
            k.close();
        }
    }

    private Traffic.Result tcp(Lab.Pod from, String dst) {
        return Traffic.tcp(from.netns(), null, dst, 8080, "hello", LabFixture.SHORT);
    }

    private boolean annotated(String ns, String name) {
        Pod p = k.get(ns, name);
        return p.getMetadata().getAnnotations() != null
                && "enabled".equals(p.getMetadata().getAnnotations().get(Pods.REDIRECTION_ANNOTATION));
    }

    @Test
    void aPodNamedAsKubectlDoesIsEnrolledWithAllItsIpsAndItsTrafficGoesToZtunnel() {
        k.ztunnelPod("ztunnel-abcde");
        Ztunnel zt = kube.ztunnelSet(null, null, null, false);
        assertThat(zt.netns()).isEqualTo(k.lab.lab.ztunnel().name());
        assertThat(zt.namespace() + "/" + zt.name()).isEqualTo("istio-system/ztunnel-abcde");
        k.namespace("shop", Map.of());
        k.pod("shop", "web", a, Map.of("app", "web"));

        KubeNode.Result r = kube.enroll(new PodSelection(List.of("web"), "shop", null, false), false);
        assertThat(r.outcomes()).singleElement().satisfies(o -> {
            assertThat(o.target()).isEqualTo("shop/web");
            assertThat(o.action()).isEqualTo("enrolled");
            assertThat(o.workload().netns()).isEqualTo(a.netns().name());
            assertThat(o.workload().hostInterface()).isEqualTo(a.hostInterface());
            assertThat(o.workload().ips()).containsExactly(a.ipv4(), a.ipv6());
            assertThat(o.workload().uid()).isEqualTo(k.get("shop", "web").getMetadata().getUid());
        });
        assertThat(annotated("shop", "web")).isTrue();
        for (String dst : List.of(b.ipv4(), b.ipv6())) {
            assertThat(tcp(a, dst).answer()).isEqualTo(b.name() + " hello");
        }
        assertThat(k.lab.standIn.captures()).extracting(Capture::port).containsExactly(15001, 15001);
        assertThat(k.lab.node.status().verified()).isTrue();

        // NS/NAME, again: idempotent
        assertThat(kube.enroll(PodSelection.named("shop/web"), false).outcomes()).extracting(Node.Outcome::action)
                .containsExactly("already-enrolled");

        KubeNode.Result un = kube.unenroll(PodSelection.named("shop/web"), false);
        assertThat(un.outcomes()).extracting(Node.Outcome::action).containsExactly("unenrolled");
        assertThat(annotated("shop", "web")).isFalse();
        k.lab.standIn.clear();
        assertThat(tcp(a, b.ipv4()).answer()).isEqualTo(b.name() + " hello");
        assertThat(k.lab.standIn.captures()).isEmpty();
        assertThat(k.lab.node.recorded().workloads).isEmpty();
    }

    @Test
    void anAnnotationTheApiRefusesUnenrollsWhatTheCallEnrolledAndLeavesWhatWasEnrolledBefore() {
        k.ztunnelPod("ztunnel-1");
        kube.ztunnelSet("istio-system/ztunnel-1", null, null, false);
        k.pod("shop", "web", a, Map.of("app", "shop"));
        k.pod("shop", "api", b, Map.of("app", "shop"));
        k.pod("shop", "db", c, Map.of("app", "shop"));
        kube.enroll(PodSelection.named("shop/web"), false); // enrolled before: stays
        k.dispatcher.refusePatch.put("/api/v1/namespaces/shop/pods/db", 403);

        assertThatThrownBy(() -> kube.enroll(new PodSelection(List.of(), "shop", "app=shop", false), false))
                .hasMessageContaining("annotating Pod shop/db failed (HTTP 403)")
                .hasMessageContaining("rbac.yaml")
                .hasMessageContaining("were unenrolled again");
        // nothing this call did is left: api and db neither enrolled nor annotated; web as it was
        assertThat(k.lab.node.recorded().workloads).extracting(Workload::key).containsExactly("shop/web");
        assertThat(annotated("shop", "web")).isTrue();
        assertThat(annotated("shop", "api")).isFalse();
        assertThat(annotated("shop", "db")).isFalse();
        assertThat(k.lab.node.status().verified()).isTrue();
        k.lab.standIn.clear();
        assertThat(tcp(b, a.ipv4()).answer()).isEqualTo(a.name() + " hello");
        assertThat(k.lab.standIn.captures()).extracting(Capture::port).as("web's inbound only").containsExactly(15006);

        // once the API takes it, the same command enrolls and annotates all three
        k.dispatcher.refusePatch.clear();
        KubeNode.Result r = kube.enroll(new PodSelection(List.of(), "shop", "app=shop", false), false);
        assertThat(r.outcomes()).extracting(Node.Outcome::target, Node.Outcome::action).containsExactlyInAnyOrder(
                org.assertj.core.groups.Tuple.tuple("shop/web", "already-enrolled"),
                org.assertj.core.groups.Tuple.tuple("shop/api", "enrolled"),
                org.assertj.core.groups.Tuple.tuple("shop/db", "enrolled"));
        assertThat(List.of("web", "api", "db")).allMatch(n -> annotated("shop", n));
    }

    @Test
    void aSelectorEnrollsTheMatchingPodsOfThisNodeInOneOrAllNamespaces() {
        k.ztunnelPod("ztunnel-1");
        kube.ztunnelSet("istio-system/ztunnel-1", null, null, false);
        k.pod("ns1", "one", a, Map.of("tier", "front"));
        k.pod("ns2", "two", b, Map.of("tier", "front"));
        k.pod("ns1", "other-node", c, Map.of("tier", "front"), "some-other-node");
        k.pod("ns1", "back", c, Map.of("tier", "back"));

        KubeNode.Result r = kube.enroll(new PodSelection(List.of(), "ns1", "tier=front", false), false);
        assertThat(r.outcomes()).extracting(Node.Outcome::target).containsExactly("ns1/one");
        assertThat(r.skipped()).isEmpty(); // the Pod on another node is not even listed

        r = kube.enroll(new PodSelection(List.of(), null, "tier=front", true), false);
        assertThat(r.outcomes()).extracting(Node.Outcome::target, Node.Outcome::action).containsExactly(
                org.assertj.core.groups.Tuple.tuple("ns1/one", "already-enrolled"),
                org.assertj.core.groups.Tuple.tuple("ns2/two", "enrolled"));
        assertThat(k.lab.node.recorded().workloads).extracting(Workload::key).containsExactly("ns1/one", "ns2/two");
        assertThat(annotated("ns2", "two")).isTrue();
        assertThat(annotated("ns1", "back")).isFalse();
        // the server was asked for this node's Pods only
        assertThat(k.dispatcher.nodeSelectors).isNotEmpty()
                .allSatisfy(s -> assertThat(s).endsWith("spec.nodeName=" + k.nodeName));

        // traffic of both, inbound to two from c (not enrolled): 15006
        assertThat(tcp(c, b.ipv6()).answer()).isEqualTo(b.name() + " hello");
        assertThat(k.lab.standIn.captures()).extracting(Capture::port).containsExactly(15006);

        // -A with a selector unenrolls likewise
        KubeNode.Result un = kube.unenroll(new PodSelection(List.of(), null, "tier=front", true), false);
        assertThat(un.outcomes()).extracting(Node.Outcome::action).containsOnly("unenrolled");
        assertThat(k.lab.node.recorded().workloads).isEmpty();
        assertThat(annotated("ns1", "one")).isFalse();
    }

    @Test
    void podsThatCannotBeRedirectedHereAreRefusedWithTheirExitCodeAndNothingChanges() {
        k.ztunnelPod("ztunnel-1");
        k.pod("ns1", "good", a, Map.of());
        k.pod("ns1", "elsewhere", b, Map.of(), "some-other-node");
        Pod pending = k.pod("ns1", "pending", c, Map.of());
        k.client.pods().inNamespace("ns1").withName("pending").editStatus(p -> {
            p.getStatus().setPhase("Pending");
            return p;
        });
        k.create(new PodBuilder(k.podSpec("ns1", "noip", c, Map.of(), k.nodeName)).editStatus().withPodIP(null)
                .withPodIPs(List.of()).endStatus().build());
        k.create(new PodBuilder(pending).editMetadata().withName("hostnet").withResourceVersion(null).endMetadata()
                .editSpec().withHostNetwork(true).endSpec().build());

        assertThatThrownBy(() -> kube.enroll(PodSelection.named("ns1/ghost"), false))
                .isInstanceOfSatisfying(ExitCodeException.class, e -> assertThat(e.exitCode()).isEqualTo(4))
                .hasMessageContaining("ns1/ghost not found");
        assertThatThrownBy(() -> kube.enroll(PodSelection.named("ns1/good", "ns1/elsewhere"), false))
                .isInstanceOfSatisfying(ExitCodeException.class, e -> assertThat(e.exitCode()).isEqualTo(4))
                .hasMessageContaining("runs on node some-other-node, not on this node");
        assertThatThrownBy(() -> kube.enroll(PodSelection.named("ns1/pending"), false))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("is Pending, not running");
        assertThatThrownBy(() -> kube.enroll(PodSelection.named("ns1/noip"), false))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("has no IP");
        assertThatThrownBy(() -> kube.enroll(PodSelection.named("ns1/hostnet"), false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("host network");
        assertThatThrownBy(() -> kube.enroll(PodSelection.named("istio-system/ztunnel-1"), false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("ztunnel itself");
        assertThatThrownBy(() -> kube.unenroll(PodSelection.named("ns1/ghost"), false))
                .isInstanceOfSatisfying(ExitCodeException.class, e -> assertThat(e.exitCode()).isEqualTo(4));
        assertThatThrownBy(() -> kube.ztunnelSet("istio-system/nope", null, null, false))
                .isInstanceOfSatisfying(ExitCodeException.class, e -> assertThat(e.exitCode()).isEqualTo(4));
        // all or nothing: "good" was named with "elsewhere" and is not enrolled
        assertThat(k.lab.node.recorded().workloads).isEmpty();
        assertThat(annotated("ns1", "good")).isFalse();

        // a selection skips them, saying why, and enrolls the rest
        KubeNode.Result r = kube.enroll(new PodSelection(List.of(), "ns1", null, false), false);
        assertThat(r.outcomes()).extracting(Node.Outcome::target).containsExactly("ns1/good");
        assertThat(r.skipped()).extracting(KubeNode.Skipped::pod)
                .containsExactlyInAnyOrder("ns1/pending", "ns1/noip", "ns1/hostnet");
    }

    @Test
    void autoWithoutAReadyZtunnelHereIsNotFound() {
        Pod zt = k.ztunnelPod("ztunnel-x");
        k.client.pods().inNamespace("istio-system").withName("ztunnel-x").editStatus(p -> {
            p.getStatus().getConditions().get(0).setStatus("False");
            return p;
        });
        assertThatThrownBy(() -> kube.ztunnelSet(null, null, null, false))
                .isInstanceOfSatisfying(ExitCodeException.class, e -> assertThat(e.exitCode()).isEqualTo(4))
                .hasMessageContaining("no Ready Pod labelled app=ztunnel in namespace istio-system");
        assertThat(zt).isNotNull();
    }
}
