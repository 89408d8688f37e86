package io.ambientctl.net;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import io.ambientctl.bpf.Errno;
import io.ambientctl.bpf.sys.LibC;
import io.ambientctl.bpf.sys.Native;

/**
 * A reader of one NFLOG group of the calling thread's network namespace (nfnetlink_log over a NETLINK_NETFILTER
 * socket, in-process): bound with NFULNL_CFG_CMD_BIND, packets copied up to a small range (headers only), each
 * sent as it is logged (queue threshold 1). The socket stays in the namespace it was opened in whatever thread
 * reads it. Closing it unbinds the group (the kernel also does when the socket goes: a killed reader leaves
 * nothing). No per-family PF_BIND/PF_UNBIND: rules that name a group (NFLOG, nft {@code log group}) pick the
 * nfnetlink_log logger themselves, and an unbind would take the family's logger from whoever set it.
 */
public final class Nflog implements AutoCloseable {
    static final int SOCK_NONBLOCK = 0x800;
    static final int MSG_PACKET = 4 << 8; // NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET
    static final int MSG_CONFIG = MSG_PACKET | 1;
    static final int NLM_F_ACK = 0x4;
    static final int CFG_CMD = 1;
    static final int CFG_MODE = 2;
    static final int CFG_TIMEOUT = 4;
    static final int CFG_QTHRESH = 5;
    static final int CMD_BIND = 1;
    static final int CMD_UNBIND = 2;
    static final int COPY_PACKET = 2;
    static final int ULA_MARK = 2;
    static final int ULA_TIMESTAMP = 3;
    static final int ULA_IFINDEX_INDEV = 4;
    static final int ULA_PAYLOAD = 9;
    static final int ULA_PREFIX = 10;
    static final int POLLIN = 1;

    /** One logged packet: the rule's prefix, the packet from its network header (up to the copy range). */
    public record Packet(String prefix, ByteBuffer payload, int mark, int inIfindex, long timestampNs) {
    }

    /** The group is bound by another socket of this namespace (another reader). */
    public static final class Busy extends IllegalStateException {
        Busy(String message) {
            super(message);
        }
    }

    private final LibC c;
    private final int fd;
    private final int group;
    private final byte[] buf = new byte[256 * 1024];
    private final List<ByteBuffer> early = new ArrayList<>();
    private long lost;
    private int seq;
    private boolean closed;

    private Nflog(LibC c, int fd, int group) {
        this.c = c;
        this.fd = fd;
        this.group = group;
    }

    /** Binds {@code group} in the calling thread's namespace, copying {@code copyRange} bytes of each packet. */
    public static Nflog bind(int group, int copyRange) {
        LibC c = Native.libc();
        int fd = c.socket(Netlink.AF_NETLINK, Netlink.SOCK_RAW | LibC.O_CLOEXEC | SOCK_NONBLOCK,
                Netlink.NETLINK_NETFILTER);
        if (fd < 0) {
            throw new IllegalStateException("cannot open a netfilter netlink socket: " + c.strerror(Native.errno()));
        }
        Nflog n = new Nflog(c, fd, group);
        try {
            ByteBuffer a = ByteBuffer.allocate(8 + 12 + 8 + 8).order(ByteOrder.nativeOrder());
            attr(a, CFG_CMD, new byte[] {CMD_BIND});
            ByteBuffer mode = ByteBuffer.allocate(6).order(ByteOrder.BIG_ENDIAN).putInt(copyRange)
                    .put((byte) COPY_PACKET).put((byte) 0);
            attr(a, CFG_MODE, mode.array());
            attr(a, CFG_QTHRESH, ByteBuffer.allocate(4).putInt(1).array()); // each packet as it comes
            attr(a, CFG_TIMEOUT, ByteBuffer.allocate(4).putInt(1).array()); // 1/100 s
            int err = n.config(a);
            if (err == Errno.EPERM && boundHere(group) || err == Errno.EBUSY) {
                throw new Busy("NFLOG group " + group + " is bound by another socket of this namespace: another "
                        + "monitor is running (group " + group + ")");
            }
            if (err != 0) {
                throw new IllegalStateException("cannot bind NFLOG group " + group + ": " + c.strerror(err)
                        + (err == Errno.EPERM ? " (it takes CAP_NET_ADMIN)" : ""));
            }
            return n;
        } catch (RuntimeException e) {
            c.close(fd);
            throw e;
        }
    }

