package io.ambientctl.redirect.ebpf;

import java.net.InetAddress;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;

import io.ambientctl.bpf.Clock;
import io.ambientctl.bpf.Codecs;
import io.ambientctl.bpf.Errno;
import io.ambientctl.bpf.RingBuffer;
import io.ambientctl.bpf.TypedMap;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Links;
import io.ambientctl.observe.Decision;
import io.ambientctl.observe.Monitor;
import io.ambientctl.observe.MonitorOptions;
import io.ambientctl.observe.PassReason;
import io.ambientctl.redirect.DropReason;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.State;

/**
 * The eBPF monitor: pushes the ambient_monitor lease forward (never lowering another monitor's later expiry; the
 * flags are the union of the running monitors' while the lease holds), reads ambient_events through libbpf's
 * ring buffer, and names what it can (workloads from the state, interfaces of the node's netns).
 */
final class EbpfMonitor implements Monitor {
    private final Datapath dp;
    private final MonitorOptions options;
    private final TypedMap<Integer, Maps.MonitorLease> lease;
    private final TypedMap<Integer, Maps.MonitorStats> stats;
    private final RingBuffer ring;
    private final Map<Integer, String> names = new HashMap<>();
    private final NodeConfig cfg;
    private Map<Integer, String> ifnames;
    private final long wallMinusMonoNs;
    private final Maps.MonitorStats start;
    private long lastRefresh;
    private long stateReadNs;
    private long decisions;
    private Consumer<Decision> sink;

    EbpfMonitor(Datapath dp, NodeConfig cfg, State state, MonitorOptions options) {
        if (!dp.hasMonitor()) {
            throw new IllegalStateException("the datapath loaded on this node has no monitor (built without it: the "
                    + "kernel has no BPF ring buffers, 5.8+); 'ambientctl preflight' says which build the kernel takes");
        }
        this.dp = dp;
        this.cfg = cfg;
        this.options = options;
        this.lease = new TypedMap<>(dp.map(Maps.MONITOR), Codecs.U32, Maps.MONITOR_LEASE);
        this.stats = new TypedMap<>(dp.map(Maps.MONITOR_CPU), Codecs.U32, Maps.monitorStats());
        state.workloads.forEach(w -> names.put(w.id(), w.key()));
        this.wallMinusMonoNs = Instant.now().toEpochMilli() * 1_000_000L - Clock.monotonicNs();
        this.start = stats.get(0).orElse(new Maps.MonitorStats(0, 0));
        this.ring = new RingBuffer(dp.map(Maps.EVENTS), bb -> {
            Decision d = decision(Maps.Event.decode(bb));
            if (d != null) {
                decisions++;
                sink.accept(d);
            }
        });
        refresh();
    }

    /** Pushes the lease to now + hold; keeps a later expiry and, while it holds, the other monitors' wishes. */
    static void refresh(TypedMap<Integer, Maps.MonitorLease> lease, MonitorOptions o) {
        long now = Clock.monotonicNs();
        Maps.MonitorLease cur = lease.get(0).orElse(Maps.MonitorLease.NONE);
        boolean holds = cur.untilNs() > now;
        int flags = (o.everyPacket() ? Maps.MONITOR_F_EVERY_PACKET : 0) | (holds ? cur.flags() : 0);
        int udp = holds ? Math.max(cur.udpPerSec(), o.udpPerSec()) : o.udpPerSec();
        long until = Math.max(holds ? cur.untilNs() : 0, now + MonitorOptions.LEASE_HOLD_NS);
        lease.put(0, new Maps.MonitorLease(until, flags, udp));
    }

    private void refresh() {
        refresh(lease, options);
        lastRefresh = Clock.monotonicNs();
    }

    @Override
    public int poll(int timeoutMs, Consumer<Decision> to) {
        if (Clock.monotonicNs() - lastRefresh >= MonitorOptions.LEASE_REFRESH_NS) {
            refresh();
        }
        this.sink = to;
        int wait = (int) Math.min(timeoutMs, MonitorOptions.LEASE_REFRESH_NS / 1_000_000);
        long before = decisions;
        ring.poll(wait);
        if (Clock.monotonicNs() - lastRefresh >= MonitorOptions.LEASE_REFRESH_NS) {
            refresh();
        }
        return (int) (decisions - before);
    }

