package io.ambientctl.redirect.ebpf;

import io.ambientctl.redirect.Counters;
import io.ambientctl.redirect.DropReason;

import java.net.InetAddress;
import java.nio.ByteBuffer;

import io.ambientctl.bpf.Codec;
import io.ambientctl.bpf.Codecs;
import io.ambientctl.bpf.LibbpfInfo;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Mac;

/** The datapath's map layouts; mirrors bpf/src/ambient.h (keep both in step). */
public final class Maps {
    /** AMBIENT_LAYOUT of ambient.h: what this build's programs and maps look like in the kernel. */
    public static final int LAYOUT = 2;
    public static final String WORKLOADS = "ambient_workloads";
    public static final String ZTUNNEL = "ambient_ztunnel";
    public static final String NODE_ADDRS = "ambient_node_addrs";
    public static final String COUNTERS = "ambient_counters";
    public static final String SETTINGS = "ambient_settings";
    /** Every map of the datapath (either build), by the name it is pinned under. */
    public static final java.util.List<String> ALL = java.util.List.of(WORKLOADS, ZTUNNEL, NODE_ADDRS, COUNTERS, SETTINGS);
    /** The monitor's maps: only in the build with the monitor (kernels with ring buffers). */
    public static final String MONITOR = "ambient_monitor";
    public static final String MONITOR_CPU = "ambient_mon_cpu";
    public static final String EVENTS = "ambient_events";
    public static final java.util.List<String> MONITOR_MAPS = java.util.List.of(MONITOR, MONITOR_CPU, EVENTS);

    public static final int WORKLOAD_F_ENROLLED = 0x1;
    /** The workload opted out of DNS capture: its port-53 traffic passes. */
    public static final int WORKLOAD_F_NO_DNS_CAPTURE = 0x2;
    public static final int MONITOR_F_EVERY_PACKET = 0x1;
    /** The explain marker: cb[4] of a BPF_PROG_TEST_RUN input; no counter moves, no event. */
    public static final int EXPLAIN_MAGIC = 0x4558504c;
    /** ambient_event.hook: AMBIENT_HOOK_*. */
    public static final int HOOK_POD_INGRESS = 1;
    public static final int HOOK_POD_EGRESS = 2;
    public static final int HOOK_ZTUNNEL_INGRESS = 3;
    public static final int HOOK_ZTUNNEL_CAPTURE = 4;
    /** ambient_event.direction: AMBIENT_DIR_*. */
    public static final int DIR_UNKNOWN = 0;
    public static final int DIR_OUTBOUND = 1;
    public static final int DIR_INBOUND = 2;
    /** sizeof(struct workload_counters), sizeof(struct ambient_event). */
    public static final int COUNTERS_SIZE = 32 + 8 * DropReason.SLOTS;
    /** The drops[] slot of fail-closed drops: the only drop layout 1 counted (its dropped_packets). */
    public static final int DROP_NO_ZTUNNEL = DropReason.NO_ZTUNNEL.code();
    public static final int EVENT_SIZE = 72;
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

    /** The workload flags for the map: enrolled, and whether it opted out of DNS capture. */
    public static int workloadFlags(boolean dnsCaptureOptOut) {
        return WORKLOAD_F_ENROLLED | (dnsCaptureOptOut ? WORKLOAD_F_NO_DNS_CAPTURE : 0);
    }

    /** Per-CPU counters: encodes the totals on CPU 0 (zeros elsewhere), decodes the sum over CPUs. */
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
                for (long d : c.drops()) {
                    bb.putLong(d);
                }
                return bb.array();
            }

            @Override
            public Counters decode(byte[] b) {
                ByteBuffer bb = Codecs.wrap(b);
                long[] sum = new long[4];
                long[] drops = new long[DropReason.SLOTS];
                for (int cpu = 0; cpu < cpus; cpu++) {
                    for (int i = 0; i < 4; i++) {
                        sum[i] += bb.getLong();
                    }
                    for (int i = 0; i < drops.length; i++) {
                        drops[i] += bb.getLong();
                    }
                }
                return new Counters(sum[0], sum[1], sum[2], sum[3], drops);
            }
        };
    }

    /** struct monitor_lease: events are emitted while bpf_ktime_get_ns() &lt; untilNs. */
    public record MonitorLease(long untilNs, int flags, int udpPerSec) {
        public static final MonitorLease NONE = new MonitorLease(0, 0, 0);
    }

    public static final Codec<MonitorLease> MONITOR_LEASE = new Codec<>() {
        @Override
        public int size() {
            return 16;
        }

        @Override
        public byte[] encode(MonitorLease l) {
            return Codecs.buffer(16).putLong(l.untilNs()).putInt(l.flags()).putInt(l.udpPerSec()).array();
        }

        @Override
        public MonitorLease decode(byte[] b) {
            ByteBuffer bb = Codecs.wrap(b);
            return new MonitorLease(bb.getLong(), bb.getInt(), bb.getInt());
        }
    };

    /** struct monitor_cpu summed over CPUs: UDP datagrams not reported (rate limit), events lost (ring full). */
    public record MonitorStats(long rateLimited, long lost) {
    }

    public static Codec<MonitorStats> monitorStats() {
        int cpus = LibbpfInfo.possibleCpus();
        return new Codec<>() {
            @Override
            public int size() {
                return 32 * cpus;
            }

            @Override
            public byte[] encode(MonitorStats s) {
                return Codecs.buffer(32 * cpus).putLong(0).putInt(0).putInt(0).putLong(s.rateLimited())
                        .putLong(s.lost()).array();
            }

            @Override
            public MonitorStats decode(byte[] b) {
                ByteBuffer bb = Codecs.wrap(b);
                long limited = 0;
                long lost = 0;
                for (int cpu = 0; cpu < cpus; cpu++) {
                    bb.getLong();
                    bb.getLong();
                    limited += bb.getLong();
                    lost += bb.getLong();
                }
                return new MonitorStats(limited, lost);
            }
        };
    }

    /** struct ambient_event: one decision of one program. */
    public record Event(long tsNs, InetAddress src, InetAddress dst, int workloadId, int ifindex, int target,
                        int err, int len, int sport, int dport, int hook, int decision, int reason, int proto,
                        int family, int tcpFlags, int direction) {
        public static Event decode(ByteBuffer bb) {
            long ts = bb.getLong();
            byte[] s = new byte[16];
            byte[] d = new byte[16];
            bb.get(s);
            bb.get(d);
            int wid = bb.getInt();
            int ifindex = bb.getInt();
            int target = bb.getInt();
            int err = bb.getInt();
            int len = bb.getInt();
            int sport = bb.getShort() & 0xffff;
            int dport = bb.getShort() & 0xffff;
            int hook = bb.get() & 0xff;
            int decision = bb.get() & 0xff;
            int reason = bb.get() & 0xff;
            int proto = bb.get() & 0xff;
            int family = bb.get() & 0xff;
            int flags = bb.get() & 0xff;
            int dir = bb.get() & 0xff;
            bb.get();
            return new Event(ts, IpAddrs.fromKey(s), IpAddrs.fromKey(d), wid, ifindex, target, err, len, sport, dport,
                    hook, decision, reason, proto, family, flags, dir);
        }
    }

    public static final Counters ZERO = Counters.ZERO;
}
