package io.ambientctl.net;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import io.ambientctl.bpf.Errno;
import io.ambientctl.bpf.sys.Native;

/**
 * The tc filters of the clsact hooks of interfaces, read in-process over rtnetlink (an RTM_GETTFILTER
 * dump per interface and hook, as {@code tc filter show dev IF ingress|egress} does): no process.
 * <p>
 * The kernel dumps filters of one interface per request (tc_dump_tfilter needs an ifindex; 0 answers
 * nothing), so many interfaces are read with one socket, {@link #open} once and {@link #list} per
 * interface. The socket belongs to the network namespace of the thread that opens it: open it inside
 * {@code NetNs.call}. An interface without a clsact (or ingress) qdisc, or one that is gone, has no filters.
 */
public final class TcFilters implements AutoCloseable {
    /** tcm_parent of the clsact ingress hook: TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS). */
    public static final int INGRESS = 0xFFFFFFF2;
    /** tcm_parent of the clsact egress hook: TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS). */
    public static final int EGRESS = 0xFFFFFFF3;

    static final int RTM_NEWTFILTER = 44;
    static final int RTM_GETTFILTER = 46;
    static final int TCMSG = 20; // struct tcmsg
    static final int TCA_KIND = 1;
    static final int TCA_OPTIONS = 2;
    static final int TCA_CHAIN = 11;
    static final int TCA_BPF_NAME = 7;
    static final int TCA_BPF_FLAGS = 8;
    static final int TCA_BPF_TAG = 10;
    static final int TCA_BPF_ID = 11;
    static final int TCA_BPF_FLAG_ACT_DIRECT = 1;
    private static final int ETH_P_ALL = 0x0003;

    private final Netlink.Socket socket;

    private TcFilters(Netlink.Socket socket) {
        this.socket = socket;
    }

    /** A reader over one rtnetlink socket of the calling thread's namespace; close it. */
    public static TcFilters open() {
        return new TcFilters(Netlink.Socket.open());
    }

    /** The filters of one hook of the calling thread's namespace (opens and closes a socket). */
    public static List<TcFilter> here(int ifindex, int parent) {
        try (TcFilters f = open()) {
            return f.list(ifindex, parent);
        }
    }

    /**
     * The filters on {@code parent} ({@link #INGRESS}, {@link #EGRESS}, or any other qdisc/class handle) of
     * {@code ifindex}, in the kernel's order (chain, then priority, then handle), as {@code tc filter show}
     * lists them; each priority's header (a kind without options) is left out. Empty when the interface
     * has no such qdisc or is gone.
     */
    public List<TcFilter> list(int ifindex, int parent) {
        byte[] tcmsg = new byte[TCMSG];
        ByteBuffer.wrap(tcmsg).order(ByteOrder.nativeOrder()).put(0, (byte) 0) // tcm_family AF_UNSPEC
                .putInt(4, ifindex).putInt(8, 0).putInt(12, parent).putInt(16, 0);
        List<TcFilter> out = new ArrayList<>();
        try {
            socket.dump(RTM_GETTFILTER, tcmsg, m -> {
                TcFilter f = filter(m);
                if (f != null) {
                    out.add(f);
                }
            });
        } catch (Netlink.DumpFailed e) {
            if (e.errno() == Errno.ENODEV || e.errno() == Errno.ENOENT) {
                return List.of(); // gone meanwhile / no such qdisc
            }
            throw new IllegalStateException("listing the tc filters of ifindex " + ifindex + " parent "
                    + Integer.toHexString(parent) + ": " + e.getMessage(), e);
        }
        return out;
    }

    /** One filter's place: the interface, the hook ({@link #INGRESS}, {@link #EGRESS}), priority and handle. */
    public record Place(int ifindex, int parent, int priority, int handle) {
    }

    /**
     * The filters at {@code places} (any protocol given as ETH_P_ALL, as bpf_tc_attach creates them), in
     * their order; null where there is none (no such filter, qdisc or interface, or one of another protocol
     * at that priority). One RTM_GETTFILTER per place, many to a write: a thousand interfaces' hooks are a few
     * dozen system calls, where a dump per hook is thousands.
     */
    public List<TcFilter> find(List<Place> places) {
        List<byte[]> requests = new ArrayList<>(places.size());
        for (Place p : places) {
            byte[] tcmsg = new byte[TCMSG];
            ByteBuffer.wrap(tcmsg).order(ByteOrder.nativeOrder()).put(0, (byte) 0) // tcm_family AF_UNSPEC
                    .putInt(4, p.ifindex()).putInt(8, p.handle()).putInt(12, p.parent())
                    .putInt(16, (p.priority() << 16) | ntohs(ETH_P_ALL));
            requests.add(tcmsg);
        }
        TcFilter[] out = new TcFilter[places.size()];
        socket.requests(RTM_GETTFILTER, requests, (i, m) -> out[i] = filter(m), (i, errno) -> {
            // EOPNOTSUPP: another qdisc than clsact (or ingress) holds the hook's handle
            if (errno != Errno.ENOENT && errno != Errno.ENODEV && errno != Errno.EINVAL
                    && errno != Errno.EOPNOTSUPP) {
                Place p = places.get(i);
                throw new IllegalStateException("reading the tc filter of ifindex " + p.ifindex() + " parent "
                        + Integer.toHexString(p.parent()) + " priority " + p.priority() + " handle "
                        + Integer.toHexString(p.handle()) + ": " + Native.libc().strerror(errno));
            }
        });
        return java.util.Arrays.asList(out);
    }

    /** One RTM_NEWTFILTER payload (struct tcmsg and attributes); null for a priority's header. */
    static TcFilter filter(ByteBuffer m) {
        if (m.limit() < TCMSG) {
            return null;
        }
        int ifindex = m.getInt(4);
        int handle = m.getInt(8);
        int parent = m.getInt(12);
        int info = m.getInt(16);
        Map<Integer, ByteBuffer> a = Netlink.attributes(m, TCMSG);
        ByteBuffer options = a.get(TCA_OPTIONS);
        if (options == null) {
            return null;
        }
        String kind = a.containsKey(TCA_KIND) ? Netlink.string(a.get(TCA_KIND)) : "";
        int chain = a.containsKey(TCA_CHAIN) ? a.get(TCA_CHAIN).getInt(0) : 0;
        int protocol = ntohs(info & 0xffff);
        int progId = 0;
        String bpfName = "";
        String tag = "";
        boolean direct = false;
        if (kind.equals("bpf")) {
            Map<Integer, ByteBuffer> o = Netlink.attributes(options, 0);
            progId = o.containsKey(TCA_BPF_ID) ? o.get(TCA_BPF_ID).getInt(0) : 0;
            bpfName = o.containsKey(TCA_BPF_NAME) ? Netlink.string(o.get(TCA_BPF_NAME)) : "";
            ByteBuffer t = o.get(TCA_BPF_TAG);
            if (t != null) {
                byte[] b = new byte[t.remaining()];
                t.duplicate().get(b);
                tag = HexFormat.of().formatHex(b);
            }
            direct = o.containsKey(TCA_BPF_FLAGS) && (o.get(TCA_BPF_FLAGS).getInt(0) & TCA_BPF_FLAG_ACT_DIRECT) != 0;
        }
        return new TcFilter(ifindex, parent, info >>> 16, protocol, handle, chain, kind, progId, bpfName, tag, direct);
    }

    private static int ntohs(int v) {
        return ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? v : ((v & 0xff) << 8) | (v >>> 8);
    }

    @Override
    public void close() {
        socket.close();
    }
}
