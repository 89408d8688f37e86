package io.ambientctl.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Predicate;

import io.ambientctl.observe.Decision;
import io.ambientctl.observe.Monitor;
import io.ambientctl.observe.MonitorOptions;
import io.ambientctl.redirect.Marks;
import io.ambientctl.redirect.NetfilterLog;
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.State;
import io.ambientctl.util.Json;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "monitor", header = "Watch the datapath's decisions as they happen.",
        description = "One line per decision: time, workload (its name in the state, else the netns), hook, "
        + "direction, protocol, source and destination, decision and reason, ztunnel's listener port. Ctrl-C stops "
        + "it and prints a summary. "
        + "%n%neBPF mode: the decisions of the node's eBPF programs. By default: TCP SYNs, UDP datagrams (at most "
        + MonitorOptions.DEFAULT_UDP_PER_SEC + " per CPU and second, counted in the program; the rest are counted as "
        + "rate-limited) and every drop; --every-packet: every decision. The programs report only while a monitor "
        + "holds the lease (the ambient_monitor map): a running monitor pushes it to now+3 s every second, without "
        + "the node lock or the journal; a killed one's lapses within 3 s, and with no monitor the programs pay one "
        + "map lookup per packet. With several monitors the programs report what any of them asked for; each prints "
        + "its own selection. Kernels without BPF ring buffers (before 5.8) load the datapath without the monitor "
        + "(preflight says which). "
        + "%n%niptables and nftables modes: the chains carry log rules (NFLOG group " + Marks.NFLOG_GROUP
        + ") ahead of each decision of the node's chain (hook nodeChain: pass fromZtunnel, nodeAddress, "
        + "dnsNotCaptured; outbound; inbound; drop noZtunnel, fail closed) and of each TPROXY in ztunnel's (hook "
        + "ztunnelChain: assigned, listener port). They log TCP packets with SYN set (SYNs, SYN-ACKs), UDP at "
        + "most " + NetfilterLog.UDP_PER_SEC + " per rule and second (the rule's limit: what it leaves out is "
        + "not counted, rateLimited is null) and every fail-closed drop; the monitor reads the group with a "
        + "netlink socket in the node's and in ztunnel's namespace. No --every-packet. Only one monitor at a "
        + "time (a second is refused: the group is bound); with none the kernel logs nothing. A drop because "
        + "ztunnel is not listening: nftables logs it (drop noListener); iptables' TPROXY drops inside the "
        + "target, where no rule can log it, so the monitor tells assigned from noListener by ztunnel's "
        + "listening sockets as it reads the SYN (a TCP packet without SYN dropped so is not seen). ztunnel's "
        + "namespace is the one set when the monitor starts: restart it after 'ztunnel set'.",
        footerHeading = "%nExamples:%n", footer = {"  ambientctl monitor", "  ambientctl monitor --drops",
            "  ambientctl monitor --pod default/web --proto tcp -o json", "  ambientctl monitor --every-packet --count 20"})