    /**
     * Whether a socket of the calling thread's namespace has bound {@code group}
     * (/proc/thread-self/net/netfilter/nfnetlink_log: group, portid, ...).
     */
    public static boolean boundHere(int group) {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/thread-self/net/netfilter/nfnetlink_log"))) {
                String[] t = l.strip().split("\\s+");
                if (t.length > 0 && t[0].equals(String.valueOf(group))) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            return false; // no file: nfnetlink_log not loaded, nothing bound
        }
    }

    private static void attr(ByteBuffer b, int type, byte[] value) {
        b.putShort((short) (4 + value.length)).putShort((short) type).put(value);
        while (b.position() % 4 != 0) {
            b.put((byte) 0);
        }
    }

    /** Sends a config message with an ack; its errno (0: done). Packets read meanwhile are kept. */
    private int config(ByteBuffer attrs) {
        int mySeq = ++seq;
        int len = Netlink.HEADER + 4 + attrs.position();
        ByteBuffer req = ByteBuffer.allocate(len).order(ByteOrder.nativeOrder());
        req.putInt(len).putShort((short) MSG_CONFIG).putShort((short) (Netlink.NLM_F_REQUEST | NLM_F_ACK))
                .putInt(mySeq).putInt(0);
        req.put((byte) 0).put((byte) 0).order(ByteOrder.BIG_ENDIAN).putShort((short) group)
                .order(ByteOrder.nativeOrder());
        req.put(attrs.array(), 0, attrs.position());
        if (c.write(fd, req.array(), len) != len) {
            throw new IllegalStateException("netfilter netlink request failed: " + c.strerror(Native.errno()));
        }
        for (int tries = 0; tries < 50; tries++) {
            pollOne(100);
            long n = c.read(fd, buf, buf.length);
            if (n < 0) {
                int e = Native.errno();
                if (e == Errno.EAGAIN) {
                    continue;
                }
                if (e == Errno.ENOBUFS) {
                    lost++;
                    continue;
                }
                throw new IllegalStateException("netfilter netlink read failed: " + c.strerror(e));
            }
            ByteBuffer b = ByteBuffer.wrap(buf, 0, (int) n).order(ByteOrder.nativeOrder());
            for (int off = 0; off + Netlink.HEADER <= n; ) {
                int mlen = b.getInt(off);
                int type = b.getShort(off + 4) & 0xffff;
                if (mlen < Netlink.HEADER || off + mlen > n) {
                    break;
                }
                if (type == Netlink.NLMSG_ERROR && b.getInt(off + 8) == mySeq) {
                    return -b.getInt(off + Netlink.HEADER);
                }
                if (type == MSG_PACKET) {
                    ByteBuffer copy = ByteBuffer.allocate(mlen - Netlink.HEADER).order(ByteOrder.nativeOrder());
                    copy.put(b.slice(off + Netlink.HEADER, mlen - Netlink.HEADER)).flip();
                    early.add(copy);
                }
                off += Netlink.align(mlen);
            }
        }
        throw new IllegalStateException("no answer from the kernel to the NFLOG configuration of group " + group);
    }

    private void pollOne(int timeoutMs) {
        poll(List.of(this), timeoutMs);
    }

    /** Waits up to {@code timeoutMs} until one of {@code socks} has something to read; how many have. */
    public static int poll(List<Nflog> socks, int timeoutMs) {
        if (socks.isEmpty()) {
            return 0;
        }
        ByteBuffer fds = ByteBuffer.allocate(8 * socks.size()).order(ByteOrder.nativeOrder());
        for (Nflog s : socks) {
            fds.putInt(s.fd).putShort((short) POLLIN).putShort((short) 0);
        }
        byte[] a = fds.array();
        int n = socks.get(0).c.poll(a, socks.size(), timeoutMs);
        return Math.max(n, 0);
    }

    /** Hands over every packet waiting now; a full socket buffer (ENOBUFS) counts as lost. */
    public int drain(Consumer<Packet> each) {
        int count = 0;
        for (ByteBuffer m : early) {
            count += packet(m, each);
        }
        early.clear();
        while (true) {
            long n = c.read(fd, buf, buf.length);
            if (n < 0) {
                int e = Native.errno();
                if (e == Errno.ENOBUFS) {
                    lost++; // at least one message dropped by the kernel; reading goes on
                    continue;
                }
                if (e == Errno.EAGAIN) {
                    return count;
                }
                throw new IllegalStateException("reading NFLOG group " + group + " failed: " + c.strerror(e));
            }
            ByteBuffer b = ByteBuffer.wrap(buf, 0, (int) n).order(ByteOrder.nativeOrder());
            for (int off = 0; off + Netlink.HEADER <= n; ) {
                int mlen = b.getInt(off);
                int type = b.getShort(off + 4) & 0xffff;
                if (mlen < Netlink.HEADER || off + mlen > n) {
                    break;
                }
                if (type == MSG_PACKET) {
                    count += packet(b.slice(off + Netlink.HEADER, mlen - Netlink.HEADER).order(ByteOrder.nativeOrder()),
                            each);
                }
                off += Netlink.align(mlen);
            }
        }
    }

    /** Decodes one NFULNL_MSG_PACKET (struct nfgenmsg, then attributes in network byte order). */
    private static int packet(ByteBuffer m, Consumer<Packet> each) {
        Map<Integer, ByteBuffer> a = Netlink.attributes(m, 4);
        ByteBuffer payload = a.get(ULA_PAYLOAD);
        if (payload == null) {
            return 0;
        }
        String prefix = a.containsKey(ULA_PREFIX) ? Netlink.string(a.get(ULA_PREFIX)) : "";
        int mark = a.containsKey(ULA_MARK) ? a.get(ULA_MARK).order(ByteOrder.BIG_ENDIAN).getInt(0) : 0;
        int in = a.containsKey(ULA_IFINDEX_INDEV) ? a.get(ULA_IFINDEX_INDEV).order(ByteOrder.BIG_ENDIAN).getInt(0) : 0;
        long ts = 0;
        ByteBuffer t = a.get(ULA_TIMESTAMP);
        if (t != null && t.remaining() >= 16) {
            t.order(ByteOrder.BIG_ENDIAN);
            ts = t.getLong(0) * 1_000_000_000L + t.getLong(8) * 1000L;
        }
        each.accept(new Packet(prefix, payload.order(ByteOrder.BIG_ENDIAN), mark, in, ts));
        return 1;
    }

    /** Messages the kernel dropped because the socket's buffer was full (ENOBUFS), since the bind. */
    public long lost() {
        return lost;
    }

    public int group() {
        return group;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            ByteBuffer a = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder());
            attr(a, CFG_CMD, new byte[] {CMD_UNBIND});
            config(a);
        } catch (RuntimeException e) {
            // closing the socket unbinds it too
        } finally {
            c.close(fd);
        }
    }
}
