package io.ambientctl.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.LabServices;
import io.ambientctl.lab.ZtunnelStandIn;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.NodeState;
import io.ambientctl.redirect.Redirectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "lab", header = "A local lab of network namespaces that stands in for a node", description = {
    "A local lab of network namespaces that stands in for a node: NAME-node (the node, with forwarding and the "
            + "node IP 10.77.255.1 / fd77::ff:1), NAME-zt (ztunnel's Pod, 10.77.0.2 / fd77::2, running a ztunnel "
            + "stand-in that listens transparently on 15001/15006/15008/15053, records each connection's original "
            + "destination and proxies it on) and NAME-p1.. (pods 10.77.0.11.. / fd77::11.., each with echo "
            + "servers on TCP/UDP 8080, 15008 and 53). Work on it with --lab NAME. Nothing touches the host's own "
            + "network namespace."},
        footerHeading = "%nExamples:%n", footer = {
            "  ambientctl lab up --name demo --pods 3",
            "  ambientctl --lab demo ztunnel set --netns demo-zt",
            "  ambientctl --lab demo enroll --netns demo-p1",
            "  ip netns exec demo-p1 bash -c 'echo hi > /dev/tcp/10.77.0.12/8080'",
            "  ambientctl lab status --name demo",
            "  ambientctl lab down --name demo"})
public class LabCommand extends BaseCommand implements Runnable {
    static final String DEFAULT_NAME = "lab";

    @Override
    public void run() {
        spec.commandLine().usage(out());
    }

    static Path dir(GlobalOptions g, String name) {
        return labStateDir(g, name);
    }

    static Path pidFile(GlobalOptions g, String name) {
        return dir(g, name).resolve("serve.pid");
    }

    static Path captureLog(GlobalOptions g, String name) {
        return dir(g, name).resolve("captures.jsonl");
    }

