package io.ambientctl.redirect.nftables;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.bpf.sys.NativeLibraryException;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.DatapathOptions;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.NodeRouting;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.redirect.Redirector;
import io.ambientctl.redirect.RuleTable;
import io.ambientctl.redirect.State;
import io.ambientctl.redirect.Verification;
import io.ambientctl.redirect.Workload;
import io.ambientctl.redirect.Ztunnel;
import io.ambientctl.redirect.ZtunnelRouting;
import io.ambientctl.util.Faults;

/**
 * nftables mode: the iptables mode's redirection ({@link NftRules}) in one table of ours per namespace
 * ({@code inet ambientctl}: a set of enrolled pod addresses per family and one prerouting chain), through
 * libnftables. Each change of a namespace's table is one nftables transaction, all or nothing in the kernel;
 * enrolling adds set elements and changes no rule. The node's policy routing ({@link NodeRouting}) is the
 * iptables mode's, and ztunnel's ({@link ZtunnelRouting}) every mode's. Nothing but our table is touched.
 */
public final class NftablesRedirector implements Redirector {
    private final NodeConfig cfg;
    private final State state;
    private final boolean readOnly;

    /** {@code readOnly}: for a reading command; the changing methods then throw. */
    public NftablesRedirector(NodeConfig cfg, State state, boolean readOnly) {
        this.cfg = cfg;
        this.state = state;
        this.readOnly = readOnly;
    }

    public NftablesRedirector(NodeConfig cfg, State state) {
        this(cfg, state, false);
    }

    private void requireWritable() {
        if (readOnly) {
            throw new IllegalStateException("a reading command tried to change the nftables mode");
        }
    }

    @Override
    public RedirectMode mode() {
        return RedirectMode.nftables;
    }

    // ---- the pieces, each run inside the namespace the calling thread is in ----

    /** One transaction. */
    private static void apply(String commands) {
        if (commands.isEmpty()) {
            return;
        }
        Faults.step("nft");
        Nftables.run(commands);
    }

    /** Whether our table is in the calling thread's namespace (false when libnftables is not installed). */
    @Override
    public boolean holdsNodeRouting() {
        return cfg.nodeNetns().call(NftablesRedirector::tablePresentHere);
    }

    public static boolean tablePresentHere() {
        try {
            return Nftables.objects(Nftables.json("list tables " + NftRules.FAMILY), "table").stream()
                    .anyMatch(t -> NftRules.TABLE.equals(t.path("name").asText()));
        } catch (NativeLibraryException e) {
            return false;
        }
    }

    /** Our table as the kernel has it: the sets' elements (canonical text) and the chain's rules. */
    public record Listing(Set<String> elements, boolean set4, boolean set6, boolean chain, int rules, JsonNode json,
                          boolean noDnsSets, boolean notrackChain, int notrackRules) {
        public boolean has(String ip) {
            return elements.contains(IpAddrs.format(IpAddrs.parse(ip)));
        }
    }

    /** Reads our table in the calling thread's namespace (one libnftables call), or null when it is not there. */
    public static Listing readHere() {
        if (!tablePresentHere()) {
            return null;
        }
        JsonNode n = Nftables.json("list table " + NftRules.table());
        Set<String> elements = new HashSet<>();
        boolean[] sets = new boolean[2];
        boolean noDns = false;
        for (JsonNode s : Nftables.objects(n, "set")) {
            String name = s.path("name").asText();
            noDns |= name.equals(NftRules.NODNS4);
            if (!name.equals(NftRules.SET4) && !name.equals(NftRules.SET6)) {
                continue;
            }
            sets[name.equals(NftRules.SET6) ? 1 : 0] = true;
            for (JsonNode e : s.path("elem")) {
                String text = e.isTextual() ? e.asText() : e.path("elem").path("val").asText(null);
                if (text != null) {
                    elements.add(IpAddrs.format(IpAddrs.parse(text)));
                }
            }
        }
        boolean chain = Nftables.objects(n, "chain").stream().anyMatch(c -> NftRules.CHAIN.equals(c.path("name")
                .asText()) && "prerouting".equals(c.path("hook").asText()));
        int rules = (int) Nftables.objects(n, "rule").stream().filter(r -> NftRules.CHAIN.equals(r.path("chain")
                .asText())).count();
        boolean notrack = Nftables.objects(n, "chain").stream().anyMatch(c -> NftRules.NOTRACK_CHAIN.equals(c.path(
                "name").asText()));
        int notrackRules = (int) Nftables.objects(n, "rule").stream().filter(r -> NftRules.NOTRACK_CHAIN.equals(r
                .path("chain").asText())).count();
        return new Listing(elements, sets[0], sets[1], chain, rules, n, noDns, notrack, notrackRules);
    }

