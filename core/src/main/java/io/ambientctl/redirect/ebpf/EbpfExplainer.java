package io.ambientctl.redirect.ebpf;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.ambientctl.bpf.BpfProgram;
import io.ambientctl.bpf.Errno;
import io.ambientctl.bpf.TestRun;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Links;
import io.ambientctl.net.Mac;
import io.ambientctl.net.NetNs;
import io.ambientctl.observe.Explanation;
import io.ambientctl.observe.PassReason;
import io.ambientctl.observe.Probe;
import io.ambientctl.redirect.DropReason;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.State;
import io.ambientctl.redirect.Workload;
import io.ambientctl.util.ExitCodeException;

/**
 * `ambientctl explain` in eBPF mode: the node's pinned (= attached) programs run with BPF_PROG_TEST_RUN on a
 * crafted frame against the live maps, hook by hook, with the explain marker in cb[4] (no counter moves, no
 * event). The capture hook runs from inside ztunnel's netns so its socket lookups see ztunnel's sockets; there a
 * found listener shows as bpf_sk_assign's EOPNOTSUPP (the assignment only works at a real TC ingress).
 */
final class EbpfExplainer {
    static final int SPORT = 40000;
    private final Datapath dp;
    private final NodeConfig cfg;
    private final State state;
    private Map<Integer, String> ifnames;

    EbpfExplainer(Datapath dp, NodeConfig cfg, State state) {
        this.dp = dp;
        this.cfg = cfg;
        this.state = state;
    }

    Explanation explain(Probe probe) {
        Workload from = null;
        InetAddress src;
        if (probe.workload() != null) {
            from = state.workload(probe.workload()).orElseThrow(() -> ExitCodeException.notFound(probe.workload()
                    + " is not enrolled" + (state.workloads.isEmpty() ? " (nothing is)" : "; enrolled: "
                    + state.workloads.stream().map(Workload::key).toList())));
            List<String> ips = from.ips();
            src = sameFamily(from, probe.dst()).orElseThrow(() -> new IllegalArgumentException(probe.workload()
                    + " has no " + (probe.dst() instanceof Inet6Address ? "IPv6" : "IPv4") + " address (it has "
                    + ips + ")"));
        } else {
            src = probe.address();
            from = byIp(src).orElse(null);
        }
        if (src instanceof Inet6Address != probe.dst() instanceof Inet6Address) {
            throw new IllegalArgumentException("source " + IpAddrs.format(src) + " and destination "
                    + IpAddrs.format(probe.dst()) + " are not of one family");
        }
        Workload to = byIp(probe.dst()).orElse(null);
        int proto = probe.udp() ? 17 : 6;
        String packet = (probe.udp() ? "udp " : "tcp ") + io.ambientctl.observe.Packets.endpoint(src, SPORT, proto) + " -> "
                + io.ambientctl.observe.Packets.endpoint(probe.dst(), probe.dport(), proto);
        List<Explanation.Step> steps = new ArrayList<>();
        Maps.ZtunnelInfo zt = dp.ztunnel().get(0).orElse(new Maps.ZtunnelInfo(0, new Mac(new byte[6]), 0));
        String verdict;
        if (from != null) {
            verdict = outbound(from, to, src, probe, proto, zt, steps);
        } else if (to != null) {
            verdict = inbound(to, src, probe, proto, zt, steps, true);
        } else {
            verdict = "neither " + IpAddrs.format(src) + " nor " + IpAddrs.format(probe.dst())
                    + " is an enrolled workload's: no hook of ambientctl's changes it";
        }
        return new Explanation("ebpf", from != null ? from.key() : to != null ? to.key() : null, packet, steps, verdict);
    }

    private String outbound(Workload from, Workload to, InetAddress src, Probe probe, int proto, Maps.ZtunnelInfo zt,
                            List<Explanation.Step> steps) {
        byte[] f = frame(Mac.parse(from.podMac()), Mac.parse(from.hostMac()), src, probe.dst(), proto, SPORT,
                probe.dport());
        TestRun.Result r = run(cfg.nodeNetns(), Datapath.POD_INGRESS, TestRun.packet(f).ifindex(from.hostIfindex()));
        steps.add(step("podIngress", from.hostInterface() + " (" + from.hostIfindex() + ") ingress, node netns", r, f,
                false));
        if (r.cb()[0] == Datapath.CB_PASS) {
            return "passes to the node's routing, not redirected (" + PassReason.keyOf(r.cb()[2]) + ")";
        }
        if (r.cb()[0] == Datapath.CB_DROP) {
            return "dropped at " + from.hostInterface() + " (" + DropReason.keyOf(r.cb()[2]) + ")";
        }
        String cap = capture(f, steps);
        if (cap != null) {
            return cap;
        }
        int port = steps.get(steps.size() - 1).listenerPort();
        String v = "to ztunnel's " + (port == 15053 ? "DNS" : "outbound") + " listener " + port;
        if (to != null) {
            // ztunnel then delivers it to the destination on this node: its packets towards the pod
            deliver(to, src, probe, proto, zt, steps);
            v += "; ztunnel delivers it to " + to.key() + " straight through its veth";
        }
        return v;
    }

