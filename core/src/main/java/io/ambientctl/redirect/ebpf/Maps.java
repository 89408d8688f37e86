package io.ambientctl.redirect.ebpf;

import io.ambientctl.redirect.Counters;

import java.net.InetAddress;
import java.nio.ByteBuffer;

import io.ambientctl.bpf.Codec;
import io.ambientctl.bpf.Codecs;
import io.ambientctl.bpf.LibbpfInfo;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Mac;

/** The datapath's map layouts; mirrors bpf/src/ambient.h (keep both in step). */
public final class Maps {
    /** AMBIENT_LAYOUT: the layout of the maps and pins (layout 1: release v0.1.0). */
    public static final int LAYOUT = 2;
    /** AMBIENT_DROP_REASONS, and the index of fail-closed drops. */
    public static final int DROP_REASONS = 8;
    public static final int DROP_NO_ZTUNNEL = 1;
    /** Bytes of struct workload_counters per CPU. */
    public static final int COUNTERS_SIZE = 8 * (4 + DROP_REASONS);
    public static final String WORKLOADS = "ambient_workloads";
    public static final String ZTUNNEL = "ambient_ztunnel";
    public static final String NODE_ADDRS = "ambient_node_addrs";
    public static final String COUNTERS = "ambient_counters";
    public static final String SETTINGS = "ambient_settings";
    /** Every map of the datapath, by the name it is pinned under. */
    public static final java.util.List<String> ALL = java.util.List.of(WORKLOADS, ZTUNNEL, NODE_ADDRS, COUNTERS, SETTINGS);

    public static final int WORKLOAD_F_ENROLLED = 0x1;
    public static final int ZTUNNEL_F_DNS_CAPTURE = 0x1;
    public static final int ZTUNNEL_F_FAIL_OPEN = 0x2;
    public static final int MAX_WORKLOADS = 65536;

    private Maps() {
    }

    /** struct workload_info. */
    public record WorkloadInfo(int ifindex, int id, Mac mac, int flags) {
    }

    /** struct ztunnel_info; ifindex 0: no ztunnel set. */
    public record ZtunnelInfo(int ifindex, Mac mac, int flags) {
        public boolean set() {
            return ifindex != 0;
        }
    }


    public static final Codec<InetAddress> IP_KEY = new Codec<>() {
        @Override
        public int size() {
            return 16;
        }

        @Override
        public byte[] encode(InetAddress a) {
            return IpAddrs.toKey(a);
        }

        @Override
        public InetAddress decode(byte[] b) {
            return IpAddrs.fromKey(b);
        }
    };

    public static final Codec<WorkloadInfo> WORKLOAD_INFO = new Codec<>() {
        @Override
        public int size() {
            return 16;
        }

        @Override
        public byte[] encode(WorkloadInfo w) {
            return Codecs.buffer(16).putInt(w.ifindex()).putInt(w.id()).put(w.mac().bytes()).putShort((short) w.flags())
                    .array();
        }

        @Override
        public WorkloadInfo decode(byte[] b) {
            ByteBuffer bb = Codecs.wrap(b);
            int ifindex = bb.getInt();
            int id = bb.getInt();
            byte[] mac = new byte[6];
            bb.get(mac);
            return new WorkloadInfo(ifindex, id, new Mac(mac), bb.getShort() & 0xffff);
        }
    };

    public static final Codec<ZtunnelInfo> ZTUNNEL_INFO = new Codec<>() {
        @Override
        public int size() {
            return 12;
        }

        @Override
        public byte[] encode(ZtunnelInfo z) {
            return Codecs.buffer(12).putInt(z.ifindex()).put(z.mac().bytes()).putShort((short) z.flags()).array();
        }

        @Override
        public ZtunnelInfo decode(byte[] b) {
            ByteBuffer bb = Codecs.wrap(b);
            int ifindex = bb.getInt();
            byte[] mac = new byte[6];
            bb.get(mac);
            return new ZtunnelInfo(ifindex, new Mac(mac), bb.getShort() & 0xffff);
        }
    };

    public static final Codec<Integer> NODE_ADDR_INFO = Codecs.U32;

    /**
     * Per-CPU counters: encodes the totals on CPU 0 (zeros elsewhere), decodes the sum over CPUs; dropped packets
     * are drops[DROP_NO_ZTUNNEL] (the only drop layout 1 counted), summed over every reason when decoded.
     */
    public static Codec<Counters> counters() {
        int cpus = LibbpfInfo.possibleCpus();
        return new Codec<>() {
            @Override
            public int size() {
                return COUNTERS_SIZE * cpus;
            }

            @Override
            public byte[] encode(Counters c) {
                ByteBuffer bb = Codecs.buffer(COUNTERS_SIZE * cpus);
                bb.putLong(c.outPackets()).putLong(c.outBytes()).putLong(c.inPackets()).putLong(c.inBytes());
                for (int r = 0; r < DROP_REASONS; r++) {
                    bb.putLong(r == DROP_NO_ZTUNNEL ? c.droppedPackets() : 0);
                }
                return bb.array();
            }

            @Override
            public Counters decode(byte[] b) {
                ByteBuffer bb = Codecs.wrap(b);
                long[] sum = new long[5];
                for (int cpu = 0; cpu < cpus; cpu++) {
                    for (int i = 0; i < 4; i++) {
                        sum[i] += bb.getLong();
                    }
                    for (int r = 0; r < DROP_REASONS; r++) {
                        sum[4] += bb.getLong();
                    }
                }
                return new Counters(sum[0], sum[1], sum[2], sum[3], sum[4]);
            }
        };
    }

    public static final Counters ZERO = Counters.ZERO;
}
