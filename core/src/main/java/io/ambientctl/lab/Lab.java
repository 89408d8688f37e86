package io.ambientctl.lab;

import java.util.ArrayList;
import java.util.List;

import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.NetNs;
import io.ambientctl.util.Exec;

/**
 * A node on one machine, made of network namespaces: NAME-node stands in for the node (its own
 * forwarding and the node IP 10.77.255.1 / fd77::ff:1 on its loopback), NAME-zt for ztunnel's
 * Pod (10.77.0.2 / fd77::2), and NAME-pN for the pods (10.77.0.(10+N) / fd77::(10+N)). Each pod
 * is plumbed as Calico does: a /32 (/128) route to the pod on its host veth, and a default route
 * in the pod to a link-local gateway (169.254.1.1, fe80::1) answered by the host veth. Nothing of
 * the lab touches the machine's own network namespace.
 */
public final class Lab {
    public static final String NODE_IP4 = "10.77.255.1";
    public static final String NODE_IP6 = "fd77::ff:1";
    public static final String ZTUNNEL_IP4 = "10.77.0.2";
    public static final String ZTUNNEL_IP6 = "fd77::2";

    /** One pod of the lab. */
    public record Pod(String name, NetNs netns, String ipv4, String ipv6, String hostInterface) {
    }

    private final String name;
    private final int pods;

    private Lab(String name, int pods) {
        this.name = name;
        this.pods = pods;
    }

    /** The lab called {@code name} (whether or not it is up). */
    public static Lab named(String name, int pods) {
        if (!name.matches("[a-z0-9][a-z0-9-]{0,20}")) {
            throw new IllegalArgumentException("invalid lab name '" + name + "': lower-case letters, digits and '-'"
                    + " (at most 21)");
        }
        if (pods < 1 || pods > 2000) {
            throw new IllegalArgumentException("a lab has 1 to 2000 pods, not " + pods);
        }
        return new Lab(name, pods);
    }

    public String name() {
        return name;
    }

    public NetNs node() {
        return NetNs.named(name + "-node");
    }

    public NetNs ztunnel() {
        return NetNs.named(name + "-zt");
    }

    public List<Pod> pods() {
        List<Pod> out = new ArrayList<>();
        for (int i = 1; i <= pods; i++) {
            out.add(pod(i));
        }
        return out;
    }

    public Pod pod(int i) {
        return new Pod(name + "-p" + i, NetNs.named(name + "-p" + i), "10.77." + (i / 240) + "." + (10 + i % 240),
                "fd77::" + (10 + i), "vp" + i);
    }

    public boolean isUp() {
        return node().exists() && ztunnel().exists() && pod(1).netns().exists();
    }

