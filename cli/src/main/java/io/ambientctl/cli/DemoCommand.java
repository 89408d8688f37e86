package io.ambientctl.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import io.ambientctl.bpf.LibbpfInfo;
import io.ambientctl.lab.Lab;
import io.ambientctl.lab.LabServices;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn;
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.NodeState;
import io.ambientctl.redirect.Redirectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "demo", header = "The whole story on a local lab, start to finish", description = {
    "The whole story on a local lab, start to finish: checks the host, builds a lab of namespaces (a node, "
            + "ztunnel's Pod with a transparent ztunnel stand-in, three pods), sends traffic before enrolling "
            + "(ztunnel sees nothing), enrolls two pods in eBPF mode and sends again (ztunnel sees every "
            + "connection, with its original destination; clients still get their answers), switches to iptables "
            + "mode and back, unenrolls and shows ztunnel no longer sees it, then removes everything."},
        footerHeading = "%nExamples:%n", footer = {"  ./ambientctl demo", "  ./ambientctl demo -o json"})
public class DemoCommand extends BaseCommand implements Callable<Integer> {
    static final Duration TIMEOUT = Duration.ofSeconds(2);

    @Option(names = "--name", description = "Name of the lab the demo builds (default: ${DEFAULT-VALUE}).",
            defaultValue = "demo")
    String name;

    private PrintWriter o;
    private boolean human;
    private final List<Map<String, Object>> steps = new ArrayList<>();

    private void say(String text) {
        if (human) {
            o.println(text);
            o.flush();
        }
    }

    private void step(String title) {
        say("");
        say("==> " + title);
    }

    private record Probe(String label, Lab.Pod from, String fromIp, String dst, int port) {
    }

    private void send(String phase, List<Probe> probes, ZtunnelStandIn standIn, Lab lab) {
        int before = standIn.captures().size();
        Table t = new Table("FROM", "TO", "ANSWER");
        List<Map<String, Object>> results = new ArrayList<>();
        for (Probe p : probes) {
            Traffic.Result r = p.from() == null
                    ? Traffic.tcp(lab.node(), p.fromIp(), p.dst(), p.port(), "hello", TIMEOUT)
                    : Traffic.tcp(p.from().netns(), null, p.dst(), p.port(), "hello", TIMEOUT);
            String dst = (p.dst().contains(":") ? "[" + p.dst() + "]" : p.dst()) + ":" + p.port();
            t.row(p.label(), dst, r.answered() ? "\"" + r.answer().strip() + "\"" : "none: " + r.error());
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("from", p.label());
            m.put("to", dst);
            m.put("answered", r.answered());
            m.put("answer", r.answer());
            results.add(m);
        }
        if (human) {
            t.print(o);
        }
        List<ZtunnelStandIn.Capture> seen = standIn.captures().subList(before, standIn.captures().size());
        if (seen.isEmpty()) {
            say("ztunnel saw: nothing");
        } else {
            say("ztunnel saw:");
            Table c = new Table("  LISTENER", "SOURCE", "ORIGINAL DESTINATION");
            seen.forEach(x -> c.row("  " + x.port() + "/" + x.protocol(), x.source(), x.originalDestination()));
            if (human) {
                c.print(o);
            }
        }
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("phase", phase);
        s.put("requests", results);
        s.put("ztunnelSaw", seen);
        steps.add(s);
    }

