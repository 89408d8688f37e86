package io.ambientctl.kube;

/** A Pod as kubectl names it: NAME in a namespace, or NS/NAME. */
public record PodRef(String namespace, String name) {
    private static final java.util.regex.Pattern DNS_NAME =
            java.util.regex.Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");

    public PodRef {
        for (String part : new String[] {namespace, name}) {
            if (part == null || !DNS_NAME.matcher(part).matches()) {
                throw new IllegalArgumentException("invalid Pod name '" + namespace + "/" + name
                        + "': Kubernetes names are lower-case letters, digits, '-' and '.'");
            }
        }
    }

    /** {@code NS/NAME}, or {@code NAME} in {@code defaultNamespace}. */
    public static PodRef parse(String text, String defaultNamespace) {
        int slash = text.indexOf('/');
        if (slash < 0) {
            return new PodRef(defaultNamespace, text);
        }
        if (text.indexOf('/', slash + 1) >= 0) {
            throw new IllegalArgumentException("invalid Pod '" + text + "': use NAME (with -n NS) or NS/NAME");
        }
        return new PodRef(text.substring(0, slash), text.substring(slash + 1));
    }

    /** NAMESPACE/NAME: the key the node state knows the Pod's workload by. */
    public String key() {
        return namespace + "/" + name;
    }

    @Override
    public String toString() {
        return key();
    }
}
