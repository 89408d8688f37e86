package io.ambientctl.kube;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.NetNs;
import io.ambientctl.net.NetNsException;
import io.ambientctl.util.Exec;
import io.ambientctl.util.ExitCodeException;
import io.ambientctl.util.Json;

/**
 * Finds a Pod's network namespace from its IPs, never from anything the user types. First the way
 * the CNI plumbed it: the node's host route to the Pod IP names the host-side veth, whose peer's
 * namespace the kernel knows by an id that {@code ip netns list} (run in the node's namespace) maps
 * to a name under
 * /var/run/netns (where containerd and CRI-O keep Pods' namespaces). Failing that (a bridge CNI, a
 * namespace without a name), every namespace under /var/run/netns and /proc/PID/ns/net is asked
 * whether it holds the IPs on a veth. Every IP of the Pod, both families, must be in the one found.
 *
 * <p>A {@code PodNetns} is one look at the node (routes, interfaces, namespace ids): make one per batch
 * of Pods, so hundreds of Pods cost a few commands, not a few per Pod.
 */
public final class PodNetns {
    /** Where a Pod's IPs live: the namespace, and the host-side veth when the route named it (else -1). */
    public record Located(NetNs netns, int hostIfindex, String hostInterface) {
    }

    private final NetNs nodeNs;
    private Map<String, String> hostRoutes;
    private List<Link> hostLinks;
    private Map<Integer, String> nsidNames;

    private PodNetns(NetNs nodeNs) {
        this.nodeNs = nodeNs;
    }

    /** A fresh look at the node whose network namespace is {@code nodeNs}. */
    public static PodNetns of(NetNs nodeNs) {
        return new PodNetns(nodeNs);
    }

    /** The namespace holding all of {@code ips}; exit 4 when none does. */
    public Located find(String pod, List<String> ips) {
        if (ips.isEmpty()) {
            throw new IllegalStateException("Pod " + pod + " has no IP yet; nothing to redirect");
        }
        List<String> canonical = ips.stream().map(ip -> IpAddrs.format(IpAddrs.parse(ip))).toList();
        Located viaRoute = viaRoute(canonical);
        if (viaRoute != null) {
            return viaRoute;
        }
        Located scanned = scan(canonical);
        if (scanned != null) {
            return scanned;
        }
        throw ExitCodeException.notFound("Pod " + pod + ": no network namespace on this node holds "
                + String.join(", ", canonical) + " (no host route to a veth in " + nodeNs.display()
                + ", and no namespace under " + NetNs.RUN_DIR + " or /proc/*/ns/net has them). Is the Pod on this "
                + "node, and is --node-netns right?");
    }

    private Located viaRoute(List<String> ips) {
        Set<String> devs = new HashSet<>();
        for (String ip : ips) {
            String dev = routes().get(ip);
            if (dev == null) {
                return null;
            }
            devs.add(dev);
        }
        if (devs.size() != 1) {
            return null;
        }
        Link veth = Links.byName(links(), devs.iterator().next()).orElse(null);
        if (veth == null || !veth.veth() || veth.peerNetnsId() < 0) {
            return null;
        }
        String name = nsids().get(veth.peerNetnsId());
        if (name == null) {
            return null; // the peer's namespace has no name: the scan finds it
        }
        return new Located(NetNs.named(name), veth.ifindex(), veth.name());
    }

    private java.util.concurrent.CompletableFuture<Map<Integer, String>> nsidsAhead;

    /**
     * Host routes of the node: /32 and /128 destinations to their device. The two families' {@code ip route} and
     * the {@code ip netns list} that names the veth's peer run at once (each an ip process: on a loaded node one
     * after the other cost one Pod's enrollment 0.3-0.4 s).
     */
    private Map<String, String> routes() {
        if (hostRoutes == null) {
            links(); // before 'ip netns list' (see nsids)
            if (nsidNames == null && nsidsAhead == null) {
                nsidsAhead = java.util.concurrent.CompletableFuture.supplyAsync(this::readNsids);
            }
            var v6 = java.util.concurrent.CompletableFuture.supplyAsync(() -> nodeNs.exec("ip", "-6", "-j", "route",
                    "show", "table", "main").check());
            Exec.Result v4 = nodeNs.exec("ip", "-4", "-j", "route", "show", "table", "main").check();
            Exec.Result v6r;
            try {
                v6r = v6.join();
            } catch (java.util.concurrent.CompletionException e) {
                throw e.getCause() instanceof RuntimeException re ? re : e;
            }
            Map<String, String> m = new HashMap<>();
            for (Exec.Result r : List.of(v4, v6r)) {
                JsonNode arr = Json.parse(r.stdout());
                if (arr == null || !arr.isArray()) {
                    continue;
                }
                for (JsonNode route : arr) {
                    String dst = route.path("dst").asText("");
                    String dev = route.path("dev").asText(null);
                    if (dev == null || dst.isEmpty() || dst.equals("default")) {
                        continue;
                    }
                    int slash = dst.indexOf('/');
                    if (slash >= 0 && !(dst.endsWith("/32") || dst.endsWith("/128"))) {
                        continue;
                    }
                    try {
                        m.put(IpAddrs.format(IpAddrs.parse(slash >= 0 ? dst.substring(0, slash) : dst)), dev);
                    } catch (IllegalArgumentException e) {
                        // not an address route
                    }
                }
            }
            hostRoutes = m;
        }
        return hostRoutes;
    }

