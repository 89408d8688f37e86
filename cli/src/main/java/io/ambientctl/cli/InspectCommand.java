package io.ambientctl.cli;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import io.ambientctl.inspect.Inspector;
import io.ambientctl.net.NetNs;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "inspect", header = "Show what the kernel holds: programs, maps, one workload.",
        footerHeading = "%nExamples:%n", footer = {"  ambientctl inspect programs --all-netns",
            "  ambientctl inspect maps ambient_workloads -o json", "  ambientctl inspect nftables",
            "  ambientctl inspect pod --netns pod-a"},
        description = "Show what the kernel holds: TC programs (ours and others'), the maps' "
        + "contents decoded, our nftables tables, one workload's redirection.")
public class InspectCommand extends BaseCommand implements Runnable {
    @Override
    public void run() {
        spec.commandLine().usage(out());
    }

    @Command(name = "programs", header = "List the TC programs on the node's interfaces, ours and others'.",
            description = "Every TC program on the node's interfaces (and, with --all-netns, "
            + "inside the workloads' and ztunnel's namespaces): interface, direction, attach kind (tcx/tc), priority "
            + "or position, id, name, tag, owner (ambientctl or other); run count and time when "
            + "kernel.bpf_stats_enabled is on.",
            footerHeading = "%nExamples:%n", footer = {"  ambientctl inspect programs",
                "  ambientctl inspect programs --all-netns -o json"})
    static class Programs extends BaseCommand implements Callable<Integer> {
        @Option(names = "--all-netns", description = "Also the workloads' and ztunnel's namespaces.")
        boolean allNetns;

        @Override
        public Integer call() {
            List<Inspector.Program> ps = new Inspector(config()).programs(allNetns);
            Output.render(g(), out(), Map.of("programs", ps), () -> {
                if (ps.isEmpty()) {
                    out().println("no TC programs on the node's interfaces");
                    return;
                }
                Table t = new Table("NETNS", "INTERFACE", "DIRECTION", "ATTACH", "PRIO/POS", "ID", "NAME", "TAG",
                        "OWNER", "RUNS");
                for (Inspector.Program p : ps) {
                    t.row(p.netns(), p.iface() + " (" + p.ifindex() + ")", p.direction(), p.attach(),
                            p.attach().equals("tc") ? "prio " + p.priority() : "#" + p.position(), p.id(), p.name(),
                            p.tag(), p.owner(), p.runCount() == null ? "-" : p.runCount());
                }
                t.print(out());
            });
            return ExitCode.OK;
        }
    }

    @Command(name = "maps", header = "Show ambientctl's pinned maps, decoded.", description = "ambientctl's pinned maps, decoded: IPs as addresses, MACs, interface names "
            + "next to ifindexes, the workload's name next to its entries, counters summed over CPUs; --raw for bytes.",
            footerHeading = "%nExamples:%n", footer = {"  ambientctl inspect maps",
                "  ambientctl inspect maps ambient_workloads -o json", "  ambientctl inspect maps --raw"})
    static class MapsCmd extends BaseCommand implements Callable<Integer> {
        @Parameters(paramLabel = "NAME", arity = "0..1", description = "Only this map (e.g. ambient_workloads).")
        String name;

        @Option(names = "--raw", description = "Keys and values as hex bytes.")
        boolean raw;

        @Override
        public Integer call() {
            List<io.ambientctl.redirect.Redirector.Table> maps = new Inspector(config()).maps(name, raw);
            Output.render(g(), out(), Map.of("maps", maps), () -> {
                if (maps.isEmpty()) {
                    out().println("no pinned maps (nothing enrolled in eBPF mode)");
                }
                for (io.ambientctl.redirect.Redirector.Table m : maps) {
                    out().println(m.name() + " (" + m.type() + ", " + m.count() + "/" + m.maxEntries() + " entries)");
                    for (Map<String, Object> e : m.entries()) {
                        out().println("  " + flat(e.get("key")) + " -> " + flat(e.get("value")));
                    }
                }
            });
            return ExitCode.OK;
        }

        static String flat(Object o) {
            if (o instanceof Map<?, ?> m) {
                StringBuilder sb = new StringBuilder();
                m.forEach((k, v) -> {
                    if (v != null) {
                        sb.append(sb.length() == 0 ? "" : " ").append(k).append('=').append(v);
                    }
                });
                return sb.toString();
            }
            return String.valueOf(o);
        }
    }

    @Command(name = "nftables", header = "Show ambientctl's nftables tables (nftables mode), decoded.",
            description = "ambientctl's own nftables table (inet ambientctl) in the node's namespace and in "
            + "ztunnel's: the sets' elements (enrolled addresses), the chain's hook and priority, and its rules as "
            + "nft writes them. The same as 'nft list table inet ambientctl' run in each namespace; nothing of other "
            + "owners' tables.",
            footerHeading = "%nExamples:%n", footer = {"  ambientctl inspect nftables",
                "  ambientctl inspect nftables -o json"})
    static class NftablesCmd extends BaseCommand implements Callable<Integer> {
        @Override
        public Integer call() {
            List<io.ambientctl.redirect.RuleTable> ts = new Inspector(config()).nftables();
            Output.render(g(), out(), Map.of("tables", ts), () -> {
                if (ts.isEmpty()) {
                    out().println("no nftables table of ambientctl (the node is not in nftables mode)");
                }
                for (io.ambientctl.redirect.RuleTable t : ts) {
                    out().println(t.role() + " (" + t.netns() + "): table " + t.table() + ", chain "
                            + t.chain() + " hook " + t.hook() + " priority "
                            + t.priority());
                    t.sets().forEach((name, elems) -> out().println("  set " + name + " (" + elems.size() + "): "
                            + String.join(", ", elems)));
                    t.rules().forEach(r -> out().println("  " + r));
                }
            });
            return ExitCode.OK;
        }
    }

    @Command(name = "pod", header = "Show one workload's redirection as the kernel has it.", description = "One workload's redirection as the kernel has it: its map entries, the "
            + "programs on its veth and its counters (in iptables and nftables modes: its set entries and the rules that match it).",
            footerHeading = "%nExamples:%n", footer = {"  ambientctl inspect pod --netns pod-a -o yaml"})
    static class Pod extends BaseCommand implements Callable<Integer> {
        @Option(names = "--netns", paramLabel = "NAME|PATH", required = true,
                description = "The workload's network namespace, as it was enrolled.")
        String netns;

        @Override
        public Integer call() {
            Map<String, Object> doc = new Inspector(config()).workload(NetNs.parse(netns).display());
            Output.render(g(), out(), doc, () -> {
                Map<String, Object> d = new LinkedHashMap<>(doc);
                io.ambientctl.redirect.Workload w = (io.ambientctl.redirect.Workload) d.remove("workload");
                out().println("workload:  " + w.key() + " (" + String.join(", ", w.ips()) + ") via " + w.hostInterface()
                        + " (" + w.hostIfindex() + ")");
                out().println("mode:      " + d.remove("mode"));
                d.forEach((k, v) -> {
                    out().println(k + ":");
                    if (v instanceof List<?> l) {
                        l.forEach(x -> out().println("  " + (x instanceof Inspector.Program p ? p.direction() + " "
                                + p.attach() + " id " + p.id() + " " + p.name() + " (" + p.owner() + ")"
                                : MapsCmd.flat(x))));
                    } else {
                        out().println("  " + MapsCmd.flat(v));
                    }
                });
            });
            return ExitCode.OK;
        }
    }
}
