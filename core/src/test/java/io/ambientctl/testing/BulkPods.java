package io.ambientctl.testing;

import java.util.ArrayList;
import java.util.List;

import io.ambientctl.lab.Lab;
import io.ambientctl.net.NetNs;
import io.ambientctl.util.Exec;

/**
 * Many pod namespaces at once on a lab's node, plumbed as the lab plumbs its pods (a /32 and /128
 * host route on a veth vbN) but with a few batched commands instead of a few per pod, and only
 * what enrollment needs (addresses, links up; no echo servers). IPs 10.78.x.y and fd78::N. Close
 * deletes them.
 */
public final class BulkPods implements AutoCloseable {
    private final List<Lab.Pod> pods = new ArrayList<>();

    public BulkPods(Lab lab, int count) {
        String prefix = lab.name() + "-b";
        for (int i = 1; i <= count; i++) {
            pods.add(new Lab.Pod(prefix + i, NetNs.named(prefix + i), "10.78." + (i / 250) + "." + (i % 250 + 1),
                    "fd78::" + Integer.toHexString(i), "vb" + i));
        }
        try {
            StringBuilder add = new StringBuilder();
            pods.forEach(p -> add.append("netns add ").append(p.netns().name()).append('\n'));
            Exec.run(List.of("ip", "-batch", "-"), add.toString()).check();
            StringBuilder node = new StringBuilder();
            pods.forEach(p -> node.append("link add ").append(p.hostInterface()).append(" type veth peer name eth0 netns ")
                    .append(p.netns().name()).append('\n'));
            pods.forEach(p -> node.append("link set ").append(p.hostInterface()).append(" up\n"));
            pods.forEach(p -> node.append("route add ").append(p.ipv4()).append("/32 dev ").append(p.hostInterface())
                    .append('\n').append("route add ").append(p.ipv6()).append("/128 dev ").append(p.hostInterface())
                    .append('\n'));
            Exec.run(List.of("ip", "-n", lab.node().name(), "-batch", "-"), node.toString()).check();
            for (Lab.Pod p : pods) {
                Exec.run(List.of("ip", "-n", p.netns().name(), "-batch", "-"), "address add " + p.ipv4()
                        + "/32 dev eth0\naddress add " + p.ipv6() + "/128 dev eth0 nodad\nlink set eth0 up\n").check();
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    public List<Lab.Pod> pods() {
        return pods;
    }

    @Override
    public void close() {
        StringBuilder del = new StringBuilder();
        pods.stream().filter(p -> p.netns().exists())
                .forEach(p -> del.append("netns del ").append(p.netns().name()).append('\n'));
        if (del.length() > 0) {
            Exec.run(List.of("ip", "-force", "-batch", "-"), del.toString());
        }
    }
}
