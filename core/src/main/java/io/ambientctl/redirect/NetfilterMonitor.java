package io.ambientctl.redirect;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import io.ambientctl.bpf.Clock;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.NetNs;
import io.ambientctl.net.Nflog;
import io.ambientctl.observe.Decision;
import io.ambientctl.observe.Monitor;
import io.ambientctl.observe.MonitorOptions;

/**
 * The monitor of the netfilter modes (iptables, nftables): binds the log rules' NFLOG group
 * ({@link Marks#NFLOG_GROUP}) with a netlink socket in the node's namespace and one in ztunnel's (each opened
 * in its namespace), and turns each logged packet into a {@link Decision}: the rule's prefix
 * ({@link NetfilterLog}) gives the decision and reason, the copied headers the rest, the state the workload.
 * A reader: no lock, no journal, nothing changed; closing it (or the process going) unbinds the group.
 */
public final class NetfilterMonitor implements Monitor {
    /** Bytes of each packet copied: the IP and TCP/UDP headers. */
    static final int COPY_RANGE = 128;
    public static final String NODE_HOOK = "nodeChain";
    public static final String ZTUNNEL_HOOK = "ztunnelChain";

    private final NodeConfig cfg;
    private final boolean inferListener;
    private final String note;
    private final Nflog node;
    private final Nflog zt;
    private final NetNs ztNs;
    private final Map<String, String> names = new HashMap<>();
    private final Map<String, long[]> listening = new HashMap<>();
    private long stateReadNs;
    private long decisions;

    /**
     * @param inferListener iptables: the ztunnel chain logs {@code tproxy} before the TPROXY target; assigned or
     *                      noListener is told from ztunnel's listening sockets when the packet is read
     */
    public NetfilterMonitor(NodeConfig cfg, State state, MonitorOptions options, boolean inferListener, String note) {
        if (options.everyPacket()) {
            throw new IllegalArgumentException("--every-packet is eBPF mode only: the " + state.mode + " mode's log "
                    + "rules report TCP packets with SYN set, UDP (at most " + NetfilterLog.UDP_PER_SEC
                    + " per rule and second) and fail-closed drops");
        }
        this.cfg = cfg;
        this.inferListener = inferListener;
        this.note = note;
        remember(state);
        Nflog n = cfg.nodeNetns().call(() -> Nflog.bind(Marks.NFLOG_GROUP, COPY_RANGE));
        Nflog z = null;
        NetNs zns = null;
        try {
            if (state.ztunnel != null && NetNs.parse(state.ztunnel.netns()).exists()) {
                zns = NetNs.parse(state.ztunnel.netns());
                z = zns.call(() -> Nflog.bind(Marks.NFLOG_GROUP, COPY_RANGE));
            }
        } catch (RuntimeException e) {
            n.close();
            throw e;
        }
        this.node = n;
        this.zt = z;
        this.ztNs = zns;
    }

    private void remember(State state) {
        for (Workload w : state.workloads) {
            for (String ip : w.ips()) {
                names.put(IpAddrs.format(IpAddrs.parse(ip)), w.key());
            }
        }
    }

    private List<Nflog> sockets() {
        return zt == null ? List.of(node) : List.of(node, zt);
    }

    @Override
    public int poll(int timeoutMs, Consumer<Decision> sink) {
        Nflog.poll(sockets(), timeoutMs);
        int[] n = {0};
        node.drain(p -> n[0] += accept(p, NODE_HOOK, sink));
        if (zt != null) {
            zt.drain(p -> n[0] += accept(p, ZTUNNEL_HOOK, sink));
        }
        return n[0];
    }

    private int accept(Nflog.Packet p, String hook, Consumer<Decision> sink) {
        Decision d = decision(p, hook);
        if (d == null) {
            return 0;
        }
        decisions++;
        sink.accept(d);
        return 1;
    }

    /** The packet as a decision; null when it is not from one of our rules or not IP. */
    Decision decision(Nflog.Packet p, String hook) {
        NetfilterLog log = NetfilterLog.parse(p.prefix());
        if (log == null) {
            return null;
        }
        Headers h = Headers.parse(p.payload());
        if (h == null) {
            return null;
        }
        String decision = log.decision();
        String reason = log.reason();
        if (decision.equals("tproxy")) {
            boolean there = !inferListener || log.port() == null || listening(h.proto, log.port());
            decision = there ? "assigned" : "drop";
            reason = there ? null : DropReason.NO_LISTENER.key();
        }
        Integer listener = log.port();
        if (decision.equals("assigned") && listener == null && (h.proto == 6 || h.proto == 17)) {
            listener = h.dport; // a listener found by the packet's own destination (nft's socket match)
        }
        String direction = log.direction();
        String src = IpAddrs.format(h.src);
        String dst = IpAddrs.format(h.dst);
        String workload;
        if ("outbound".equals(direction)) {
            workload = name(src);
        } else if ("inbound".equals(direction)) {
            workload = name(dst);
        } else {
            workload = name(src);
            direction = workload != null ? "outbound" : null;
            if (workload == null) {
                workload = name(dst);
                direction = workload != null ? "inbound" : null;
            }
        }
        long ts = p.timestampNs() != 0 ? p.timestampNs() : Instant.now().toEpochMilli() * 1_000_000L;
        return new Decision(Instant.ofEpochSecond(0, ts).toString(), workload, hook, direction, io.ambientctl.observe.Packets.protocol(h.proto),
                io.ambientctl.observe.Packets.endpoint(h.src, h.sport, h.proto), io.ambientctl.observe.Packets.endpoint(h.dst, h.dport, h.proto), decision, reason, listener,
                null, null, h.proto == 6 ? io.ambientctl.observe.Packets.tcpFlags(h.tcpFlags) : null, h.length);
    }

