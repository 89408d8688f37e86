package io.ambientctl.kube;

import java.util.List;

/**
 * Which Pods a command means, as kubectl takes them: names (NAME with {@code namespace}, or NS/NAME),
 * or a label selector in a namespace or in all of them. A null namespace is the kubeconfig's.
 */
public record PodSelection(List<String> names, String namespace, String selector, boolean allNamespaces) {
    public PodSelection {
        names = names == null ? List.of() : List.copyOf(names);
        if (!names.isEmpty() && (selector != null || allNamespaces)) {
            throw new IllegalArgumentException("name Pods, or select them with -l/-A, not both");
        }
        if (allNamespaces && namespace != null) {
            throw new IllegalArgumentException("-n/--namespace and -A/--all-namespaces exclude each other");
        }
    }

    public static PodSelection named(String... names) {
        return new PodSelection(List.of(names), null, null, false);
    }

    /** Whether this is a listing (selector or all namespaces) rather than names. */
    public boolean listing() {
        return names.isEmpty();
    }
}