    private String inbound(Workload to, InetAddress src, Probe probe, int proto, Maps.ZtunnelInfo zt,
                           List<Explanation.Step> steps, boolean deliver) {
        byte[] f = frame(Mac.parse("02:00:00:00:00:01"), Mac.parse(to.podMac()), src, probe.dst(), proto, SPORT,
                probe.dport());
        TestRun.Result r = run(cfg.nodeNetns(), Datapath.POD_EGRESS, TestRun.packet(f).ifindex(to.hostIfindex()));
        steps.add(step("podEgress", to.hostInterface() + " (" + to.hostIfindex() + ") egress, node netns", r, f,
                false));
        if (r.cb()[0] == Datapath.CB_PASS) {
            return "passes into " + to.key() + " directly (" + PassReason.keyOf(r.cb()[2]) + ")";
        }
        if (r.cb()[0] == Datapath.CB_DROP) {
            return "dropped at " + to.hostInterface() + " (" + DropReason.keyOf(r.cb()[2]) + ")";
        }
        String cap = capture(f, steps);
        if (cap != null) {
            return cap;
        }
        int port = steps.get(steps.size() - 1).listenerPort();
        deliver(to, src, probe, proto, zt, steps);
        return "to ztunnel's " + (port == 15008 ? "HBONE" : "inbound") + " listener " + port
                + "; ztunnel delivers it to " + to.key() + " straight through its veth";
    }

    /** ztunnel's packet to the pod: its veth's ingress redirects it, the pod's veth egress lets it pass. */
    private void deliver(Workload to, InetAddress src, Probe probe, int proto, Maps.ZtunnelInfo zt,
                         List<Explanation.Step> steps) {
        if (state.ztunnel == null) {
            return;
        }
        byte[] f = frame(Mac.parse(state.ztunnel.podMac()), Mac.parse(state.ztunnel.hostMac()), src, probe.dst(),
                proto, 15001, probe.dport());
        TestRun.Result r = run(cfg.nodeNetns(), Datapath.ZTUNNEL_INGRESS,
                TestRun.packet(f).ifindex(state.ztunnel.hostIfindex()));
        steps.add(step("ztunnelIngress", state.ztunnel.hostInterface() + " (" + state.ztunnel.hostIfindex()
                + ") ingress, node netns: ztunnel's packet to the pod", r, f, false));
        if (r.cb()[0] != Datapath.CB_BYPASS) {
            return;
        }
        TestRun.Result e = run(cfg.nodeNetns(), Datapath.POD_EGRESS, TestRun.packet(r.packet())
                .ifindex(to.hostIfindex()).ingressIfindex(state.ztunnel.hostIfindex()));
        steps.add(step("podEgress", to.hostInterface() + " (" + to.hostIfindex() + ") egress, node netns", e,
                r.packet(), false));
    }

    /** The capture hook, run inside ztunnel's netns; null when it found the listener, else the verdict. */
    private String capture(byte[] redirected, List<Explanation.Step> steps) {
        if (state.ztunnel == null) {
            return "to ztunnel's veth, but no ztunnel is recorded in the state: its netns is unknown";
        }
        NetNs ztNs = NetNs.parse(state.ztunnel.netns());
        byte[] f = redirected.clone();
        TestRun.Result r = run(ztNs, Datapath.ZTUNNEL_CAPTURE, TestRun.packet(f).ifindex(1));
        steps.add(step("ztunnelCapture", state.ztunnel.podInterface() + " ingress, ztunnel's netns "
                + ztNs.display(), r, f, true));
        boolean found = r.cb()[0] == Datapath.CB_ASSIGNED || (r.cb()[0] == Datapath.CB_DROP
                && r.cb()[2] == DropReason.ASSIGN_FAILED.code() && r.cb()[3] == Errno.EOPNOTSUPP);
        if (found) {
            return null;
        }
        if (r.cb()[0] == Datapath.CB_PASS) {
            return "passes in ztunnel's netns (" + PassReason.keyOf(r.cb()[2]) + ")";
        }
        return "dropped in ztunnel's netns (" + DropReason.keyOf(r.cb()[2])
                + (r.cb()[1] != 0 ? ", port " + r.cb()[1] : "") + ")";
    }

