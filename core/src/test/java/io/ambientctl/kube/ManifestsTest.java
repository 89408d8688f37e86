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
        // exactly the capabilities preflight checks (and names when missing)
        assertThat(sc.getCapabilities().getAdd()).containsExactlyInAnyOrderElementsOf(
                io.ambientctl.preflight.Preflight.CAPABILITIES.stream().map(x -> x.name()).toList());

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

        // the probes reach the agent's loopback-only health port (host network: the node's loopback), declared by name
        int port = Integer.parseInt(c.getArgs().get(c.getArgs().indexOf("--health-port") + 1));
        assertThat(port).isEqualTo(AgentSettings.DEFAULT_HEALTH_PORT);
        assertThat(c.getPorts()).filteredOn(p -> "health".equals(p.getName())).singleElement()
                .satisfies(p -> assertThat(p.getContainerPort()).isEqualTo(port));
        // the metrics port: the agent's address, declared, and what the scrape annotations name
        String metricsArg = c.getArgs().get(c.getArgs().indexOf("--metrics-address") + 1);
        var metrics = AgentSettings.metricsAddress(metricsArg);
        assertThat(metrics.getPort()).isEqualTo(AgentSettings.DEFAULT_METRICS_PORT);
        assertThat(c.getPorts()).extracting(p -> p.getName()).containsExactlyInAnyOrder("health", "metrics");
        assertThat(c.getPorts()).filteredOn(p -> "metrics".equals(p.getName())).singleElement()
                .satisfies(p -> assertThat(p.getContainerPort()).isEqualTo(metrics.getPort()));
        assertThat(ds.getSpec().getTemplate().getMetadata().getAnnotations())
                .containsEntry("prometheus.io/scrape", "true")
                .containsEntry("prometheus.io/port", String.valueOf(metrics.getPort()))
                .containsEntry("prometheus.io/path", "/metrics");
        // both periods set: the API relist and the kernel check, each a duration the command accepts
        assertThat(c.getArgs()).contains("--resync", "--verify-every");
        assertThat(c.getArgs().get(c.getArgs().indexOf("--verify-every") + 1)).matches("[0-9]+[smh]");
        assertThat(c.getArgs().get(c.getArgs().indexOf("--resync") + 1)).matches("[0-9]+[smh]");
        for (var probe : List.of(c.getStartupProbe(), c.getLivenessProbe(), c.getReadinessProbe())) {
            assertThat(probe).as("startup, liveness and readiness probes").isNotNull();
            assertThat(probe.getHttpGet().getHost()).isEqualTo("127.0.0.1");
            String p = probe.getHttpGet().getPort().getStrVal();
            assertThat(p == null ? probe.getHttpGet().getPort().getIntVal() : (Object) p).isIn(port, "health");
        }
        assertThat(c.getStartupProbe().getHttpGet().getPath()).isEqualTo("/healthz");
        assertThat(c.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
        assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
        // the startup probe outlasts the agent's wait for its first listing (healthz is 503 until then): the agent
        // gives up by itself, with the reason in its log, before the kubelet would kill it
        var start = c.getStartupProbe();
        int startWindow = orZero(start.getInitialDelaySeconds()) + start.getPeriodSeconds() * start.getFailureThreshold();
        assertThat(startWindow).isGreaterThan((int) AgentSettings.defaults().syncTimeout().toSeconds() + 15);
        assertThat(c.getLivenessProbe().getInitialDelaySeconds()).as("the startup probe holds liveness back").isNull();
        // liveness fails only after the agent's own heartbeat window (its worker turns at least once a minute)
        assertThat(c.getLivenessProbe().getPeriodSeconds() * c.getLivenessProbe().getFailureThreshold()).isGreaterThanOrEqualTo(60);

        // requests and a memory limit; the JVM's heap a fraction of it, and it exits on running out (the kubelet restarts it)
        assertThat(c.getResources().getRequests()).containsKeys("cpu", "memory");
        assertThat(c.getResources().getLimits()).containsKey("memory");
        String javaOpts = c.getEnv().stream().filter(e -> e.getName().equals("AMBIENTCTL_JAVA_OPTS")).findFirst()
                .orElseThrow().getValue();
        assertThat(javaOpts).contains("-XX:MaxRAMPercentage=").contains("-XX:+ExitOnOutOfMemoryError");

        // the standard labels; the selector only the ones that never change
        Map<String, String> labels = ds.getSpec().getTemplate().getMetadata().getLabels();
        assertThat(labels).containsKeys("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
                "app.kubernetes.io/part-of", "app.kubernetes.io/version");
        assertThat(ds.getSpec().getSelector().getMatchLabels()).containsOnlyKeys("app.kubernetes.io/name",
                "app.kubernetes.io/instance");
        assertThat(labels).containsAllEntriesOf(ds.getSpec().getSelector().getMatchLabels());
        assertThat(ds.getSpec().getUpdateStrategy().getRollingUpdate().getMaxSurge().getIntVal()).isZero();

        // a fully qualified image whose tag is the project's version (the labels' too)
        String version = projectVersion();
        assertThat(c.getImage()).matches("[a-z0-9.-]+\\.[a-z]+(:[0-9]+)?/.+").endsWith(":" + version);
        assertThat(labels).containsEntry("app.kubernetes.io/version", version);
    }

    static int orZero(Integer i) {
        return i == null ? 0 : i;
    }

    static String projectVersion() throws IOException {
        String pom = Files.readString(Path.of("..", "pom.xml"));
        var m = java.util.regex.Pattern.compile("<artifactId>ambientctl-parent</artifactId>\\s*<version>([^<]+)</version>")
                .matcher(pom);
        assertThat(m.find()).isTrue();
        return m.group(1);
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

    /** The jlink module list: one, in packaging/pom.xml (the tarball's runtime; the image is made from the tarball). */
    static Set<String> jlinkModules() throws IOException {
        String pom = Files.readString(Path.of("..", "packaging", "pom.xml"));
        var m = java.util.regex.Pattern.compile("<jlink.modules>([^<]+)</jlink.modules>").matcher(pom);
        assertThat(m.find()).as("jlink.modules in packaging/pom.xml").isTrue();
        return Set.of(m.group(1).strip().split("\\s*,\\s*"));
    }

    @Test
    void theRuntimeHasEveryModuleTheCodeUses() throws Exception {
        // the modules this project's own classes use (jdeps), e.g. jdk.httpserver for the agent's /healthz
        var jdeps = java.util.spi.ToolProvider.findFirst("jdeps").orElseThrow();
        var out = new java.io.StringWriter();
        List<String> dirs = new java.util.ArrayList<>(List.of("target/classes"));
        if (Files.isDirectory(Path.of("..", "cli", "target", "classes"))) {
            dirs.add("../cli/target/classes");
        }
        List<String> args = new java.util.ArrayList<>(List.of("--print-module-deps", "--ignore-missing-deps",
                "--multi-release", "17"));
        args.addAll(dirs);
        int rc = jdeps.run(new java.io.PrintWriter(out), new java.io.PrintWriter(out), args.toArray(String[]::new));
        assertThat(rc).as(out.toString()).isZero();
        Set<String> used = Set.of(out.toString().strip().split(","));
        assertThat(used).contains("jdk.httpserver");
        assertThat(jlinkModules()).containsAll(used);
        // and what the dependencies need at run time (TLS to the API server, name lookups, the zip file system)
        assertThat(jlinkModules()).contains("java.naming", "jdk.crypto.ec", "jdk.zipfs", "jdk.unsupported");
    }

    @Test
    void theImageIsMadeFromTheTarballWithNoModuleListOfItsOwn() throws IOException {
        Path image = Path.of("..", "packaging", "image");
        String build = Files.readString(image.resolve("build.sh"));
        assertThat(build).contains("mmdebstrap").contains("podman import").contains("ambientctl-*-linux-x86_64.tar.gz")
                .contains("/opt/ambientctl/bin/ambientctl").doesNotContain("jlink -").doesNotContain("--add-modules");
        assertThat(Files.readAllLines(image.resolve("packages"))).contains("libbpf1", "iproute2", "iptables", "ipset");
        assertThat(Files.exists(Path.of("..", "packaging", "kubernetes", "Containerfile"))).isFalse();
    }
}
