package io.ambientctl.net;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;

import io.ambientctl.bpf.Errno;

/**
 * Whether ipset sets exist in the calling thread's network namespace, asked in-process over NETLINK_NETFILTER
 * (the ipset subsystem, NFNL_SUBSYS_IPSET: one IPSET_CMD_HEADER request per name, as {@code ipset list -n} would
 * list them, without the process). An answer is the set; ENOENT is no such set; a kernel without the ipset
 * subsystem (EINVAL from nfnetlink: ip_set not built or loadable) or without nfnetlink has no set at all.
 */
public final class IpSets {
    static final int NFNL_SUBSYS_IPSET = 6;
    static final int IPSET_CMD_DESTROY = 3;
    static final int IPSET_CMD_LIST = 7;
    static final int IPSET_CMD_HEADER = 12;
    static final int IPSET_ATTR_DATA = 7;
    static final int IPSET_ATTR_ADT = 8;
    /** In an entry's IPSET_ATTR_DATA: its address (nested: IPSET_ATTR_IPADDR_IPV4 or _IPV6). */
    static final int IPSET_ATTR_IP = 1;
    static final int IPSET_ATTR_IPADDR_IPV4 = 1;
    static final int IPSET_ATTR_IPADDR_IPV6 = 2;
    static final int IPSET_ATTR_PROTOCOL = 1;
    static final int IPSET_ATTR_SETNAME = 2;
    /** The oldest protocol the kernel's ipset accepts (IPSET_PROTOCOL_MIN), and what a header request needs. */
    static final int IPSET_PROTOCOL_MIN = 6;
    /** Names are at most 31 bytes and a NUL (IPSET_MAXNAMELEN). */
    static final int IPSET_MAXNAMELEN = 32;
    static final int NFGENMSG = 4; // struct nfgenmsg: family, version, res_id

    private IpSets() {
    }

    /** Whether the set {@code name} exists in the calling thread's namespace. */
    public static boolean existsHere(String name) {
        return anyHere(List.of(name));
    }

    /** Whether any of the sets {@code names} exists in the calling thread's namespace (one socket for all). */
    public static boolean anyHere(List<String> names) {
        if (names.isEmpty()) {
            return false;
        }
        try (Netlink.Socket s = Netlink.Socket.open(Netlink.NETLINK_NETFILTER)) {
            for (String name : names) {
                if (exists(s, name)) {
                    return true;
                }
            }
            return false;
        } catch (Netlink.OpenFailed e) {
            if (e.errno() == Errno.EPROTONOSUPPORT) {
                return false; // no nfnetlink in this kernel: no ipset either
            }
            throw e;
        }
    }

    private static boolean exists(Netlink.Socket s, String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        if (n.length == 0 || n.length >= IPSET_MAXNAMELEN) {
            throw new IllegalArgumentException("not an ipset set name (1 to " + (IPSET_MAXNAMELEN - 1) + " bytes): '"
                    + name + "'");
        }
        try {
            boolean[] answered = {false};
            s.request(NFNL_SUBSYS_IPSET << 8 | IPSET_CMD_HEADER, request(n), m -> {
                ByteBuffer v = Netlink.attributes(m, NFGENMSG).get(IPSET_ATTR_SETNAME);
                answered[0] = v != null && Netlink.string(v).equals(name);
            });
            if (!answered[0]) {
                throw new IllegalStateException("ipset over netlink: the kernel's answer about set '" + name
                        + "' does not name it");
            }
            return true;
        } catch (Netlink.DumpFailed e) {
            if (e.errno() == Errno.ENOENT) {
                return false;
            }
            if (e.errno() == Errno.EINVAL) {
                return false; // nfnetlink has no ipset subsystem (ip_set is not in this kernel and not loadable)
            }
            throw new IllegalStateException("cannot ask the kernel whether ipset set '" + name + "' exists: "
                    + e.getMessage() + (e.errno() >= 4096 ? " (ipset error " + e.errno() + ")" : "")
                    + "; 'ipset list -n' in the same namespace shows the sets", e);
        }
    }

