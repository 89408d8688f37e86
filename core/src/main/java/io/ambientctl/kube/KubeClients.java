package io.ambientctl.kube;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.internal.KubeConfigUtils;

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
                checkKubeconfig(List.of(o.kubeconfig()), o.context(), "--kubeconfig ");
                cfg = Config.fromKubeconfig(o.context(), o.kubeconfig().toFile());
            } else {
                // the files autoConfigure reads ($KUBECONFIG's, ~/.kube/config) are checked as --kubeconfig is, and
                // the context must be in them
                List<Path> files = autoKubeconfigs();
                if (files.isEmpty() && o.context() != null) {
                    throw new IllegalArgumentException("--context " + o.context() + ": there is no kubeconfig to "
                            + "find it in ($KUBECONFIG names none and " + home() + " does not exist); pass "
                            + "--kubeconfig FILE");
                }
                if (!files.isEmpty()) {
                    checkKubeconfig(files, o.context(), "kubeconfig ");
                }
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
        // a connection refused is retried a few times (0.1, 0.2, 0.4 s), not for ~a minute: a command says so
        // soon, and the agent retries with its own back-off, saying so in one line each time
        cfg.setRequestRetryBackoffLimit(Math.min(cfg.getRequestRetryBackoffLimit(), 3));
        return new KubernetesClientBuilder().withConfig(cfg).build();
    }

    private static Path home() {
        return Path.of(System.getProperty("user.home"), ".kube", "config");
    }

    /** The files kubectl (and the client's autoConfigure) read: $KUBECONFIG's, else ~/.kube/config; those that exist. */
    static List<Path> autoKubeconfigs() {
        String env = System.getenv("KUBECONFIG");
        List<Path> files = new ArrayList<>();
        if (env != null && !env.isBlank()) {
            for (String f : env.split(java.io.File.pathSeparator)) {
                if (!f.isBlank() && Files.exists(Path.of(f))) {
                    files.add(Path.of(f));
                }
            }
        } else if (Files.exists(home())) {
            files.add(home());
        }
        return files;
    }

    /**
     * Each file must be a readable, non-empty kubeconfig, and {@code context} (if given) one of their contexts;
     * else a usage error that names the file and what is wrong, or the contexts there are.
     */
    static void checkKubeconfig(List<Path> files, String context, String option) {
        Set<String> contexts = new TreeSet<>();
        for (Path f : files) {
            String what = option + f;
            if (!Files.exists(f)) {
                throw new IllegalArgumentException(what + ": no such file");
            }
            if (Files.isDirectory(f)) {
                throw new IllegalArgumentException(what + " is a directory, not a kubeconfig file");
            }
            String text;
            try {
                text = Files.readString(f);
            } catch (java.nio.file.AccessDeniedException e) {
                throw new IllegalArgumentException(what + " is not readable by this user (permission denied)", e);
            } catch (IOException e) {
                throw new IllegalArgumentException(what + " cannot be read: " + e.getMessage(), e);
            }
            if (text.isBlank()) {
                throw new IllegalArgumentException(what + " is empty: it needs clusters, users and contexts (as "
                        + "'kubectl config view' shows)");
            }
            io.fabric8.kubernetes.api.model.Config kc;
            try {
                kc = KubeConfigUtils.parseConfigFromString(text);
            } catch (RuntimeException e) {
                Throwable r = e; // the client wraps the YAML parser's complaint in "An error has occurred."
                while (r.getCause() != null && r.getCause() != r) {
                    r = r.getCause();
                }
                String m = r.getMessage() == null ? r.getClass().getSimpleName() : r.getMessage().lines().findFirst()
                        .orElse("");
                throw new IllegalArgumentException(what + " is not a kubeconfig (" + m + ")", e);
            }
            if (kc == null) {
                throw new IllegalArgumentException(what + " is not a kubeconfig (no document)");
            }
            if (kc.getContexts() != null) {
                kc.getContexts().stream().filter(c -> c != null && c.getName() != null)
                        .forEach(c -> contexts.add(c.getName()));
            }
        }
        if (context != null && !contexts.contains(context)) {
            throw new IllegalArgumentException("--context " + context + " is not in " + files.stream().map(Path::toString)
                    .collect(Collectors.joining(", ")) + "; its contexts: " + (contexts.isEmpty() ? "none"
                            : String.join(", ", contexts)));
        }
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
