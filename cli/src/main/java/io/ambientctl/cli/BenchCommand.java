package io.ambientctl.cli;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import org.HdrHistogram.Histogram;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;

import io.ambientctl.bench.Bench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "bench", header = "Measure eBPF, iptables and nftables redirection side by side on a local lab.",
         description = {
    "eBPF, iptables and nftables redirection measured side by side on a lab, interleaved in one run: an HTTP/1.1 keep-alive "
            + "load from a client pod to a server pod over the paths direct (no redirection), proxy (the client "
            + "connects to the ztunnel stand-in explicitly: the floor of any proxied path), ebpf, iptables and nftables "
            + "(both pods enrolled). Latency percentiles (HdrHistogram), QPS, errors, the stand-in's CPU time; with --pods, "
            + "extra enrolled workloads in the map and sets; control-plane timings (enroll, mode switch, unenroll of "
            + "N workloads); requests failed while switching mode under load. Everything runs in namespaces of its "
            + "own and is removed afterwards."},
        footerHeading = "%nExamples:%n", footer = {
            "  ambientctl bench                                           # max QPS, 10 s a path",
            "  ambientctl bench --qps 2000 --duration 15s                 # latency at a fixed rate",
            "  ambientctl bench --modes ebpf,iptables,nftables --pods 1,1000,10000 --plot bench.png",
            "  ambientctl bench --control-plane 100,1000 -o json"})
public class BenchCommand extends BaseCommand implements Callable<Integer> {
    @Option(names = "--duration", converter = WaitOption.DurationConverter.class, defaultValue = "10s",
            description = "How long each path runs (default: ${DEFAULT-VALUE}).")
    Duration duration;

    @Option(names = "--connections", defaultValue = "4", description = "Keep-alive connections (default: ${DEFAULT-VALUE}).")
    int connections;

    @Option(names = "--qps", defaultValue = "0",
            description = "Requests per second in all, 0 for as fast as possible (default: ${DEFAULT-VALUE}). A fixed "
                    + "rate measures latency without coordinated omission.")
    int qps;

    @Option(names = "--payload", defaultValue = "1024", description = "Response bytes (default: ${DEFAULT-VALUE}).")
    int payload;

    @Option(names = "--modes", split = ",", defaultValue = "direct,proxy,ebpf,iptables,nftables",
            description = "Paths to measure (default: ${DEFAULT-VALUE}).")
    List<String> modes;

    @Option(names = "--pods", split = ",", defaultValue = "1",
            description = "Enrolled workloads on the node for the ebpf, iptables and nftables paths, e.g. 1,1000,10000 "
                    + "(extras are synthetic entries in the map and sets; default: ${DEFAULT-VALUE}).")
    List<Integer> pods;

    @Option(names = "--repeat", defaultValue = "1", description = "Rounds over all paths (default: ${DEFAULT-VALUE}).")
    int repeat;

    @Option(names = "--control-plane", split = ",", paramLabel = "N",
            description = "Also time enroll / mode switch / unenroll of N real workloads, e.g. 100,1000.")
    List<Integer> controlPlane = new ArrayList<>();

    @Option(names = "--cli", paramLabel = "COMMAND",
            description = "Time --control-plane through this command line, one process per operation as an "
                    + "administrator runs it (default: this ambientctl, JVM start included); 'in-process' calls core "
                    + "directly. E.g. --cli 'java -jar /opt/old/ambientctl.jar' to compare builds side by side.")
    String cliCommand;

    @Option(names = "--switch-under-load", converter = WaitOption.DurationConverter.class,
            description = "Also switch mode (ebpf -> iptables -> ebpf -> nftables -> ebpf) under a fixed-rate load of this duration and "
                    + "count failed requests (rate: --switch-qps).")
    Duration switchLoad;

    @Option(names = "--switch-qps", defaultValue = "500", description = "Rate of the switch-under-load load (default: ${DEFAULT-VALUE}).")
    int switchQps;

