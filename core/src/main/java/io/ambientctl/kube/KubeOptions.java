package io.ambientctl.kube;

import java.nio.file.Path;

/**
 * How to reach the API and who we are: the kubeconfig file and context (null: the in-cluster service
 * account, then $KUBECONFIG / ~/.kube/config, as kubectl), this node's name (null: $NODE_NAME, then
 * the host name) and the namespace of ztunnel's Pods. Plain data: building it loads no client.
 */
public record KubeOptions(Path kubeconfig, String context, String node, String ztunnelNamespace) {
    public static final String DEFAULT_ZTUNNEL_NAMESPACE = "istio-system";

    public KubeOptions {
        if (ztunnelNamespace == null || ztunnelNamespace.isBlank()) {
            ztunnelNamespace = DEFAULT_ZTUNNEL_NAMESPACE;
        }
    }

    /** This node's name, resolved as {@link NodeName#resolve} does. */
    public String nodeName() {
        return NodeName.resolve(node);
    }
}