    /** The event as a decision; null when this monitor's own selection leaves it out (another asked for more). */
    private Decision decision(Maps.Event e) {
        boolean drop = e.decision() == Datapath.CB_DROP;
        if (!options.everyPacket() && !drop) {
            boolean syn = e.proto() == 6 && (e.tcpFlags() & 0x02) != 0;
            if (!syn && e.proto() != 17) {
                return null;
            }
        }
        String workload = e.workloadId() == 0 ? null : name(e.workloadId());
        Integer listener = e.hook() == Maps.HOOK_ZTUNNEL_CAPTURE && e.target() != 0 ? e.target() : null;
        String target = null;
        if (e.hook() != Maps.HOOK_ZTUNNEL_CAPTURE && e.target() != 0) {
            target = ifname(e.target()) + " (" + e.target() + ")";
        }
        String reason = e.decision() == Datapath.CB_DROP ? DropReason.keyOf(e.reason())
                : e.decision() == Datapath.CB_PASS ? PassReason.keyOf(e.reason()) : null;
        return new Decision(Instant.ofEpochSecond(0, e.tsNs() + wallMinusMonoNs).toString(), workload,
                hookName(e.hook()), direction(e.direction()), io.ambientctl.observe.Packets.protocol(e.proto()),
                io.ambientctl.observe.Packets.endpoint(e.src(), e.sport(), e.proto()), io.ambientctl.observe.Packets.endpoint(e.dst(), e.dport(), e.proto()),
                decisionName(e.decision()), reason, listener, target,
                e.err() == 0 ? null : e.err(), e.proto() == 6 ? io.ambientctl.observe.Packets.tcpFlags(e.tcpFlags()) : null, e.len());
    }

    /** The workload's key; a workload enrolled since the start is looked up in the state again (once a second). */
    private String name(int id) {
        String n = names.get(id);
        if (n == null && Clock.monotonicNs() - stateReadNs >= MonitorOptions.LEASE_REFRESH_NS) {
            stateReadNs = Clock.monotonicNs();
            try {
                io.ambientctl.redirect.NodeState.load(cfg.stateDir()).workloads.forEach(w -> names.put(w.id(), w.key()));
            } catch (RuntimeException ex) {
                // the state is being rewritten: the id stands for now
            }
            n = names.get(id);
        }
        return n != null ? n : "id " + id;
    }

    private String ifname(int ifindex) {
        if (ifnames == null || !ifnames.containsKey(ifindex)) {
            try {
                ifnames = Links.names(cfg.nodeNetns());
            } catch (RuntimeException ex) {
                ifnames = Map.of();
            }
        }
        return ifnames.getOrDefault(ifindex, "if" + ifindex);
    }

    static String hookName(int hook) {
        return switch (hook) {
            case Maps.HOOK_POD_INGRESS -> "podIngress";
            case Maps.HOOK_POD_EGRESS -> "podEgress";
            case Maps.HOOK_ZTUNNEL_INGRESS -> "ztunnelIngress";
            case Maps.HOOK_ZTUNNEL_CAPTURE -> "ztunnelCapture";
            default -> "hook" + hook;
        };
    }

    static String direction(int dir) {
        return dir == Maps.DIR_OUTBOUND ? "outbound" : dir == Maps.DIR_INBOUND ? "inbound" : null;
    }

    static String decisionName(int cb) {
        return switch (cb) {
            case Datapath.CB_PASS -> "pass";
            case Datapath.CB_OUTBOUND -> "outbound";
            case Datapath.CB_INBOUND -> "inbound";
            case Datapath.CB_BYPASS -> "bypass";
            case Datapath.CB_ASSIGNED -> "assigned";
            case Datapath.CB_DROP -> "drop";
            default -> "decision" + cb;
        };
    }

    @Override
    public Summary summary() {
        Maps.MonitorStats now = stats.get(0).orElse(start);
        return new Summary(decisions, now.rateLimited() - start.rateLimited(), now.lost() - start.lost(),
                "eBPF: decisions of the four programs as they happen");
    }

    @Override
    public void close() {
        ring.close();
        // the lease is not lowered: another monitor may hold it; it lapses within its hold (3 s)
    }

    static String errnoName(int errno) {
        return Errno.name(errno);
    }

}
