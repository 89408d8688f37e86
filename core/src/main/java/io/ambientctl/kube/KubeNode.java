package io.ambientctl.kube;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.State;
import io.ambientctl.redirect.Ztunnel;
import io.ambientctl.util.ExitCodeException;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.FilterWatchListDeletable;
import io.fabric8.kubernetes.client.dsl.PodResource;
import io.fabric8.kubernetes.api.model.PodList;

/**
 * The node's redirection driven through the API: Pods named or selected as kubectl does, only those
 * scheduled on this node, their network namespaces found from their IPs, the annotation set and
 * removed. Its public face has no fabric8 type, so the command line can hold one without loading the
 * client until a Pod is named.
 */
public final class KubeNode implements AutoCloseable {
    private final KubernetesClient client;
    private final Node node;
    private final KubeOptions options;
    private final String nodeName;
    private final boolean ownsClient;

    KubeNode(KubernetesClient client, Node node, KubeOptions options, boolean ownsClient) {
        this.client = client;
        this.node = node;
        this.options = options;
        this.nodeName = options.nodeName();
        this.ownsClient = ownsClient;
    }

    /** Creates the API client (kubeconfig/context or in-cluster) for {@code node}. */
    public static KubeNode connect(KubeOptions options, Node node) {
        return new KubeNode(KubeClients.create(options), node, options, true);
    }

    public String nodeName() {
        return nodeName;
    }

    /** A Pod that a selection matched but that cannot be redirected, and why. */
    public record Skipped(String pod, String reason) {
    }

    /** What enroll or unenroll did: per target, plus what a selection matched but left alone. */
    public record Result(List<Node.Outcome> outcomes, List<Skipped> skipped) {
    }

    /**
     * Enrolls the Pods: all named ones or none (a Pod not found or not on this node is exit 4, one that
     * cannot be redirected is refused before anything changes); a selection enrolls what it matches on
     * this node and reports the rest as skipped. The annotation follows on success.
     */
    public Result enroll(PodSelection sel, boolean dryRun) {
        List<Pod> pods = new ArrayList<>();
        List<Skipped> skipped = new ArrayList<>();
        java.util.Set<String> enrolled = new java.util.HashSet<>();
        node.recorded().workloads.forEach(w -> enrolled.add(w.key()));
        if (sel.listing()) {
            for (Pod p : list(sel)) {
                Optional<RuntimeException> why = Pods.refusal(p, nodeName, options.ztunnelNamespace())
                        .or(() -> Pods.redirectedByAnother(p, enrolled));
                if (why.isPresent()) {
                    skipped.add(new Skipped(Pods.key(p), why.get().getMessage()));
                } else {
                    pods.add(p);
                }
            }
        } else {
            for (PodRef ref : refs(sel)) {
                Pod p = get(ref).orElseThrow(() -> ExitCodeException.notFound("Pod " + ref + " not found"));
                Optional<RuntimeException> why = Pods.refusal(p, nodeName, options.ztunnelNamespace())
                        .or(() -> Pods.redirectedByAnother(p, enrolled));
                if (why.isPresent()) {
                    throw why.get();
                }
                pods.add(p);
            }
        }
        PodNetns where = PodNetns.of(node.config().nodeNetns());
        List<Node.Target> targets = new ArrayList<>();
        for (Pod p : pods) {
            PodNetns.Located at = where.find(Pods.key(p), Pods.ips(p));
            // every IP the API gives the Pod must be in the namespace found: checked before anything changes
            targets.add(new Node.Target(at.netns(), p.getMetadata().getName(), p.getMetadata().getNamespace(),
                    Pods.uid(p), Pods.ips(p), Pods.dnsCapture(p)));
        }
        List<Node.Outcome> done = targets.isEmpty() ? List.of() : node.enrollTargets(targets, dryRun);
        if (!dryRun) {
            annotateOrUndo(done);
        }
        return new Result(done, skipped);
    }

