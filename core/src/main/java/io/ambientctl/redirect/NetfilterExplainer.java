package io.ambientctl.redirect;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.NetNs;
import io.ambientctl.observe.Explanation;
import io.ambientctl.observe.PassReason;
import io.ambientctl.observe.Probe;
import io.ambientctl.util.ExitCodeException;
import io.ambientctl.util.Exec;

/**
 * `ambientctl explain` in the netfilter modes: the packet walked through the node's prerouting chains as the
 * kernel has them now (read back by the mode: {@link Source}), then the node's routing decision as the kernel
 * gives it ({@code ip route get ... iif VETH mark M}), then ztunnel's prerouting chain and, at a TPROXY, whether
 * a socket listens on that port in ztunnel's netns. Read only: listings, {@code ipset test}, {@code ip route get},
 * {@code ss}; no counter moves.
 */
public final class NetfilterExplainer {
    /** The source port of the crafted packet (as in eBPF mode). */
    public static final int SPORT = 40000;

    /** What a mode reads back from one namespace. */
    public interface Source {
        String mode();

        /**
         * Our chains on the prerouting hook in the calling thread's netns (the node's, or ztunnel's when
         * {@code node} is false), in the order the kernel runs them.
         */
        List<NetfilterWalk.Chain> chains(boolean v6, boolean node);

        /** Whether {@code ip} is in our set {@code set} in the calling thread's netns. */
        boolean inSet(String set, InetAddress ip);
    }

    private final NodeConfig cfg;
    private final State state;
    private final Source source;

    public NetfilterExplainer(NodeConfig cfg, State state, Source source) {
        this.cfg = cfg;
        this.state = state;
        this.source = source;
    }

    /** The namespace's answers, each asked inside it (the calling thread is in it). */
    private NetfilterWalk.Env env() {
        return new NetfilterWalk.Env() {
            @Override
            public boolean inSet(String set, InetAddress ip) {
                return source.inSet(set, ip);
            }

            @Override
            public boolean local(InetAddress ip) {
                return isLocalHere(ip);
            }

            @Override
            public boolean listening(int port, boolean udp, InetAddress dst) {
                return listeningHere(port, udp, dst);
            }
        };
    }

    public Explanation explain(Probe probe) {
        Workload from;
        InetAddress src;
        if (probe.workload() != null) {
            from = state.workload(probe.workload()).orElseThrow(() -> ExitCodeException.notFound(probe.workload()
                    + " is not enrolled" + (state.workloads.isEmpty() ? " (nothing is)" : "; enrolled: "
                    + state.workloads.stream().map(Workload::key).toList())));
            src = from.ips().stream().map(IpAddrs::parse).filter(a -> IpAddrs.isV6(a) == IpAddrs.isV6(probe.dst()))
                    .findFirst().orElseThrow(() -> new IllegalArgumentException(probe.workload() + " has no "
                            + (IpAddrs.isV6(probe.dst()) ? "IPv6" : "IPv4") + " address (it has " + from.ips() + ")"));
        } else {
            src = probe.address();
            from = byIp(src).orElse(null);
        }
        if (IpAddrs.isV6(src) != IpAddrs.isV6(probe.dst())) {
            throw new IllegalArgumentException("source " + IpAddrs.format(src) + " and destination "
                    + IpAddrs.format(probe.dst()) + " are not of one family");
        }
        Workload to = byIp(probe.dst()).orElse(null);
        String packet = (probe.udp() ? "udp " : "tcp ") + io.ambientctl.observe.Packets.endpoint(src, SPORT, io.ambientctl.observe.Packets.TCP) + " -> "
                + io.ambientctl.observe.Packets.endpoint(probe.dst(), probe.dport(), io.ambientctl.observe.Packets.TCP);
        List<Explanation.Step> steps = new ArrayList<>();
        String verdict = walk(from, to, src, probe, steps);
        return new Explanation(source.mode(), from != null ? from.key() : to != null ? to.key() : null, packet, steps,
                verdict);
    }

