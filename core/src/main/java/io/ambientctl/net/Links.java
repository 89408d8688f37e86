package io.ambientctl.net;

import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.ambientctl.bpf.sys.Native;

/** Reads the interfaces of a network namespace in-process (rtnetlink; libc's if_nameindex for names only). */
public final class Links {
    private Links() {
    }

    /** Every interface of the namespace the calling thread is in. */
    public static List<Link> here() {
        return Netlink.links();
    }

    /**
     * The names of the interfaces of the namespace the calling thread is in, by ifindex: one libc call
     * ({@code if_nameindex}, netlink underneath), no process; for decoding ifindexes where nothing else is needed.
     */
    public static Map<Integer, String> namesHere() {
        return Native.interfaceNames();
    }

    /** {@link #namesHere} of {@code ns}. */
    public static Map<Integer, String> names(NetNs ns) {
        return ns.call(Links::namesHere);
    }

    /** Every interface of {@code ns}. */
    public static List<Link> in(NetNs ns) {
        return ns.call(Links::here);
    }

    public static Optional<Link> byIndex(List<Link> links, int ifindex) {
        return links.stream().filter(l -> l.ifindex() == ifindex).findFirst();
    }

    public static Optional<Link> byName(List<Link> links, String name) {
        return links.stream().filter(l -> l.name().equals(name)).findFirst();
    }
}
