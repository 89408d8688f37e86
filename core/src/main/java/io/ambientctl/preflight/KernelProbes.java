package io.ambientctl.preflight;

import java.util.ArrayList;
import java.util.List;

import io.ambientctl.bpf.AttachedProgram;
import io.ambientctl.bpf.BpfException;
import io.ambientctl.bpf.Errno;
import io.ambientctl.bpf.Features;
import io.ambientctl.bpf.Tc;
import io.ambientctl.bpf.TcDirection;
import io.ambientctl.bpf.sys.NativeLibraryException;
import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.ModeProbes;
import io.ambientctl.util.Exec;

/**
 * The probes on the real kernel. What needs creating (qdisc, rules, sets, policy routes) is made in
 * a throw-away network namespace that {@link #close()} deletes: preflight changes nothing on the host.
 */
public final class KernelProbes implements Probes {
    private final NetNs node;
    private NetNs scratch;

    public KernelProbes() {
        this(NetNs.self());
    }

    public KernelProbes(NetNs node) {
        this.node = node;
    }

    private NetNs scratch() {
        if (scratch == null) {
            scratch = NetNs.create("ambientctl-preflight-" + ProcessHandle.current().pid());
            scratch.exec("ip", "link", "set", "lo", "up");
        }
        return scratch;
    }

    @Override
    public Answer ringbuf() {
        return bpf(() -> Features.ringbuf()
                ? Answer.yes("BPF_MAP_TYPE_RINGBUF: the datapath is loaded with the monitor (redirect.bpf.o)")
                : Answer.no("no BPF_MAP_TYPE_RINGBUF: the datapath is loaded without the monitor "
                        + "(redirect-nomonitor.bpf.o); 'ambientctl monitor' is not available"));
    }

    private static Answer bpf(java.util.function.Supplier<Answer> probe) {
        try {
            return probe.get();
        } catch (NativeLibraryException | BpfException e) {
            return Answer.no(e.getMessage());
        }
    }

    @Override
    public Answer schedClsLoads() {
        return bpf(() -> {
            int r = Features.progType(Features.BPF_PROG_TYPE_SCHED_CLS);
            return r == 1 ? Answer.yes("a sched_cls program loads") : Answer.no(r == 0 ? "sched_cls is not supported"
                    : "the probe failed: " + Errno.name(-r));
        });
    }

    @Override
    public Answer helper(String name) {
        return bpf(() -> {
            int r = Features.helper(Features.BPF_PROG_TYPE_SCHED_CLS, name);
            return r == 1 ? Answer.yes(name + " available to sched_cls")
                    : Answer.no(r == 0 ? name + " not available" : "the probe failed: " + Errno.name(-r));
        });
    }

    @Override
    public Answer tcx() {
        return bpf(() -> Features.tcx() ? Answer.yes("TCX links can be created")
                : Answer.no("no TCX (kernel before 6.6): the clsact qdisc is used"));
    }

    @Override
    public Answer clsact() {
        try {
            scratch().run(() -> Features.clsact(1));
            return Answer.yes("a clsact qdisc can be created");
        } catch (RuntimeException e) {
            return Answer.no(e.getMessage());
        }
    }

    private Answer run(List<List<String>> cmds, String okText) {
        try {
            for (List<String> c : cmds) {
                Exec.Result r = scratch().exec(c);
                if (!r.ok()) {
                    return Answer.no("'" + String.join(" ", c) + "': " + r.stderr().strip());
                }
            }
            return Answer.yes(okText);
        } catch (RuntimeException e) {
            return Answer.no(e.getMessage());
        }
    }

    @Override
    public Answer tproxy(boolean v6) {
        String ipt = v6 ? "ip6tables" : "iptables";
        return run(List.of(
                List.of(ipt, "-t", "mangle", "-N", "AMBIENT-PROBE"),
                List.of(ipt, "-t", "mangle", "-A", "AMBIENT-PROBE", "-p", "tcp", "-m", "socket", "--transparent", "-j",
                        "MARK", "--set-xmark", "0x111/0xfff"),
                List.of(ipt, "-t", "mangle", "-A", "AMBIENT-PROBE", "-p", "tcp", "-j", "TPROXY", "--on-port", "15001",
                        "--tproxy-mark", "0x111/0xfff")), ipt + " mangle table, socket match and TPROXY target work");
    }

    @Override
    public Answer ipsetMatch() {
        return run(List.of(
                List.of("ipset", "create", "ambient-probe", "hash:ip", "family", "inet"),
                List.of("iptables", "-t", "mangle", "-A", "PREROUTING", "-m", "set", "--match-set", "ambient-probe",
                        "src", "-j", "RETURN")), "ipset hash:ip and the set match work");
    }

