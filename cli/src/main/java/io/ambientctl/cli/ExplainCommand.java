package io.ambientctl.cli;

import java.net.InetAddress;
import java.util.concurrent.Callable;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.observe.Explanation;
import io.ambientctl.observe.Probe;
import io.ambientctl.redirect.Node;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "explain", header = "Say where one packet would go now, hook by hook, and why.",
        description = "eBPF mode: follows one crafted packet through the node's eBPF programs as they are attached, "
        + "against the live maps (BPF_PROG_TEST_RUN): the pod veth's ingress (outbound) or egress (inbound), ztunnel's "
        + "capture hook (run inside ztunnel's netns, so its socket lookups see ztunnel's sockets), and ztunnel's "
        + "veth on the way back to the pod. Each hook's decision, reason, rewritten MAC, redirect target and "
        + "listener port. It changes nothing: the packet carries the explain marker, so no counter moves and no "
        + "monitor event is emitted, and nothing is loaded or pinned. In the capture hook a found listener shows as "
        + "assigned: bpf_sk_assign itself only works on a real packet (EOPNOTSUPP in a test run). "
        + "%n%niptables and nftables modes: walks the packet through ambientctl's prerouting chains as the kernel "
        + "has them now, read back (iptables-save -t raw / -t mangle, or one listing of the inet ambientctl table), "
        + "in the node's netns, then the node's routing decision as the kernel gives it (ip route get DST from SRC "
        + "iif VETH mark M), then ztunnel's chain in ztunnel's netns and, at a TPROXY, whether a socket listens on "
        + "that port there (ss). Set membership is asked of the kernel (ipset test, or the set's elements in the "
        + "listing). Each rule that matched or decided is a step (table, chain, rule number, the rule's text), so a "
        + "rule or set member changed by hand shows. A rule with a match ambientctl's chains do not use is not "
        + "guessed at: the verdict says which rule could not be evaluated; a target that does not decide (NFLOG, "
        + "log, counter) is stepped over. It changes nothing: only listings, ipset test, ip route get and ss. "
        + "%n%nThe source is an enrolled Pod (NS/NAME, or NAME with -n), the workload enrolled from a network "
        + "namespace (--netns), or any address (--ip: an enrolled workload's, or an outside one towards an enrolled "
        + "destination).",
        footerHeading = "%nExamples:%n", footer = {"  ambientctl explain default/web --to 10.96.0.10:80",
            "  ambientctl explain --netns pod-a --to [fd00::2]:8080", "  ambientctl explain --ip 10.0.0.1 --to 10.1.0.5:8080",
            "  ambientctl explain --netns pod-a --to 10.96.0.10:53 --udp -o json"})
public class ExplainCommand extends BaseCommand implements Callable<Integer> {
    @Parameters(paramLabel = "POD", arity = "0..1", description = "An enrolled Pod: NS/NAME, or NAME with -n.")
    String pod;

    @Option(names = {"-n", "--namespace"}, paramLabel = "NS", description = "The Pod's namespace (default: default).")
    String namespace;

    @Option(names = "--netns", paramLabel = "NAME|PATH", completionCandidates = NetnsNames.class,
            description = "The workload enrolled from this network namespace.")
    String netns;

    @Option(names = "--ip", paramLabel = "ADDR", description = "A source address (an enrolled workload's, or an "
            + "outside one towards an enrolled destination).")
    String ip;

    @Option(names = "--to", paramLabel = "ADDR:PORT", required = true,
            description = "The destination: ADDR:PORT, [IPV6]:PORT.")
    String to;

    @Option(names = "--udp", description = "A UDP datagram (default: a TCP SYN).")
    boolean udp;

    @Override
    public Integer call() {
        int given = (pod != null ? 1 : 0) + (netns != null ? 1 : 0) + (ip != null ? 1 : 0);
        if (given != 1) {
            throw new IllegalArgumentException("name the source: a POD, --netns NAME|PATH or --ip ADDR (one of them)");
        }
        if (namespace != null && pod == null) {
            throw new IllegalArgumentException("-n/--namespace goes with a POD name");
        }
        if (pod != null && namespace != null && pod.contains("/")) {
            throw new IllegalArgumentException("give the Pod as NS/NAME or as NAME with -n NS, not both");
        }
        Endpoint dst = Endpoint.parse(to);
        Node node = node(null);
        Probe probe;
        if (pod != null) {
            String key = pod.contains("/") ? pod : (namespace == null ? "default" : namespace) + "/" + pod;
            probe = new Probe(key, null, dst.addr(), dst.port(), udp);
        } else if (netns != null) {
            probe = new Probe(MonitorCommand.Filters.workloadKey(node.recorded(), null, netns), null, dst.addr(),
                    dst.port(), udp);
        } else {
            probe = new Probe(null, parseIp(ip, "--ip"), dst.addr(), dst.port(), udp);
        }
        Explanation e = node.explain(probe);
        Output.render(g(), out(), e, () -> {
            out().println(e.packet() + (e.workload() != null ? "  (" + e.workload() + ")" : ""));
            Table t = new Table("HOOK", "WHERE", "DECISION", "REASON", "MAC", "TARGET", "LISTENER");
            for (Explanation.Step s : e.steps()) {
                t.row(s.hook(), s.where(), s.decision(), s.reason() == null ? "-" : s.reason()
                        + (s.errno() != null ? " (" + s.errno() + ")" : ""), s.rewrittenMac() == null ? "-"
                        : s.rewrittenMac(), s.target() == null ? "-" : s.target(), s.listenerPort() == null ? "-"
                        : s.listenerPort());
            }
            if (!e.steps().isEmpty()) {
                t.print(out());
            }
            e.steps().stream().filter(s -> s.note() != null).forEach(s -> out().println("note: " + s.note()));
            out().println("verdict: " + e.verdict());
        });
        return ExitCode.OK;
    }

    static InetAddress parseIp(String s, String option) {
        try {
            return IpAddrs.parse(s);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(option + " takes an IPv4 or IPv6 address, not '" + s + "'");
        }
    }

    /** ADDR:PORT or [IPV6]:PORT. */
    record Endpoint(InetAddress addr, int port) {
        static Endpoint parse(String s) {
            String host;
            String port;
            if (s.startsWith("[")) {
                int end = s.indexOf("]:");
                if (end < 0) {
                    throw new IllegalArgumentException("--to takes [IPV6]:PORT for IPv6, not '" + s + "'");
                }
                host = s.substring(1, end);
                port = s.substring(end + 2);
            } else {
                int c = s.lastIndexOf(':');
                if (c < 0 || s.indexOf(':') != c) {
                    throw new IllegalArgumentException("--to takes ADDR:PORT (IPv6 as [ADDR]:PORT), not '" + s + "'");
                }
                host = s.substring(0, c);
                port = s.substring(c + 1);
            }
            int p;
            try {
                p = Integer.parseInt(port);
            } catch (NumberFormatException e) {
                p = -1;
            }
            if (p < 1 || p > 65535) {
                throw new IllegalArgumentException("--to: the port must be 1..65535, not '" + port + "'");
            }
            InetAddress a = parseIp(host, "--to");
            if (s.startsWith("[") != (a instanceof java.net.Inet6Address)) {
                throw new IllegalArgumentException("--to: an IPv6 address goes in brackets ([ADDR]:PORT), an IPv4 "
                        + "one does not: '" + s + "'");
            }
            return new Endpoint(a, p);
        }
    }
}
