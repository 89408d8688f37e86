package io.ambientctl.cli;

import java.util.ArrayList;
import java.util.List;

import io.ambientctl.net.NetNs;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The targets of enroll/unenroll: local network namespaces (Pods come with the Kubernetes support). */
class Targets {
    @Option(names = "--netns", paramLabel = "NAME|PATH", completionCandidates = NetnsNames.class,
            description = "A local network namespace: a name under /var/run/netns, or a path such as "
                    + "/proc/PID/ns/net. Repeatable.")
    List<String> netns = new ArrayList<>();

    @Parameters(paramLabel = "POD", arity = "0..*",
            description = "Pods as kubectl names them (NAME with -n NS, or NS/NAME): needs the Kubernetes support, "
                    + "not in this build.")
    List<String> pods = new ArrayList<>();

    List<NetNs> namespaces() {
        if (!pods.isEmpty()) {
            throw new IllegalArgumentException("Pod targets (" + String.join(", ", pods) + ") need the Kubernetes "
                    + "support, which this build does not have yet; name the Pod's network namespace with --netns");
        }
        return netns.stream().map(NetNs::parse).toList();
    }

    boolean empty() {
        return netns.isEmpty() && pods.isEmpty();
    }
}