    @Override
    public Answer nftablesLibrary() {
        try {
            java.nio.file.Path p = ModeProbes.nftablesLibrary(); // throws naming where it looked and the fix
            return scratch().call(ModeProbes::nftablesJson) ? Answer.yes(p + " loads, JSON output works")
                    : Answer.no(p + " loads but has no JSON support");
        } catch (RuntimeException e) {
            return Answer.no(e.getMessage());
        }
    }

    /** The probe's commands per feature: one transaction each, in a table of the probe's own. */
    static String nftablesProbe(String feature) {
        String t = "inet ambientctl-probe";
        String base = "add table " + t + "\nadd chain " + t + " pre { type filter hook prerouting priority mangle; }\n";
        return base + switch (feature) {
            case "sets" -> "add set " + t + " p4 { type ipv4_addr; }\nadd set " + t + " p6 { type ipv6_addr; }\n"
                    + "add element " + t + " p4 { 10.0.0.1 }\nadd element " + t + " p6 { fd00::1 }\n"
                    + "add rule " + t + " pre ip saddr @p4 return\nadd rule " + t + " pre ip6 daddr @p6 return\n";
            case "socket" -> "add rule " + t + " pre meta l4proto { tcp, udp } socket transparent 1 meta mark set "
                    + "meta mark & 0xfffff000 | 0x111\n";
            case "tproxy" -> "add rule " + t + " pre meta l4proto tcp ip daddr 10.0.0.1 tproxy ip to :15001 accept\n"
                    + "add rule " + t + " pre meta l4proto tcp ip6 daddr fd00::1 tproxy ip6 to :15001 accept\n";
            default -> throw new IllegalArgumentException(feature);
        } + "delete table " + t + "\n";
    }

    @Override
    public Answer nftables(String feature) {
        try {
            scratch().run(() -> ModeProbes.nftables(nftablesProbe(feature)));
            return Answer.yes(switch (feature) {
                case "sets" -> "an inet table with ipv4_addr and ipv6_addr sets and a prerouting chain matching them";
                case "socket" -> "the socket expression (socket transparent)";
                default -> "the tproxy statement (ip and ip6)";
            } + " works");
        } catch (RuntimeException e) {
            return Answer.no(e.getMessage());
        }
    }

    @Override
    public Answer policyRouting() {
        return run(List.of(
                List.of("ip", "rule", "add", "fwmark", "0x111/0xfff", "lookup", "133"),
                List.of("ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "133"),
                List.of("ip", "-6", "rule", "add", "fwmark", "0x111/0xfff", "lookup", "133"),
                List.of("ip", "-6", "route", "add", "local", "::/0", "dev", "lo", "table", "133")),
                "fwmark rules and local routes in a table of our own work (both families)");
    }

    @Override
    public int[] iptablesRules() {
        return node.call(ModeProbes::iptablesRules);
    }

    @Override
    public List<String> otherPrograms() {
        List<String> out = new ArrayList<>();
        try {
            node.run(() -> {
                for (Link l : Links.here()) {
                    if (!l.veth()) {
                        continue;
                    }
                    for (TcDirection d : TcDirection.values()) {
                        for (AttachedProgram p : Tc.query(l.ifindex(), d)) {
                            if (!p.name().startsWith("ambient_")) {
                                out.add(l.name() + " " + d.label() + " " + p.kind().label()
                                        + (p.kind() == io.ambientctl.bpf.AttachKind.TC ? " prio " + p.priority()
                                                : " position " + p.position()) + ": id " + p.progId() + " " + p.name());
                            }
                        }
                    }
                }
            });
        } catch (RuntimeException e) {
            out.add("(could not list: " + e.getMessage() + ")");
        }
        return out;
    }

    @Override
    public Coexistence.NodeRules nodeRules() {
        return node.call(() -> {
            List<String> save = ModeProbes.iptablesSaveTools();
            return new Coexistence.NodeRules(out(save.get(0)), out(save.get(1)),
                    out("nft", "list", "ruleset"), out("ip", "-4", "rule", "show"), out("ip", "-6", "rule", "show"));
        });
    }

    private static String out(String... cmd) {
        try {
            Exec.Result r = Exec.run(List.of(cmd));
            return r.ok() ? r.stdout() : "";
        } catch (RuntimeException e) {
            return ""; // the tool is missing
        }
    }

    @Override
    public void close() {
        if (scratch != null) {
            scratch.delete();
            scratch = null;
        }
    }
}