public class MonitorCommand extends BaseCommand implements Callable<Integer> {
    /** One JSON object per line: no indentation (Jackson loaded only when the command runs, not for --help). */
    private static final class Line {
        static final com.fasterxml.jackson.databind.ObjectWriter WRITER = Json.MAPPER.writer()
                .without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT);
    }

    @Option(names = "--pod", paramLabel = "NS/NAME", description = "Only this enrolled Pod's decisions.")
    String pod;

    @Option(names = "--netns", paramLabel = "NAME|PATH", completionCandidates = NetnsNames.class,
            description = "Only the decisions of the workload enrolled from this network namespace.")
    String netns;

    @Option(names = "--drops", description = "Only drops.")
    boolean drops;

    @Option(names = "--proto", paramLabel = "tcp|udp", description = "Only this protocol.")
    String proto;

    @Option(names = "--every-packet", description = "Every decision on every packet, not only SYNs, rate-limited "
            + "UDP and drops (costly on a busy node). eBPF mode only.")
    boolean everyPacket;

    @Option(names = "--count", paramLabel = "N", description = "Stop after N decisions.")
    long count;

    @Option(names = "--duration", paramLabel = "SECONDS", description = "Stop after this many seconds.")
    long duration;

    @Override
    public Integer call() throws Exception {
        if (proto != null && !proto.equals("tcp") && !proto.equals("udp")) {
            throw new IllegalArgumentException("--proto takes tcp or udp, not " + proto);
        }
        if (pod != null && netns != null) {
            throw new IllegalArgumentException("give --pod or --netns, not both");
        }
        if (count < 0 || duration < 0) {
            throw new IllegalArgumentException("--count and --duration take a positive number");
        }
        if (g().output() == GlobalOptions.Format.yaml) {
            throw new IllegalArgumentException("monitor writes a table or one JSON object per line (-o json), not yaml");
        }
        Node node = node(null);
        String only = pod != null || netns != null ? Filters.workloadKey(node.recorded(), pod, netns) : null;
        Predicate<Decision> keep = d -> (only == null || only.equals(d.workload()))
                && (!drops || d.decision().equals("drop")) && (proto == null || proto.equals(d.protocol()));
        boolean json = g().output() == GlobalOptions.Format.json;
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch done = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stop.set(true);
            try {
                done.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "monitor-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        long[] shown = {0};
        long deadline = duration > 0 ? System.nanoTime() + duration * 1_000_000_000L : Long.MAX_VALUE;
        Monitor.Summary summary;
        try (Monitor m = node.monitor(new MonitorOptions(everyPacket, MonitorOptions.DEFAULT_UDP_PER_SEC))) {
            if (!json) {
                info("monitoring " + (only != null ? only : "every workload") + (everyPacket ? ", every packet"
                        : ": TCP SYNs, UDP (" + MonitorOptions.DEFAULT_UDP_PER_SEC + "/s per "
                        + (m.summary().rateLimited() < 0 ? "rule" : "CPU") + ") and drops") + "; Ctrl-C stops");
            }
            while (!stop.get() && (count == 0 || shown[0] < count) && System.nanoTime() < deadline) {
                m.poll(250, d -> {
                    if (keep.test(d) && (count == 0 || shown[0] < count)) {
                        shown[0]++;
                        print(d, json);
                    }
                });
            }
            summary = m.summary();
        } finally {
            done.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // shutting down (Ctrl-C): the hook is running
            }
        }
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("shown", shown[0]);
        s.put("decisions", summary.decisions());
        s.put("rateLimited", summary.rateLimited() < 0 ? null : summary.rateLimited());
        s.put("lost", summary.lost());
        s.put("note", summary.note());
        if (json) {
            out().println(Line.WRITER.writeValueAsString(Map.of("summary", s)));
            out().flush();
        } else {
            err().println("ambientctl: " + shown[0] + " shown of " + summary.decisions() + " reported; "
                    + (summary.rateLimited() < 0 ? "UDP datagrams over the log rules' limit are not counted"
                    : summary.rateLimited() + " UDP datagrams not reported (rate limit)") + ", " + summary.lost()
                    + " lost (" + (summary.rateLimited() < 0 ? "netlink socket" : "ring buffer") + " full)");
            err().println("ambientctl: " + summary.note());
            err().flush();
        }
        return ExitCode.OK;
    }

    private void print(Decision d, boolean json) {
        if (json) {
            try {
                out().println(Line.WRITER.writeValueAsString(d));
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        } else {
            StringBuilder b = new StringBuilder();
            b.append(d.time(), 11, Math.min(d.time().length(), 23)).append(' ')
                    .append(d.workload() == null ? "-" : d.workload()).append(' ').append(d.hook()).append(' ')
                    .append(d.direction() == null ? "-" : d.direction()).append(' ').append(d.protocol()).append(' ')
                    .append(d.src()).append(" -> ").append(d.dst()).append(' ').append(d.decision().toUpperCase());
            if (d.reason() != null) {
                b.append(" (").append(d.reason()).append(')');
            }
            if (d.listenerPort() != null) {
                b.append(" listener ").append(d.listenerPort());
            }
            if (d.target() != null) {
                b.append(" to ").append(d.target());
            }
            if (d.errno() != null) {
                b.append(" errno ").append(io.ambientctl.bpf.Errno.name(d.errno()));
            }
            if (d.tcpFlags() != null) {
                b.append(" [").append(d.tcpFlags()).append(']');
            }
            out().println(b);
        }
        out().flush();
    }

    /** The workload a --pod/--netns filter names, as the state keys it. */
    static final class Filters {
        private Filters() {
        }

        static String workloadKey(State state, String pod, String netns) {
            if (pod != null) {
                String key = pod.contains("/") ? pod : "default/" + pod;
                return state.workload(key).map(io.ambientctl.redirect.Workload::key).orElseThrow(() ->
                        io.ambientctl.util.ExitCodeException.notFound("Pod " + key + " is not enrolled"
                                + enrolled(state)));
            }
            io.ambientctl.net.NetNs want = io.ambientctl.net.NetNs.parse(netns);
            return state.workloads.stream().filter(w -> w.netns() != null && (w.netns().equals(netns)
                    || io.ambientctl.net.NetNs.parse(w.netns()).path().equals(want.path())))
                    .map(io.ambientctl.redirect.Workload::key).findFirst().orElseThrow(() ->
                            io.ambientctl.util.ExitCodeException.notFound("no workload is enrolled from netns "
                                    + netns + enrolled(state)));
        }

        static String enrolled(State state) {
            return state.workloads.isEmpty() ? " (nothing is)" : "; enrolled: " + state.workloads.stream()
                    .map(io.ambientctl.redirect.Workload::key).toList();
        }
    }
}
