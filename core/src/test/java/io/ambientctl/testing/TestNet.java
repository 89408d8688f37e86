package io.ambientctl.testing;

import java.util.ArrayList;
import java.util.List;

import io.ambientctl.net.NetNs;
import io.ambientctl.util.Exec;

/**
 * Network namespaces made by one test, with unique names; {@link #close} deletes them all
 * (and with them every veth, qdisc and filter inside).
 */
public final class TestNet implements AutoCloseable {
    private final String prefix;
    private final List<NetNs> created = new ArrayList<>();

    public TestNet(String prefix) {
        this.prefix = prefix + "-" + Kernel.unique();
    }

    public String prefix() {
        return prefix;
    }

    /** Creates netns PREFIX-SUFFIX with lo up. */
    public NetNs netns(String suffix) {
        NetNs ns = NetNs.create(prefix + "-" + suffix);
        created.add(ns);
        ns.exec("ip", "link", "set", "lo", "up").check();
        return ns;
    }

    /** A veth pair: {@code nameA} in {@code a}, {@code nameB} in {@code b}, both up. */
    public void veth(NetNs a, String nameA, NetNs b, String nameB) {
        a.exec("ip", "link", "add", nameA, "type", "veth", "peer", "name", nameB, "netns", b.name()).check();
        a.exec("ip", "link", "set", nameA, "up").check();
        b.exec("ip", "link", "set", nameB, "up").check();
    }

    public static void sh(NetNs ns, String... cmd) {
        ns.exec(cmd).check();
    }

    public static Exec.Result run(NetNs ns, String... cmd) {
        return ns.exec(cmd);
    }

    @Override
    public void close() {
        for (NetNs ns : created) {
            ns.delete();
        }
    }
}
