package io.ambientctl.redirect;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import io.ambientctl.net.NetNs;

/** The namespaces a mode works in: the node's, and ztunnel's while it is set and exists. */
public final class Spaces {
    private Spaces() {
    }

    /** The node's namespace, then ztunnel's when it is set and still exists. */
    public static List<NetNs> nodeAndZtunnel(NodeConfig cfg, Ztunnel zt) {
        List<NetNs> l = new ArrayList<>(List.of(cfg.nodeNetns()));
        if (zt != null && NetNs.parse(zt.netns()).exists()) {
            l.add(NetNs.parse(zt.netns()));
        }
        return l;
    }

    /** Hands ztunnel's namespace to {@code body} when ztunnel is set and its namespace exists. */
    public static void inZtunnel(Ztunnel zt, Consumer<NetNs> body) {
        if (zt == null) {
            return;
        }
        NetNs ns = NetNs.parse(zt.netns());
        if (ns.exists()) {
            body.accept(ns);
        }
    }
}
