package io.ambientctl.redirect.ebpf;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.ambientctl.bpf.BpfMap;
import io.ambientctl.bpf.BpfObject;
import io.ambientctl.bpf.Clock;
import io.ambientctl.bpf.Codecs;
import io.ambientctl.bpf.TestRun;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Mac;
import io.ambientctl.observe.MonitorOptions;
import io.ambientctl.observe.ProgramCost;

/**
 * The per-packet cost of the datapath programs, build against build (`ambientctl bench --program-cost`):
 * each object is loaded unpinned (nothing stays in the kernel), given two workloads and a ztunnel, and its
 * pod programs run on a redirected non-SYN TCP segment with BPF_PROG_TEST_RUN repeat N; the kernel's mean
 * time per run is the figure. Variants run interleaved, round by round. The monitor-on variant holds a lease
 * with the default selection (the segment is not a SYN: it pays the lease check, the TCP-flags load and the
 * selection, not an event). Callers outside the mode reach it through {@code ModeProbes.programCost}.
 */
public final class ProgramCosts {
    private record Variant(String name, byte[] elf, boolean monitorOn) {
    }

    private ProgramCosts() {
    }

    /** {@code previous}: an older build's object (e.g. v0.1.0's, layout 1), or null. */
    public static List<ProgramCost> measure(byte[] previous, int rounds, int repeat) {
        List<Variant> vs = new ArrayList<>();
        if (previous != null) {
            vs.add(new Variant("previous", previous, false));
        }
        vs.add(new Variant("monitor-off", BpfObject.resourceBytes(Datapath.OBJECT), false));
        vs.add(new Variant("no-monitor-build", BpfObject.resourceBytes(Datapath.OBJECT_NO_MONITOR), false));
        vs.add(new Variant("monitor-on", BpfObject.resourceBytes(Datapath.OBJECT), true));
        Map<String, BpfObject> loaded = new LinkedHashMap<>();
        try {
            for (Variant v : vs) {
                BpfObject o = BpfObject.open(v.name(), v.elf()).load();
                loaded.put(v.name(), o);
                fill(o, v.monitorOn());
            }
            byte[] out = frame(MAC_A, MAC_H, "10.1.0.1", "10.9.9.9", 40000, 8080);
            byte[] in = frame(MAC_H, MAC_B, "10.9.9.9", "10.1.0.2", 8080, 40000);
            List<ProgramCost> results = new ArrayList<>();
            for (int round = 1; round <= rounds; round++) {
                for (Variant v : vs) {
                    BpfObject o = loaded.get(v.name());
                    results.add(new ProgramCost(round, v.name(), Datapath.POD_INGRESS,
                            nsPerRun(o, Datapath.POD_INGRESS, out, repeat)));
                    results.add(new ProgramCost(round, v.name(), Datapath.POD_EGRESS,
                            nsPerRun(o, Datapath.POD_EGRESS, in, repeat)));
                }
            }
            return results;
        } finally {
            loaded.values().forEach(BpfObject::close);
        }
    }

    private static final Mac MAC_A = Mac.parse("02:aa:00:00:00:01");
    private static final Mac MAC_B = Mac.parse("02:bb:00:00:00:02");
    private static final Mac MAC_H = Mac.parse("02:ee:00:00:00:ee");
    private static final Mac MAC_Z = Mac.parse("02:22:00:00:00:22");

    private static double nsPerRun(BpfObject o, String program, byte[] frame, int repeat) {
        return o.program(program).testRun(TestRun.packet(frame).repeat(repeat)).durationNs();
    }

    private static void fill(BpfObject o, boolean monitorOn) {
        try (BpfMap w = o.map(Maps.WORKLOADS); BpfMap z = o.map(Maps.ZTUNNEL); BpfMap c = o.map(Maps.COUNTERS)) {
            w.put(Maps.IP_KEY.encode(IpAddrs.parse("10.1.0.1")),
                    Maps.WORKLOAD_INFO.encode(new Maps.WorkloadInfo(41, 1, MAC_A, Maps.WORKLOAD_F_ENROLLED)));
            w.put(Maps.IP_KEY.encode(IpAddrs.parse("10.1.0.2")),
                    Maps.WORKLOAD_INFO.encode(new Maps.WorkloadInfo(42, 2, MAC_B, Maps.WORKLOAD_F_ENROLLED)));
            z.put(Codecs.U32.encode(0), Maps.ZTUNNEL_INFO.encode(new Maps.ZtunnelInfo(40, MAC_Z, 0)));
            byte[] zero = new byte[c.valueBufferSize()]; // whatever this build's counters are
            c.put(Codecs.U32.encode(1), zero);
            c.put(Codecs.U32.encode(2), zero);
        }
        if (monitorOn) {
            try (BpfMap l = o.map(Maps.MONITOR)) {
                l.put(Codecs.U32.encode(0), Maps.MONITOR_LEASE.encode(new Maps.MonitorLease(
                        Clock.monotonicNs() + 3_600_000_000_000L, 0, MonitorOptions.DEFAULT_UDP_PER_SEC)));
            }
        }
    }

    /** Ethernet + IPv4 + a TCP ACK segment (not a SYN) with 64 bytes of payload. */
    private static byte[] frame(Mac src, Mac dst, String from, String to, int sport, int dport) {
        InetAddress a = IpAddrs.parse(from);
        InetAddress b = IpAddrs.parse(to);
        java.nio.ByteBuffer f = java.nio.ByteBuffer.allocate(14 + 20 + 20 + 64);
        f.put(dst.bytes()).put(src.bytes()).putShort((short) 0x0800);
        f.put((byte) 0x45).put((byte) 0).putShort((short) (20 + 20 + 64)).putShort((short) 0).putShort((short) 0x4000)
                .put((byte) 64).put((byte) 6).putShort((short) 0).put(a.getAddress()).put(b.getAddress());
        f.putShort((short) sport).putShort((short) dport).putInt(1).putInt(1).put((byte) 0x50).put((byte) 0x10)
                .putShort((short) 65535).putShort((short) 0).putShort((short) 0);
        return f.array();
    }
}
