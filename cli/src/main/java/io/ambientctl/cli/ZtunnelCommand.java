package io.ambientctl.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

import io.ambientctl.kube.KubeNode;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.State;
import io.ambientctl.redirect.Ztunnel;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "ztunnel", header = "Declare, show or forget the node's ztunnel",
        description = "Declare, show or forget the node's ztunnel (the node proxy that enrolled workloads' "
                + "traffic is redirected to).",
        footerHeading = "%nExamples:%n", footer = {"  ambientctl ztunnel set --netns ztunnel", "  ambientctl ztunnel show"})
public class ZtunnelCommand extends BaseCommand implements Runnable {
    @Override
    public void run() {
        spec.commandLine().usage(out());
    }

    @Command(name = "set", header = "Declare the node's ztunnel and install its side of the mode", description = {
        "Declare the node's ztunnel and install its side of the current mode: in eBPF mode a program on its "
                + "host veth that sends traffic for enrolled workloads straight to their veths, and one on its eth0 "
                + "that assigns captured packets to its transparent listeners 15001 / 15006 / 15008 (15053 for DNS), "
                + "with the fwmark 0x111 -> table 133 local route in its namespace."},
            footerHeading = "%nExamples:%n", footer = {
                "  ambientctl ztunnel set --auto",
                "  ambientctl ztunnel set --pod istio-system/ztunnel-x7k2p",
                "  ambientctl ztunnel set --netns ztunnel",
                "  ambientctl ztunnel set --netns /proc/$(pgrep -o ztunnel)/ns/net --dns-capture"})
    static class Set extends BaseCommand implements Callable<Integer> {
        static class Where {
            @Option(names = "--netns", paramLabel = "NAME|PATH", required = true,
                    completionCandidates = NetnsNames.class,
                    description = "ztunnel's network namespace: a name under /var/run/netns or a path.")
            String netns;

            @Option(names = "--pod", paramLabel = "NS/NAME",
                    description = "ztunnel's Pod (NAME alone: in --ztunnel-namespace); it must run on this node.")
            String pod;

            @Option(names = "--auto", description = "The Ready Pod labelled app=ztunnel in --ztunnel-namespace "
                    + "(default istio-system) on this node; the newest if several.")
            boolean auto;
        }

        @ArgGroup(exclusive = true, multiplicity = "1")
        Where where;

        @Option(names = "--dns-capture", negatable = true,
                description = "Capture DNS (UDP/TCP 53) of enrolled workloads to ztunnel's 15053 (default: off; kept once set).")
        Boolean dnsCapture;

        @Option(names = "--fail-open", negatable = true,
                description = "While no ztunnel is set, let enrolled workloads' traffic pass instead of dropping it "
                        + "(default: fail closed; kept once set).")
        Boolean failOpen;

        @Option(names = "--dry-run", description = "Show the ztunnel that would be set; change nothing.")
        boolean dryRun;

        @Mixin
        WaitOption waitOption;

        @Override
        public Integer call() {
            Ztunnel zt;
            if (where.netns != null) {
                zt = node(waitOption.wait).ztunnelSet(NetNs.parse(where.netns), dnsCapture, failOpen, dryRun);
            } else {
                try (KubeNode kube = KubeSupport.connect(g(), node(waitOption.wait))) {
                    zt = kube.ztunnelSet(where.pod, dnsCapture, failOpen, dryRun);
                }
            }
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("dryRun", dryRun);
            doc.put("ztunnel", Docs.ztunnel(zt));
            String pod = zt.namespace() != null ? "Pod " + zt.namespace() + "/" + zt.name() + " in " : "";
            Output.render(g(), out(), doc, () -> out().println((dryRun ? "would set" : "ztunnel set") + ": " + pod
                    + zt.netns() + " " + String.join(",", zt.ips()) + " via " + zt.hostInterface() + " ("
                    + zt.hostIfindex() + ")"));
            return ExitCode.OK;
        }
    }

    @Command(name = "show", header = "Show the ztunnel endpoint in use",
            description = "Show the ztunnel endpoint in use as recorded: its namespace, addresses, interface, host "
                    + "veth and capture ports, whether DNS is captured, and what happens while none is set.",
            footerHeading = "%nExamples:%n", footer = {"  ambientctl ztunnel show", "  ambientctl ztunnel show -o yaml"})
    static class Show extends BaseCommand implements Callable<Integer> {
        @Override
        public Integer call() {
            State s = node(null).recorded();
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("ztunnel", Docs.ztunnel(s.ztunnel));
            doc.put("dnsCapture", s.dnsCapture);
            doc.put("failOpen", s.failOpen);
            Output.render(g(), out(), doc, () -> {
                if (s.ztunnel == null) {
                    out().println("no ztunnel set: enrolled workloads' traffic is "
                            + (s.failOpen ? "passed (fail open)" : "dropped (fail closed)"));
                    return;
                }
                Ztunnel z = s.ztunnel;
                if (z.namespace() != null) {
                    out().println("pod:        " + z.namespace() + "/" + z.name());
                }
                out().println("netns:      " + z.netns());
                out().println("ips:        " + String.join(", ", z.ips()));
                out().println("interface:  " + z.podInterface() + " " + z.podMac());
                out().println("host veth:  " + z.hostInterface() + " (ifindex " + z.hostIfindex() + ")");
                out().println("ports:      outbound 15001, inbound 15006, hbone 15008, dns 15053");
                out().println("dns:        " + (s.dnsCapture ? "captured" : "not captured"));
                out().println("no ztunnel: " + (s.failOpen ? "fail open" : "fail closed"));
            });
            return ExitCode.OK;
        }
    }

    @Command(name = "unset", header = "Forget ztunnel and remove its side",
            description = "Forget ztunnel and remove its side; enrolled workloads then fail closed "
            + "(their traffic is dropped) unless --fail-open was chosen.",
            footerHeading = "%nExamples:%n", footer = {"  ambientctl ztunnel unset --dry-run", "  ambientctl ztunnel unset"})
    static class Unset extends BaseCommand implements Callable<Integer> {
        @Option(names = "--dry-run", description = "Show the ztunnel that would be forgotten; change nothing.")
        boolean dryRun;

        @Mixin
        WaitOption waitOption;

        @Override
        public Integer call() {
            Ztunnel old = node(waitOption.wait).ztunnelUnset(dryRun);
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("dryRun", dryRun);
            doc.put("ztunnel", Docs.ztunnel(old));
            Output.render(g(), out(), doc, () -> out().println(old == null ? "no ztunnel was set"
                    : (dryRun ? "would unset " : "unset ") + old.netns()));
            return ExitCode.OK;
        }
    }
}