    @Override
    public Integer call() throws Exception {
        o = out();
        human = g().output() == GlobalOptions.Format.table;
        GlobalOptions g = g();
        Lab lab = Lab.named(name, 3);
        Path state = labStateDir(g, name);
        NodeConfig cfg = new NodeConfig(labBpffs(name), state, lab.node());

        step("1. Can this host redirect with eBPF?");
        Map<String, Object> host = new LinkedHashMap<>();
        host.put("kernel", VersionCommand.kernelRelease());
        host.put("libbpf", LibbpfInfo.version());
        host.put("bpffsMounted", Files.isDirectory(Path.of("/sys/fs/bpf")) && Files.exists(Path.of("/sys/fs/bpf")));
        say("kernel " + host.get("kernel") + ", libbpf " + host.get("libbpf") + ", bpffs at /sys/fs/bpf");

        new LabCommand.Down().teardown(g, name, line -> { });
        NodeState.ensureDir(g.stateDir); // 0700, ours: as every state directory
        NodeState.ensureDir(state);
        LabServices services = null;
        try {
            step("2. A lab that stands in for a node: namespaces " + lab.node().name() + ", " + lab.ztunnel().name()
                    + ", " + lab.pod(1).netns().name() + ".." + lab.pod(3).netns().name());
            lab.up();
            services = LabServices.start(lab, null);
            ZtunnelStandIn standIn = services.standIn();
            Lab.Pod p1 = lab.pod(1);
            Lab.Pod p2 = lab.pod(2);
            Lab.Pod p3 = lab.pod(3);
            say("pods: " + p1.name() + " " + p1.ipv4() + " " + p1.ipv6() + ", " + p2.name() + " " + p2.ipv4() + " "
                    + p2.ipv6() + ", " + p3.name() + " " + p3.ipv4() + " " + p3.ipv6());
            say("ztunnel stand-in in " + lab.ztunnel().name() + " (" + Lab.ZTUNNEL_IP4
                    + "), listening transparently on 15001/15006/15008");

            Node node = new Node(cfg);
            step("3. ztunnel set --netns " + lab.ztunnel().name());
            node.ztunnelSet(lab.ztunnel(), null, null, false);
            say("ztunnel's side installed (eBPF on its veth and eth0, fwmark 0x111 -> local route)");

            List<Probe> probes = List.of(
                    new Probe(p1.name(), p1, null, p2.ipv4(), 8080),
                    new Probe(p1.name(), p1, null, p3.ipv6(), 8080),
                    new Probe(p3.name(), p3, null, p2.ipv4(), 8080),
                    new Probe(p3.name(), p3, null, p2.ipv4(), 15008),
                    new Probe("node " + Lab.NODE_IP4, null, Lab.NODE_IP4, p2.ipv4(), 8080));

            step("4. Traffic before enrolling anything");
            send("before", probes, standIn, lab);

            step("5. enroll --netns " + p1.netns().name() + " --netns " + p2.netns().name() + " (eBPF mode)");
            for (Node.Outcome x : node.enroll(List.of(p1.netns(), p2.netns()), false)) {
                say(x.target() + ": " + x.action() + " (" + String.join(", ", x.workload().ips()) + " via "
                        + x.workload().hostInterface() + ")");
            }

            step("6. The same traffic, enrolled: " + p1.name() + "'s outbound goes to 15001, " + p2.name()
                    + "'s inbound to 15006 (15008 for HBONE); the node's own IP bypasses");
            send("enrolled", probes, standIn, lab);

            step("7. mode set iptables: the same redirection with an ipset, MARK + policy routing and TPROXY, "
                    + "switched all or nothing");
            Node.Switch sw = node.modeSet(io.ambientctl.redirect.RedirectMode.iptables, false);
            say("switched " + sw.from() + " -> " + sw.to() + " for " + String.join(", ", sw.workloads()));
            send("iptables", probes.subList(0, 3), standIn, lab);
            node.modeSet(io.ambientctl.redirect.RedirectMode.ebpf, false);
            say("and back to ebpf");

            step("8. status");
            Node.Status st = node.status();
            Table t = new Table("WORKLOAD", "VERIFIED", "OUT PKTS", "IN PKTS");
            st.workloads().forEach(w -> t.row(w.workload().key(), w.verification().verified() ? "yes" : "no",
                    w.counters().outPackets(), w.counters().inPackets()));
            if (human) {
                t.print(o);
            }
            Map<String, Object> statusDoc = Docs.status(st);

            step("9. explain and monitor: where a packet would go, and what the programs decided");
            io.ambientctl.observe.Explanation ex = node.explain(new io.ambientctl.observe.Probe(p1.netns().name(),
                    null, io.ambientctl.net.IpAddrs.parse(p2.ipv4()), 8080, false));
            say("explain --netns " + p1.netns().name() + " --to " + p2.ipv4() + ":8080");
            for (io.ambientctl.observe.Explanation.Step x : ex.steps()) {
                say("  " + x.hook() + ": " + x.decision() + (x.reason() != null ? " (" + x.reason() + ")" : "")
                        + (x.target() != null ? " to " + x.target() : "")
                        + (x.listenerPort() != null ? " listener " + x.listenerPort() : ""));
            }
            say("  verdict: " + ex.verdict());
            List<io.ambientctl.observe.Decision> seen = new ArrayList<>();
            try (io.ambientctl.observe.Monitor m = node.monitor(io.ambientctl.observe.MonitorOptions.defaults())) {
                send("monitored", probes.subList(0, 1), standIn, lab);
                int idle = 0;
                while (idle < 2) {
                    idle = m.poll(200, seen::add) == 0 ? idle + 1 : 0;
                }
            }
            say("monitor saw:");
            for (io.ambientctl.observe.Decision d : seen) {
                say("  " + d.hook() + " " + d.src() + " -> " + d.dst() + " " + d.decision()
                        + (d.listenerPort() != null ? " listener " + d.listenerPort() : "")
                        + (d.tcpFlags() != null ? " [" + d.tcpFlags() + "]" : ""));
            }

            step("10. unenroll --all, and the same traffic again");
            node.unenroll(List.of(), true, false);
            send("unenrolled", probes, standIn, lab);

            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("host", host);
            doc.put("steps", steps);
            doc.put("status", statusDoc);
            doc.put("explain", ex);
            doc.put("monitor", seen);
            if (!human) {
                Output.render(g, o, doc, () -> { });
            }
        } finally {
            step("11. Cleaning up: lab namespaces, pins, state");
            if (services != null) {
                services.close();
            }
            lab.down();
            Redirectors.forget(cfg);
            new LabCommand.Down().teardown(g, name, line -> { });
            say("done: nothing of the demo is left");
        }
        return ExitCode.OK;
    }
}
