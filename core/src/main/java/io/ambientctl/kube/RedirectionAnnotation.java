package io.ambientctl.kube;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;

/**
 * The Pod annotation ambient.istio.io/redirection=enabled, set on success and removed on unenroll,
 * with a JSON merge patch (the RBAC grants "patch pods", nothing broader).
 */
final class RedirectionAnnotation {
    private RedirectionAnnotation() {
    }

    /** Sets ({@code enabled}) or removes it; a Pod that is gone is fine. */
    static void set(KubernetesClient client, PodRef pod, boolean enabled) {
        String value = enabled ? "\"" + Pods.REDIRECTION_ENABLED + "\"" : "null";
        String patch = "{\"metadata\":{\"annotations\":{\"" + Pods.REDIRECTION_ANNOTATION + "\":" + value + "}}}";
        try {
            client.pods().inNamespace(pod.namespace()).withName(pod.name())
                    .patch(PatchContext.of(PatchType.JSON_MERGE), patch);
        } catch (KubernetesClientException e) {
            if (e.getCode() == 404) {
                return;
            }
            throw KubeClients.apiFailure((enabled ? "annotating" : "removing the annotation of") + " Pod " + pod, e);
        }
    }
}
