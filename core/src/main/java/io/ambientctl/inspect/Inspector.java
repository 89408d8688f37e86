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
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.Redirector;
import io.ambientctl.redirect.NodeState;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.redirect.State;
import io.ambientctl.redirect.Workload;
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
    private final Node node;

    public Inspector(NodeConfig cfg) {
        this.cfg = cfg;
        this.state = NodeState.load(cfg.stateDir());
        this.node = new Node(cfg);
    }

    /** One program on one hook. runCount/runTimeNs are null unless kernel.bpf_stats_enabled is on. */
    public record Program(@com.fasterxml.jackson.annotation.JsonProperty("interface") String iface, int ifindex, String netns, String direction, String attach, int priority,
                          int position, int id, String name, String tag, String owner, Long runCount, Long runTimeNs) {
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
        Map<Integer, String> ours = node.programs();
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

    /** Our tables (the pinned maps, or the one named), decoded: IPs, MACs, interface and workload names. */
    public List<Redirector.Table> maps(String only, boolean raw) {
        return node.tables(only, raw);
    }

    /** Our nftables tables (nftables mode): the node's and ztunnel's, where they are, decoded. */
    public List<io.ambientctl.redirect.RuleTable> nftables() {
        return node.ruleTables(RedirectMode.nftables);
    }

    /** One workload as the kernel has it: the mode's entries and rules, and the programs on its host veth. */
    public Map<String, Object> workload(String key) {
        Workload w = state.workload(key).orElseThrow(() -> ExitCodeException.notFound(key + " is not enrolled"
                + (state.workloads.isEmpty() ? " (nothing is)" : "; enrolled: " + state.workloads.stream()
                        .map(Workload::key).toList())));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("workload", w);
        out.put("mode", state.mode.name());
        out.putAll(node.describe(w));
        out.put("programs", programs(false).stream().filter(p -> p.ifindex() == w.hostIfindex()).toList());
        return out;
    }
}
