package io.ambientctl.preflight;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.zip.GZIPInputStream;

import io.ambientctl.redirect.RedirectMode;

/**
 * Whether this host can do each redirection mode, and what to do about what is missing. The
 * features are probed themselves (distributions backport): a kernel release alone only warns.
 * Preflight changes nothing on the host.
 */
public final class Preflight {
    /** The kernel options that matter, and the mode that needs each (null: informational). */
    static final Map<String, RedirectMode> CONFIG = new LinkedHashMap<>();

    static {
        CONFIG.put("CONFIG_BPF", RedirectMode.ebpf);
        CONFIG.put("CONFIG_BPF_SYSCALL", RedirectMode.ebpf);
        CONFIG.put("CONFIG_NET_CLS_BPF", RedirectMode.ebpf);
        CONFIG.put("CONFIG_NET_SCH_INGRESS", RedirectMode.ebpf);
        CONFIG.put("CONFIG_NET_CLS_ACT", RedirectMode.ebpf);
        CONFIG.put("CONFIG_NET_ACT_BPF", null);
        CONFIG.put("CONFIG_BPF_JIT", null);
        CONFIG.put("CONFIG_DEBUG_INFO_BTF", null);
        CONFIG.put("CONFIG_NETFILTER_XT_TARGET_TPROXY", RedirectMode.iptables);
        CONFIG.put("CONFIG_IP_SET", RedirectMode.iptables);
        CONFIG.put("CONFIG_NF_TABLES", RedirectMode.nftables);
        CONFIG.put("CONFIG_NF_TABLES_INET", RedirectMode.nftables);
        CONFIG.put("CONFIG_NFT_SOCKET", RedirectMode.nftables);
        CONFIG.put("CONFIG_NFT_TPROXY", RedirectMode.nftables);
    }

    // capability bits (linux/capability.h)
    static final int CAP_NET_ADMIN = 12;
    static final int CAP_NET_RAW = 13;
    static final int CAP_SYS_PTRACE = 19;
    static final int CAP_SYS_RESOURCE = 24;
    static final int CAP_SYS_ADMIN = 21;
    static final int CAP_PERFMON = 38;
    static final int CAP_BPF = 39;

    private final Host host;
    private final Path bpffs;
    private final RedirectMode only; // null: both modes are checked
    private final RedirectMode mode; // the mode whose needs are required; null: none
    private int markBit = io.ambientctl.redirect.Marks.DEFAULT_NODE_BIT;
    private Coexistence.IstioPaths istioPaths;

    /** Checks {@code only} that mode (null: both) and marks what {@code required} needs (null: nothing). */
    public Preflight(Host host, Path bpffs, RedirectMode only, RedirectMode required) {
        this.host = host;
        this.bpffs = bpffs;
        this.only = only;
        this.mode = required;
    }

    /** The node's mark bit to look for in other owners' rules (default: Marks' default). */
    public Preflight markBit(int bit) {
        this.markBit = io.ambientctl.redirect.Marks.requireBit(bit);
        return this;
    }

    /** Where to look for istio-cni's CNI configuration and ztunnel's socket directory (default: the host's, or under a fake root). */
    public Preflight istioPaths(Coexistence.IstioPaths paths) {
        this.istioPaths = paths;
        return this;
    }

    private Coexistence.IstioPaths istioPathsOrDefault() {
        if (istioPaths != null) {
            return istioPaths;
        }
        return host.proc().equals(java.nio.file.Path.of("/proc")) ? Coexistence.IstioPaths.REAL
                : Coexistence.IstioPaths.under(host.proc().getParent());
    }

    /** Checks one mode and marks what it requires. */
    public Preflight(Host host, Path bpffs, RedirectMode mode) {
        this(host, bpffs, mode, mode);
    }

    /** The whole report. */
    public record Report(RedirectMode mode, List<CheckResult> checks) {
        public boolean ok() {
            return checks.stream().noneMatch(CheckResult::blocking);
        }
    }

    private boolean req(RedirectMode needed) {
        return needed != null && mode == needed;
    }

    private boolean checks(RedirectMode m) {
        return only == null || only == m;
    }