    private List<String> enrolledIps() {
        List<String> ips = new ArrayList<>();
        state.workloads.forEach(w -> ips.addAll(w.ips()));
        return ips;
    }

    private static List<String> ipsOf(List<Workload> ws) {
        List<String> ips = new ArrayList<>();
        ws.forEach(w -> ips.addAll(w.ips()));
        return ips;
    }

    private void nodeSide(Ztunnel zt, DatapathOptions o) {
        apply(NftRules.node(zt, o));
        NodeRouting.ensureHere(zt, o.markBit());
    }

    /** The addresses of the workloads that opted out of DNS capture. */
    private static List<String> noDnsIps(List<Workload> ws) {
        List<String> ips = new ArrayList<>();
        ws.stream().filter(Workload::noDnsCapture).forEach(w -> ips.addAll(w.ips()));
        return ips;
    }

    private static void removeTableHere() {
        if (tablePresentHere()) {
            apply(NftRules.removal());
        }
    }

    private void inZtunnel(Ztunnel zt, Consumer<NetNs> body) {
        io.ambientctl.redirect.Spaces.inZtunnel(zt, body);
    }

    private List<NetNs> ztunnelAndNode() {
        return io.ambientctl.redirect.Spaces.nodeAndZtunnel(cfg, state.ztunnel);
    }

    // ---- Redirector ----

    @Override
    public void installZtunnel(Ztunnel zt, DatapathOptions o) {
        installZtunnel(zt, o, false);
    }