    private Explanation.Step step(String hook, String where, TestRun.Result r, byte[] in, boolean capture) {
        int how = r.cb()[0];
        String decision = EbpfMonitor.decisionName(how);
        String reason = how == Datapath.CB_PASS ? PassReason.keyOf(r.cb()[2])
                : how == Datapath.CB_DROP ? DropReason.keyOf(r.cb()[2]) : null;
        String errno = r.cb()[3] != 0 ? Errno.name(r.cb()[3]) : null;
        String note = null;
        if (capture && how == Datapath.CB_DROP && r.cb()[2] == DropReason.ASSIGN_FAILED.code()
                && r.cb()[3] == Errno.EOPNOTSUPP) {
            decision = "assigned";
            reason = null;
            note = "ztunnel's listener on " + r.cb()[1] + " was found; bpf_sk_assign only runs at a real TC ingress "
                    + "(EOPNOTSUPP in a test run)";
        }
        String mac = Arrays.equals(Arrays.copyOf(r.packet(), 6), Arrays.copyOf(in, 6)) ? null
                : new Mac(Arrays.copyOf(r.packet(), 6)).toString();
        String target = !capture && r.cb()[1] != 0 && (how == Datapath.CB_OUTBOUND || how == Datapath.CB_INBOUND
                || how == Datapath.CB_BYPASS) ? ifname(r.cb()[1]) + " (" + r.cb()[1] + ")" : null;
        Integer listener = capture && r.cb()[1] != 0 ? r.cb()[1] : null;
        return new Explanation.Step(hook, where, decision, reason, mac, target, listener, errno, note);
    }

    private TestRun.Result run(NetNs ns, String program, TestRun in) {
        BpfProgram p = dp.program(program);
        if (p == null) {
            throw new IllegalStateException("program " + program + " is not pinned under " + cfg.bpffs()
                    + " ('ambientctl repair' reinstalls it)");
        }
        TestRun marked = in.cb(4, Maps.EXPLAIN_MAGIC);
        return ns.call(() -> p.testRun(marked));
    }

    private String ifname(int ifindex) {
        if (ifnames == null) {
            try {
                ifnames = Links.names(cfg.nodeNetns());
            } catch (RuntimeException e) {
                ifnames = Map.of();
            }
        }
        return ifnames.getOrDefault(ifindex, "if" + ifindex);
    }

    private Optional<Workload> byIp(InetAddress a) {
        return state.workloads.stream().filter(w -> w.ips().stream().anyMatch(ip -> IpAddrs.parse(ip).equals(a)))
                .findFirst();
    }

    private static Optional<InetAddress> sameFamily(Workload w, InetAddress dst) {
        return w.ips().stream().map(IpAddrs::parse).filter(a -> (a instanceof Inet6Address) == (dst instanceof Inet6Address))
                .findFirst();
    }

    /** Ethernet + IPv4/IPv6 + TCP SYN / UDP header (no payload; checksums are not looked at by the programs). */
    static byte[] frame(Mac srcMac, Mac dstMac, InetAddress src, InetAddress dst, int proto, int sport, int dport) {
        boolean v4 = src instanceof Inet4Address;
        int l4 = proto == 6 ? 20 : 8;
        int ipLen = v4 ? 20 : 40;
        ByteBuffer b = ByteBuffer.allocate(14 + ipLen + l4);
        b.put(dstMac.bytes()).put(srcMac.bytes()).putShort((short) (v4 ? 0x0800 : 0x86dd));
        if (v4) {
            b.put((byte) 0x45).put((byte) 0).putShort((short) (ipLen + l4)).putShort((short) 0)
                    .putShort((short) 0x4000).put((byte) 64).put((byte) proto).putShort((short) 0)
                    .put(src.getAddress()).put(dst.getAddress());
        } else {
            b.putInt(0x60000000).putShort((short) l4).put((byte) proto).put((byte) 64).put(src.getAddress())
                    .put(dst.getAddress());
        }
        b.putShort((short) sport).putShort((short) dport);
        if (proto == 6) {
            b.putInt(1).putInt(0).put((byte) 0x50).put((byte) 0x02).putShort((short) 65535).putShort((short) 0)
                    .putShort((short) 0);
        } else {
            b.putShort((short) 8).putShort((short) 0);
        }
        return b.array();
    }
}