    /**
     * Annotates the Pods just enrolled; when the API refuses one (RBAC, admission, a conflict it keeps
     * answering), the Pods this call enrolled are unenrolled again and their annotations taken back, so that a
     * refusal never leaves a Pod enrolled but not annotated; then the refusal is thrown, saying so.
     */
    private void annotateOrUndo(List<Node.Outcome> done) {
        List<String> annotated = new ArrayList<>();
        for (Node.Outcome o : done) {
            try {
                RedirectionAnnotation.set(client, PodRef.parse(o.target(), null), true);
                annotated.add(o.target());
            } catch (RuntimeException refused) {
                List<String> enrolledNow = done.stream().filter(x -> x.action().equals("enrolled"))
                        .map(Node.Outcome::target).toList();
                String undone;
                try {
                    if (!enrolledNow.isEmpty()) {
                        node.unenrollTargets(enrolledNow.stream().map(KubeNode::target).toList(), false, false);
                    }
                    for (String k : annotated) {
                        if (enrolledNow.contains(k)) {
                            RedirectionAnnotation.set(client, PodRef.parse(k, null), false);
                        }
                    }
                    undone = enrolledNow.isEmpty() ? "" : "; the Pods this call enrolled (" + String.join(", ",
                            enrolledNow) + ") were unenrolled again";
                } catch (RuntimeException e) {
                    refused.addSuppressed(e);
                    undone = "; unenrolling the Pods this call enrolled failed too (" + e.getMessage()
                            + "): run 'ambientctl unenroll' for " + String.join(", ", enrolledNow) + " or enroll again";
                }
                throw new IllegalStateException(refused.getMessage() + undone, refused);
            }
        }
    }

    /**
     * Unenrolls the Pods: an enrolled one even when its Pod is gone; a named one neither enrolled nor
     * found, or not on this node, is exit 4. The annotation goes with it.
     */
    public Result unenroll(PodSelection sel, boolean dryRun) {
        State state = node.recorded();
        List<Node.Target> targets = new ArrayList<>();
        List<Skipped> skipped = new ArrayList<>();
        List<String> existing = new ArrayList<>();
        if (sel.listing()) {
            for (Pod p : list(sel)) {
                if (!nodeName.equals(Pods.nodeName(p))) {
                    continue;
                }
                targets.add(target(Pods.key(p)));
                existing.add(Pods.key(p));
            }
        } else {
            for (PodRef ref : refs(sel)) {
                boolean enrolled = state.workload(ref.key()).isPresent();
                Optional<Pod> p = enrolled ? Optional.empty() : get(ref);
                if (!enrolled) {
                    Pod pod = p.orElseThrow(() -> ExitCodeException.notFound("Pod " + ref
                            + " neither exists nor is enrolled"));
                    if (!nodeName.equals(Pods.nodeName(pod))) {
                        throw ExitCodeException.notFound("Pod " + ref + " runs on node " + Pods.nodeName(pod)
                                + ", not on this node (" + nodeName + ")");
                    }
                }
                targets.add(target(ref.key()));
                existing.add(ref.key());
            }
        }
        List<Node.Outcome> done = targets.isEmpty() ? List.of() : node.unenrollTargets(targets, false, dryRun);
        if (!dryRun) {
            annotate(existing, false);
        }
        return new Result(done, skipped);
    }

    private static Node.Target target(String key) {
        PodRef ref = PodRef.parse(key, null);
        return new Node.Target(null, ref.name(), ref.namespace(), null);
    }

    /**
     * Declares ztunnel by its Pod ({@code pod} as NS/NAME), or with null the Ready Pod labelled
     * app=ztunnel in ztunnel's namespace on this node (the newest, if several).
     */
    public Ztunnel ztunnelSet(String pod, Boolean dnsCapture, Boolean failOpen, boolean dryRun) {
        Pod zt;
        if (pod != null) {
            PodRef ref = PodRef.parse(pod, options.ztunnelNamespace());
            zt = get(ref).orElseThrow(() -> ExitCodeException.notFound("ztunnel Pod " + ref + " not found"));
            if (!nodeName.equals(Pods.nodeName(zt))) {
                throw ExitCodeException.notFound("ztunnel Pod " + ref + " runs on node " + Pods.nodeName(zt)
                        + ", not on this node (" + nodeName + ")");
            }
            if (!Pods.running(zt) || Pods.ips(zt).isEmpty()) {
                throw new IllegalStateException("ztunnel Pod " + ref + " is " + Pods.phase(zt)
                        + (Pods.ips(zt).isEmpty() ? " without an IP" : "") + "; set it once it runs");
            }
        } else {
            zt = ztunnelPods().stream().findFirst().orElseThrow(() -> ExitCodeException.notFound(
                    "no Ready Pod labelled " + Pods.ZTUNNEL_LABEL + "=" + Pods.ZTUNNEL_LABEL_VALUE + " in namespace "
                            + options.ztunnelNamespace() + " on node " + nodeName
                            + " (is ztunnel installed there? --ztunnel-namespace names another namespace)"));
        }
        PodNetns.Located at = PodNetns.of(node.config().nodeNetns()).find(Pods.key(zt), Pods.ips(zt));
        return node.ztunnelSet(new Node.Target(at.netns(), zt.getMetadata().getName(), zt.getMetadata().getNamespace(),
                Pods.uid(zt)), dnsCapture, failOpen, dryRun);
    }