    /** {@code rollingBack}: putting the previous ztunnel back after a failure; failing again then just throws. */
    private void installZtunnel(Ztunnel zt, DatapathOptions o, boolean rollingBack) {
        requireWritable();
        NetNs ztNs = NetNs.parse(zt.netns());
        try {
            ztNs.run(() -> {
                apply(NftRules.ztunnel(o) + NftRules.addElements(enrolledIps())); // one transaction
                ZtunnelRouting.ensureHere();
            });
            cfg.nodeNetns().run(() -> nodeSide(zt, o));
        } catch (RuntimeException e) {
            if (rollingBack) {
                throw e;
            }
            // leave the node as before: the previous ztunnel's table (or none)
            try {
                ztNs.run(NftablesRedirector::removeTableHere);
                if (state.ztunnel != null && state.ztunnel.netns().equals(zt.netns())) {
                    installZtunnel(state.ztunnel, state.options(), true);
                } else {
                    cfg.nodeNetns().run(() -> nodeSide(state.ztunnel, state.options()));
                }
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        if (state.ztunnel != null && !state.ztunnel.netns().equals(zt.netns())) {
            inZtunnel(state.ztunnel, ns -> ns.run(NftablesRedirector::removeTableHere));
        }
    }

    /**
     * Replaces the table an older build installed by this build's, in each namespace in one transaction: the table
     * deleted and made again, with its chain, rules, sets and the enrolled addresses (nft's atomic reload: a packet
     * meets the old table or the new, never none). The policy routing is made sure of first.
     */
    @Override
    public List<String> upgrade(int fromLayout) {
        requireWritable();
        List<String> ips = enrolledIps();
        DatapathOptions o = state.options();
        inZtunnel(state.ztunnel, ns -> ns.run(() -> {
            ZtunnelRouting.ensureHere();
            apply(NftRules.removal() + NftRules.ztunnel(o) + NftRules.addElements(ips));
        }));
        cfg.nodeNetns().run(() -> {
            NodeRouting.ensureHere(state.ztunnel, o.markBit(), false); // the older mark's rule goes after the swap
            apply(NftRules.removal() + NftRules.node(state.ztunnel, o) + NftRules.addElements(ips));
            NodeRouting.removeOthersHere(o.markBit());
        });
        return List.of("replaced the nftables table of layout " + fromLayout + " by this version's, one transaction "
                + "per namespace (node" + (state.ztunnel != null ? ", ztunnel's" : "") + ")");
    }

    @Override
    public void uninstallZtunnel(Ztunnel zt, DatapathOptions o) {
        requireWritable();
        cfg.nodeNetns().run(() -> nodeSide(null, o));
        inZtunnel(zt, ns -> ns.run(NftablesRedirector::removeTableHere));
    }

    @Override
    public void applyOptions(DatapathOptions o) {
        requireWritable();
        cfg.nodeNetns().run(() -> nodeSide(state.ztunnel, o));
        inZtunnel(state.ztunnel, ns -> ns.run(() -> apply(NftRules.ztunnel(o))));
    }

    @Override
    public void enroll(List<Workload> ws) {
        requireWritable();
        List<String> ips = ipsOf(ws);
        if (ips.isEmpty()) {
            return;
        }
        cfg.nodeNetns().run(() -> {
            Listing l = readHere();
            String noDns = NftRules.addNoDnsElements(noDnsIps(ws));
            if (l == null || !l.chain() || !l.noDnsSets() || !NodeRouting.presentHere(state.options().markBit())) {
                // the node's side is missing: the table with the elements in one transaction, then the routing
                apply(NftRules.node(state.ztunnel, state.options()) + NftRules.addElements(ips)
                        + NftRules.addNoDnsElements(noDnsIps(state.workloads)) + noDns);
                NodeRouting.ensureHere(state.ztunnel, state.options().markBit());
            } else {
                apply(NftRules.addElements(ips) + noDns);
            }
        });
        try {
            inZtunnel(state.ztunnel, ns -> ns.run(() -> apply(NftRules.addElements(ips))));
        } catch (RuntimeException e) {
            try {
                cfg.nodeNetns().run(() -> apply(NftRules.deleteElements(ips) + NftRules.deleteNoDnsElements(
                        noDnsIps(ws))));
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    @Override
    public void unenroll(List<Workload> ws) {
        requireWritable();
        List<String> ips = ipsOf(ws);
        if (ips.isEmpty()) {
            return;
        }
        for (NetNs ns : ztunnelAndNode()) {
            boolean node = ns.equals(cfg.nodeNetns());
            ns.run(() -> {
                Listing l = node ? readHere() : null;
                if (node ? l != null : tablePresentHere()) {
                    apply(NftRules.deleteElements(ips) + (node && l.noDnsSets() ? NftRules.deleteNoDnsElements(ips)
                            : ""));
                }
            });
        }
    }

    /** Reads our table once per namespace (node, ztunnel) for all of them. */
    @Override
    public List<Verification> verifyAll(List<Workload> ws) {
        if (ws.isEmpty()) {
            return List.of();
        }
        Listing node = cfg.nodeNetns().call(NftablesRedirector::readHere);
        boolean ztThere = state.ztunnel != null && NetNs.parse(state.ztunnel.netns()).exists();
        Listing zt = ztThere ? NetNs.parse(state.ztunnel.netns()).call(NftablesRedirector::readHere) : null;
        List<Verification> out = new ArrayList<>();
        for (Workload w : ws) {
            List<String> problems = new ArrayList<>();
            if (!NetNs.parse(w.netns()).exists()) {
                problems.add("network namespace " + w.netns() + " is gone");
            }
            if (node == null || !node.chain()) {
                problems.add("no table " + NftRules.table() + " with its " + NftRules.CHAIN + " chain in the node's "
                        + "namespace");
            }
            for (String ip : w.ips()) {
                String set = NftRules.set(IpAddrs.isV6(IpAddrs.parse(ip)));
                if (node == null || !node.has(ip)) {
                    problems.add(ip + " is not in the node's set " + NftRules.table() + " " + set);
                }
                if (ztThere && (zt == null || !zt.has(ip))) {
                    problems.add(ip + " is not in ztunnel's set " + NftRules.table() + " " + set);
                }
            }
            out.add(Verification.of(problems));
        }
        return out;
    }

    @Override
    public List<String> verifyNode() {
        List<String> problems = new ArrayList<>();
        Ztunnel zt = state.ztunnel;
        cfg.nodeNetns().run(() -> {
            Listing l = readHere();
            int expected = NftRules.nodeRules(zt, state.options()).size();
            int notrack = NftRules.notrackRules(zt, state.options()).size();
            if (l == null) {
                problems.add("no table " + NftRules.table() + " in the node's namespace");
            } else if (!l.chain() || !l.set4() || !l.set6() || !l.noDnsSets() || !l.notrackChain()) {
                problems.add("the node's table " + NftRules.table() + " lacks a chain or a set");
            } else if (l.rules() != expected) {
                problems.add("the node's chain " + NftRules.table() + " " + NftRules.CHAIN + " has " + l.rules()
                        + " rules, not the " + expected + " it should");
            } else if (l.notrackRules() != notrack) {
                problems.add("the node's chain " + NftRules.table() + " " + NftRules.NOTRACK_CHAIN + " has "
                        + l.notrackRules() + " rules, not the " + notrack + " it should");
            }
            if (!NodeRouting.presentHere(state.options().markBit())) {
                problems.add("the node's namespace lacks the fwmark "
                        + io.ambientctl.redirect.Marks.node(state.options().markBit()) + " -> table "
                        + io.ambientctl.redirect.Marks.NODE_TABLE + " routing");
            }
        });
        if (zt != null) {
            NetNs ns = NetNs.parse(zt.netns());
            if (!ns.exists()) {
                problems.add("ztunnel's network namespace " + zt.netns() + " is gone");
            } else {
                ns.run(() -> {
                    Listing l = readHere();
                    int expected = NftRules.ztunnelRules(state.options()).size();
                    if (l == null) {
                        problems.add("no table " + NftRules.table() + " in ztunnel's namespace");
                    } else if (!l.chain() || !l.set4() || !l.set6()) {
                        problems.add("ztunnel's table " + NftRules.table() + " lacks its chain or a set");
                    } else if (l.rules() != expected) {
                        problems.add("ztunnel's chain " + NftRules.table() + " " + NftRules.CHAIN + " has "
                                + l.rules() + " rules, not the " + expected + " it should");
                    }
                    if (!ZtunnelRouting.presentHere()) {
                        problems.add("ztunnel's namespace lacks the fwmark " + ZtunnelRouting.MARK + " -> table "
                                + ZtunnelRouting.TABLE + " local route");
                    }
                });
            }
        }
        return problems;
    }

    @Override
    public List<String> reconcile(boolean dryRun) {
        List<String> out = new ArrayList<>();
        Set<String> known = new HashSet<>();
        enrolledIps().forEach(ip -> known.add(IpAddrs.format(IpAddrs.parse(ip))));
        for (NetNs ns : ztunnelAndNode()) {
            Listing l = ns.call(NftablesRedirector::readHere);
            if (l == null) {
                continue;
            }
            List<String> stray = l.elements().stream().filter(ip -> !known.contains(ip)).sorted().toList();
            for (String ip : stray) {
                out.add("remove unrecorded set element " + ip + (ns.equals(cfg.nodeNetns()) ? "" : " in "
                        + ns.display()));
            }
            if (!dryRun && !stray.isEmpty()) {
                ns.run(() -> apply(NftRules.deleteElements(stray)));
            }
        }
        return out;
    }

    /** Our table in the node's namespace, or in ztunnel's (a switch interrupted after ztunnel's side). */
    @Override
    public boolean present() {
        return ztunnelAndNode().stream().anyMatch(ns -> ns.call(NftablesRedirector::tablePresentHere));
    }

    /** The commands this mode would apply, for --dry-run. */
    @Override
    public String plan(Ztunnel zt, DatapathOptions o) {
        StringBuilder sb = new StringBuilder();
        sb.append("# node namespace: one nftables transaction\n").append(NftRules.node(zt, o));
        sb.append("# node namespace: ip rule fwmark ").append(io.ambientctl.redirect.Marks.node(o.markBit()))
                .append(" lookup ")
                .append(io.ambientctl.redirect.Marks.NODE_TABLE).append(", ").append(zt == null ? "blackhole default"
                        : "default via ztunnel's address dev " + zt.hostInterface() + " onlink").append(" (both families)\n");
        if (zt != null) {
            sb.append("# ztunnel namespace ").append(zt.netns()).append(": one nftables transaction\n")
                    .append(NftRules.ztunnel(o));
        }
        return sb.toString();
    }

    @Override
    public void uninstall() {
        requireWritable();
        cfg.nodeNetns().run(NftablesRedirector::removeTableHere);
        boolean iptablesHere;
        try (io.ambientctl.redirect.Redirector ipt = io.ambientctl.redirect.Redirectors.reader(RedirectMode.iptables,
                cfg, state)) {
            iptablesHere = ipt.holdsNodeRouting();
        } catch (RuntimeException e) {
            iptablesHere = false; // no iptables on the node
        }
        if (!iptablesHere) {
            cfg.nodeNetns().run(NodeRouting::removeHere);
        }
        inZtunnel(state.ztunnel, ns -> ns.run(NftablesRedirector::removeTableHere));
    }

    /** Our table in the node's and ztunnel's namespaces, where they are, decoded. */
    @Override
    public List<RuleTable> ruleTables() {
        List<RuleTable> out = new ArrayList<>();
        List<java.util.Map.Entry<String, NetNs>> spaces = new ArrayList<>(List.of(java.util.Map.entry("node",
                cfg.nodeNetns())));
        if (state.ztunnel != null && NetNs.parse(state.ztunnel.netns()).exists()) {
            spaces.add(java.util.Map.entry("ztunnel", NetNs.parse(state.ztunnel.netns())));
        }
        for (var e : spaces) {
            RuleTable t = e.getValue().call(() -> tableHere(e.getValue().display(), e.getKey()));
            if (t != null) {
                out.add(t);
            }
        }
        return out;
    }

    private static RuleTable tableHere(String netns, String role) {
        Listing l = readHere();
        if (l == null) {
            return null;
        }
        java.util.Map<String, List<String>> sets = new java.util.LinkedHashMap<>();
        for (var set : Nftables.objects(l.json(), "set")) {
            List<String> elems = new ArrayList<>();
            set.path("elem").forEach(x -> elems.add(x.isTextual() ? x.asText() : x.toString()));
            sets.put(set.path("name").asText(), elems);
        }
        String hook = null;
        Integer prio = null;
        for (var c : Nftables.objects(l.json(), "chain")) {
            if (NftRules.CHAIN.equals(c.path("name").asText())) {
                hook = c.path("hook").asText(null);
                prio = c.has("prio") ? c.path("prio").asInt() : null;
            }
        }
        // the rules as nft writes them: the text listing's lines inside the chain, but its type line
        List<String> rules = new ArrayList<>();
        boolean in = false;
        for (String line : Nftables.run("list chain " + NftRules.table() + " " + NftRules.CHAIN).lines().toList()) {
            String x = line.strip();
            if (x.startsWith("chain " + NftRules.CHAIN + " {")) {
                in = true;
            } else if (in && x.equals("}")) {
                in = false;
            } else if (in && !x.isEmpty() && !x.startsWith("type ")) {
                rules.add(x);
            }
        }
        return new RuleTable(netns, role, NftRules.table(), sets, NftRules.CHAIN, hook, prio, rules);
    }

    /** The workload's set elements in each of our tables (flagged when missing) and the rules that match them. */
    @Override
    public java.util.Map<String, Object> describe(Workload w) {
        List<String> members = new ArrayList<>();
        List<String> rules = new ArrayList<>();
        List<RuleTable> tables = ruleTables();
        for (RuleTable t : tables) {
            for (String ip : w.ips()) {
                String set = NftRules.set(IpAddrs.isV6(IpAddrs.parse(ip)));
                String f = IpAddrs.format(IpAddrs.parse(ip));
                boolean in = t.sets().getOrDefault(set, List.of()).stream()
                        .anyMatch(x -> IpAddrs.format(IpAddrs.parse(x)).equals(f));
                members.add(t.role() + " " + t.table() + " " + set + " " + ip + (in ? "" : " MISSING"));
            }
            String v4 = "@" + NftRules.SET4;
            String v6 = "@" + NftRules.SET6;
            t.rules().stream().filter(r -> (r.contains(v4) && w.ips().stream().anyMatch(ip -> !ip.contains(":")))
                    || (r.contains(v6) && w.ips().stream().anyMatch(ip -> ip.contains(":"))))
                    .map(r -> t.role() + " " + r).forEach(rules::add);
        }
        if (tables.stream().noneMatch(t -> t.role().equals("node"))) {
            members.add("no table " + NftRules.table() + " in the node's namespace");
        }
        java.util.Map<String, Object> out = new java.util.LinkedHashMap<>();
        out.put("setEntries", members);
        out.put("rules", rules);
        return out;
    }

    /** The node's table's elements (addresses only) and the veth of the node's policy route to ztunnel. */
    @Override
    public Adoptable adoptable() {
        Listing l = cfg.nodeNetns().call(NftablesRedirector::readHere);
        if (l == null) {
            return Adoptable.NONE;
        }
        List<Found> found = new ArrayList<>();
        l.elements().stream().sorted().forEach(ip -> found.add(new Found(0, 0, List.of(IpAddrs.parse(ip)))));
        String ztIf = cfg.nodeNetns().call(NodeRouting::ztunnelInterfaceHere);
        return new Adoptable(found, 0, ztIf);
    }

    @Override
    public void benchFill(List<java.net.InetAddress> extra, boolean clear) {
        requireWritable();
        Set<String> known = new HashSet<>();
        enrolledIps().forEach(ip -> known.add(IpAddrs.format(IpAddrs.parse(ip))));
        for (NetNs ns : ztunnelAndNode()) {
            ns.run(() -> {
                if (clear) {
                    Listing l = readHere();
                    List<String> stray = l == null ? List.of() : l.elements().stream().filter(ip -> !known.contains(ip))
                            .toList();
                    if (!stray.isEmpty()) {
                        apply(NftRules.deleteElements(stray));
                    }
                }
                if (!extra.isEmpty()) {
                    apply(NftRules.addElements(extra.stream().map(IpAddrs::format).toList()));
                }
            });
        }
    }

    /**
     * Where a crafted packet goes, read from the live rules and sets (walked for it), the kernel's routing answer
     * and ztunnel's sockets; changes nothing.
     */
    @Override
    public io.ambientctl.observe.Explanation explain(io.ambientctl.observe.Probe probe) {
        return new io.ambientctl.redirect.NetfilterExplainer(cfg, state, new NftablesExplain()).explain(probe);
    }

    /** The log rules' NFLOG group read in the node's and ztunnel's namespaces (a reader: no lock, no journal). */
    @Override
    public io.ambientctl.observe.Monitor monitor(io.ambientctl.observe.MonitorOptions options) {
        return new io.ambientctl.redirect.NetfilterMonitor(cfg, state, options, false, NOTE);
    }

    static final String NOTE = "nftables mode: log rules (group " + io.ambientctl.redirect.Marks.NFLOG_GROUP + ") ahead of the node chain's decisions and after ztunnel's tproxy rules: TCP packets with SYN set, UDP at most " + io.ambientctl.redirect.NetfilterLog.UDP_PER_SEC + " per rule and second (what the limit leaves out is not counted), every drop (fail closed, no listener)";

    @Override
    public void close() {
        // nothing held open: a libnftables context lives for one call
    }
}