    /** struct nfgenmsg, then IPSET_ATTR_PROTOCOL (u8) and IPSET_ATTR_SETNAME (NUL-terminated). */
    static byte[] request(byte[] name) {
        int protoLen = 4 + 1;
        int nameLen = 4 + name.length + 1;
        ByteBuffer b = ByteBuffer.allocate(NFGENMSG + Netlink.align(protoLen) + Netlink.align(nameLen))
                .order(ByteOrder.nativeOrder());
        b.put((byte) Netlink.AF_INET).put((byte) 0).putShort((short) 0); // family, NFNETLINK_V0, res_id (big-endian 0)
        b.putShort((short) protoLen).putShort((short) IPSET_ATTR_PROTOCOL).put((byte) IPSET_PROTOCOL_MIN);
        b.position(NFGENMSG + Netlink.align(protoLen));
        b.putShort((short) nameLen).putShort((short) IPSET_ATTR_SETNAME).put(name).put((byte) 0);
        return b.array();
    }
    /**
     * Destroys the sets {@code names} that exist in the calling thread's namespace (IPSET_CMD_DESTROY over one
     * socket, no process), as {@code ipset destroy NAME} one by one: an absent set is fine. Returns the sets the
     * kernel would not destroy, with why (e.g. still referenced by a rule), for the caller to judge.
     */
    public static java.util.Map<String, String> destroyHere(List<String> names) {
        java.util.Map<String, String> refused = new java.util.LinkedHashMap<>();
        if (names.isEmpty()) {
            return refused;
        }
        try (Netlink.Socket s = Netlink.Socket.open(Netlink.NETLINK_NETFILTER)) {
            for (String name : names) {
                try {
                    s.ack(NFNL_SUBSYS_IPSET << 8 | IPSET_CMD_DESTROY, 0, request(bytes(name)));
                } catch (Netlink.DumpFailed e) {
                    // EINVAL: no ipset in this kernel, so no set
                    if (e.errno() != Errno.ENOENT && e.errno() != Errno.EINVAL) {
                        refused.put(name, e.getMessage() + (e.errno() >= 4096 ? " (ipset error " + e.errno() + ")"
                                : ""));
                    }
                }
            }
        } catch (Netlink.OpenFailed e) {
            if (e.errno() != Errno.EPROTONOSUPPORT) {
                throw e;
            }
        }
        return refused;
    }

    /**
     * The addresses in the set {@code name} of the calling thread's namespace (an IPSET_CMD_LIST dump, no process),
     * as {@code ipset list NAME} lists its members of a hash:ip set (other data of an entry is not read); empty when
     * the set is not there.
     */
    public static List<java.net.InetAddress> membersHere(String name) {
        List<java.net.InetAddress> out = new java.util.ArrayList<>();
        try (Netlink.Socket s = Netlink.Socket.open(Netlink.NETLINK_NETFILTER)) {
            s.dump(NFNL_SUBSYS_IPSET << 8 | IPSET_CMD_LIST, request(bytes(name)), m -> {
                ByteBuffer adt = Netlink.attributes(m, NFGENMSG).get(IPSET_ATTR_ADT);
                if (adt == null) {
                    return; // the set's header
                }
                Netlink.each(adt, 0, (type, at, len) -> {
                    ByteBuffer ip = type == IPSET_ATTR_DATA
                            ? Netlink.attributes(Netlink.value(adt, at, len), 0).get(IPSET_ATTR_IP) : null;
                    if (ip == null) {
                        return;
                    }
                    java.util.Map<Integer, ByteBuffer> a = Netlink.attributes(ip, 0);
                    ByteBuffer v = a.containsKey(IPSET_ATTR_IPADDR_IPV4) ? a.get(IPSET_ATTR_IPADDR_IPV4)
                            : a.get(IPSET_ATTR_IPADDR_IPV6);
                    if (v != null) {
                        byte[] b = new byte[v.remaining()];
                        v.duplicate().get(b);
                        try {
                            out.add(java.net.InetAddress.getByAddress(b));
                        } catch (java.net.UnknownHostException e) {
                            throw new IllegalStateException("ipset over netlink: an entry of set '" + name
                                    + "' with an address of " + b.length + " bytes", e);
                        }
                    }
                });
            });
        } catch (Netlink.DumpFailed e) {
            if (e.errno() == Errno.ENOENT || e.errno() == Errno.EINVAL) {
                return List.of(); // no such set (or no ipset in this kernel)
            }
            throw new IllegalStateException("cannot list ipset set '" + name + "' over netlink: " + e.getMessage()
                    + (e.errno() >= 4096 ? " (ipset error " + e.errno() + ")" : "")
                    + "; 'ipset list " + name + "' in the same namespace shows it", e);
        } catch (Netlink.OpenFailed e) {
            if (e.errno() == Errno.EPROTONOSUPPORT) {
                return List.of();
            }
            throw e;
        }
        return out;
    }

    private static byte[] bytes(String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        if (n.length == 0 || n.length >= IPSET_MAXNAMELEN) {
            throw new IllegalArgumentException("not an ipset set name (1 to " + (IPSET_MAXNAMELEN - 1) + " bytes): '"
                    + name + "'");
        }
        return n;
    }
}