    /** The workload of an address; one enrolled since the start is looked up in the state again (once a second). */
    private String name(String addr) {
        String n = names.get(addr);
        if (n == null && Clock.monotonicNs() - stateReadNs >= MonitorOptions.LEASE_REFRESH_NS) {
            stateReadNs = Clock.monotonicNs();
            try {
                remember(NodeState.load(cfg.stateDir()));
            } catch (RuntimeException ex) {
                // the state is being rewritten: unknown for now
            }
            n = names.get(addr);
        }
        return n;
    }

    /**
     * Whether ztunnel's namespace has a socket listening on {@code port} (TCP) or bound to it (UDP), as
     * /proc/thread-self/net/{tcp,tcp6,udp,udp6} show it there now; read at most every 250 ms per port.
     */
    private boolean listening(int proto, int port) {
        if (ztNs == null) {
            return false;
        }
        String key = proto + "/" + port;
        long now = Clock.monotonicNs();
        long[] cached = listening.get(key);
        if (cached != null && now - cached[0] < 250_000_000L) {
            return cached[1] != 0;
        }
        boolean there = ztNs.call(() -> listeningHere(proto, port));
        listening.put(key, new long[] {now, there ? 1 : 0});
        return there;
    }

    static boolean listeningHere(int proto, int port) {
        String base = proto == 17 ? "udp" : "tcp";
        for (String f : List.of(base, base + "6")) {
            try {
                for (String l : Files.readAllLines(Path.of("/proc/thread-self/net/" + f))) {
                    String[] t = l.strip().split("\\s+");
                    if (t.length < 4 || !t[1].contains(":")) {
                        continue;
                    }
                    int p;
                    try {
                        p = Integer.parseInt(t[1].substring(t[1].lastIndexOf(':') + 1), 16);
                    } catch (NumberFormatException e) {
                        continue; // the header line
                    }
                    // TCP_LISTEN is 0A; a UDP socket bound to the port (07: unconnected) receives what is assigned
                    if (p == port && (proto == 17 ? t[3].equals("07") : t[3].equals("0A"))) {
                        return true;
                    }
                }
            } catch (IOException e) {
                // no such table (IPv6 off): nothing listens there
            }
        }
        return false;
    }

    /** The IP and TCP/UDP header fields of a packet from its network header. */
    record Headers(int proto, InetAddress src, InetAddress dst, int sport, int dport, int tcpFlags, int length) {
        static Headers parse(ByteBuffer b) {
            if (b.remaining() < 20) {
                return null;
            }
            int version = (b.get(0) & 0xff) >> 4;
            int proto;
            int l4;
            int length;
            byte[] s;
            byte[] d;
            if (version == 4) {
                l4 = (b.get(0) & 0x0f) * 4;
                proto = b.get(9) & 0xff;
                length = b.getShort(2) & 0xffff;
                s = bytes(b, 12, 4);
                d = bytes(b, 16, 4);
            } else if (version == 6 && b.remaining() >= 40) {
                l4 = 40;
                proto = b.get(6) & 0xff;
                length = 40 + (b.getShort(4) & 0xffff);
                s = bytes(b, 8, 16);
                d = bytes(b, 24, 16);
            } else {
                return null;
            }
            int sport = 0;
            int dport = 0;
            int flags = 0;
            if ((proto == 6 || proto == 17) && b.remaining() >= l4 + 4) {
                sport = b.getShort(l4) & 0xffff;
                dport = b.getShort(l4 + 2) & 0xffff;
                if (proto == 6 && b.remaining() >= l4 + 14) {
                    flags = b.get(l4 + 13) & 0xff;
                }
            }
            try {
                return new Headers(proto, InetAddress.getByAddress(s), InetAddress.getByAddress(d), sport, dport, flags,
                        length);
            } catch (UnknownHostException e) {
                return null;
            }
        }

        private static byte[] bytes(ByteBuffer b, int off, int n) {
            byte[] out = new byte[n];
            for (int i = 0; i < n; i++) {
                out[i] = b.get(off + i);
            }
            return out;
        }
    }

    @Override
    public Summary summary() {
        long lost = 0;
        for (Nflog s : sockets()) {
            lost += s.lost();
        }
        return new Summary(decisions, -1, lost, note);
    }

    @Override
    public void close() {
        List<RuntimeException> errors = new ArrayList<>();
        for (Nflog s : sockets()) {
            try {
                s.close();
            } catch (RuntimeException e) {
                errors.add(e);
            }
        }
        if (!errors.isEmpty()) {
            throw errors.get(0);
        }
    }
}