    /** Ready, running ztunnel Pods with an IP on this node, newest first. */
    List<Pod> ztunnelPods() {
        try {
            return client.pods().inNamespace(options.ztunnelNamespace())
                    .withLabel(Pods.ZTUNNEL_LABEL, Pods.ZTUNNEL_LABEL_VALUE)
                    .withField("spec.nodeName", nodeName).list().getItems().stream()
                    .filter(p -> nodeName.equals(Pods.nodeName(p)))
                    .filter(p -> Pods.running(p) && Pods.ready(p) && !Pods.ips(p).isEmpty() && !Pods.terminating(p))
                    .sorted(Comparator.comparing((Pod p) -> p.getMetadata().getCreationTimestamp(),
                            Comparator.nullsFirst(Comparator.naturalOrder())).reversed())
                    .toList();
        } catch (KubernetesClientException e) {
            throw KubeClients.apiFailure("listing ztunnel Pods in " + options.ztunnelNamespace(), e);
        }
    }

    /** The label of istio-cni's node agent Pods (Istio's chart: DaemonSet istio-cni-node). */
    public static final String ISTIO_CNI_LABEL = "k8s-app";
    public static final String ISTIO_CNI_LABEL_VALUE = "istio-cni-node";

    /** Starts the node agent on this client (see {@link Agent}). */
    public Agent startAgent(AgentSettings settings, Consumer<String> log) {
        Agent a = new Agent(client, node, options, settings, log);
        a.start();
        return a;
    }

    private List<PodRef> refs(PodSelection sel) {
        String ns = sel.namespace() != null ? sel.namespace() : defaultNamespace();
        Map<String, PodRef> out = new LinkedHashMap<>();
        for (String n : sel.names()) {
            PodRef r = PodRef.parse(n, ns);
            out.put(r.key(), r);
        }
        return new ArrayList<>(out.values());
    }

    private String defaultNamespace() {
        String ns = client.getNamespace();
        return ns == null || ns.isBlank() ? "default" : ns;
    }

    private Optional<Pod> get(PodRef ref) {
        try {
            return Optional.ofNullable(client.pods().inNamespace(ref.namespace()).withName(ref.name()).get());
        } catch (KubernetesClientException e) {
            throw KubeClients.apiFailure("getting Pod " + ref, e);
        }
    }

    /** The Pods a selection matches on this node (the server filters by node; so do we). */
    private List<Pod> list(PodSelection sel) {
        try {
            FilterWatchListDeletable<Pod, PodList, PodResource> q = sel.allNamespaces()
                    ? client.pods().inAnyNamespace()
                    : client.pods().inNamespace(sel.namespace() != null ? sel.namespace() : defaultNamespace());
            if (sel.selector() != null) {
                q = q.withLabelSelector(sel.selector());
            }
            return q.withField("spec.nodeName", nodeName).list().getItems().stream()
                    .filter(p -> nodeName.equals(Pods.nodeName(p)))
                    .sorted(Comparator.comparing(Pods::key)).toList();
        } catch (KubernetesClientException e) {
            throw KubeClients.apiFailure("listing Pods", e);
        }
    }

    private void annotate(List<String> keys, boolean enabled) {
        for (String k : keys) {
            RedirectionAnnotation.set(client, PodRef.parse(k, null), enabled);
        }
    }

    @Override
    public void close() {
        if (ownsClient) {
            client.close();
        }
    }
}
