package io.ambientctl.kube;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * This node's name as Kubernetes knows it: --node, else $NODE_NAME (the DaemonSet sets it from the
 * downward API), else the host name (what the kubelet registers by default).
 */
public final class NodeName {
    private NodeName() {
    }

    public static String resolve(String flag) {
        return resolve(flag, System.getenv("NODE_NAME"));
    }

    static String resolve(String flag, String env) {
        if (flag != null && !flag.isBlank()) {
            return flag.strip();
        }
        if (env != null && !env.isBlank()) {
            return env.strip();
        }
        return hostName();
    }

    /** The kernel's host name, lower case (as the kubelet registers it). */
    static String hostName() {
        try {
            String h = Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
            if (!h.isEmpty()) {
                return h.toLowerCase(java.util.Locale.ROOT);
            }
        } catch (IOException e) {
            // fall through
        }
        throw new IllegalStateException("cannot tell this node's name: pass --node NAME or set NODE_NAME");
    }
}
