package io.ambientctl.net;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import io.ambientctl.bpf.sys.LibC;
import io.ambientctl.bpf.sys.Native;

/**
 * The interfaces and addresses of the calling thread's network namespace, read in-process over rtnetlink
 * (an RTM_GETLINK and an RTM_GETADDR dump), as {@code ip -d address show} reports them: no process per
 * namespace. Only what {@link Link} holds is decoded.
 */
final class Netlink {
    static final int AF_INET = 2;
    static final int AF_INET6 = 10;
    static final int AF_NETLINK = 16;
    static final int NETLINK_NETFILTER = 12;
    static final int SOCK_RAW = 3;
    static final int NETLINK_ROUTE = 0;
    static final int NLMSG_ERROR = 2;
    static final int NLMSG_DONE = 3;
    static final int RTM_NEWLINK = 16;
    static final int RTM_GETLINK = 18;
    static final int RTM_NEWADDR = 20;
    static final int RTM_GETADDR = 22;
    static final int NLM_F_REQUEST = 0x1;
    static final int NLM_F_DUMP = 0x300;
    static final int NLM_F_ACK = 0x4;
    static final int IFF_UP = 0x1;
    static final int IFLA_ADDRESS = 1;
    static final int IFLA_IFNAME = 3;
    static final int IFLA_LINK = 5;
    static final int IFLA_LINKINFO = 18;
    static final int IFLA_INFO_KIND = 1;
    static final int IFLA_LINK_NETNSID = 37;
    static final int IFLA_EXT_MASK = 29;
    static final int RTEXT_FILTER_SKIP_STATS = 1 << 3;
    static final int IFA_ADDRESS = 1;
    static final int IFA_LOCAL = 2;
    static final int HEADER = 16; // struct nlmsghdr
    static final int RTM_NEWNSID = 88;
    static final int RTM_GETNSID = 90;
    static final int NETNSA_NSID = 1;
    static final int NETNSA_FD = 3;

    private Netlink() {
    }

    /** Every interface of the calling thread's namespace, by ifindex, with its addresses. */
    static List<Link> links() {
        return links(true);
    }

    /** As {@link #links()}; without {@code addresses}, no address dump (the links' address lists are empty). */
    static List<Link> links(boolean addresses) {
        try (Socket s = Socket.open()) {
            Map<Integer, Partial> byIndex = new LinkedHashMap<>();
            s.dump(RTM_GETLINK, LINKS_WITHOUT_STATS, m -> link(m, byIndex));
            if (addresses) {
                s.dump(RTM_GETADDR, new byte[8], m -> address(m, byIndex)); // struct ifaddrmsg
            }
            return byIndex.values().stream().map(Partial::link).toList();
        }
    }

    /**
     * An RTM_GETLINK dump's request: struct ifinfomsg, then IFLA_EXT_MASK with RTEXT_FILTER_SKIP_STATS, so that the
     * kernel leaves out each link's counters (IFLA_STATS64, IFLA_STATS, inet6's statistics; nothing here reads
     * them): the node's dump of a thousand veths is a quarter smaller (1.49 MB -> 1.12 MB). A kernel that does not
     * know the bit ignores it.
     */
    static final byte[] LINKS_WITHOUT_STATS = linksRequest();

    private static byte[] linksRequest() {
        ByteBuffer b = ByteBuffer.allocate(16 + 8).order(ByteOrder.nativeOrder());
        b.position(16); // struct ifinfomsg: any family, every link
        b.putShort((short) 8).putShort((short) IFLA_EXT_MASK).putInt(RTEXT_FILTER_SKIP_STATS);
        return b.array();
    }

    /** A netlink operation the kernel refused: its errno. */
    static class Failed extends IllegalStateException {
        private final int errno;

        Failed(int errno, String message) {
            super(message);
            this.errno = errno;
        }

        int errno() {
            return errno;
        }
    }

