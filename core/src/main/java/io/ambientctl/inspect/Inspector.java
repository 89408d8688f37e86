package io.ambientctl.inspect;

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
import java.util.Optional;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.bpf.AttachedProgram;
import io.ambientctl.bpf.BpfMap;
import io.ambientctl.bpf.BpfProgram;
import io.ambientctl.bpf.Codecs;
import io.ambientctl.bpf.Tc;
import io.ambientctl.bpf.TcDirection;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.NodeState;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.redirect.State;
import io.ambientctl.redirect.Workload;
import io.ambientctl.redirect.ebpf.Datapath;
import io.ambientctl.redirect.ebpf.Maps;
import io.ambientctl.redirect.iptables.Rules;
import io.ambientctl.redirect.nftables.NftRules;
import io.ambientctl.redirect.nftables.Nftables;
import io.ambientctl.redirect.nftables.NftablesRedirector;
import io.ambientctl.util.Exec;
import io.ambientctl.util.ExitCodeException;

/**
 * What the kernel holds, decoded for people: TC programs on the node's interfaces (ours and
 * others'), the pinned maps' contents, our nftables tables, one workload's redirection. Read-only; opens pins directly
 * (no program is loaded), so it is quick.
 */
public final class Inspector {
    private final NodeConfig cfg;
    private final State state;

    public Inspector(NodeConfig cfg) {
        this.cfg = cfg;
        this.state = NodeState.load(cfg.stateDir());
    }

    /** One program on one hook. runCount/runTimeNs are null unless kernel.bpf_stats_enabled is on. */
    public record Program(@com.fasterxml.jackson.annotation.JsonProperty("interface") String iface, int ifindex, String netns, String direction, String attach, int priority,
                          int position, int id, String name, String tag, String owner, Long runCount, Long runTimeNs) {
    }

