package io.ambientctl.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import org.HdrHistogram.Histogram;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.ZtunnelStandIn;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Mac;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.redirect.Redirector;
import io.ambientctl.redirect.Redirectors;
import io.ambientctl.redirect.State;
import io.ambientctl.util.Exec;

/**
 * eBPF, iptables and nftables redirection measured side by side on a lab, interleaved in one run so the
 * machine's drift hits all paths alike: {@code direct} (no redirection, no proxy), {@code proxy} (the
 * client connects to the ztunnel stand-in explicitly: the floor of any proxied path), {@code ebpf},
 * {@code iptables} and {@code nftables} (client and server pods enrolled). Extra enrolled workloads (synthetic entries in
 * the map and the sets) show the per-packet cost as the node fills. Also the control plane: enroll,
 * mode switch and unenroll of N real workloads, and requests failed while switching under load.
 */
public final class Bench {
    public static final List<String> PATHS = List.of("direct", "proxy", "ebpf", "iptables", "nftables");
    static final int SERVER_PORT = 8080;
    static final int PROXY_PORT = 15080;

    /** What to measure. */
    public record Options(String lab, Duration duration, int connections, int qps, int payload, List<String> modes,
                          List<Integer> pods, int repeat, List<Integer> controlPlane, Duration switchLoad,
                          int switchQps) {
    }

    /** One load run. */
    public record Run(int round, String mode, int pods, int connections, int qpsTarget, double qps, double p50Ms,
                      double p75Ms, double p90Ms, double p99Ms, double p999Ms, double maxMs, long requests,
                      long errors, long captured, double standInCpuMs) {
    }

    public record ControlPlane(String operation, int workloads, double seconds) {
    }

    public record Switch(String from, String to, int qps, long requests, long failed, double switchSeconds) {
    }

    /** The report; {@code histograms} (mode -> merged latency) feeds the chart and is not part of the JSON. */
    public record Report(String date, String kernel, int cpus, Options options, List<Run> runs,
                         List<ControlPlane> controlPlane, List<Switch> switches,
                         @com.fasterxml.jackson.annotation.JsonIgnore Map<String, Histogram> histograms) {
    }

    private final Options o;
    private final Consumer<String> say;
    private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();

    private List<String> cli = List.of();

    public Bench(Options o, Consumer<String> say) {
        this.o = o;
        this.say = say;
    }

    /**
     * Times the control plane through this command line (e.g. {@code java ... -jar ambientctl.jar}): each
     * operation is one process, as an administrator runs it, JVM start included. Empty: in-process calls.
     */
    public Bench cli(List<String> command) {
        this.cli = List.copyOf(command);
        return this;
    }