    /** A request or dump the kernel answered with an error (NLMSG_ERROR). */
    static final class DumpFailed extends Failed {
        DumpFailed(int errno, String message) {
            super(errno, message);
        }
    }

    /** A netlink socket the kernel would not open (e.g. EPROTONOSUPPORT: that netlink family is not there). */
    static final class OpenFailed extends Failed {
        OpenFailed(int errno, String message) {
            super(errno, message);
        }
    }

    /**
     * A NETLINK_ROUTE socket of the namespace of the thread that opened it (the socket stays in that
     * namespace whatever thread uses it later), for one dump after another. Not thread-safe. After a
     * failure other than {@link DumpFailed} its state is unknown: close it.
     */
    static final class Socket implements AutoCloseable {
        private final LibC c;
        private final int fd;
        /**
         * The thread's spare receive buffer: a thread that reads a thousand namespaces one after another
         * opens a socket in each, and a fresh 64 KiB array for each (zeroed, then collected) cost more than the
         * reads themselves. A socket takes it when it opens and gives it back when it closes; one opened while
         * another is open on the thread gets its own.
         */
        private static final ThreadLocal<byte[]> SPARE = new ThreadLocal<>();
        private byte[] buf;
        private int seq;

        private Socket(LibC c, int fd) {
            this.c = c;
            this.fd = fd;
            byte[] spare = SPARE.get();
            if (spare != null) {
                SPARE.remove();
                buf = spare;
            } else {
                buf = new byte[64 * 1024];
            }
        }

        static Socket open() {
            return open(NETLINK_ROUTE);
        }

        /** A socket of another netlink family ({@code NETLINK_NETFILTER}, ...). */
        static Socket open(int protocol) {
            LibC c = Native.libc();
            int fd = c.socket(AF_NETLINK, SOCK_RAW | LibC.O_CLOEXEC, protocol);
            if (fd < 0) {
                int errno = Native.errno();
                throw new OpenFailed(errno, "cannot open a netlink socket (protocol " + protocol + "): "
                        + c.strerror(errno));
            }
            return new Socket(c, fd);
        }

        /**
         * Sends one dump request ({@code payload} is its family header, e.g. struct tcmsg, and any
         * attributes) and hands each answer's payload to {@code each}; answers to an earlier request
         * (another sequence number) are skipped.
         */
        void dump(int type, byte[] payload, Consumer<ByteBuffer> each) {
            exchange(type, payload, 0, true, each);
        }

        /** One request that is not a dump: its single answer goes to {@code each}. */
        void request(int type, byte[] payload, Consumer<ByteBuffer> each) {
            exchange(type, payload, 0, false, each);
        }

        /**
         * One request that changes something ({@code flags}: NLM_F_CREATE, NLM_F_EXCL, ... besides NLM_F_REQUEST),
         * asked with NLM_F_ACK: returns when the kernel acknowledged it, throws {@link DumpFailed} with its errno
         * when the kernel refused it.
         */
        void ack(int type, int flags, byte[] payload) {
            exchange(type, payload, NLM_F_ACK | flags, false, m -> {
                throw new IllegalStateException("netlink: an answer other than the acknowledgement to request type "
                        + type);
            });
        }