    private List<Link> links() {
        if (hostLinks == null) {
            hostLinks = Links.in(nodeNs);
        }
        return hostLinks;
    }

    /** The node namespace's ids of other namespaces, to the names under /var/run/netns. */
    private Map<Integer, String> nsids() {
        if (nsidNames == null) {
            if (nsidsAhead != null) {
                try {
                    nsidNames = nsidsAhead.join();
                } catch (java.util.concurrent.CompletionException e) {
                    throw e.getCause() instanceof RuntimeException re ? re : e;
                }
            } else {
                nsidNames = readNsids();
            }
        }
        return nsidNames;
    }

    private Map<Integer, String> readNsids() {
        links(); // listing the veths gives their peers' namespaces an id: list them first
        Map<Integer, String> m = new HashMap<>();
        // 'ip netns list' run in the node's namespace asks it for its id of each named namespace
        // ('ip netns list-id' would be the direct way, but iproute2 6.1 cuts its dump short)
        Exec.Result r = nodeNs.exec("ip", "-j", "netns", "list").check();
        JsonNode arr = Json.parse(r.stdout());
        if (arr != null && arr.isArray()) {
            for (JsonNode e : arr) {
                if (e.has("id") && e.has("name")) {
                    m.put(e.path("id").asInt(), e.path("name").asText());
                }
            }
        }
        return m;
    }

    /** Asks each candidate namespace (named ones first) whether a veth of its holds all the IPs. */
    private Located scan(List<String> ips) {
        long nodeInode = nodeNs.inode();
        Set<Long> seen = new HashSet<>(Set.of(nodeInode));
        for (NetNs ns : candidates()) {
            long ino;
            try {
                ino = ns.inode();
            } catch (NetNsException e) {
                continue; // gone meanwhile
            }
            if (!seen.add(ino)) {
                continue;
            }
            List<Link> inside;
            try {
                inside = Links.in(ns);
            } catch (RuntimeException e) {
                continue; // gone meanwhile, or not ours to enter
            }
            for (Link l : inside) {
                if (!l.veth() || l.peerIfindex() <= 0) {
                    continue;
                }
                Set<String> have = new HashSet<>();
                l.globalIps().forEach(a -> have.add(IpAddrs.format(a)));
                if (have.containsAll(ips) && peerIsOnTheNode(ns, l)) {
                    Link host = Links.byIndex(links(), l.peerIfindex()).orElseThrow();
                    return new Located(ns, host.ifindex(), host.name());
                }
            }
        }
        return null;
    }

    /**
     * The veth's peer is a veth of the node pointing back at it; for a named namespace the node's id of
     * it must match too (interface indexes repeat across namespaces: another set of namespaces with the
     * same addresses, such as a second lab, must not be taken for the Pod's). An unnamed namespace
     * (/proc/PID/ns/net) has only the first check.
     */
    private boolean peerIsOnTheNode(NetNs ns, Link inside) {
        Link host = Links.byIndex(links(), inside.peerIfindex()).orElse(null);
        if (host == null || !host.veth() || host.peerIfindex() != inside.ifindex()) {
            return false;
        }
        if (ns.name() != null) {
            return ns.name().equals(nsids().get(host.peerNetnsId()));
        }
        return true;
    }

    private static List<NetNs> candidates() {
        Set<NetNs> out = new LinkedHashSet<>();
        list(NetNs.RUN_DIR).forEach(p -> {
            try {
                out.add(NetNs.named(p.getFileName().toString()));
            } catch (IllegalArgumentException e) {
                // a name ip(8) would not make: skip
            }
        });
        for (Path proc : list(Path.of("/proc"))) {
            String pid = proc.getFileName().toString();
            if (pid.chars().allMatch(Character::isDigit)) {
                out.add(NetNs.path(proc.resolve("ns/net")));
            }
        }
        return new ArrayList<>(out);
    }

    private static List<Path> list(Path dir) {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            s.forEach(out::add);
        } catch (IOException e) {
            // missing or unreadable: nothing there for us
        }
        return out;
    }
}
