package io.ambientctl.cli;

import io.ambientctl.kube.KubeNode;
import io.ambientctl.kube.KubeOptions;
import io.ambientctl.redirect.Node;

/**
 * Where the command line reaches the Kubernetes support. Commands call it only when a Pod, --pod,
 * --auto or the agent is asked for, so local commands never load the client.
 */
final class KubeSupport {
    private KubeSupport() {
    }

    static KubeOptions options(GlobalOptions g) {
        return new KubeOptions(g.kubeconfig, g.context, g.node, g.ztunnelNamespace);
    }

    static KubeNode connect(GlobalOptions g, Node node) {
        return KubeNode.connect(options(g), node);
    }
}