    static Optional<ProcessHandle> daemon(GlobalOptions g, String name) {
        try {
            Path p = pidFile(g, name);
            if (!Files.exists(p)) {
                return Optional.empty();
            }
            long pid = Long.parseLong(Files.readString(p).strip());
            return ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    static int podCount(Path dir) {
        try {
            return Integer.parseInt(Files.readString(dir.resolve("pods")).strip());
        } catch (IOException | NumberFormatException e) {
            return 3;
        }
    }

    @Command(name = "up", header = "Create a lab and start its services",
            description = "Create the lab (replacing one of the same name) and start its services (echo servers, the "
                    + "ztunnel stand-in) in the background.",
            footerHeading = "%nExamples:%n", footer = {"  ambientctl lab up", "  ambientctl lab up --name demo --pods 5"})
    static class Up extends BaseCommand implements Callable<Integer> {
        @Option(names = "--name", description = "Lab name (default: ${DEFAULT-VALUE}).", defaultValue = DEFAULT_NAME)
        String name;

        @Option(names = "--pods", description = "Number of pods (default: ${DEFAULT-VALUE}).", defaultValue = "3")
        int pods;

        @Override
        public Integer call() throws Exception {
            Lab lab = Lab.named(name, pods);
            GlobalOptions g = g();
            new Down().teardown(g, name, this::info);
            Path dir = dir(g, name);
            NodeState.ensureDir(g.stateDir); // 0700, ours: as every state directory
            NodeState.ensureDir(dir);
            Files.writeString(dir.resolve("pods"), Integer.toString(pods));
            info("creating lab " + name + " (" + pods + " pods) ...");
            lab.up();
            // the services outlive this command: a background 'lab serve' keeps them
            String java = ProcessHandle.current().info().command().orElse("java");
            List<String> cmd = new ArrayList<>(List.of(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp",
                    System.getProperty("java.class.path"), Main.class.getName(), "--state-dir", g.stateDir.toString(),
                    "lab", "serve", "--name", name));
            Path log = dir.resolve("serve.log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            Files.writeString(pidFile(g, name), Long.toString(p.pid()));
            Path ready = dir.resolve("ready");
            // every pod's echo servers start before 'ready': allow for a thousand pods on a busy machine
            long waitMs = 10_000 + 30L * pods;
            for (long i = 0; i < waitMs / 50 && !Files.exists(ready); i++) {
                if (!p.isAlive()) {
                    lab.down();
                    throw new IllegalStateException("the lab's services did not start: " + Files.readString(log).strip());
                }
                Thread.sleep(50);
            }
            if (!Files.exists(ready)) {
                p.destroy();
                p.waitFor(5, TimeUnit.SECONDS);
                String said = Files.exists(log) ? Files.readString(log).strip() : "";
                lab.down();
                throw new IllegalStateException("the lab's services did not start within " + waitMs / 1000 + " s"
                        + (said.isEmpty() ? " (they said nothing)" : ": " + said));
            }
            Map<String, Object> doc = Status.document(g, lab);
            Output.render(g, out(), doc, () -> {
                Status.table(out(), doc);
                out().println();
                out().println("next: ambientctl --lab " + name + " ztunnel set --netns " + lab.ztunnel().name());
                out().println("      ambientctl --lab " + name + " enroll --netns " + lab.pod(1).netns().name());
            });
            return ExitCode.OK;
        }
    }

    @Command(name = "down", header = "Remove a lab and everything of it",
            description = "Stop the lab's services, delete its namespaces, and remove ambientctl's pins and state of "
                    + "the lab. Idempotent.",
            footerHeading = "%nExamples:%n", footer = {"  ambientctl lab down", "  ambientctl lab down --name demo"})
    static class Down extends BaseCommand implements Callable<Integer> {
        @Option(names = "--name", description = "Lab name (default: ${DEFAULT-VALUE}).", defaultValue = DEFAULT_NAME)
        String name;

        void teardown(GlobalOptions g, String labName, java.util.function.Consumer<String> say) {
            Path dir = dir(g, labName);
            daemon(g, labName).ifPresent(h -> {
                h.destroy();
                h.onExit().orTimeout(5, java.util.concurrent.TimeUnit.SECONDS).exceptionally(t -> {
                    h.destroyForcibly();
                    return h;
                }).join();
            });
            Lab lab = Lab.named(labName, Math.max(1, podCount(dir)));
            boolean wasUp = lab.node().exists();
            lab.down();
            Redirectors.forget(new NodeConfig(labBpffs(labName), dir, lab.node()));
            try {
                if (Files.exists(dir)) {
                    try (var s = Files.walk(dir)) {
                        for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                            Files.deleteIfExists(p);
                        }
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot remove " + dir, e);
            }
            if (wasUp) {
                say.accept("lab " + labName + " removed");
            }
        }

        @Override
        public Integer call() {
            teardown(g(), name, line -> out().println(line));
            return ExitCode.OK;
        }
    }

    @Command(name = "status", header = "A lab's namespaces, services and captures",
            description = "The lab's namespaces, addresses, services and what the ztunnel stand-in captured (the "
                    + "last 10 connections; all of them with -o json).",
            footerHeading = "%nExamples:%n", footer = {"  ambientctl lab status", "  ambientctl lab status --name demo -o json"})
    static class Status extends BaseCommand implements Callable<Integer> {
        @Option(names = "--name", description = "Lab name (default: ${DEFAULT-VALUE}).", defaultValue = DEFAULT_NAME)
        String name;

        static Map<String, Object> document(GlobalOptions g, Lab lab) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("name", lab.name());
            doc.put("up", lab.isUp());
            doc.put("servicesRunning", daemon(g, lab.name()).isPresent());
            doc.put("node", Map.of("netns", lab.node().name(), "ips", List.of(Lab.NODE_IP4, Lab.NODE_IP6)));
            doc.put("ztunnel", Map.of("netns", lab.ztunnel().name(), "ips", List.of(Lab.ZTUNNEL_IP4, Lab.ZTUNNEL_IP6),
                    "hostInterface", "vzt"));
            List<Map<String, Object>> pods = new ArrayList<>();
            for (Lab.Pod p : lab.pods()) {
                pods.add(Map.of("name", p.name(), "netns", p.netns().name(), "ips", List.of(p.ipv4(), p.ipv6()),
                        "hostInterface", p.hostInterface()));
            }
            doc.put("pods", pods);
            doc.put("captures", LabServices.readLog(captureLog(g, lab.name())));
            return doc;
        }

        @SuppressWarnings("unchecked")
        static void table(java.io.PrintWriter out, Map<String, Object> doc) {
            out.println("lab " + doc.get("name") + ": " + ((Boolean) doc.get("up") ? "up" : "down")
                    + ", services " + ((Boolean) doc.get("servicesRunning") ? "running" : "stopped"));
            Table t = new Table("ROLE", "NETNS", "IPS", "HOST VETH");
            Map<String, Object> node = (Map<String, Object>) doc.get("node");
            t.row("node", node.get("netns"), String.join(",", (List<String>) node.get("ips")), "");
            Map<String, Object> zt = (Map<String, Object>) doc.get("ztunnel");
            t.row("ztunnel", zt.get("netns"), String.join(",", (List<String>) zt.get("ips")), zt.get("hostInterface"));
            for (Map<String, Object> p : (List<Map<String, Object>>) doc.get("pods")) {
                t.row("pod", p.get("netns"), String.join(",", (List<String>) p.get("ips")), p.get("hostInterface"));
            }
            t.print(out);
            List<ZtunnelStandIn.Capture> caps = (List<ZtunnelStandIn.Capture>) doc.get("captures");
            out.println();
            out.println("ztunnel stand-in captured " + caps.size() + " connection(s)"
                    + (caps.isEmpty() ? "" : ", the last ones:"));
            Table c = new Table("PORT", "PROTO", "SOURCE", "ORIGINAL DESTINATION");
            caps.subList(Math.max(0, caps.size() - 10), caps.size())
                    .forEach(x -> c.row(x.port(), x.protocol(), x.source(), x.originalDestination()));
            if (!caps.isEmpty()) {
                c.print(out);
            }
        }

        @Override
        public Integer call() {
            Lab lab = Lab.named(name, Math.max(1, podCount(dir(g(), name))));
            Map<String, Object> doc = document(g(), lab);
            Output.render(g(), out(), doc, () -> table(out(), doc));
            return ExitCode.OK;
        }
    }

    @Command(name = "serve", hidden = true, description = "Runs the lab's services until stopped (lab up starts it).")
    static class Serve extends BaseCommand implements Callable<Integer> {
        @Option(names = "--name", defaultValue = DEFAULT_NAME)
        String name;

        @Override
        public Integer call() throws Exception {
            GlobalOptions g = g();
            Lab lab = Lab.named(name, podCount(dir(g, name)));
            CountDownLatch stop = new CountDownLatch(1);
            try (LabServices s = LabServices.start(lab, captureLog(g, name))) {
                Files.writeString(dir(g, name).resolve("ready"), "ok");
                Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
                stop.await();
            }
            return ExitCode.OK;
        }
    }
}
