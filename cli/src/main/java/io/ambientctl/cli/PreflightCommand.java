package io.ambientctl.cli;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import io.ambientctl.preflight.CheckResult;
import io.ambientctl.preflight.Host;
import io.ambientctl.preflight.KernelProbes;
import io.ambientctl.preflight.Preflight;
import io.ambientctl.redirect.RedirectMode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "preflight", header = "Tell whether this host can do each redirection mode, and how to fix what is missing.",
         description = {
    "Tell whether this kernel and host can do each redirection mode, and how to fix what is missing. The features "
            + "are probed themselves (loading tiny programs; creating a qdisc, rules, sets, nftables tables and routes in a throw-away "
            + "network namespace that is removed again): a kernel release alone only warns. Changes nothing on the host.",
    "Exit code 3 when a check the mode requires fails."},
        footerHeading = "%nExamples:%n", footer = {"  ambientctl preflight", "  ambientctl preflight --mode iptables -o json",
            "  ambientctl preflight --mode nftables"})
public class PreflightCommand extends BaseCommand implements Callable<Integer> {
    @Option(names = "--mode", paramLabel = "MODE",
            description = "ebpf, iptables or nftables: check that mode only, and mark what it requires (default: all modes, "
                    + "with what the node's current mode requires).")
    String mode;

    static Map<String, Object> document(Preflight.Report r) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("mode", r.mode() == null ? "all" : r.mode().name());
        doc.put("ok", r.ok());
        doc.put("checks", r.checks());
        return doc;
    }

    static void table(java.io.PrintWriter out, Preflight.Report r) {
        Table t = new Table("CHECK", "STATUS", "REQUIRED", "DETAIL");
        for (CheckResult c : r.checks()) {
            t.row(c.id(), c.status(), c.required() ? "yes" : "", c.detail());
        }
        t.print(out);
        List<CheckResult> todo = r.checks().stream().filter(c -> c.fix() != null
                && (c.status() == CheckResult.Status.fail || c.status() == CheckResult.Status.warn)).toList();
        if (!todo.isEmpty()) {
            out.println();
            out.println("What to do:");
            todo.forEach(c -> out.println("  " + c.id() + ": " + c.fix()));
        }
        out.println();
        out.println(r.ok() ? "OK: " + (r.mode() == null ? "nothing required is missing" : r.mode() + " mode can run here")
                : "NOT OK: " + (r.mode() == null ? "a required check" : r.mode() + " mode needs what failed above"));
    }

    @Override
    public Integer call() {
        RedirectMode m = mode == null ? null : RedirectMode.parse(mode);
        if (m == RedirectMode.none) {
            throw new IllegalArgumentException("--mode takes ebpf, iptables or nftables");
        }
        RedirectMode required = m;
        io.ambientctl.redirect.State recorded = node(null).recorded();
        if (required == null) {
            RedirectMode current = recorded.mode;
            required = current == RedirectMode.none ? null : current;
        }
        KernelProbes probes = new KernelProbes(config().nodeNetns());
        Preflight.Report report;
        try {
            Host h = Host.real();
            report = new Preflight(new Host(h.proc(), h.sys(), h.boot(), h.path(), probes), config().bpffs(), m,
                    m != null ? m : required).markBit(recorded.options().markBit()).run();
        } finally {
            probes.close();
        }
        Output.render(g(), out(), document(report), () -> table(out(), report));
        return report.ok() ? ExitCode.OK : ExitCode.PREFLIGHT;
    }
}
