package io.ambientctl.kube;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;

/** The DaemonSet and its RBAC, parsed with fabric8: mounts, capabilities, and rights exactly as the code needs. */
class ManifestsTest {
    static final Path DIR = Path.of("..", "packaging", "kubernetes");

    static List<HasMetadata> load(String file) throws IOException {
        try (InputStream in = Files.newInputStream(DIR.resolve(file))) {
            Object o = new KubernetesSerialization().unmarshal(in);
            if (o instanceof List<?> l) {
                return l.stream().map(HasMetadata.class::cast).toList();
            }
            return List.of((HasMetadata) o);
        }
    }

    static <T> T one(List<HasMetadata> docs, Class<T> type) {
        return docs.stream().filter(type::isInstance).map(type::cast).reduce((x, y) -> {
            throw new AssertionError("more than one " + type.getSimpleName());
        }).orElseThrow(() -> new AssertionError("no " + type.getSimpleName()));
    }

    @Test
    void theDaemonSetRunsTheAgentInTheHostNetworkWithCapabilitiesNotPrivileged() throws IOException {
        DaemonSet ds = one(load("daemonset.yaml"), DaemonSet.class);
        PodSpec pod = ds.getSpec().getTemplate().getSpec();
        assertThat(pod.getHostNetwork()).isTrue();
        assertThat(pod.getHostPID()).as("Pods' /proc/PID/ns/net are reached through the host's /proc").isTrue();
        assertThat(pod.getDnsPolicy()).isEqualTo("ClusterFirstWithHostNet");
        assertThat(pod.getTolerations()).anySatisfy(t -> assertThat(t.getOperator()).isEqualTo("Exists"));
        assertThat(ds.getSpec().getTemplate().getMetadata().getLabels()).containsEntry(Pods.DATAPLANE_MODE, Pods.NONE);

        Container c = pod.getContainers().get(0);
        assertThat(c.getArgs()).first().isEqualTo("agent");
        assertThat(c.getEnv()).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("NODE_NAME");
            assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("spec.nodeName");
        });
        var sc = c.getSecurityContext();
        assertThat(sc.getPrivileged()).isNotEqualTo(Boolean.TRUE);
        assertThat(sc.getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(sc.getCapabilities().getAdd()).containsExactlyInAnyOrder("NET_ADMIN", "NET_RAW", "SYS_ADMIN", "BPF",
                "PERFMON", "SYS_PTRACE", "SYS_RESOURCE");

        Map<String, String> hostPaths = new HashMap<>();
        for (Volume v : pod.getVolumes()) {
            if (v.getHostPath() != null) {
                hostPaths.put(v.getName(), v.getHostPath().getPath());
            }
        }
        Map<String, String> mounted = new HashMap<>();
        for (VolumeMount m : c.getVolumeMounts()) {
            if (hostPaths.containsKey(m.getName())) {
                mounted.put(hostPaths.get(m.getName()), m.getMountPath());
            }
        }
        assertThat(mounted).containsEntry("/sys/fs/bpf", "/sys/fs/bpf").containsEntry("/var/run/netns", "/var/run/netns")
                .containsEntry("/var/lib/ambientctl", "/var/lib/ambientctl");
        assertThat(c.getVolumeMounts()).filteredOn(m -> m.getMountPath().equals("/var/run/netns")).singleElement()
                .satisfies(m -> assertThat(m.getMountPropagation()).isEqualTo("HostToContainer"));

        // the probes reach the agent's loopback-only health port (host network: the node's loopback)
        int port = Integer.parseInt(c.getArgs().get(c.getArgs().indexOf("--health-port") + 1));
        assertThat(c.getLivenessProbe().getHttpGet().getHost()).isEqualTo("127.0.0.1");
        assertThat(c.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
        assertThat(c.getLivenessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(port);
        assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
        assertThat(c.getReadinessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(port);
        assertThat(port).isEqualTo(AgentSettings.DEFAULT_HEALTH_PORT);
    }

    @Test
    void theRbacGrantsExactlyWhatTheCodeCallsAndBindsItToTheDaemonSetsAccount() throws IOException {
        List<HasMetadata> docs = load("rbac.yaml");
        ServiceAccount sa = one(docs, ServiceAccount.class);
        ClusterRole role = one(docs, ClusterRole.class);
        ClusterRoleBinding binding = one(docs, ClusterRoleBinding.class);

        Map<String, Set<String>> granted = new HashMap<>();
        for (PolicyRule r : role.getRules()) {
            assertThat(r.getApiGroups()).containsExactly("");
            assertThat(r.getResourceNames()).isNullOrEmpty();
            assertThat(r.getNonResourceURLs()).isNullOrEmpty();
            assertThat(r.getVerbs()).doesNotContain("*");
            for (String res : r.getResources()) {
                granted.computeIfAbsent(res, x -> new HashSet<>()).addAll(r.getVerbs());
            }
        }
        Map<String, Set<String>> needed = new HashMap<>();
        KubeAccess.CORE_RULES.forEach((res, verbs) -> needed.put(res, new HashSet<>(verbs)));
        assertThat(granted).isEqualTo(needed);

        assertThat(binding.getRoleRef().getKind()).isEqualTo("ClusterRole");
        assertThat(binding.getRoleRef().getName()).isEqualTo(role.getMetadata().getName());
        assertThat(binding.getSubjects()).singleElement().satisfies(s -> {
            assertThat(s.getKind()).isEqualTo("ServiceAccount");
            assertThat(s.getName()).isEqualTo(sa.getMetadata().getName());
            assertThat(s.getNamespace()).isEqualTo(sa.getMetadata().getNamespace());
        });
        DaemonSet ds = one(load("daemonset.yaml"), DaemonSet.class);
        assertThat(ds.getSpec().getTemplate().getSpec().getServiceAccountName()).isEqualTo(sa.getMetadata().getName());
        assertThat(ds.getMetadata().getNamespace()).isEqualTo(sa.getMetadata().getNamespace());
    }

    @Test
    void theImageHasAJlinkRuntimeLibbpfIptablesAndIpset() throws IOException {
        String file = Files.readString(DIR.resolve("Containerfile"));
        assertThat(file).contains("jlink").contains("jdk.httpserver").contains("libbpf1").contains("iptables")
                .contains("ipset").contains("iproute2");
    }
}
