package io.ambientctl.kube;

import java.util.List;
import java.util.Map;

/**
 * What this package asks of the API, per resource of the core group: the rights the DaemonSet's
 * ClusterRole grants, and no more (a test holds packaging/kubernetes/rbac.yaml to exactly this).
 * Pods: get ('enroll NAME'), list and watch (selections, the agent's informer), patch (the annotation).
 * Namespaces: list and watch (the agent's informer), get (kubectl's reading of a namespace).
 * Events: create (the agent's Events on Pods: enrolled, skipped, failed, drift repaired) and patch (the same
 * Event again: its count and last timestamp).
 */
public final class KubeAccess {
    public static final Map<String, List<String>> CORE_RULES = Map.of(
            "pods", List.of("get", "list", "watch", "patch"),
            "namespaces", List.of("get", "list", "watch"),
            "events", List.of("create", "patch"));

    private KubeAccess() {
    }
}