        /**
         * Many requests that are not dumps, sent {@link #BATCH} to a write (the kernel handles each message of
         * a write in turn: one system call for many questions, where a dump is one at a time): {@code each}
         * gets the index of the request and its answer's payload; a request the kernel refused gets its
         * errno in {@code failed}. Each request has exactly one answer (no ACK asked): a message, or an error.
         */
        void requests(int type, List<byte[]> payloads, Answer each, Refusal failed) {
            for (int from = 0; from < payloads.size(); from += BATCH) {
                int to = Math.min(payloads.size(), from + BATCH);
                int size = 0;
                for (int i = from; i < to; i++) {
                    size += align(HEADER + payloads.get(i).length);
                }
                ByteBuffer req = ByteBuffer.allocate(size).order(ByteOrder.nativeOrder());
                int firstSeq = seq + 1;
                for (int i = from; i < to; i++) {
                    byte[] p = payloads.get(i);
                    int start = req.position();
                    req.putInt(HEADER + p.length).putShort((short) type).putShort((short) NLM_F_REQUEST)
                            .putInt(++seq).putInt(0).put(p);
                    req.position(start + align(HEADER + p.length));
                }
                send(req.array(), size);
                int pending = to - from;
                while (pending > 0) {
                    ByteBuffer b = receive();
                    int n = b.limit();
                    for (int off = 0; off + HEADER <= n; ) {
                        int len = b.getInt(off);
                        if (len < HEADER || off + len > n) {
                            throw new IllegalStateException("netlink: a truncated message");
                        }
                        int i = b.getInt(off + 8) - firstSeq;
                        if (i >= 0 && i < to - from) {
                            pending--;
                            if ((b.getShort(off + 4) & 0xffff) == NLMSG_ERROR) {
                                int errno = -b.getInt(off + HEADER);
                                if (errno != 0) {
                                    failed.refused(from + i, errno);
                                }
                            } else {
                                each.answer(from + i, b.slice(off + HEADER, len - HEADER).order(ByteOrder.nativeOrder()));
                            }
                        }
                        off += align(len);
                    }
                }
            }
        }

        private void send(byte[] bytes, int size) {
            if (c.write(fd, bytes, size) != size) {
                throw new IllegalStateException("netlink request failed: " + c.strerror(Native.errno()));
            }
        }

        /** The next read's messages (in this socket's buffer: valid until the next read). */
        private ByteBuffer receive() {
            long n = c.read(fd, buf, buf.length);
            if (n < 0) {
                throw new IllegalStateException("netlink read failed: " + c.strerror(Native.errno()));
            }
            return ByteBuffer.wrap(buf, 0, (int) n).order(ByteOrder.nativeOrder());
        }

        /**
         * Requests to a write: their answers (each a small skb of a kilobyte or two, as the kernel counts it) fit
         * the socket's default receive buffer.
         */
        static final int BATCH = 32;

        /** The answer to request {@code index}. */
        interface Answer {
            void answer(int index, ByteBuffer payload);
        }

        /** Request {@code index} refused with {@code errno}. */
        interface Refusal {
            void refused(int index, int errno);
        }

        private void exchange(int type, byte[] payload, int flags, boolean dump, Consumer<ByteBuffer> each) {
            int mySeq = ++seq;
            ByteBuffer req = ByteBuffer.allocate(HEADER + payload.length).order(ByteOrder.nativeOrder());
            req.putInt(HEADER + payload.length).putShort((short) type)
                    .putShort((short) (NLM_F_REQUEST | flags | (dump ? NLM_F_DUMP : 0))).putInt(mySeq).putInt(0).put(payload);
            send(req.array(), req.capacity());
            while (true) {
                ByteBuffer b = receive();
                int n = b.limit();
                for (int off = 0; off + HEADER <= n; ) {
                    int len = b.getInt(off);
                    int msgType = b.getShort(off + 4) & 0xffff;
                    if (len < HEADER || off + len > n) {
                        throw new IllegalStateException("netlink: a truncated message");
                    }
                    if (b.getInt(off + 8) != mySeq) {
                        off += align(len); // the rest of an earlier, abandoned dump
                        continue;
                    }
                    if (msgType == NLMSG_DONE) {
                        // a dump that failed after it started says so here (dump_done_errno)
                        int errno = len >= HEADER + 4 ? -b.getInt(off + HEADER) : 0;
                        if (errno > 0) {
                            throw new DumpFailed(errno, "netlink dump failed: " + c.strerror(errno));
                        }
                        return;
                    }
                    if (msgType == NLMSG_ERROR) {
                        int errno = -b.getInt(off + HEADER);
                        if (errno != 0) {
                            throw new DumpFailed(errno, "netlink dump failed: " + c.strerror(errno));
                        }
                        return; // an ack ends the answer too
                    } else {
                        each.accept(b.slice(off + HEADER, len - HEADER).order(ByteOrder.nativeOrder()));
                        if (!dump) {
                            return;
                        }
                    }
                    off += align(len);
                }
            }
        }