    private String walk(Workload from, Workload to, InetAddress src, Probe probe, List<Explanation.Step> steps) {
        NetNs node = cfg.nodeNetns();
        String nodeWhere = "node netns";
        boolean v6 = IpAddrs.isV6(probe.dst());
        // where the packet enters the node: the workload's veth, else the interface towards its source
        String iif;
        if (from != null) {
            iif = from.hostInterface();
        } else {
            if (node.call(() -> isLocalHere(src))) {
                steps.add(new Explanation.Step("OUTPUT", nodeWhere, "pass", PassReason.NODE_ADDR.key(), null, null,
                        null, null, IpAddrs.format(src) + " is the node's own address: the node's packets leave "
                        + "through OUTPUT, not PREROUTING where ambientctl's chains are"));
                return to != null ? "passes into " + to.key() + " directly (" + PassReason.NODE_ADDR.key() + ")"
                        : "passes to the node's routing, not redirected (" + PassReason.NODE_ADDR.key() + ")";
            }
            iif = node.call(() -> routeDev(src));
        }
        NetfilterWalk.Packet p = new NetfilterWalk.Packet(src, probe.dst(), probe.udp(), SPORT, probe.dport(), iif,
                0);
        String where = nodeWhere + ", in " + (iif == null ? "?" : iif);
        List<NetfilterWalk.Chain> chains = node.call(() -> source.chains(v6, true));
        long mark = 0;
        boolean reached = false;
        NetfilterWalk.Outcome last = null;
        for (NetfilterWalk.Chain c : chains) {
            long m = mark;
            NetfilterWalk.Outcome o = node.call(() -> NetfilterWalk.walk(c, where, p.withMark(m), env(), steps));
            if (o.end() == NetfilterWalk.End.UNEVALUATED) {
                return "cannot say: " + steps.get(steps.size() - 1).note();
            }
            if (o.end() == NetfilterWalk.End.DROPPED) {
                return "dropped in the node's netns by rule " + o.rule().number() + " of " + c.name();
            }
            mark = o.mark();
            last = o; // the last chain (mangle's priority) is the one that marks: its outcome says why
        }
        if (last != null && last.end() != NetfilterWalk.End.NOT_REACHED) {
            reached = true;
        }
        String passReason = last != null && last.reason() != null ? last.reason()
                : state.ztunnel == null && state.failOpen && (mark & state.markBit) == 0 ? PassReason.FAIL_OPEN.key()
                : PassReason.NOT_ENROLLED.key();
        // the routing decision, as the kernel makes it for that packet
        long fm = mark;
        Route route = node.call(() -> route(src, probe.dst(), p.iif(), fm));
        String ztIf = state.ztunnel != null ? state.ztunnel.hostInterface() : null;
        boolean toZt = route.dev() != null && route.dev().equals(ztIf);
        if (route.blackhole()) {
            steps.add(new Explanation.Step("routing", nodeWhere, "drop", DropReason.NO_ZTUNNEL.key(), null, null, null,
                    null, route.text()));
            return "dropped at the node's routing (" + DropReason.NO_ZTUNNEL.key() + "): no ztunnel is set and the "
                    + "node fails closed";
        }
        steps.add(new Explanation.Step("routing", nodeWhere, route.error() ? "unroutable" : toZt ? "to ztunnel"
                : route.local() ? "local" : "forward", null, null, route.dev(), null, null,
                route.text()));
        if (route.error()) {
            return "dropped at the node's routing: " + route.text();
        }
        if (!toZt) {
            if ((mark & state.markBit) != 0) {
                return "marked, but the routing sends it " + (route.local() ? "to the node itself" : "out of "
                        + route.dev()) + ", not to ztunnel";
            }
            if (!reached && (from != null || to != null)) {
                return "passes " + (from != null ? "to the node's routing" : "into " + to.key() + " directly")
                        + ", not redirected: none of ambientctl's chains runs in the node's netns (see the first "
                        + "step; 'ambientctl repair' puts them back)";
            }
            if (from != null) {
                return "passes to the node's routing, not redirected (" + passReason + ")";
            }
            if (to != null) {
                return "passes into " + to.key() + " directly (" + passReason + ")";
            }
            return "neither " + IpAddrs.format(src) + " nor " + IpAddrs.format(probe.dst()) + " is an enrolled "
                    + "workload's: no rule of ambientctl's changes it";
        }
        // in ztunnel's netns: its prerouting chain, from its eth0, the node's mark gone (a veth crossed)
        NetNs ztNs = NetNs.parse(state.ztunnel.netns());
        if (!ztNs.exists()) {
            return "to ztunnel's veth " + ztIf + ", but ztunnel's netns " + ztNs.display() + " is gone ('ambientctl "
                    + "status' says more; 'ambientctl ztunnel set' names the new one)";
        }
        String ztWhere = "ztunnel's netns " + ztNs.display() + ", in " + state.ztunnel.podInterface();
        NetfilterWalk.Packet zp = p.withIif(state.ztunnel.podInterface());
        List<NetfilterWalk.Chain> ztChains = ztNs.call(() -> source.chains(v6, false));
        for (NetfilterWalk.Chain c : ztChains) {
            NetfilterWalk.Outcome o = ztNs.call(() -> NetfilterWalk.walk(c, ztWhere, zp, env(), steps));
            switch (o.end()) {
                case UNEVALUATED:
                    return "cannot say: " + steps.get(steps.size() - 1).note();
                case DROPPED:
                    return o.reason() == null ? "dropped in ztunnel's netns by rule " + o.rule().number() + " of "
                            + c.name() : "dropped in ztunnel's netns (" + o.reason() + ", port " + o.port() + ")";
                case TPROXIED: {
                    int port = o.port();
                    String kind = port == Ztunnel.DNS_PORT ? "DNS" : port == Ztunnel.HBONE_PORT ? "HBONE"
                            : port == Ztunnel.INBOUND_PORT ? "inbound" : "outbound";
                    String v = "to ztunnel's " + kind + " listener " + port;
                    if (to != null) {
                        v += "; ztunnel delivers it to " + to.key();
                    }
                    return v;
                }
                default:
                    break;
            }
        }
        return "passes in ztunnel's netns, not captured by ztunnel (no TPROXY rule matched)";
    }

