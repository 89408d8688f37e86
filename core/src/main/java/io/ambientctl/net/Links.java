package io.ambientctl.net;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/** Reads the interfaces of a network namespace in-process (rtnetlink). */
public final class Links {
    private Links() {
    }

    /** Every interface of the namespace the calling thread is in. */
    public static List<Link> here() {
        return Netlink.links();
    }

    /**
     * As {@link #here()}, without their addresses (empty lists): the node's side of a thousand veths, whose
     * addresses nobody asks for, read with one dump instead of two.
     */
    public static List<Link> hereWithoutAddresses() {
        return Netlink.links(false);
    }

    /**
     * The name of interface {@code ifindex} of the calling thread's namespace, or null when there is none: one
     * ioctl (SIOCGIFNAME), where a dump of the links builds a message of every interface (what a check of a
     * thousand veths by index wants).
     */
    public static String nameHere(int ifindex) {
        byte[] name = new byte[16]; // IF_NAMESIZE
        if (io.ambientctl.bpf.sys.Native.libc().if_indextoname(ifindex, name) == null) {
            return null;
        }
        int n = 0;
        while (n < name.length && name[n] != 0) {
            n++;
        }
        return new String(name, 0, n, java.nio.charset.StandardCharsets.UTF_8);
    }

    /** The names of the interfaces of {@code ns} by ifindex (for decoding ifindexes). */
    public static Map<Integer, String> names(NetNs ns) {
        Map<Integer, String> out = new TreeMap<>();
        in(ns).forEach(l -> out.put(l.ifindex(), l.name()));
        return out;
    }

    /** Every interface of {@code ns}. */
    public static List<Link> in(NetNs ns) {
        return ns.call(Links::here);
    }

    /**
     * The id the calling thread's namespace gives each of these namespaces (by path): a veth here whose peer is
     * there reports it as {@link Link#peerNetnsId()}; -1 when none is assigned; absent when unreadable.
     */
    public static Map<String, Integer> nsidsHere(List<String> nsFiles) {
        return Netlink.nsids(nsFiles);
    }

    public static Optional<Link> byIndex(List<Link> links, int ifindex) {
        return links.stream().filter(l -> l.ifindex() == ifindex).findFirst();
    }

    public static Optional<Link> byName(List<Link> links, String name) {
        return links.stream().filter(l -> l.name().equals(name)).findFirst();
    }
}