        @Override
        public void close() {
            c.close(fd);
            if (buf != null && SPARE.get() == null) {
                SPARE.set(buf);
            }
            buf = null;
        }
    }

    /**
     * The id the calling thread's namespace gives each namespace file (RTM_GETNSID with NETNSA_FD): the
     * IFLA_LINK_NETNSID its veths report for a peer there; -1 when none is assigned (no veth between them),
     * absent when the file cannot be opened.
     */
    static Map<String, Integer> nsids(List<String> nsFiles) {
        Map<String, Integer> out = new LinkedHashMap<>();
        LibC c = Native.libc();
        try (Socket s = Socket.open()) {
            // a socket's batch of files at a time: each open while its question is asked, many to a write
            for (int from = 0; from < nsFiles.size(); from += Socket.BATCH) {
                List<String> chunk = nsFiles.subList(from, Math.min(nsFiles.size(), from + Socket.BATCH));
                List<String> opened = new ArrayList<>();
                List<Integer> fds = new ArrayList<>();
                List<byte[]> requests = new ArrayList<>();
                try {
                    for (String f : chunk) {
                        int fd = c.open(f, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
                        if (fd < 0) {
                            continue; // cannot be opened: absent from the answer
                        }
                        opened.add(f);
                        fds.add(fd);
                        ByteBuffer p = ByteBuffer.allocate(12).order(ByteOrder.nativeOrder());
                        p.put((byte) 0).put((byte) 0).putShort((short) 0); // struct rtgenmsg, padded
                        p.putShort((short) 8).putShort((short) NETNSA_FD).putInt(fd);
                        requests.add(p.array());
                    }
                    int[] ids = new int[opened.size()];
                    java.util.Arrays.fill(ids, -1);
                    boolean[] failed = new boolean[opened.size()];
                    s.requests(RTM_GETNSID, requests, (i, m) -> {
                        ByteBuffer v = attributes(m, 4).get(NETNSA_NSID);
                        if (v != null) {
                            ids[i] = v.getInt(0);
                        }
                    }, (i, errno) -> failed[i] = true);
                    for (int i = 0; i < opened.size(); i++) {
                        if (!failed[i]) {
                            out.put(opened.get(i), ids[i]);
                        }
                    }
                } finally {
                    fds.forEach(c::close);
                }
            }
        }
        return out;
    }

    /** The address family byte of a request about IPv6 ({@code v6}) or IPv4. */
    static byte family(boolean v6) {
        return (byte) (v6 ? AF_INET6 : AF_INET);
    }

    static int align(int len) {
        return (len + 3) & ~3;
    }

    /** The attributes (struct rtattr) from {@code start} to the end of {@code m}, by type, last one kept. */
    static Map<Integer, ByteBuffer> attributes(ByteBuffer m, int start) {
        Map<Integer, ByteBuffer> out = new LinkedHashMap<>();
        each(m, start, (type, at, len) -> out.put(type, value(m, at, len)));
        return out;
    }

    /** One attribute: its type, and where its value is in the message ({@code len} bytes from {@code at}). */
    interface Attribute {
        void seen(int type, int at, int len);
    }

    /** The value {@code len} bytes from {@code at} of {@code m}, as a buffer of its own in {@code m}'s byte order. */
    static ByteBuffer value(ByteBuffer m, int at, int len) {
        return m.slice(at, len).order(m.order());
    }

    /**
     * Hands each attribute of {@code m} from {@code start} to {@code each}, in order, repeated types included (the
     * entries of an ipset listing), its type without NLA_F_NESTED / NLA_F_NET_BYTEORDER; stops at a truncated one.
     * Nothing is allocated for an attribute the caller does not take.
     */
    static void each(ByteBuffer m, int start, Attribute each) {
        for (int off = start; off + 4 <= m.limit(); ) {
            int len = m.getShort(off) & 0xffff;
            int type = m.getShort(off + 2) & 0x3fff;
            if (len < 4 || off + len > m.limit()) {
                break;
            }
            each.seen(type, off + 4, len - 4);
            off += align(len);
        }
    }

    static String string(ByteBuffer v) {
        byte[] b = new byte[v.remaining()];
        v.duplicate().get(b);
        int n = 0;
        while (n < b.length && b[n] != 0) {
            n++;
        }
        return new String(b, 0, n, StandardCharsets.UTF_8);
    }

    private static void link(ByteBuffer m, Map<Integer, Partial> byIndex) {
        int index = m.getInt(4);
        int flags = m.getInt(8);
        Partial p = new Partial();
        p.index = index;
        p.name = "";
        ByteBuffer[] nsidAndPeer = new ByteBuffer[2];
        // the attributes we keep, in one pass: a link has dozens (statistics, ...) that nobody reads here
        each(m, 16, (type, at, len) -> {
            switch (type) {
                case IFLA_IFNAME -> p.name = string(value(m, at, len));
                case IFLA_ADDRESS -> {
                    if (len == 6) {
                        byte[] b = new byte[6];
                        m.get(at, b);
                        p.mac = new Mac(b);
                    }
                }
                case IFLA_LINKINFO -> {
                    ByteBuffer kind = attributes(value(m, at, len), 0).get(IFLA_INFO_KIND);
                    p.kind = kind == null ? "" : string(kind);
                }
                case IFLA_LINK_NETNSID -> nsidAndPeer[0] = value(m, at, len);
                case IFLA_LINK -> nsidAndPeer[1] = value(m, at, len);
                default -> {
                }
            }
        });
        ByteBuffer nsid = nsidAndPeer[0];
        ByteBuffer peer = nsidAndPeer[1];
        // as iproute2: the peer's index is reported when it lives in another namespace (link_netnsid)
        if (nsid != null && peer != null) {
            p.peerNetnsId = nsid.getInt(0);
            p.peerIfindex = peer.getInt(0);
        }
        p.up = (flags & IFF_UP) != 0;
        byIndex.put(index, p);
    }

    private static void address(ByteBuffer m, Map<Integer, Partial> byIndex) {
        int prefixLen = m.get(1) & 0xff;
        int scope = m.get(3) & 0xff;
        int index = m.getInt(4);
        Map<Integer, ByteBuffer> a = attributes(m, 8);
        ByteBuffer ip = a.containsKey(IFA_LOCAL) ? a.get(IFA_LOCAL) : a.get(IFA_ADDRESS);
        Partial p = byIndex.get(index);
        if (ip == null || p == null) {
            return;
        }
        byte[] b = new byte[ip.remaining()];
        ip.duplicate().get(b);
        try {
            p.addresses.add(new Link.Address(InetAddress.getByAddress(b), prefixLen, scope(scope)));
        } catch (UnknownHostException e) {
            // not 4 or 16 bytes: not an IP address
        }
    }

    /** The names iproute2 prints for rtnetlink scopes. */
    static String scope(int scope) {
        return switch (scope) {
            case 0 -> "global";
            case 200 -> "site";
            case 253 -> "link";
            case 254 -> "host";
            case 255 -> "nowhere";
            default -> String.valueOf(scope);
        };
    }

    private static final class Partial {
        int index;
        String name;
        Mac mac;
        String kind = "";
        int peerIfindex = -1;
        int peerNetnsId = -1;
        boolean up;
        final List<Link.Address> addresses = new ArrayList<>();

        Link link() {
            return new Link(index, name, mac, kind, peerIfindex, peerNetnsId, up, List.copyOf(addresses));
        }
    }
}