    private Optional<Workload> byIp(InetAddress a) {
        return state.workloads.stream().filter(w -> w.ips().stream().anyMatch(ip -> IpAddrs.parse(ip).equals(a)))
                .findFirst();
    }

    /** The kernel's routing answer for a packet entering on {@code iif} with {@code mark}. */
    record Route(String text, String dev, boolean local, boolean blackhole, boolean error) {
    }

    private static final Pattern DEV = Pattern.compile("\\bdev (\\S+)");

    /** {@code ip route get DST from SRC iif IIF [mark M]}; a failure with the mark set is looked up in our table. */
    Route route(InetAddress src, InetAddress dst, String iif, long mark) {
        String fam = IpAddrs.isV6(dst) ? "-6" : "-4";
        List<String> cmd = new ArrayList<>(List.of("ip", fam, "route", "get", IpAddrs.format(dst), "from",
                IpAddrs.format(src)));
        if (iif != null) {
            cmd.addAll(List.of("iif", iif));
        }
        if (mark != 0) {
            cmd.addAll(List.of("mark", Marks.hex((int) mark)));
        }
        Exec.Result r = Exec.run(cmd);
        String asked = String.join(" ", cmd.subList(1, cmd.size()));
        if (r.ok()) {
            String line = r.stdout().lines().findFirst().orElse("").strip();
            Matcher m = DEV.matcher(line);
            String dev = m.find() ? m.group(1) : null;
            return new Route("'" + asked + "': " + line, dev, line.startsWith("local "), false, false);
        }
        String err = (r.stderr() + r.stdout()).strip();
        if ((mark & state.markBit) != 0) {
            String rules = Exec.run(List.of("ip", fam, "rule", "show", "pref", Marks.NODE_RULE_PREF)).stdout().strip();
            String table = Exec.run(List.of("ip", fam, "route", "show", "table", Marks.NODE_TABLE)).stdout().strip();
            if (!rules.isEmpty() && table.startsWith("blackhole")) {
                return new Route("'" + asked + "': " + err + "; the mark meets rule '" + rules + "' and table "
                        + Marks.NODE_TABLE + " holds '" + table + "': fail closed, no ztunnel set", null, false, true,
                        false);
            }
        }
        return new Route("'" + asked + "': " + err, null, false, false, true);
    }

    /** The interface of the calling netns' route to {@code a} (where a packet from it comes in), or null. */
    static String routeDev(InetAddress a) {
        Exec.Result r = Exec.run(List.of("ip", IpAddrs.isV6(a) ? "-6" : "-4", "route", "get", IpAddrs.format(a)));
        if (!r.ok()) {
            return null;
        }
        Matcher m = DEV.matcher(r.stdout());
        return m.find() ? m.group(1) : null;
    }

    /** Whether {@code a} is a local address of the calling netns (what addrtype LOCAL and fib type local ask). */
    static boolean isLocalHere(InetAddress a) {
        Exec.Result r = Exec.run(List.of("ip", IpAddrs.isV6(a) ? "-6" : "-4", "route", "get", IpAddrs.format(a)));
        return r.ok() && r.stdout().strip().startsWith("local ");
    }

    /**
     * Whether a socket in the calling netns listens (TCP) or is bound (UDP) on {@code port} for an address of
     * {@code dst}'s family: the wildcard, a dual-stack wildcard ({@code *}) or {@code dst} itself.
     */
    static boolean listeningHere(int port, boolean udp, InetAddress dst) {
        Exec.Result r = Exec.run(List.of("ss", "-H", "-n", udp ? "-ua" : "-lt"));
        if (!r.ok()) {
            throw new IllegalStateException("cannot list the sockets of ztunnel's netns (ss): " + r.stderr().strip());
        }
        boolean v6 = IpAddrs.isV6(dst);
        for (String l : r.stdout().lines().toList()) {
            String[] f = l.trim().split("\\s+");
            if (f.length < 5) {
                continue;
            }
            String local = f[3];
            int colon = local.lastIndexOf(':');
            if (colon < 0 || !local.substring(colon + 1).equals(Integer.toString(port))) {
                continue;
            }
            String addr = local.substring(0, colon);
            int pct = addr.indexOf('%');
            if (pct >= 0) {
                addr = addr.substring(0, pct);
            }
            if (addr.equals("*")) {
                return true;
            }
            if (addr.startsWith("[")) {
                addr = addr.substring(1, addr.length() - 1);
                if (v6 && (addr.equals("::") || IpAddrs.parse(addr).equals(dst))) {
                    return true;
                }
            } else if (!v6 && (addr.equals("0.0.0.0") || IpAddrs.parse(addr).equals(dst))) {
                return true;
            }
        }
        return false;
    }
}
