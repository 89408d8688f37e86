package io.ambientctl.redirect;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.NetNs;
import io.ambientctl.net.NetNsException;
import io.ambientctl.util.ExitCodeException;

/**
 * Finds a workload's plumbing from its network namespace: the interface inside whose veth peer is
 * in the node's namespace, its addresses and MAC, and the host-side veth. Never typed by the user.
 */
public final class Discovery {
    private Discovery() {
    }

    /** A workload in {@code podNs}; refuses the node's own namespace and namespaces without a veth to the node. */
    public static Workload fromNetns(NetNs podNs, NetNs nodeNs, String name, String namespace, String uid) {
        return fromNetns(podNs, nodeNs, null, name, namespace, uid);
    }

    /**
     * As {@link #fromNetns(NetNs, NetNs, String, String, String)}, with the node's interfaces already
     * listed ({@code hostLinks}; null to list them here): a batch of hundreds of Pods lists them once.
     */
    public static Workload fromNetns(NetNs podNs, NetNs nodeNs, List<Link> hostLinks, String name, String namespace,
                                     String uid) {
        return fromNetns(podNs, nodeNs, hostLinks, null, name, namespace, uid);
    }

    /**
     * As above, with the id the node's namespace gives {@code podNs} ({@code nsid}, see {@link Links#nsidsHere};
     * null: not checked): the host veth's peer must be in that namespace, not merely carry the same ifindex in
     * another (two labs, or nested nodes, on one host).
     */
    public static Workload fromNetns(NetNs podNs, NetNs nodeNs, List<Link> hostLinks, Integer nsid, String name,
                                     String namespace, String uid) {
        return fromNetns(podNs, nodeNs, byIndex(hostLinks != null ? hostLinks : Links.in(nodeNs)), nsid, name,
                namespace, uid);
    }

    private static Workload fromNetns(NetNs podNs, NetNs nodeNs, java.util.Map<Integer, Link> host, Integer nsid,
                                      String name, String namespace, String uid) {
        long nodeInode = nodeNs.inode();
        check(podNs, nodeInode);
        Inside here;
        try {
            here = podNs.call(Discovery::readHere);
        } catch (NetNsException e) {
            if (e.notFound()) {
                throw ExitCodeException.notFound(e.getMessage());
            }
            throw e;
        }
        return analyze(podNs, nodeNs, host, nsid, here, name, namespace, uid);
    }

    /** What is read inside a pod's namespace: its interfaces and the namespace's identity. */
    record Inside(List<Link> links, String identity) {
    }

    private static Inside readHere() {
        return new Inside(Links.here(), NetNs.identityHere());
    }

    private static void check(NetNs podNs, long nodeInode) {
        if (!podNs.exists()) {
            throw ExitCodeException.notFound("network namespace " + podNs.display() + " does not exist"
                    + (podNs.name() != null ? " (ip netns list shows the named ones)" : ""));
        }
        if (podNs.inode() == nodeInode) {
            throw new IllegalArgumentException("refusing to enroll " + podNs.display()
                    + ": it is the node's own network namespace (its traffic would loop through ztunnel)");
        }
    }

    /** One namespace to discover, with the id the node's namespace gives it (null: not checked). */
    public record Request(NetNs netns, Integer nsid, String name, String namespace, String uid) {
    }

    /**
     * Discovers many at once: each namespace is checked, then read on a few reused worker threads (not a
     * thread each), then matched with the node's interfaces; the first refusal, in the order given, is thrown.
     */
    public static List<Workload> fromNetnsAll(List<Request> requests, NetNs nodeNs, List<Link> hostLinks, int threads) {
        long nodeInode = nodeNs.inode();
        requests.forEach(r -> check(r.netns(), nodeInode));
        List<Inside> inside;
        try {
            inside = NetNs.callEach(requests.stream().map(Request::netns).toList(), ns -> readHere(), threads);
        } catch (NetNsException e) {
            if (e.notFound()) {
                throw ExitCodeException.notFound(e.getMessage());
            }
            throw e;
        }
        List<Workload> out = new ArrayList<>(requests.size());
        java.util.Map<Integer, Link> host = byIndex(hostLinks); // a thousand peers looked up: by index, not a scan
        for (int i = 0; i < requests.size(); i++) {
            Request r = requests.get(i);
            out.add(analyze(r.netns(), nodeNs, host, r.nsid(), inside.get(i), r.name(), r.namespace(), r.uid()));
        }
        return out;
    }

