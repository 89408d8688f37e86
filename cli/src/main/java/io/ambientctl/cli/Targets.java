package io.ambientctl.cli;

import java.util.ArrayList;
import java.util.List;

import io.ambientctl.kube.PodSelection;
import io.ambientctl.net.NetNs;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The targets of enroll/unenroll: Pods as kubectl names them (through the API), or local network
 * namespaces. One kind per call, so all-or-nothing means one thing.
 */
class Targets {
    @Option(names = "--netns", paramLabel = "NAME|PATH", completionCandidates = NetnsNames.class,
            description = "A local network namespace: a name under /var/run/netns, or a path such as "
                    + "/proc/PID/ns/net. Repeatable.")
    List<String> netns = new ArrayList<>();

    @Parameters(paramLabel = "POD", arity = "0..*",
            description = "Pods as kubectl names them: NAME (with -n NS) or NS/NAME; only Pods on this node.")
    List<String> pods = new ArrayList<>();

    @Option(names = {"-n", "--namespace"}, paramLabel = "NS",
            description = "Namespace of the named or selected Pods (default: the kubeconfig context's, else default).")
    String namespace;

    @Option(names = {"-l", "--selector"}, paramLabel = "SELECTOR",
            description = "Pods on this node matching a label selector (as kubectl: app=web,tier!=db).")
    String selector;

    @Option(names = {"-A", "--all-namespaces"}, description = "Select Pods of this node in every namespace.")
    boolean allNamespaces;

    /** Whether Pods are meant (then the API is needed). */
    boolean kube() {
        return !pods.isEmpty() || selector != null || allNamespaces;
    }

    /** The namespaces, each once (the same one named twice, also as a name and as its path, is one target). */
    List<NetNs> namespaces() {
        return netns.stream().map(NetNs::parse).distinct().toList();
    }

    /** The Pods, each name once. */
    PodSelection selection() {
        return new PodSelection(pods.stream().distinct().toList(), namespace, selector, allNamespaces);
    }

    /** Refuses mixing Pods and network namespaces, and -n without Pods. */
    void check(String verb) {
        if (kube() && !netns.isEmpty()) {
            throw new IllegalArgumentException(verb + " Pods or network namespaces (--netns), not both in one call");
        }
        if (!kube() && namespace != null) {
            throw new IllegalArgumentException("-n/--namespace goes with Pod names or -l; name the Pods to " + verb);
        }
    }

    boolean empty() {
        return netns.isEmpty() && !kube();
    }
}