    /** The programs pinned under BPFFS/progs (ours), by id, with their full names (the kernel keeps 15 chars). */
    public Map<Integer, String> ourPrograms() {
        Map<Integer, String> ids = new HashMap<>();
        Path dir = Datapath.progsDir(cfg.bpffs());
        if (!Files.isDirectory(dir)) {
            return ids;
        }
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) {
                try (BpfProgram prog = BpfProgram.openPinned(p)) {
                    ids.put(prog.info().id(), p.getFileName().toString());
                } catch (RuntimeException e) {
                    // not a program pin
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        return ids;
    }

    static boolean statsEnabled() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/bpf_stats_enabled")).strip().equals("1");
        } catch (IOException e) {
            return false;
        }
    }

    /** TC programs on the node's interfaces; with {@code allNetns} also in the workloads' and ztunnel's namespaces. */
    public List<Program> programs(boolean allNetns) {
        Map<Integer, String> ours = ourPrograms();
        boolean stats = statsEnabled();
        List<NetNs> spaces = new ArrayList<>(List.of(cfg.nodeNetns()));
        if (allNetns) {
            state.workloads.forEach(w -> spaces.add(NetNs.parse(w.netns())));
            if (state.ztunnel != null) {
                spaces.add(NetNs.parse(state.ztunnel.netns()));
            }
        }
        List<Program> out = new ArrayList<>();
        for (NetNs ns : spaces) {
            if (!ns.exists()) {
                continue;
            }
            String label = ns.equals(cfg.nodeNetns()) ? "node" : ns.display();
            out.addAll(ns.call(() -> {
                List<Program> here = new ArrayList<>();
                for (Link l : Links.here()) {
                    for (TcDirection d : TcDirection.values()) {
                        for (AttachedProgram p : Tc.query(l.ifindex(), d)) {
                            here.add(new Program(l.name(), l.ifindex(), label, d.label(), p.kind().label(),
                                    p.kind() == AttachKind.TC ? p.priority() : 0, p.position(), p.progId(),
                                    ours.getOrDefault(p.progId(), p.name()), p.tag(),
                                    ours.containsKey(p.progId()) ? "ambientctl" : "other",
                                    stats ? p.runCount() : null, stats ? p.runTimeNs() : null));
                        }
                    }
                }
                return here;
            }));
        }
        return out;
    }

    /** One map, decoded (or raw). */
    public record MapView(String name, String type, int maxEntries, int count, List<Map<String, Object>> entries) {
    }

    /** Our pinned maps (or the one named), decoded: IPs, MACs, interface and workload names; counters summed. */
    public List<MapView> maps(String only, boolean raw) {
        Path dir = Datapath.mapsDir(cfg.bpffs());
        List<MapView> out = new ArrayList<>();
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
                for (BpfMap.Entry e : m.entries()) {
                    entries.add(raw ? rawEntry(e) : decode(name, e, ifnames, byId));
                }
                out.add(new MapView(name, m.type().name().toLowerCase(), m.maxEntries(), entries.size(), entries));
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
                Maps.Counters c = Maps.counters().decode(e.value());
                Map<String, Object> k = new LinkedHashMap<>();
                k.put("id", id);
                k.put("workload", byId.get(id));
                Map<String, Object> v = new LinkedHashMap<>();
                v.put("outPackets", c.outPackets());
                v.put("outBytes", c.outBytes());
                v.put("inPackets", c.inPackets());
                v.put("inBytes", c.inBytes());
                v.put("droppedPackets", c.droppedPackets());
                return entry(k, v);
            }
            case Maps.SETTINGS -> {
                var b = Codecs.wrap(e.value());
                return entry(Map.of("index", Codecs.U32.decode(e.key())), Map.of("logLevel", b.getInt(), "flags",
                        b.getInt()));
            }
            default -> {
                return rawEntry(e);
            }
        }
    }

    /** Our nftables table in one namespace, decoded: the sets' elements, the chain's hook and its rules (nft syntax). */
    public record NftTable(String netns, String role, String table, Map<String, List<String>> sets, String hook,
                           Integer priority, List<String> rules) {
    }

    /** Our nftables tables (nftables mode): the node's and ztunnel's, where they are. */
    public List<NftTable> nftables() {
        List<NftTable> out = new ArrayList<>();
        List<Map.Entry<String, NetNs>> spaces = new ArrayList<>(List.of(Map.entry("node", cfg.nodeNetns())));
        if (state.ztunnel != null && NetNs.parse(state.ztunnel.netns()).exists()) {
            spaces.add(Map.entry("ztunnel", NetNs.parse(state.ztunnel.netns())));
        }
        for (Map.Entry<String, NetNs> e : spaces) {
            NftTable t = e.getValue().call(() -> nftTableHere(e.getValue().display(), e.getKey()));
            if (t != null) {
                out.add(t);
            }
        }
        return out;
    }

    private static NftTable nftTableHere(String netns, String role) {
        NftablesRedirector.Listing l = NftablesRedirector.readHere();
        if (l == null) {
            return null;
        }
        Map<String, List<String>> sets = new LinkedHashMap<>();
        for (var set : Nftables.objects(l.json(), "set")) {
            List<String> elems = new ArrayList<>();
            set.path("elem").forEach(x -> elems.add(x.isTextual() ? x.asText() : x.toString()));
            sets.put(set.path("name").asText(), elems);
        }
        String hook = null;
        Integer prio = null;
        for (var c : Nftables.objects(l.json(), "chain")) {
            if (NftRules.CHAIN.equals(c.path("name").asText())) {
                hook = c.path("hook").asText(null);
                prio = c.has("prio") ? c.path("prio").asInt() : null;
            }
        }
        // the rules as nft writes them: the text listing's lines inside the chain, but its type line
        List<String> rules = new ArrayList<>();
        boolean in = false;
        for (String line : Nftables.run("list chain " + NftRules.table() + " " + NftRules.CHAIN).lines().toList()) {
            String x = line.strip();
            if (x.startsWith("chain " + NftRules.CHAIN + " {")) {
                in = true;
            } else if (in && x.equals("}")) {
                in = false;
            } else if (in && !x.isEmpty() && !x.startsWith("type ")) {
                rules.add(x);
            }
        }
        return new NftTable(netns, role, NftRules.table(), sets, hook, prio, rules);
    }

    /** One workload as the kernel has it. */
    public Map<String, Object> workload(String key) {
        Workload w = state.workload(key).orElseThrow(() -> ExitCodeException.notFound(key + " is not enrolled"
                + (state.workloads.isEmpty() ? " (nothing is)" : "; enrolled: " + state.workloads.stream()
                        .map(Workload::key).toList())));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("workload", w);
        out.put("mode", state.mode.name());
        if (state.mode == RedirectMode.ebpf) {
            List<Map<String, Object>> entries = new ArrayList<>();
            Optional<MapView> wm = maps(null, false).stream().filter(m -> m.name().equals(Maps.WORKLOADS)).findFirst();
            wm.ifPresent(m -> m.entries().stream().filter(e -> w.ips().contains(((Map<?, ?>) e.get("key")).get("ip")))
                    .forEach(entries::add));
            out.put("mapEntries", entries);
            Optional<MapView> cm = maps(null, false).stream().filter(m -> m.name().equals(Maps.COUNTERS)).findFirst();
            out.put("counters", cm.flatMap(m -> m.entries().stream().filter(e -> Integer.valueOf(w.id())
                    .equals(((Map<?, ?>) e.get("key")).get("id"))).map(e -> e.get("value")).findFirst()).orElse(null));
            out.put("programs", programs(false).stream().filter(p -> p.ifindex() == w.hostIfindex()).toList());
        } else if (state.mode == RedirectMode.iptables) {
            List<String> members = new ArrayList<>();
            for (String ip : w.ips()) {
                String set = Rules.set(IpAddrs.isV6(IpAddrs.parse(ip)));
                boolean in = cfg.nodeNetns().exec("ipset", "test", set, ip).ok();
                members.add(set + " " + ip + (in ? "" : " MISSING"));
            }
            out.put("setEntries", members);
            List<String> rules = new ArrayList<>();
            for (String t : List.of("iptables", "ip6tables")) {
                Exec.Result r = cfg.nodeNetns().exec(t, "-t", "mangle", "-S", Rules.CHAIN);
                r.stdout().lines().filter(l -> l.startsWith("-A")).map(l -> t + " " + l).forEach(rules::add);
            }
            out.put("rules", rules);
        } else if (state.mode == RedirectMode.nftables) {
            List<String> members = new ArrayList<>();
            List<String> rules = new ArrayList<>();
            List<NftTable> tables = nftables();
            for (NftTable t : tables) {
                for (String ip : w.ips()) {
                    String set = NftRules.set(IpAddrs.isV6(IpAddrs.parse(ip)));
                    String f = IpAddrs.format(IpAddrs.parse(ip));
                    boolean in = t.sets().getOrDefault(set, List.of()).stream()
                            .anyMatch(x -> IpAddrs.format(IpAddrs.parse(x)).equals(f));
                    members.add(t.role() + " " + t.table() + " " + set + " " + ip + (in ? "" : " MISSING"));
                }
                String v4 = "@" + NftRules.SET4;
                String v6 = "@" + NftRules.SET6;
                t.rules().stream().filter(r -> (r.contains(v4) && w.ips().stream().anyMatch(ip -> !ip.contains(":")))
                        || (r.contains(v6) && w.ips().stream().anyMatch(ip -> ip.contains(":"))))
                        .map(r -> t.role() + " " + r).forEach(rules::add);
            }
            if (tables.stream().noneMatch(t -> t.role().equals("node"))) {
                members.add("no table " + NftRules.table() + " in the node's namespace");
            }
            out.put("setEntries", members);
            out.put("rules", rules);
        }
        return out;
    }
}