    private long standInCpuNanos() {
        long sum = 0;
        for (var t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("ztunnel-")) {
                long c = threads.getThreadCpuTime(t.getId());
                sum += Math.max(0, c);
            }
        }
        return sum;
    }

    public Report run() throws Exception {
        List<Run> runs = new ArrayList<>();
        List<ControlPlane> cp = new ArrayList<>();
        List<Switch> switches = new ArrayList<>();
        Map<String, Histogram> hist = new LinkedHashMap<>();
        Lab lab = Lab.named(o.lab(), 2);
        Path bpffs = Path.of("/sys/fs/bpf/ambientctl-bench-" + o.lab());
        Path state = Files.createTempDirectory("ambientctl-bench");
        ZtunnelStandIn standIn = null;
        HttpServer server = null;
        try {
            say.accept("lab " + o.lab() + ": a client pod, a server pod, the ztunnel stand-in");
            lab.up();
            NodeConfig cfg = new NodeConfig(bpffs, state, lab.node());
            Node node = new Node(cfg, Duration.ofSeconds(30), null);
            Lab.Pod client = lab.pod(1);
            Lab.Pod server1 = lab.pod(2);
            server = HttpServer.start(server1.netns(), SERVER_PORT, o.payload());
            standIn = ZtunnelStandIn.start(lab.ztunnel(), null);
            InetSocketAddress serverAddr = new InetSocketAddress(IpAddrs.parse(server1.ipv4()), SERVER_PORT);
            standIn.explicitProxy(lab.ztunnel(), PROXY_PORT, serverAddr);
            node.ztunnelSet(lab.ztunnel(), null, null, false);

            for (int round = 1; round <= o.repeat(); round++) {
                for (int pods : o.pods()) {
                    for (String mode : o.modes()) {
                        if ((mode.equals("direct") || mode.equals("proxy")) && pods != o.pods().get(0)) {
                            continue; // nothing is enrolled on these paths: the pod count does not apply
                        }
                        prepare(node, cfg, lab, mode, pods);
                        InetSocketAddress target = mode.equals("proxy")
                                ? new InetSocketAddress(IpAddrs.parse(Lab.ZTUNNEL_IP4), PROXY_PORT) : serverAddr;
                        // warm up (JIT, caches), then measure
                        LoadGenerator.run(client.netns(), target, o.connections(), Duration.ofMillis(300), o.qps(), 0);
                        int capBefore = standIn.captures().size();
                        long cpuBefore = standInCpuNanos();
                        LoadGenerator.Result r = LoadGenerator.run(client.netns(), target, o.connections(),
                                o.duration(), o.qps(), 0);
                        long cpu = standInCpuNanos() - cpuBefore;
                        Histogram h = r.latencyMicros();
                        Run run = new Run(round, mode, pods, o.connections(), o.qps(), r.qps(), r.percentileMs(50),
                                r.percentileMs(75), r.percentileMs(90), r.percentileMs(99), r.percentileMs(99.9),
                                h.getMaxValue() / 1000.0, r.requests(), r.errors(),
                                standIn.captures().size() - capBefore, cpu / 1e6);
                        runs.add(run);
                        hist.computeIfAbsent(mode + (pods > 1 ? " +" + pods : ""), k -> new Histogram(3)).add(h);
                        say.accept(String.format("round %d %-8s pods %-6d %9.0f qps  p50 %.3f ms  p99 %.3f ms  errors %d",
                                round, mode, pods, run.qps(), run.p50Ms(), run.p99Ms(), run.errors()));
                    }
                }
            }
            clearSynthetic(cfg, lab);
            if (o.switchLoad() != null && !o.switchLoad().isZero()) {
                switches.addAll(switchUnderLoad(node, lab, client, serverAddr));
            }
            node.unenroll(List.of(), true, false);
        } finally {
            if (server != null) {
                server.close();
            }
            if (standIn != null) {
                standIn.close();
            }
            lab.down();
            Redirectors.forget(new NodeConfig(bpffs, state, lab.node()));
            deleteTree(state);
        }
        if (!o.controlPlane().isEmpty()) {
            cp.addAll(controlPlane());
        }
        return new Report(java.time.Instant.now().toString(), Files.readString(Path.of("/proc/sys/kernel/osrelease"))
                .strip(), Runtime.getRuntime().availableProcessors(), o, runs, cp, switches, hist);
    }

    /** Puts the node in the path's configuration: nothing enrolled, or both pods in the mode plus extras. */
    private void prepare(Node node, NodeConfig cfg, Lab lab, String mode, int pods) {
        clearSynthetic(cfg, lab);
        if (mode.equals("direct") || mode.equals("proxy")) {
            node.unenroll(List.of(), true, false);
            return;
        }
        RedirectMode m = RedirectMode.parse(mode);
        node.modeSet(m, false);
        node.enroll(List.of(lab.pod(1).netns(), lab.pod(2).netns()), false);
        addSynthetic(cfg, lab, m, pods - 1);
    }

    static String syntheticIp(int i) {
        return "10.200." + (i / 250) + "." + (i % 250 + 1);
    }

    /** Extra enrolled workloads: entries in the mode's table (map or sets), as enrolled pods would have. */
    private static void addSynthetic(NodeConfig cfg, Lab lab, RedirectMode m, int n) {
        if (n <= 0) {
            return;
        }
        List<java.net.InetAddress> extra = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            extra.add(IpAddrs.parse(syntheticIp(i)));
        }
        State st = io.ambientctl.redirect.NodeState.load(cfg.stateDir());
        try (Redirector r = Redirectors.open(m, cfg, st, null)) {
            r.benchFill(extra, false);
        }
    }

    private static void clearSynthetic(NodeConfig cfg, Lab lab) {
        State st = io.ambientctl.redirect.NodeState.load(cfg.stateDir());
        if (st.mode == RedirectMode.none) {
            return;
        }
        try (Redirector r = Redirectors.open(st.mode, cfg, st, null)) {
            r.benchFill(List.of(), true);
        }
    }

    /** Requests that fail while the mode switches under a fixed-rate load (the goal is zero). */
    private List<Switch> switchUnderLoad(Node node, Lab lab, Lab.Pod client, InetSocketAddress server)
            throws Exception {
        List<Switch> out = new ArrayList<>();
        node.modeSet(RedirectMode.ebpf, false);
        node.enroll(List.of(lab.pod(1).netns(), lab.pod(2).netns()), false);
        RedirectMode from = RedirectMode.ebpf;
        for (RedirectMode to : List.of(RedirectMode.iptables, RedirectMode.ebpf, RedirectMode.nftables,
                RedirectMode.ebpf)) {
            var load = new java.util.concurrent.CompletableFuture<LoadGenerator.Result>();
            Thread t = new Thread(() -> load.complete(LoadGenerator.run(client.netns(), server, o.connections(),
                    o.switchLoad(), o.switchQps(), 0)));
            t.start();
            Thread.sleep(o.switchLoad().toMillis() / 3);
            long s0 = System.nanoTime();
            node.modeSet(to, false);
            double secs = (System.nanoTime() - s0) / 1e9;
            LoadGenerator.Result r = load.get();
            out.add(new Switch(from.name(), to.name(), o.switchQps(), r.requests(), r.errors(), secs));
            say.accept(String.format("switch %s -> %s under %d qps: %d requests, %d failed (switch took %.2f s)",
                    from, to, o.switchQps(), r.requests(), r.errors(), secs));
            from = to;
        }
        return out;
    }

    /** Enroll N real workloads in one call, switch mode with them, unenroll them: timed. */
    private List<ControlPlane> controlPlane() throws Exception {
        List<ControlPlane> out = new ArrayList<>();
        int max = o.controlPlane().stream().mapToInt(Integer::intValue).max().orElse(0);
        Lab lab = Lab.named(o.lab() + "-cp", max);
        Path bpffs = Path.of("/sys/fs/bpf/ambientctl-bench-" + o.lab() + "-cp");
        Path state = Files.createTempDirectory("ambientctl-bench-cp");
        try {
            say.accept("control plane: a lab of " + max + " pods ...");
            long t0 = System.nanoTime();
            lab.up();
            say.accept(String.format("  (lab built in %.1f s)", (System.nanoTime() - t0) / 1e9));
            NodeConfig cfg = new NodeConfig(bpffs, state, lab.node());
            Node node = new Node(cfg, Duration.ofSeconds(60), null);
            node.ztunnelSet(lab.ztunnel(), null, null, false);
            for (int n : o.controlPlane()) {
                List<NetNs> targets = lab.pods().subList(0, n).stream().map(Lab.Pod::netns).toList();
                if (cli.isEmpty()) {
                    out.add(timed("enroll", n, () -> node.enroll(targets, false)));
                    out.add(timed("status", n, node::status));
                    out.add(kernelCheck(node, n));
                    out.add(timed("mode set iptables", n, () -> node.modeSet(RedirectMode.iptables, false)));
                    out.add(kernelCheck(node, n));
                    out.add(timed("mode set ebpf", n, () -> node.modeSet(RedirectMode.ebpf, false)));
                    out.add(timed("mode set nftables", n, () -> node.modeSet(RedirectMode.nftables, false)));
                    out.add(kernelCheck(node, n));
                    out.add(timed("mode set ebpf (from nftables)", n, () -> node.modeSet(RedirectMode.ebpf, false)));
                    out.add(timed("unenroll", n, () -> node.unenroll(targets, false, false)));
                } else {
                    List<String> enroll = new ArrayList<>(List.of("enroll", "-q"));
                    targets.forEach(t -> enroll.addAll(List.of("--netns", t.display())));
                    List<String> unenroll = new ArrayList<>(enroll);
                    unenroll.set(0, "unenroll");
                    out.add(timed("enroll", n, () -> run(cfg, enroll)));
                    out.add(timed("status", n, () -> run(cfg, List.of("status", "-o", "json"))));
                    out.add(timed("mode set iptables", n, () -> run(cfg, List.of("mode", "set", "iptables", "-q"))));
                    out.add(timed("mode set ebpf", n, () -> run(cfg, List.of("mode", "set", "ebpf", "-q"))));
                    if (o.modes().contains("nftables")) {
                        out.add(timed("mode set nftables", n, () -> run(cfg, List.of("mode", "set", "nftables", "-q"))));
                        out.add(timed("mode set ebpf (from nftables)", n,
                                () -> run(cfg, List.of("mode", "set", "ebpf", "-q"))));
                    }
                    out.add(timed("unenroll", n, () -> run(cfg, unenroll)));
                }
            }
        } finally {
            lab.down();
            Redirectors.forget(new NodeConfig(bpffs, state, lab.node()));
            deleteTree(state);
        }
        return out;
    }

    /** Runs the CLI on {@code cfg}'s node; its output is discarded, a failure is one. */
    private void run(NodeConfig cfg, List<String> args) {
        List<String> cmd = new ArrayList<>(cli);
        cmd.addAll(List.of("--node-netns", cfg.nodeNetns().display(), "--bpffs", cfg.bpffs().toString(),
                "--state-dir", cfg.stateDir().toString()));
        cmd.addAll(args);
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            int rc = p.waitFor();
            if (rc != 0 && !(rc == 1 && args.get(0).equals("status"))) {
                throw new IllegalStateException("ambientctl " + args.get(0) + " exited " + rc + " (" + String.join(" ",
                        cmd.subList(0, Math.min(cmd.size(), cli.size() + 8))) + " ...)");
            }
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot run " + cmd.get(0) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /**
     * The agent's kernel check (every --verify-every): {@link Node#status()} in a warm process, as the agent runs
     * it; the median of 5.
     */
    private ControlPlane kernelCheck(Node node, int n) {
        String op = "agent kernel check (" + node.recorded().mode + ")";
        double[] s = new double[5];
        for (int i = 0; i < s.length; i++) {
            long t0 = System.nanoTime();
            if (!node.status().verified()) {
                throw new IllegalStateException(op + ": the node does not verify");
            }
            s[i] = (System.nanoTime() - t0) / 1e9;
        }
        java.util.Arrays.sort(s);
        ControlPlane c = new ControlPlane(op, n, s[s.length / 2]);
        say.accept(String.format("  %-18s %5d workloads  %.3f s (median of %d; %.3f-%.3f s)", op, n, c.seconds(),
                s.length, s[0], s[s.length - 1]));
        return c;
    }

    private ControlPlane timed(String op, int n, Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        ControlPlane c = new ControlPlane(op, n, (System.nanoTime() - t0) / 1e9);
        say.accept(String.format("  %-18s %5d workloads  %.2f s", op, n, c.seconds()));
        return c;
    }

    private static void deleteTree(Path p) {
        try (var s = Files.walk(p)) {
            for (Path x : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(x);
            }
        } catch (java.io.IOException e) {
            // best effort: a temporary directory
        }
    }
}