    private int programCost() throws java.io.IOException {
        byte[] prev = previousObject == null ? null : java.nio.file.Files.readAllBytes(previousObject);
        List<io.ambientctl.observe.ProgramCost> rs = io.ambientctl.redirect.ModeProbes.programCost(prev,
                Math.max(repeat, 1), 1_000_000);
        Map<String, Double> mean = new LinkedHashMap<>();
        Map<String, Integer> n = new LinkedHashMap<>();
        for (var r : rs) {
            String k = r.variant() + " " + r.program();
            mean.merge(k, r.nsPerPacket(), Double::sum);
            n.merge(k, 1, Integer::sum);
        }
        mean.replaceAll((k, v) -> v / n.get(k));
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("kernel", VersionCommand.kernelRelease());
        doc.put("runs", rs);
        doc.put("meanNsPerPacket", mean);
        Output.render(g(), out(), doc, () -> {
            Table t = new Table("VARIANT PROGRAM", "MEAN NS/PACKET", "ROUNDS");
            mean.forEach((k, v) -> t.row(k, String.format("%.1f", v), n.get(k)));
            t.print(out());
        });
        return ExitCode.OK;
    }

    /** The command line that runs this very CLI: the same java, JVM options and jar. */
    private List<String> cliCommand() {
        if ("in-process".equals(cliCommand)) {
            return List.of();
        }
        if (cliCommand != null) {
            return List.of(cliCommand.trim().split("\\s+"));
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        try {
            cmd.add("-cp");
            cmd.add(java.nio.file.Path.of(BenchCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                    .toString());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException("cannot find this CLI's jar: " + e.getMessage(), e);
        }
        cmd.add(Main.class.getName());
        return cmd;
    }

    @Option(names = "--plot", paramLabel = "FILE.png", description = "Write a chart: latency by percentile for each "
            + "path, and QPS against enrolled pods.")
    Path plot;

    @Option(names = "--name", paramLabel = "NAME", defaultValue = "bench", description = "Name of the bench's lab "
            + "(default: ${DEFAULT-VALUE}).")
    String labName;

    @Option(names = "--program-cost", hidden = true, description = "Instead of the lab: the per-packet cost of "
            + "the eBPF pod programs (BPF_PROG_TEST_RUN, --repeat rounds interleaved), monitor off, without the "
            + "monitor and with it on, and of --previous-object if given.")
    boolean programCost;

    @Option(names = "--previous-object", hidden = true, paramLabel = "FILE.o", description = "An older build's "
            + "redirect.bpf.o (e.g. v0.1.0's) for --program-cost.")
    Path previousObject;

    @Override
    public Integer call() throws Exception {
        if (programCost) {
            return programCost();
        }
        for (String m : modes) {
            if (!Bench.PATHS.contains(m)) {
                throw new IllegalArgumentException("unknown path '" + m + "': use " + String.join(", ", Bench.PATHS));
            }
        }
        if (duration.isZero() || connections < 1 || connections > 1000 || qps < 0 || payload < 0 || repeat < 1
                || pods.stream().anyMatch(p -> p < 1 || p > 60_000)) {
            throw new IllegalArgumentException("--duration > 0, --connections 1..1000, --qps >= 0, --repeat >= 1, "
                    + "--pods 1..60000");
        }
        List<Integer> cp = controlPlane.stream().filter(n -> n > 0).toList();
        Bench.Options o = new Bench.Options(labName, duration, connections, qps, payload, modes, pods, repeat, cp,
                switchLoad, switchQps);
        Bench.Report r = new Bench(o, this::info).cli(cliCommand()).run();
        if (plot != null) {
            plot(r, plot);
            info("chart written to " + plot);
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("date", r.date());
        doc.put("kernel", r.kernel());
        doc.put("cpus", r.cpus());
        doc.put("runs", r.runs());
        doc.put("controlPlane", r.controlPlane());
        doc.put("switchUnderLoad", r.switches());
        Output.render(g(), out(), doc, () -> table(r));
        return ExitCode.OK;
    }

    private void table(Bench.Report r) {
        out().println("bench " + r.date() + ", kernel " + r.kernel() + ", " + r.cpus() + " CPUs, " + connections
                + " connections, " + (qps == 0 ? "max rate" : qps + " qps") + ", " + duration.toSeconds() + " s a path");
        Table t = new Table("ROUND", "PATH", "PODS", "QPS", "P50 MS", "P75", "P90", "P99", "P99.9", "MAX", "ERRORS",
                "VIA ZTUNNEL", "STAND-IN CPU MS");
        for (Bench.Run x : r.runs()) {
            t.row(x.round(), x.mode(), x.pods(), String.format("%.0f", x.qps()), fmt(x.p50Ms()), fmt(x.p75Ms()),
                    fmt(x.p90Ms()), fmt(x.p99Ms()), fmt(x.p999Ms()), fmt(x.maxMs()), x.errors(), x.captured(),
                    String.format("%.0f", x.standInCpuMs()));
        }
        t.print(out());
        if (!r.controlPlane().isEmpty()) {
            out().println();
            Table c = new Table("OPERATION", "WORKLOADS", "SECONDS");
            r.controlPlane().forEach(x -> c.row(x.operation(), x.workloads(), String.format("%.2f", x.seconds())));
            c.print(out());
        }
        if (!r.switches().isEmpty()) {
            out().println();
            Table s = new Table("SWITCH", "QPS", "REQUESTS", "FAILED", "SWITCH SECONDS");
            r.switches().forEach(x -> s.row(x.from() + " -> " + x.to(), x.qps(), x.requests(), x.failed(),
                    String.format("%.2f", x.switchSeconds())));
            s.print(out());
        }
    }

    private static String fmt(double ms) {
        return String.format("%.3f", ms);
    }

    /** Latency by percentile per path (log x: 1 / (1 - p)), and QPS against enrolled pods. */
    static void plot(Bench.Report r, Path file) throws Exception {
        XYChart lat = new XYChartBuilder().width(900).height(500).title("Latency by percentile")
                .xAxisTitle("percentile (1/(1-p), log)").yAxisTitle("latency ms").build();
        lat.getStyler().setXAxisLogarithmic(true).setLegendPosition(Styler.LegendPosition.InsideNW);
        for (Map.Entry<String, Histogram> e : r.histograms().entrySet()) {
            List<Double> xs = new ArrayList<>();
            List<Double> ys = new ArrayList<>();
            for (double p : new double[] {50, 75, 90, 95, 99, 99.5, 99.9, 99.99}) {
                xs.add(1 / (1 - p / 100));
                ys.add(e.getValue().getValueAtPercentile(p) / 1000.0);
            }
            if (e.getValue().getTotalCount() > 0) {
                lat.addSeries(e.getKey(), xs, ys);
            }
        }
        XYChart q = new XYChartBuilder().width(900).height(400).title("QPS against enrolled pods")
                .xAxisTitle("enrolled pods (log)").yAxisTitle("QPS").build();
        q.getStyler().setXAxisLogarithmic(true).setLegendPosition(Styler.LegendPosition.InsideSW);
        for (String mode : List.of("ebpf", "iptables", "nftables")) {
            Map<Integer, List<Double>> byPods = new java.util.TreeMap<>();
            r.runs().stream().filter(x -> x.mode().equals(mode))
                    .forEach(x -> byPods.computeIfAbsent(x.pods(), k -> new ArrayList<>()).add(x.qps()));
            if (!byPods.isEmpty()) {
                q.addSeries(mode, byPods.keySet().stream().map(Integer::doubleValue).toList(), byPods.values().stream()
                        .map(l -> l.stream().mapToDouble(Double::doubleValue).average().orElse(0)).toList());
            }
        }
        var a = BitmapEncoder.getBufferedImage(lat);
        var b = q.getSeriesMap().isEmpty() ? null : BitmapEncoder.getBufferedImage(q);
        var img = new java.awt.image.BufferedImage(900, 500 + (b == null ? 0 : 400),
                java.awt.image.BufferedImage.TYPE_INT_RGB);
        var gfx = img.createGraphics();
        gfx.drawImage(a, 0, 0, null);
        if (b != null) {
            gfx.drawImage(b, 0, 500, null);
        }
        gfx.dispose();
        javax.imageio.ImageIO.write(img, "png", file.toFile());
    }
}