    /** Creates the namespaces and their plumbing; an existing lab of the same name is replaced. */
    public Lab up() {
        down();
        try {
            // few processes even for a thousand pods: one batch makes the namespaces, one plumbs the node side
            List<String> spaces = new ArrayList<>(List.of("netns add " + node().name(), "netns add " + ztunnel().name()));
            pods().forEach(p -> spaces.add("netns add " + p.netns().name()));
            Exec.run(List.of("ip", "-batch", "-"), String.join("\n", spaces) + "\n").check();
            NetNs node = node();
            sysctls(node, true);
            List<String> nodeSide = new ArrayList<>(List.of(
                    "link set lo up",
                    "address add " + NODE_IP4 + "/32 dev lo",
                    "address add " + NODE_IP6 + "/128 dev lo nodad"));
            nodeSide.addAll(hostSide(0, ztunnel().name(), "vzt", ZTUNNEL_IP4, ZTUNNEL_IP6));
            for (Pod p : pods()) {
                nodeSide.addAll(hostSide(index(p), p.netns().name(), p.hostInterface(), p.ipv4(), p.ipv6()));
            }
            batch(node, nodeSide);
            batch(ztunnel(), podSide(0, ZTUNNEL_IP4, ZTUNNEL_IP6));
            for (Pod p : pods()) {
                batch(p.netns(), podSide(index(p), p.ipv4(), p.ipv6()));
            }
            return this;
        } catch (RuntimeException e) {
            try {
                down();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    private static int index(Pod p) {
        return Integer.parseInt(p.hostInterface().substring(2));
    }

    /** Deterministic MACs: host side 02:4e:.., pod side 02:4d:.. (index 0: ztunnel). */
    static String mac(boolean host, int i) {
        return String.format("02:%s:00:00:%02x:%02x", host ? "4e" : "4d", (i >> 8) & 0xff, i & 0xff);
    }

    /**
     * Replaces ztunnel's namespace with a fresh one of the same name and addresses, plumbed through a
     * new host veth {@code hostIf}: what a restarted ztunnel Pod looks like to the node (new veth, new
     * MAC). Whatever runs inside the old namespace must have stopped, or the namespace outlives this.
     */
    public void replaceZtunnel(String hostIf) {
        NetNs node = node();
        ztunnel().delete();
        long end = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30); // slow on a loaded node
        // the kernel tears the old namespace (and its veth and routes) down asynchronously
        while (!node.exec("ip", "route", "show", ZTUNNEL_IP4 + "/32").stdout().isBlank()) {
            if (System.nanoTime() > end) {
                throw new IllegalStateException("lab " + name + ": ztunnel's old veth did not go away; is something "
                        + "still running in " + ztunnel().name() + "?");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
        plumb(node, ztunnel().name(), hostIf, ZTUNNEL_IP4, ZTUNNEL_IP6);
    }

    private static void sysctls(NetNs ns, boolean router) {
        List<String> cmd = new ArrayList<>(List.of("sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0"));
        if (router) {
            cmd.addAll(List.of("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
                    "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"));
        }
        ns.exec(cmd).check();
    }

    /** The node's side of one pod: the veth pair (eth0 in the pod), routes and neighbours to the pod. */
    private static List<String> hostSide(int i, String podNs, String hostIf, String ip4, String ip6) {
        return List.of(
                "link add " + hostIf + " address " + mac(true, i) + " type veth peer name eth0 address " + mac(false, i)
                        + " netns " + podNs,
                "link set " + hostIf + " up",
                "route add " + ip4 + "/32 dev " + hostIf,
                "route add " + ip6 + "/128 dev " + hostIf,
                "neigh replace " + ip4 + " lladdr " + mac(false, i) + " dev " + hostIf + " nud permanent",
                "neigh replace " + ip6 + " lladdr " + mac(false, i) + " dev " + hostIf + " nud permanent");
    }

    /** The pod's side: addresses and the default routes to the link-local gateway the host veth answers for. */
    private static List<String> podSide(int i, String ip4, String ip6) {
        return List.of(
                "link set lo up",
                "address add " + ip4 + "/32 dev eth0",
                "address add " + ip6 + "/128 dev eth0 nodad",
                "link set eth0 up",
                "route add 169.254.1.1 dev eth0 scope link",
                "route add default via 169.254.1.1 dev eth0",
                "neigh replace 169.254.1.1 lladdr " + mac(true, i) + " dev eth0 nud permanent",
                "route add default via fe80::1 dev eth0",
                "neigh replace fe80::1 lladdr " + mac(true, i) + " dev eth0 nud permanent");
    }

    private void plumb(NetNs node, String podNs, String hostIf, String ip4, String ip6) {
        NetNs pod = NetNs.create(podNs);
        // vpN: pod N; vzt: ztunnel (0); vztN: a replaced ztunnel, with MACs of its own
        int i = hostIf.equals("vzt") ? 0 : hostIf.startsWith("vzt") ? 0xff00 + Integer.parseInt(hostIf.substring(3))
                : Integer.parseInt(hostIf.substring(2));
        batch(node, hostSide(i, podNs, hostIf, ip4, ip6));
        batch(pod, podSide(i, ip4, ip6));
    }

    /**
     * Deletes pod {@code p}'s veth pair and makes it again, in the same namespace with the same MACs and addresses
     * but a new ifindex: a veth re-created under a Pod whose namespace stays.
     */
    public void replumbPod(Pod p) {
        NetNs node = node();
        node.exec("ip", "link", "del", p.hostInterface()).check();
        int i = Integer.parseInt(p.hostInterface().substring(2));
        batch(node, hostSide(i, p.netns().name(), p.hostInterface(), p.ipv4(), p.ipv6()));
        batch(p.netns(), podSide(i, p.ipv4(), p.ipv6()));
    }

    /** Deletes ztunnel's namespace and makes it again (a new veth): as a restarted ztunnel Pod. */
    public void recreateZtunnel() {
        node().exec("ip", "link", "del", "vzt"); // the pair goes at once (a netns' devices go later)
        ztunnel().delete();
        plumb(node(), ztunnel().name(), "vzt", ZTUNNEL_IP4, ZTUNNEL_IP6);
    }

    private static void batch(NetNs ns, List<String> commands) {
        ns.call(() -> Exec.run(List.of("ip", "-batch", "-"), String.join("\n", commands) + "\n").check());
    }

    /** Deletes the lab's namespaces (and with them every veth and program in them). Idempotent. */
    public void down() {
        java.util.regex.Pattern mine = java.util.regex.Pattern.compile(
                java.util.regex.Pattern.quote(name) + "-(node|zt|p\\d+)");
        try (var s = java.nio.file.Files.list(NetNs.RUN_DIR)) {
            for (var p : s.toList()) {
                String n = p.getFileName().toString();
                if (mine.matcher(n).matches() && !n.endsWith("-node")) {
                    NetNs.named(n).delete();
                }
            }
        } catch (java.nio.file.NoSuchFileException e) {
            return;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        node().delete();
    }
}
