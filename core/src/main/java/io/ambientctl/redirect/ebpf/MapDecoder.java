package io.ambientctl.redirect.ebpf;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.ambientctl.bpf.BpfMap;
import io.ambientctl.bpf.Codecs;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Links;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.Redirector;
import io.ambientctl.redirect.State;
import io.ambientctl.util.ExitCodeException;

/** The datapath's pinned maps decoded for people (read from the pins; nothing loaded). */
final class MapDecoder {
    private MapDecoder() {
    }

    /** The pinned maps (or the one named), decoded: IPs, MACs, interface and workload names; counters summed. */
    static List<Redirector.Table> tables(Path bpffs, NodeConfig cfg, State state, String only, boolean raw) {
        Path dir = Datapath.mapsDir(bpffs);
        List<Redirector.Table> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            if (only != null) {
                throw ExitCodeException.notFound("no pinned maps under " + dir + " (the node is in "
                        + state.mode + " mode)");
            }
            return out;
        }
        Map<Integer, String> ifnames;
        try {
            ifnames = Links.names(cfg.nodeNetns());
        } catch (RuntimeException e) {
            ifnames = Map.of(); // node namespace gone: names stay unknown
        }
        Map<Integer, String> byId = new HashMap<>();
        state.workloads.forEach(w -> byId.put(w.id(), w.key()));
        List<Path> pins;
        try (var s = Files.list(dir)) {
            pins = s.sorted().toList();
        } catch (IOException e) {
            throw new IllegalStateException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        boolean found = false;
        for (Path pin : pins) {
            String name = pin.getFileName().toString();
            if (only != null && !only.equals(name)) {
                continue;
            }
            found = true;
            try (BpfMap m = BpfMap.openPinned(pin)) {
                List<Map<String, Object>> entries = new ArrayList<>();
                // a ring buffer has no entries to list (the monitor reads it)
                for (BpfMap.Entry e : m.type() == io.ambientctl.bpf.MapType.RINGBUF ? List.<BpfMap.Entry>of()
                        : m.entries()) {
                    entries.add(raw ? rawEntry(e) : decode(name, e, ifnames, byId));
                }
                out.add(new Redirector.Table(name, m.type().name().toLowerCase(), m.maxEntries(), entries.size(), entries));
            }
        }
        if (only != null && !found) {
            throw ExitCodeException.notFound("no map " + only + " under " + dir + "; the maps: " + pins.stream()
                    .map(p -> p.getFileName().toString()).toList());
        }
        return out;
    }

    private static Map<String, Object> rawEntry(BpfMap.Entry e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("key", HexFormat.of().formatHex(e.key()));
        m.put("value", HexFormat.of().formatHex(e.value()));
        return m;
    }

    private static Map<String, Object> entry(Object key, Object value) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("key", key);
        m.put("value", value);
        return m;
    }

    private static Map<String, Object> decode(String map, BpfMap.Entry e, Map<Integer, String> ifnames,
                                              Map<Integer, String> byId) {
        switch (map) {
            case Maps.WORKLOADS -> {
                InetAddress ip = Maps.IP_KEY.decode(e.key());
                Maps.WorkloadInfo w = Maps.WORKLOAD_INFO.decode(e.value());
                Map<String, Object> v = new LinkedHashMap<>();
                v.put("ifindex", w.ifindex());
                v.put("interface", ifnames.get(w.ifindex()));
                v.put("mac", w.mac().toString());
                v.put("id", w.id());
                v.put("workload", byId.get(w.id()));
                v.put("flags", w.flags());
                v.put("dnsCapture", (w.flags() & Maps.WORKLOAD_F_NO_DNS_CAPTURE) == 0);
                return entry(Map.of("ip", IpAddrs.format(ip)), v);
            }
            case Maps.ZTUNNEL -> {
                Maps.ZtunnelInfo z = Maps.ZTUNNEL_INFO.decode(e.value());
                Map<String, Object> v = new LinkedHashMap<>();
                v.put("set", z.set());
                v.put("ifindex", z.ifindex());
                v.put("interface", ifnames.get(z.ifindex()));
                v.put("mac", z.mac().toString());
                v.put("dnsCapture", (z.flags() & Maps.ZTUNNEL_F_DNS_CAPTURE) != 0);
                v.put("failOpen", (z.flags() & Maps.ZTUNNEL_F_FAIL_OPEN) != 0);
                return entry(Map.of("index", Codecs.U32.decode(e.key())), v);
            }
            case Maps.NODE_ADDRS -> {
                return entry(Map.of("ip", IpAddrs.format(Maps.IP_KEY.decode(e.key()))),
                        Map.of("flags", Codecs.U32.decode(e.value())));
            }
            case Maps.COUNTERS -> {
                int id = Codecs.U32.decode(e.key());
                io.ambientctl.redirect.Counters c = Maps.counters().decode(e.value());
                Map<String, Object> k = new LinkedHashMap<>();
                k.put("id", id);
                k.put("workload", byId.get(id));
                Map<String, Object> v = new LinkedHashMap<>();
                v.put("outPackets", c.outPackets());
                v.put("outBytes", c.outBytes());
                v.put("inPackets", c.inPackets());
                v.put("inBytes", c.inBytes());
                v.put("droppedPackets", c.droppedPackets());
                v.put("drops", c.dropsByReason());
                return entry(k, v);
            }
            case Maps.SETTINGS -> {
                var b = Codecs.wrap(e.value());
                return entry(Map.of("index", Codecs.U32.decode(e.key())), Map.of("logLevel", b.getInt(), "flags",
                        b.getInt()));
            }
            case Maps.MONITOR -> {
                Maps.MonitorLease l = Maps.MONITOR_LEASE.decode(e.value());
                Map<String, Object> v = new LinkedHashMap<>();
                v.put("untilNs", l.untilNs());
                v.put("active", l.untilNs() > io.ambientctl.bpf.Clock.monotonicNs());
                v.put("everyPacket", (l.flags() & Maps.MONITOR_F_EVERY_PACKET) != 0);
                v.put("udpPerSec", Integer.toUnsignedLong(l.udpPerSec()));
                return entry(Map.of("index", Codecs.U32.decode(e.key())), v);
            }
            case Maps.MONITOR_CPU -> {
                Maps.MonitorStats st = Maps.monitorStats().decode(e.value());
                return entry(Map.of("index", Codecs.U32.decode(e.key())), Map.of("rateLimited", st.rateLimited(),
                        "lost", st.lost()));
            }
            default -> {
                return rawEntry(e);
            }
        }
    }

}