    public Report run() {
        List<CheckResult> out = new ArrayList<>();
        int[] release = kernel(out);
        out.add(jit());
        out.add(btf());
        config(out, release);
        out.add(capabilities(release));
        if (checks(RedirectMode.ebpf)) {
            out.add(bpffs());
            out.add(memlock(release));
            ebpfProbes(out);
        }
        if (checks(RedirectMode.iptables)) {
            iptables(out);
        }
        if (checks(RedirectMode.nftables)) {
            nftables(out);
        }
        out.add(routing());
        out.add(others());
        coexistence(out);
        return new Report(mode, out);
    }

    // ---- kernel release ----

    static int[] parseRelease(String r) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^(\\d+)\\.(\\d+)").matcher(r);
        return m.find() ? new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))} : null;
    }

    static boolean atLeast(int[] v, int major, int minor) {
        return v != null && (v[0] > major || (v[0] == major && v[1] >= minor));
    }

    private int[] kernel(List<CheckResult> out) {
        Optional<String> r = host.read(host.proc().resolve("sys/kernel/osrelease"));
        if (r.isEmpty()) {
            out.add(CheckResult.warn("kernel.release", false, "cannot read " + host.proc()
                    + "/sys/kernel/osrelease", "check that /proc is mounted"));
            return null;
        }
        int[] v = parseRelease(r.get());
        List<String> implies = new ArrayList<>();
        implies.add(atLeast(v, 4, 20) ? "TC eBPF with bpf_redirect across namespaces (4.20+)" : "no reliable TC "
                + "eBPF redirect (before 4.20)");
        implies.add(atLeast(v, 5, 7) ? "bpf_sk_assign (5.7+)" : "no bpf_sk_assign (before 5.7)");
        implies.add(atLeast(v, 5, 11) ? "BPF memory charged to the cgroup (5.11+)" : "BPF memory counts against "
                + "RLIMIT_MEMLOCK (before 5.11)");
        implies.add(atLeast(v, 6, 6) ? "TCX links (6.6+)" : "no TCX: the clsact qdisc is used (before 6.6)");
        String detail = r.get() + ": " + String.join("; ", implies);
        if (!atLeast(v, 4, 20)) {
            out.add(CheckResult.warn("kernel.release", false, detail, "eBPF mode needs 4.20+ (5.7+ for sk_assign); "
                    + "use iptables mode, or upgrade the kernel (the probes below decide)"));
        } else if (!atLeast(v, 5, 7)) {
            out.add(CheckResult.warn("kernel.release", false, detail, "eBPF mode needs bpf_sk_assign (5.7+): "
                    + "use iptables mode or upgrade the kernel (the probes below decide)"));
        } else {
            out.add(CheckResult.pass("kernel.release", false, detail));
        }
        return v;
    }

    private CheckResult jit() {
        Optional<String> j = host.read(host.proc().resolve("sys/net/core/bpf_jit_enable"));
        if (j.isEmpty()) {
            return CheckResult.skip("bpf.jit", false, "net.core.bpf_jit_enable not present (no JIT, or always on)");
        }
        return j.get().equals("0")
                ? CheckResult.warn("bpf.jit", false, "the BPF JIT is off: programs are interpreted (slower)",
                        "sysctl -w net.core.bpf_jit_enable=1")
                : CheckResult.pass("bpf.jit", false, "net.core.bpf_jit_enable=" + j.get());
    }

    private CheckResult btf() {
        Path p = host.sys().resolve("kernel/btf/vmlinux");
        return Files.exists(p) ? CheckResult.pass("btf.vmlinux", false, p + " present")
                : CheckResult.warn("btf.vmlinux", false, "no kernel BTF at " + p + " (bpftool and CO-RE tooling "
                        + "see less)", "a kernel built with CONFIG_DEBUG_INFO_BTF=y");
    }

    // ---- kernel config ----

    private Optional<String> readConfig(int[] release) {
        Optional<String> rel = host.read(host.proc().resolve("sys/kernel/osrelease"));
        if (rel.isPresent()) {
            Optional<String> boot = host.read(host.boot().resolve("config-" + rel.get()));
            if (boot.isPresent()) {
                return boot;
            }
        }
        Path gz = host.proc().resolve("config.gz");
        if (Files.exists(gz)) {
            try (var in = new GZIPInputStream(new ByteArrayInputStream(Files.readAllBytes(gz)))) {
                return Optional.of(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                return Optional.empty();
            }
        }
        return Optional.empty();
    }

    private void config(List<CheckResult> out, int[] release) {
        Optional<String> cfg = readConfig(release);
        if (cfg.isEmpty()) {
            out.add(CheckResult.skip("kernel.config", false, "unknown: neither " + host.boot()
                    + "/config-RELEASE nor " + host.proc() + "/config.gz is readable; the probes decide"));
            return;
        }
        out.add(CheckResult.pass("kernel.config", false, "read"));
        Map<String, String> values = new LinkedHashMap<>();
        for (String line : cfg.get().split("\n")) {
            if (line.startsWith("CONFIG_") && line.contains("=")) {
                values.put(line.substring(0, line.indexOf('=')), line.substring(line.indexOf('=') + 1));
            }
        }
        for (var e : CONFIG.entrySet()) {
            if (e.getValue() != null && !checks(e.getValue())) {
                continue;
            }
            String v = values.get(e.getKey());
            String id = "config." + e.getKey();
            if ("y".equals(v) || "m".equals(v)) {
                out.add(CheckResult.pass(id, false, e.getKey() + "=" + v));
            } else {
                // the probes decide whether the mode works; a missing option only warns
                out.add(CheckResult.warn(id, false, e.getKey() + " is not set",
                        "a kernel with " + e.getKey() + "=y (or =m and the module loaded)"));
            }
        }
    }

    // ---- capabilities, bpffs, memlock ----

    static long capEff(String status) {
        for (String line : status.split("\n")) {
            if (line.startsWith("CapEff:")) {
                return Long.parseUnsignedLong(line.substring(7).strip(), 16);
            }
        }
        return 0;
    }

    /** A capability the redirection uses: its bit, the mode that needs it (null: both), and what for. */
    public record Capability(String name, int bit, RedirectMode mode, boolean required, String why) {
    }

    /**
     * Every capability ambientctl uses, in the order a fix names them; the DaemonSet adds exactly these
     * (ManifestsTest). CAP_SYS_ADMIN also covers CAP_BPF and CAP_PERFMON; CAP_SYS_PTRACE and CAP_SYS_RESOURCE
     * are needed only in some situations and only warn.
     */
    public static final List<Capability> CAPABILITIES = List.of(
            new Capability("BPF", CAP_BPF, RedirectMode.ebpf, true, "load programs, create and pin maps"),
            new Capability("PERFMON", CAP_PERFMON, RedirectMode.ebpf, true, "programs that read kernel memory"),
            new Capability("NET_ADMIN", CAP_NET_ADMIN, null, true, "TC hooks, routes, rules, iptables and ipsets"),
            new Capability("NET_RAW", CAP_NET_RAW, RedirectMode.iptables, true,
                    "iptables and ipset (the set match, -m socket, TPROXY)"),
            new Capability("SYS_ADMIN", CAP_SYS_ADMIN, null, true, "setns into the Pods' and ztunnel's network namespaces"),
            new Capability("SYS_PTRACE", CAP_SYS_PTRACE, null, false,
                    "open other processes' /proc/PID/ns/net (Pods' namespaces found through /proc)"),
            new Capability("SYS_RESOURCE", CAP_SYS_RESOURCE, RedirectMode.ebpf, false,
                    "raise RLIMIT_MEMLOCK for maps (kernels before 5.11)"));

    private long capEff() {
        return host.read(host.proc().resolve("self/status")).map(Preflight::capEff).orElse(0L);
    }

    private boolean has(int bit) {
        return (capEff() & (1L << bit)) != 0;
    }

    private CheckResult capabilities(int[] release) {
        long caps = capEff();
        boolean sysAdmin = (caps & (1L << CAP_SYS_ADMIN)) != 0;
        List<String> missing = new ArrayList<>();
        List<String> optional = new ArrayList<>();
        for (Capability c : CAPABILITIES) {
            if ((c.mode() != null && !checks(c.mode())) || (caps & (1L << c.bit())) != 0) {
                continue;
            }
            if ((c.bit() == CAP_BPF || c.bit() == CAP_PERFMON) && sysAdmin) {
                continue;
            }
            if (c.bit() == CAP_SYS_RESOURCE && atLeast(release, 5, 11)) {
                continue;
            }
            (c.required() ? missing : optional).add("CAP_" + c.name() + " (" + c.why() + ")");
        }
        boolean required = mode != null;
        if (missing.isEmpty() && optional.isEmpty()) {
            return CheckResult.pass("capabilities", required, "every capability the "
                    + (only == null ? "modes need" : only + " mode needs") + " (CapEff " + Long.toHexString(caps) + ")");
        }
        List<String> names = new ArrayList<>();
        for (String m : missing.isEmpty() ? optional : missing) {
            names.add(m.substring(0, m.indexOf(' ')));
        }
        String fix = "run as root, or grant " + String.join(" + ", names) + " (in a Pod: securityContext.capabilities.add: "
                + names.stream().map(n -> n.substring(4)).toList() + ")";
        if (missing.isEmpty()) {
            return CheckResult.warn("capabilities", false, "missing " + String.join(", ", optional)
                    + " (CapEff " + Long.toHexString(caps) + ")", fix);
        }
        return CheckResult.fail("capabilities", required, "missing " + String.join(", ", missing)
                + (optional.isEmpty() ? "" : "; also " + String.join(", ", optional))
                + " (CapEff " + Long.toHexString(caps) + ")", fix);
    }

    private CheckResult bpffs() {
        boolean required = req(RedirectMode.ebpf);
        Optional<String> mounts = host.read(host.proc().resolve("mounts"));
        String best = null;
        for (String line : mounts.orElse("").split("\n")) {
            String[] f = line.split(" ");
            if (f.length > 2 && f[2].equals("bpf") && bpffs.startsWith(f[1])
                    && (best == null || f[1].length() > best.length())) {
                best = f[1];
            }
        }
        if (best == null) {
            return CheckResult.fail("bpffs", required, "no bpf filesystem mounted at or above " + bpffs,
                    "mount -t bpf bpf /sys/fs/bpf (and add it to /etc/fstab)");
        }
        Path mp = Path.of(best);
        if (host.proc().equals(Path.of("/proc")) && !Files.isWritable(mp)) {
            return CheckResult.fail("bpffs", required, "bpffs at " + best + " is not writable",
                    "remount it read-write: mount -o remount,rw " + best);
        }
        return CheckResult.pass("bpffs", required, "bpffs mounted at " + best + " (pins under " + bpffs + ")");
    }

    private CheckResult memlock(int[] release) {
        Optional<String> limits = host.read(host.proc().resolve("self/limits"));
        String lim = limits.flatMap(l -> l.lines().filter(x -> x.startsWith("Max locked memory")).findFirst())
                .map(x -> x.replace("Max locked memory", "").strip().split("\\s+")[0]).orElse("unknown");
        if (atLeast(release, 5, 11)) {
            return CheckResult.pass("memlock", false, "not needed on 5.11+ (memlock limit " + lim + ")");
        }
        boolean enough = lim.equals("unlimited") || (lim.matches("\\d+") && Long.parseLong(lim) >= 64L << 20);
        return enough ? CheckResult.pass("memlock", req(RedirectMode.ebpf), "memlock limit " + lim)
                : CheckResult.fail("memlock", req(RedirectMode.ebpf), "memlock limit " + lim + " bytes: BPF maps "
                        + "are charged to it before 5.11", "ulimit -l unlimited (systemd: LimitMEMLOCK=infinity)");
    }

    // ---- probes ----

    private void ebpfProbes(List<CheckResult> out) {
        boolean r = req(RedirectMode.ebpf);
        Probes.Answer a = host.probes().schedClsLoads();
        out.add(a.ok() ? CheckResult.pass("bpf.sched_cls", r, a.detail())
                : CheckResult.fail("bpf.sched_cls", r, a.detail(), "a kernel with CONFIG_BPF_SYSCALL and "
                        + "CONFIG_NET_CLS_BPF, run as root (or CAP_BPF + CAP_NET_ADMIN)"));
        for (String h : List.of("bpf_redirect", "bpf_skc_lookup_tcp", "bpf_sk_assign", "bpf_redirect_peer")) {
            boolean needed = !h.equals("bpf_redirect_peer") && r;
            Probes.Answer x = host.probes().helper(h);
            String first = switch (h) {
                case "bpf_redirect" -> "4.4";
                case "bpf_skc_lookup_tcp" -> "5.2";
                case "bpf_sk_assign" -> "5.7";
                default -> "5.10";
            };
            out.add(x.ok() ? CheckResult.pass("bpf.helper." + h, needed, x.detail())
                    : (needed ? CheckResult.fail("bpf.helper." + h, true, x.detail(), "needs kernel " + first
                            + "+; use iptables mode on this kernel")
                            : CheckResult.warn("bpf.helper." + h, needed, x.detail(), "kernel " + first + "+")));
        }
        Probes.Answer rb = host.probes().ringbuf();
        out.add(rb.ok() ? CheckResult.pass("bpf.ringbuf", false, rb.detail())
                : CheckResult.warn("bpf.ringbuf", false, rb.detail(), "nothing to do for the redirection; the "
                        + "monitor needs kernel 5.8+"));
        Probes.Answer t = host.probes().tcx();
        out.add(t.ok() ? CheckResult.pass("tc.tcx", false, t.detail())
                : CheckResult.warn("tc.tcx", false, t.detail(), "nothing to do: filters on the clsact qdisc "
                        + "are used (kernel 6.6+ has TCX)"));
        Probes.Answer c = host.probes().clsact();
        boolean cr = r && !t.ok();
        out.add(c.ok() ? CheckResult.pass("tc.clsact", cr, c.detail())
                : CheckResult.fail("tc.clsact", cr, c.detail(), "a kernel with CONFIG_NET_SCH_INGRESS "
                        + "(sch_ingress provides clsact)"));
    }

    private void iptables(List<CheckResult> out) {
        boolean r = req(RedirectMode.iptables);
        for (String tool : List.of("iptables", "ip6tables", "iptables-restore", "ip6tables-restore", "ipset")) {
            Optional<Path> p = host.tool(tool);
            out.add(p.isPresent() ? CheckResult.pass("tool." + tool, r, p.get().toString())
                    : CheckResult.fail("tool." + tool, r, tool + " not found on PATH",
                            "apt-get install " + (tool.equals("ipset") ? "ipset" : "iptables")));
        }
        if (host.tool("iptables").isEmpty() || host.tool("ipset").isEmpty()) {
            return;
        }
        // without CAP_NET_RAW the probes below fail however the kernel is built: say so, not "change the kernel"
        boolean noNetRaw = !has(CAP_NET_RAW);
        int[] rules = host.probes().iptablesRules();
        String d = "nft backend " + (rules[0] < 0 ? "absent" : rules[0] + " rules") + ", legacy backend "
                + (rules[1] < 0 ? "absent" : rules[1] + " rules");
        out.add(rules[0] > 0 && rules[1] > 0
                ? CheckResult.warn("iptables.backend", false, d + ": both hold rules; ambientctl uses nft",
                        "move the legacy rules to nft (iptables-legacy-save | iptables-nft-restore)")
                : CheckResult.pass("iptables.backend", false, d + "; ambientctl uses "
                        + (rules[1] > 0 && rules[0] <= 0 ? "legacy" : "nft")));
        for (boolean v6 : new boolean[] {false, true}) {
            Probes.Answer a = host.probes().tproxy(v6);
            String id = v6 ? "iptables.tproxy6" : "iptables.tproxy";
            out.add(a.ok() ? CheckResult.pass(id, r, a.detail())
                    : CheckResult.fail(id, r, a.detail(), noNetRaw ? NET_RAW_FIX
                            : "a kernel with CONFIG_NETFILTER_XT_TARGET_TPROXY and "
                            + "CONFIG_NETFILTER_XT_MATCH_SOCKET (modprobe xt_TPROXY xt_socket)"));
        }
        Probes.Answer s = host.probes().ipsetMatch();
        out.add(s.ok() ? CheckResult.pass("iptables.ipset", r, s.detail())
                : CheckResult.fail("iptables.ipset", r, s.detail(), noNetRaw ? NET_RAW_FIX
                        : "a kernel with CONFIG_IP_SET and CONFIG_NETFILTER_XT_SET (modprobe ip_set_hash_ip xt_set)"));
    }

    private void nftables(List<CheckResult> out) {
        boolean r = req(RedirectMode.nftables);
        Probes.Answer lib = host.probes().nftablesLibrary();
        out.add(lib.ok() ? CheckResult.pass("nftables.library", r, lib.detail())
                : CheckResult.fail("nftables.library", r, lib.detail(), "apt-get install libnftables1 (1.0 or newer, "
                        + "built with JSON support as Debian's is)"));
        if (!lib.ok()) {
            return;
        }
        for (String feature : List.of("sets", "socket", "tproxy")) {
            Probes.Answer a = host.probes().nftables(feature);
            String id = "nftables." + feature;
            out.add(a.ok() ? CheckResult.pass(id, r, a.detail()) : CheckResult.fail(id, r, a.detail(), switch (feature) {
                case "sets" -> "a kernel with CONFIG_NF_TABLES and CONFIG_NF_TABLES_INET (modprobe nf_tables)";
                case "socket" -> "a kernel with CONFIG_NFT_SOCKET (modprobe nft_socket)";
                default -> "a kernel with CONFIG_NFT_TPROXY (modprobe nft_tproxy)";
            }));
        }
    }

    static final String NET_RAW_FIX = "this process lacks CAP_NET_RAW, which iptables and ipset need (see the capabilities"
            + " check): grant it (in a Pod: securityContext.capabilities.add: [NET_RAW]), or run as root";

    private CheckResult routing() {
        Probes.Answer a = host.probes().policyRouting();
        boolean r = mode != null;
        return a.ok() ? CheckResult.pass("routing.policy", r, a.detail())
                : CheckResult.fail("routing.policy", r, a.detail(), "a kernel with CONFIG_IP_MULTIPLE_TABLES and "
                        + "CONFIG_IPV6_MULTIPLE_TABLES");
    }

    /** Our mark bit, routing tables and preferences in other owners' rules; istio-cni on the node. */
    private void coexistence(List<CheckResult> out) {
        Coexistence.NodeRules rules;
        try {
            rules = host.probes().nodeRules();
        } catch (RuntimeException e) {
            out.add(CheckResult.skip("marks.node-bit", false, "could not read the node's rules: " + e.getMessage()));
            return;
        }
        String bit = io.ambientctl.redirect.Marks.hex(markBit);
        List<String> users = Coexistence.markUsers(rules, markBit);
        List<String> known = io.ambientctl.redirect.Marks.collisions(markBit).stream()
                .map(o -> o.owner() + " (" + io.ambientctl.redirect.Marks.hex(o.mask()) + ": " + o.use() + ")").toList();
        String fix = "choose a free bit: 'ambientctl mode set MODE --mark-bit BIT' (docs/datapath.md lists the bits "
                + "others use)";
        if (!users.isEmpty()) {
            out.add(CheckResult.warn("marks.node-bit", false, "the node's mark bit " + bit + " is used by "
                    + users.size() + " rule(s) of other owners: " + String.join("; ", users), fix));
        } else if (!known.isEmpty()) {
            out.add(CheckResult.warn("marks.node-bit", false, "the node's mark bit " + bit + " is a bit of "
                    + String.join(", ", known) + " (no rule here uses it yet)", fix));
        } else {
            out.add(CheckResult.pass("marks.node-bit", false, "the node's mark bit " + bit + " (" + bit + "/" + bit
                    + "): no other owner's rule uses it"));
        }
        List<String> routes = Coexistence.routingUsers(rules);
        out.add(routes.isEmpty() ? CheckResult.pass("routing.tables", false, "tables "
                + io.ambientctl.redirect.Marks.ZTUNNEL_TABLE + "/" + io.ambientctl.redirect.Marks.NODE_TABLE
                + " and rule preferences " + io.ambientctl.redirect.Marks.NODE_RULE_PREF + "/"
                + io.ambientctl.redirect.Marks.ZTUNNEL_RULE_PREF + " are free")
                : CheckResult.warn("routing.tables", false, "another owner's policy routing uses our table or rule "
                        + "preference: " + String.join("; ", routes), "move that owner's rules off tables 133/134 and "
                        + "preferences 32099/32100, or ambientctl's routing and theirs will mix"));
        List<String> istio = Coexistence.istioCni(rules, istioPathsOrDefault());
        out.add(istio.isEmpty() ? CheckResult.pass("istio-cni", false, "istio-cni not found on this node")
                : CheckResult.warn("istio-cni", false, "istio-cni is on this node: " + String.join("; ", istio)
                        + ". It owns the same label and the ambient.istio.io/redirection annotation: two controllers "
                        + "would fight over the Pods", "remove istio-cni's node agent (its DaemonSet) first, or run "
                        + "ambientctl's agent with --take-over to take its Pods over"));
    }

    private CheckResult others() {
        List<String> o = host.probes().otherPrograms();
        return o.isEmpty() ? CheckResult.pass("tc.others", false, "no other owner's TC programs on the node's veths")
                : CheckResult.warn("tc.others", false, o.size() + " program(s) of other owners on the node's veths: "
                        + String.join("; ", o), "nothing to do if they pass traffic on (TC_ACT_UNSPEC); ambientctl "
                        + "keeps them and uses its own priority 0xa3 / TCX position");
    }
}
