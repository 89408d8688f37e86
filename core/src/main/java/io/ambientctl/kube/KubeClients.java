package io.ambientctl.kube;

import java.nio.file.Files;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;

/**
 * Creates the API client as kubectl would find its way: --kubeconfig (with --context), else the
 * in-cluster service account when running in a Pod, else $KUBECONFIG or ~/.kube/config.
 */
final class KubeClients {
    private KubeClients() {
    }

    static KubernetesClient create(KubeOptions o) {
        Config cfg;
        try {
            if (o.kubeconfig() != null) {
                if (!Files.isReadable(o.kubeconfig())) {
                    throw new IllegalArgumentException("--kubeconfig " + o.kubeconfig() + ": no such readable file");
                }
                cfg = Config.fromKubeconfig(o.context(), o.kubeconfig().toFile());
            } else {
                cfg = Config.autoConfigure(o.context());
            }
        } catch (KubernetesClientException e) {
            throw new IllegalStateException("cannot configure the Kubernetes client"
                    + (o.context() != null ? " for context " + o.context() : "") + ": " + e.getMessage()
                    + "; check --kubeconfig and --context", e);
        }
        if (cfg.getMasterUrl() == null || cfg.getMasterUrl().isBlank()) {
            throw new IllegalStateException("no Kubernetes API server configured: pass --kubeconfig FILE, or run in a Pod "
                    + "with a service account");
        }
        cfg.setUserAgent("ambientctl");
        return new KubernetesClientBuilder().withConfig(cfg).build();
    }

    /** A failure of the API, said plainly (exit 1). */
    static IllegalStateException apiFailure(String what, KubernetesClientException e) {
        String status = e.getCode() > 0 ? " (HTTP " + e.getCode() + ")" : "";
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String detail = e.getStatus() != null && e.getStatus().getMessage() != null ? e.getStatus().getMessage()
                : root != e && root.getMessage() != null ? root.getMessage() : firstLine(e.getMessage());
        String hint = e.getCode() == 403 ? "; the account lacks the right: see packaging/kubernetes/rbac.yaml"
                : e.getCode() <= 0 ? "; is the API server reachable (--kubeconfig, --context)?" : "";
        return new IllegalStateException("Kubernetes API: " + what + " failed" + status + ": " + detail + hint, e);
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
