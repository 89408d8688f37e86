package io.ambientctl.kube;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.util.ExitCodeException;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIP;

/**
 * What ambientctl reads from a Pod: its key, IPs, whether it can be redirected on this node, and
 * whether it is in the ambient mesh (Istio's labels).
 */
public final class Pods {
    /** Set to "enabled" on a redirected Pod, as istio-cni does, so the cluster can see it. */
    public static final String REDIRECTION_ANNOTATION = "ambient.istio.io/redirection";
    public static final String REDIRECTION_ENABLED = "enabled";
    /** On a Pod or its namespace: "ambient" enrolls; "none" on the Pod opts it out. */
    public static final String DATAPLANE_MODE = "istio.io/dataplane-mode";
    public static final String AMBIENT = "ambient";
    public static final String NONE = "none";
    /** A Pod with an injected sidecar is in the sidecar mesh, not the ambient one. */
    public static final String SIDECAR_STATUS = "sidecar.istio.io/status";
    public static final String ZTUNNEL_LABEL = "app";
    public static final String ZTUNNEL_LABEL_VALUE = "ztunnel";

    private Pods() {
    }

    public static String key(Pod p) {
        return p.getMetadata().getNamespace() + "/" + p.getMetadata().getName();
    }

    public static String uid(Pod p) {
        return p.getMetadata().getUid();
    }

    /** Every IP of the Pod (status.podIPs, else status.podIP), canonical text, IPv4 first. */
    public static List<String> ips(Pod p) {
        List<String> out = new ArrayList<>();
        if (p.getStatus() == null) {
            return out;
        }
        List<PodIP> many = p.getStatus().getPodIPs();
        if (many != null) {
            for (PodIP ip : many) {
                if (ip.getIp() != null && !ip.getIp().isBlank()) {
                    out.add(IpAddrs.format(IpAddrs.parse(ip.getIp())));
                }
            }
        }
        String one = p.getStatus().getPodIP();
        if (out.isEmpty() && one != null && !one.isBlank()) {
            out.add(IpAddrs.format(IpAddrs.parse(one)));
        }
        return out.stream().distinct().sorted(Comparator.comparing(ip -> ip.contains(":"))).toList();
    }

    public static String phase(Pod p) {
        return p.getStatus() == null || p.getStatus().getPhase() == null ? "Unknown" : p.getStatus().getPhase();
    }

    public static boolean running(Pod p) {
        return "Running".equals(phase(p));
    }

    public static boolean ready(Pod p) {
        return p.getStatus() != null && p.getStatus().getConditions() != null && p.getStatus().getConditions()
                .stream().anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
    }

    public static boolean hostNetwork(Pod p) {
        return p.getSpec() != null && Boolean.TRUE.equals(p.getSpec().getHostNetwork());
    }

    public static String nodeName(Pod p) {
        return p.getSpec() == null ? null : p.getSpec().getNodeName();
    }

    public static boolean terminating(Pod p) {
        return p.getMetadata().getDeletionTimestamp() != null;
    }

    /** ztunnel itself: labelled app=ztunnel in ztunnel's namespace. */
    public static boolean isZtunnel(Pod p, String ztunnelNamespace) {
        return ztunnelNamespace.equals(p.getMetadata().getNamespace())
                && ZTUNNEL_LABEL_VALUE.equals(label(p.getMetadata().getLabels(), ZTUNNEL_LABEL));
    }

    /** The Pod annotation by which a Pod opts out of DNS capture (value "false"). */
    public static final String DNS_CAPTURE_ANNOTATION = "ambient.istio.io/dns-capture";

    /** The Pod's own DNS capture choice: false when annotated {@code ambient.istio.io/dns-capture: "false"}, else null. */
    public static Boolean dnsCapture(Pod p) {
        Map<String, String> a = p.getMetadata().getAnnotations();
        return a != null && "false".equalsIgnoreCase(String.valueOf(a.get(DNS_CAPTURE_ANNOTATION)).strip()) ? Boolean.FALSE
                : null;
    }

    /**
     * Refuses a Pod that is annotated as redirected while {@code enrolled} (ambientctl's state) does not hold it:
     * another controller (istio-cni) redirects it, and two would fight over its traffic and the annotation.
     */
    public static Optional<RuntimeException> redirectedByAnother(Pod p, java.util.Set<String> enrolled) {
        if (annotated(p) && !enrolled.contains(key(p))) {
            return Optional.of(new IllegalStateException("Pod " + key(p) + " is annotated " + REDIRECTION_ANNOTATION
                    + "=" + REDIRECTION_ENABLED + " but ambientctl did not enroll it: another controller (istio-cni?) "
                    + "redirects it; remove it from that controller first (or remove the annotation if nothing "
                    + "redirects it)"));
        }
        return Optional.empty();
    }

    public static boolean annotated(Pod p) {
        Map<String, String> a = p.getMetadata().getAnnotations();
        return a != null && REDIRECTION_ENABLED.equals(a.get(REDIRECTION_ANNOTATION));
    }

    /**
     * In the ambient mesh: "ambient" on the Pod, or on its namespace unless the Pod says "none"; a
     * Pod with an injected sidecar never is.
     */
    public static boolean inMesh(Pod p, Namespace ns) {
        Map<String, String> annotations = p.getMetadata().getAnnotations();
        if (annotations != null && annotations.containsKey(SIDECAR_STATUS)) {
            return false;
        }
        String podMode = label(p.getMetadata().getLabels(), DATAPLANE_MODE);
        if (NONE.equals(podMode)) {
            return false;
        }
        if (AMBIENT.equals(podMode)) {
            return true;
        }
        return ns != null && AMBIENT.equals(label(ns.getMetadata().getLabels(), DATAPLANE_MODE));
    }

    private static String label(Map<String, String> labels, String key) {
        return labels == null ? null : labels.get(key);
    }

    /**
     * Why this Pod cannot be redirected on node {@code node} (empty: it can). The failure carries the
     * exit code: 4 when the Pod is not on this node, 2 when it never can be (host network, ztunnel),
     * 1 when it cannot yet (not running, no IP).
     */
    public static Optional<RuntimeException> refusal(Pod p, String node, String ztunnelNamespace) {
        String key = key(p);
        String on = nodeName(p);
        if (on == null || on.isEmpty()) {
            return Optional.of(ExitCodeException.notFound("Pod " + key + " is not scheduled on a node yet; "
                    + "enroll it on its node once it runs"));
        }
        if (!on.equals(node)) {
            return Optional.of(ExitCodeException.notFound("Pod " + key + " runs on node " + on + ", not on this node ("
                    + node + "); run ambientctl on " + on + " (or pass --node if this node's name is not " + node + ")"));
        }
        if (hostNetwork(p)) {
            return Optional.of(new IllegalArgumentException("refusing Pod " + key + ": it uses the host network "
                    + "(hostNetwork: true), so its traffic is the node's own and would loop through ztunnel"));
        }
        if (isZtunnel(p, ztunnelNamespace)) {
            return Optional.of(new IllegalArgumentException("refusing Pod " + key + ": it is ztunnel itself; declare "
                    + "it with 'ambientctl ztunnel set --pod " + key + "'"));
        }
        if (!running(p)) {
            return Optional.of(new IllegalStateException("Pod " + key + " is " + phase(p) + ", not running; enroll it "
                    + "once it runs (the agent does this by itself)"));
        }
        if (ips(p).isEmpty()) {
            return Optional.of(new IllegalStateException("Pod " + key + " has no IP yet; enroll it once it has one"));
        }
        return Optional.empty();
    }
}
