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
import io.ambientctl.redirect.iptables.Backend;
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
        return node.call(() -> new int[] {Backend.rules(Backend.NFT), Backend.rules(Backend.LEGACY)});
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
    public void close() {
        if (scratch != null) {
            scratch.delete();
            scratch = null;
        }
    }
}