    private static java.util.Map<Integer, Link> byIndex(List<Link> links) {
        java.util.Map<Integer, Link> out = new java.util.HashMap<>();
        links.forEach(l -> out.put(l.ifindex(), l));
        return out;
    }

    private static Workload analyze(NetNs podNs, NetNs nodeNs, java.util.Map<Integer, Link> host, Integer nsid,
                                    Inside here, String name,
                                    String namespace, String uid) {
        List<Link> inside = here.links();
        String identity = here.identity();
        List<String> seen = new ArrayList<>();
        for (Link in : inside) {
            if (!in.veth() || in.peerIfindex() <= 0) {
                continue;
            }
            seen.add(in.name());
            Link peer = host.get(in.peerIfindex());
            if (peer == null || !peer.veth() || peer.peerIfindex() != in.ifindex()
                    || (nsid != null && peer.peerNetnsId() != nsid)) {
                continue;
            }
            List<String> ips = in.globalIps().stream().map(IpAddrs::format).toList();
            if (ips.isEmpty()) {
                throw new IllegalStateException("network namespace " + podNs.display() + ": " + in.name()
                        + " has no global IP address; nothing to redirect");
            }
            return new Workload(name, namespace, uid, podNs.display(), ips, in.name(), in.ifindex(),
                    String.valueOf(in.mac()), peer.name(), peer.ifindex(), String.valueOf(peer.mac()), 0, identity);
        }
        throw new IllegalStateException("network namespace " + podNs.display()
                + " has no veth whose peer is in the node's namespace (" + nodeNs.display() + ")"
                + (seen.isEmpty() ? "" : "; veths seen: " + String.join(", ", seen))
                + ". Is it a Pod's namespace, and is --node-netns right?");
    }

    /**
     * Every network namespace with a veth to the node's namespace, as a workload named by the namespace: the
     * named ones under /var/run/netns, then those of processes (/proc/PID/ns/net) not reached by a name.
     * Namespaces that are not a Pod's (no veth to the node, no address) are left out.
     */
    public static List<Workload> candidates(NetNs nodeNs) {
        java.util.Map<Integer, Link> host = byIndex(Links.in(nodeNs));
        java.util.Set<String> seen = new java.util.HashSet<>();
        seen.add(nsfsKey(nodeNs.path()));
        List<NetNs> spaces = new ArrayList<>();
        try (var s = java.nio.file.Files.list(NetNs.RUN_DIR)) {
            s.sorted().forEach(p -> {
                try {
                    NetNs ns = NetNs.named(p.getFileName().toString());
                    if (seen.add(nsfsKey(ns.path()))) {
                        spaces.add(ns);
                    }
                } catch (RuntimeException e) {
                    // not a namespace name of ours to take
                }
            });
        } catch (java.io.IOException e) {
            // no named namespaces
        }
        try (var s = java.nio.file.Files.list(java.nio.file.Path.of("/proc"))) {
            s.filter(p -> p.getFileName().toString().matches("\\d+")).forEach(p -> {
                java.nio.file.Path n = p.resolve("ns/net");
                String key = nsfsKey(n);
                if (key != null && seen.add(key)) {
                    spaces.add(NetNs.path(n));
                }
            });
        } catch (java.io.IOException e) {
            // no /proc: named namespaces only
        }
        Map<String, Integer> nsids = nodeNs.call(() -> Links.nsidsHere(spaces.stream().map(n -> n.path().toString())
                .toList()));
        List<Workload> out = new ArrayList<>();
        for (NetNs ns : spaces) {
            Integer id = nsids.get(ns.path().toString());
            if (id == null || id < 0) {
                continue; // no veth between it and the node's namespace
            }
            try {
                out.add(fromNetns(ns, nodeNs, host, id, ns.display(), null, null));
            } catch (RuntimeException e) {
                // gone meanwhile, or not a Pod's namespace
            }
        }
        return out;
    }

    /** Device and inode of a namespace's nsfs file (null when it cannot be read). */
    private static String nsfsKey(java.nio.file.Path p) {
        try {
            return java.nio.file.Files.getAttribute(p, "unix:dev") + ":" + java.nio.file.Files.getAttribute(p,
                    "unix:ino");
        } catch (java.io.IOException | RuntimeException e) {
            return null;
        }
    }

    /** The node's own global addresses (kubelet probes come from them; they bypass the mesh). */
    public static List<String> nodeAddresses(NetNs nodeNs) {
        List<String> out = new ArrayList<>();
        for (Link l : Links.in(nodeNs)) {
            l.globalIps().forEach(ip -> out.add(IpAddrs.format(ip)));
        }
        return out;
    }
}
