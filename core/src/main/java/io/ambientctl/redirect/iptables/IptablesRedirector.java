package io.ambientctl.redirect.iptables;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.IpSets;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.DatapathOptions;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.NodeRouting;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.redirect.Redirector;
import io.ambientctl.redirect.State;
import io.ambientctl.redirect.Verification;
import io.ambientctl.redirect.Workload;
import io.ambientctl.redirect.Ztunnel;
import io.ambientctl.redirect.ZtunnelRouting;
import io.ambientctl.util.Exec;
import io.ambientctl.util.Faults;

/**
 * iptables mode: an ipset per family of enrolled pod IPs, a mangle chain in the node's namespace
 * that marks the pods' TCP/UDP for policy routing to ztunnel's eth0, and a TPROXY chain in
 * ztunnel's namespace. Rules are applied with {@code iptables-restore --noflush} (only our chain and
 * the jump to it), in the backend the host uses; nothing else is touched.
 */
public final class IptablesRedirector implements Redirector {
    private final NodeConfig cfg;
    private final State state;
    private final boolean readOnly;
    private Backend backend;

    /** {@code readOnly}: for a reading command; the changing methods then throw. */
    public IptablesRedirector(NodeConfig cfg, State state, boolean readOnly) {
        this.cfg = cfg;
        this.state = state;
        this.readOnly = readOnly;
    }

    private void requireWritable() {
        if (readOnly) {
            throw new IllegalStateException("a reading command tried to change the iptables mode");
        }
    }

    @Override
    public RedirectMode mode() {
        return RedirectMode.iptables;
    }

    /** The backend of the node's namespace, detected once. */
    public Backend backend() {
        if (backend == null) {
            java.util.Map<Boolean, String> nftSaves = new java.util.HashMap<>();
            String[] node = {null};
            backend = cfg.nodeNetns().call(() -> {
                node[0] = here();
                return Backend.detect(nftSaves);
            });
            if (backend == Backend.NFT && operations > 0) {
                // the saves the detection read are the node's listing: the presence checks there need not read again
                nftSaves.forEach((v6, text) -> saves.putIfAbsent(key(node[0], v6), Saved.parse(text)));
            }
        }
        return backend;
    }

    // ---- the pieces, each run inside the namespace the calling thread is in ----

    private void restore(boolean v6, String input) {
        Faults.step("iptables-restore");
        Backend b = backend();
        saves.remove(key(here(), v6)); // read again after a change: the next check lists what the restore left
        Exec.run(List.of(b.tool(v6, "restore"), "--noflush"), input).check();
    }

    /**
     * The saves read during the running operation, by namespace (inode) and family: one save per namespace and
     * family answers all its presence checks until a restore changes the tables. Emptied when the operation ends
     * ({@link #reading}), so a later operation reads what is there then.
     */
    private final java.util.Map<String, Saved> saves = new java.util.HashMap<>();
    private int operations;

    /** Runs {@code body} as one operation: the saves it reads are reused within it, and forgotten after. */
    private <T> T reading(java.util.function.Supplier<T> body) {
        operations++;
        try {
            return body.get();
        } finally {
            if (--operations == 0) {
                saves.clear();
            }
        }
    }

    private void reading(Runnable body) {
        reading(() -> {
            body.run();
            return null;
        });
    }

    /** This namespace's save of one family (read once per operation; missing tables: nothing in it). */
    private Saved saved(boolean v6) {
        Backend b = backend(); // first: the detection may leave the node's listing
        String key = key(here(), v6);
        Saved s = saves.get(key);
        if (s == null) {
            Exec.Result r = Exec.run(List.of(b.tool(v6, "save")));
            s = r.ok() ? Saved.parse(r.stdout()) : Saved.EMPTY;
            if (operations > 0) {
                saves.put(key, s);
            }
        }
        return s;
    }

    /** The calling thread's namespace (NetNs.self() is the process's), by its nsfs inode. */
    private static String here() {
        return String.valueOf(NetNs.path(java.nio.file.Path.of("/proc/thread-self/ns/net")).inode());
    }

    private static String key(String ns, boolean v6) {
        return ns + (v6 ? "/6" : "/4");
    }

    private boolean jumpPresent(boolean v6) {
        return jumpPresent(v6, "mangle");
    }

    private boolean jumpPresent(boolean v6, String table) {
        return saved(v6).jump(table);
    }

    private static void ipset(List<String> lines) {
        if (lines.isEmpty()) {
            return;
        }
        Faults.step("ipset");
        Exec.run(List.of("ipset", "restore", "-exist"), String.join("\n", lines) + "\n").check();
    }

    private static List<String> members(boolean add, List<String> ips) {
        List<String> l = new ArrayList<>();
        for (String ip : ips) {
            boolean v6 = IpAddrs.isV6(IpAddrs.parse(ip));
            l.add((add ? "add " : "del ") + Rules.set(v6) + " " + ip);
        }
        return l;
    }

    /** The DNS opt-out sets' lines: added for the workloads that opted out, removed for the others. */
    private static List<String> noDnsMembers(boolean add, List<Workload> ws) {
        List<String> l = new ArrayList<>();
        for (Workload w : ws) {
            if (add && !w.noDnsCapture()) {
                continue;
            }
            for (String ip : w.ips()) {
                boolean v6 = IpAddrs.isV6(IpAddrs.parse(ip));
                l.add((add ? "add " : "del ") + Rules.noDnsSet(v6) + " " + ip);
            }
        }
        return l;
    }

    private static boolean noDnsSetsHere() {
        return IpSets.existsHere(Rules.NODNS4);
    }

    private List<String> enrolledIps() {
        List<String> ips = new ArrayList<>();
        state.workloads.forEach(w -> ips.addAll(w.ips()));
        return ips;
    }

    private void nodeRules(Ztunnel zt, DatapathOptions o) {
        boolean fresh = !noDnsSetsHere();
        ipset(Rules.createNodeSets());
        if (fresh) {
            ipset(noDnsMembers(true, state.workloads));
        }
        for (boolean v6 : new boolean[] {false, true}) {
            restore(v6, Rules.node(v6, zt, o, !jumpPresent(v6, "mangle"), !jumpPresent(v6, "raw")));
        }
    }

    private void nodeRouting(Ztunnel zt, DatapathOptions o) {
        NodeRouting.ensureHere(zt, o.markBit());
    }

    private void removeHere() {
        for (boolean v6 : new boolean[] {false, true}) {
            Saved saved = saved(v6);
            for (String table : List.of("mangle", "raw")) {
                boolean jump = saved.jump(table);
                boolean chain = saved.chain(table);
                if (jump || chain) {
                    restore(v6, Rules.removal(table, jump, chain));
                }
            }
        }
        // in-process, one socket for the four; a set the kernel keeps (still referenced) stays, as before
        IpSets.destroyHere(List.of(Rules.SET4, Rules.SET6, Rules.NODNS4, Rules.NODNS6));
    }

    /** The node's policy routing, unless the nftables mode (which shares it) holds its table there too. */
    private void removeNodeRouting() {
        if (!nftablesHoldsNodeRouting()) {
            NodeRouting.removeHere();
        }
    }

    private boolean nftablesHoldsNodeRouting() {
        try (io.ambientctl.redirect.Redirector nft = io.ambientctl.redirect.Redirectors.reader(RedirectMode.nftables,
                cfg, state)) {
            return nft.holdsNodeRouting();
        }
    }

    @Override
    public boolean holdsNodeRouting() {
        return chainsPresent();
    }

    private void inZtunnel(Ztunnel zt, Consumer<NetNs> body) {
        io.ambientctl.redirect.Spaces.inZtunnel(zt, body);
    }

    // ---- Redirector ----

    @Override
    public void installZtunnel(Ztunnel zt, DatapathOptions o) {
        reading(() -> installZtunnel(zt, o, false));
    }

    /** {@code rollingBack}: putting the previous ztunnel back after a failure; failing again then just throws. */
    private void installZtunnel(Ztunnel zt, DatapathOptions o, boolean rollingBack) {
        requireWritable();
        NetNs ztNs = NetNs.parse(zt.netns());
        try {
            ztNs.run(() -> {
                ipset(Rules.createSets());
                ipset(members(true, enrolledIps()));
                for (boolean v6 : new boolean[] {false, true}) {
                    restore(v6, Rules.ztunnel(v6, o, !jumpPresent(v6)));
                }
                ZtunnelRouting.ensureHere();
            });
            cfg.nodeNetns().run(() -> {
                nodeRules(zt, o);
                nodeRouting(zt, o);
            });
        } catch (RuntimeException e) {
            if (rollingBack) {
                throw e;
            }
            // leave the node as before: the previous ztunnel's rules (or none)
            try {
                ztNs.run(this::removeHere);
                if (state.ztunnel != null && state.ztunnel.netns().equals(zt.netns())) {
                    installZtunnel(state.ztunnel, state.options(), true);
                } else {
                    cfg.nodeNetns().run(() -> {
                        nodeRules(state.ztunnel, state.options());
                        nodeRouting(state.ztunnel, state.options());
                    });
                }
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        if (state.ztunnel != null && !state.ztunnel.netns().equals(zt.netns())) {
            inZtunnel(state.ztunnel, ns -> ns.run(this::removeHere));
        }
    }

    /**
     * Replaces the rules an older build installed by this build's, in each namespace and family with one
     * iptables-restore --noflush call whose table block is one commit ({@link RuleSwap}): our chains refilled,
     * the jumps into them swapped, chains this build no longer has removed. The sets keep their members; the
     * node's policy routing is made sure of first (this build's rule and route added before the rules that use them,
     * an older build's rule of another mark removed only after the swap).
     */
    @Override
    public List<String> upgrade(int fromLayout) {
        requireWritable();
        List<String> did = new ArrayList<>();
        DatapathOptions o = state.options();
        inZtunnel(state.ztunnel, ns -> ns.run(() -> {
            ipset(Rules.createSets());
            ZtunnelRouting.ensureHere();
            for (boolean v6 : new boolean[] {false, true}) {
                restore(v6, RuleSwap.swap(save(v6), Rules.ztunnel(v6, o, true)));
            }
        }));
        cfg.nodeNetns().run(() -> {
            ipset(Rules.createSets());
            // this build's rule first (the older one stays while the older rules still mark with its mark)
            NodeRouting.ensureHere(state.ztunnel, o.markBit(), false);
            for (boolean v6 : new boolean[] {false, true}) {
                restore(v6, RuleSwap.swap(save(v6), Rules.node(v6, state.ztunnel, o, true)));
            }
            NodeRouting.removeOthersHere(o.markBit());
        });
        did.add("replaced the iptables rules of layout " + fromLayout + " by this version's, one iptables-restore "
                + "commit per namespace and family (node" + (state.ztunnel != null ? ", ztunnel's" : "") + ")");
        return did;
    }

    /** iptables-save of this namespace, one family. */
    private String save(boolean v6) {
        return Exec.run(List.of(backend().tool(v6, "save"))).check().stdout();
    }

    @Override
    public void uninstallZtunnel(Ztunnel zt, DatapathOptions o) {
        reading(() -> uninstallZtunnelNow(zt, o));
    }

    private void uninstallZtunnelNow(Ztunnel zt, DatapathOptions o) {
        requireWritable();
        cfg.nodeNetns().run(() -> {
            nodeRules(null, o);
            nodeRouting(null, o);
        });
        inZtunnel(zt, ns -> ns.run(this::removeHere));
    }

    @Override
    public void applyOptions(DatapathOptions o) {
        reading(() -> applyOptionsNow(o));
    }

    private void applyOptionsNow(DatapathOptions o) {
        requireWritable();
        cfg.nodeNetns().run(() -> {
            nodeRules(state.ztunnel, o);
            nodeRouting(state.ztunnel, o);
        });
        inZtunnel(state.ztunnel, ns -> ns.run(() -> {
            for (boolean v6 : new boolean[] {false, true}) {
                restore(v6, Rules.ztunnel(v6, o, !jumpPresent(v6)));
            }
        }));
    }

    @Override
    public void enroll(List<Workload> ws) {
        reading(() -> enrollNow(ws));
    }

    private void enrollNow(List<Workload> ws) {
        requireWritable();
        if (ws.isEmpty()) {
            return;
        }
        List<String> ips = new ArrayList<>();
        ws.forEach(w -> ips.addAll(w.ips()));
        cfg.nodeNetns().run(() -> {
            if (!jumpPresent(false) || !jumpPresent(true) || !noDnsSetsHere()) {
                nodeRules(state.ztunnel, state.options());
                nodeRouting(state.ztunnel, state.options());
            }
            ipset(noDnsMembers(true, ws));
            ipset(members(true, ips));
        });
        try {
            inZtunnel(state.ztunnel, ns -> ns.run(() -> ipset(members(true, ips))));
        } catch (RuntimeException e) {
            try {
                cfg.nodeNetns().run(() -> {
                    ipset(members(false, ips));
                    ipset(noDnsMembers(false, ws));
                });
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    @Override
    public void unenroll(List<Workload> ws) {
        requireWritable();
        List<String> ips = new ArrayList<>();
        ws.forEach(w -> ips.addAll(w.ips()));
        if (ips.isEmpty()) {
            return;
        }
        for (NetNs ns : ztunnelAndNode()) {
            ns.run(() -> {
                if (IpSets.existsHere(Rules.SET4)) {
                    ipset(members(false, ips));
                }
                if (noDnsSetsHere()) {
                    ipset(noDnsMembers(false, ws));
                }
            });
        }
    }

    private List<NetNs> ztunnelAndNode() {
        return io.ambientctl.redirect.Spaces.nodeAndZtunnel(cfg, state.ztunnel);
    }

    private static boolean inSet(String ip) {
        boolean v6 = IpAddrs.isV6(IpAddrs.parse(ip));
        return Exec.run(List.of("ipset", "test", Rules.set(v6), ip)).ok();
    }

    /** Reads the sets once per namespace for all of them. */
    @Override
    public List<Verification> verifyAll(List<Workload> ws) {
        return reading(() -> verifyAllNow(ws));
    }

    private List<Verification> verifyAllNow(List<Workload> ws) {
        if (ws.isEmpty()) {
            return List.of();
        }
        java.util.Set<String> node = new java.util.HashSet<>();
        boolean[] jumps = new boolean[2];
        cfg.nodeNetns().run(() -> {
            node.addAll(setMembers());
            jumps[0] = jumpPresent(false);
            jumps[1] = jumpPresent(true);
        });
        java.util.Set<String> zt = new java.util.HashSet<>();
        boolean ztThere = state.ztunnel != null && NetNs.parse(state.ztunnel.netns()).exists();
        if (ztThere) {
            NetNs.parse(state.ztunnel.netns()).run(() -> zt.addAll(setMembers()));
        }
        List<Verification> out = new ArrayList<>();
        for (Workload w : ws) {
            List<String> problems = new ArrayList<>();
            if (!NetNs.parse(w.netns()).exists()) {
                problems.add("network namespace " + w.netns() + " is gone");
            }
            for (String ip : w.ips()) {
                String f = IpAddrs.format(IpAddrs.parse(ip));
                if (!node.contains(f)) {
                    problems.add(ip + " is not in the node's set " + Rules.set(IpAddrs.isV6(IpAddrs.parse(ip))));
                }
                if (ztThere && !zt.contains(f)) {
                    problems.add(ip + " is not in ztunnel's set");
                }
            }
            for (int v = 0; v < 2; v++) {
                if (!jumps[v]) {
                    problems.add("no jump to " + Rules.CHAIN + " in the node's " + (v == 1 ? "ip6tables" : "iptables")
                            + " mangle PREROUTING");
                }
            }
            out.add(Verification.of(problems));
        }
        return out;
    }

    @Override
    public List<String> verifyNode() {
        return reading(() -> verifyNodeNow());
    }

    private List<String> verifyNodeNow() {
        List<String> problems = new ArrayList<>();
        Ztunnel zt = state.ztunnel;
        cfg.nodeNetns().run(() -> {
            for (boolean v6 : new boolean[] {false, true}) {
                String t = v6 ? "ip6tables" : "iptables";
                if (!jumpPresent(v6)) {
                    problems.add("no jump to " + Rules.CHAIN + " in the node's " + t);
                } else if (state.ztunnel != null && !jumpPresent(v6, "raw")) {
                    problems.add("no jump to " + Rules.CHAIN + " in the node's " + t + " raw PREROUTING (Service "
                            + "traffic would reach ztunnel DNATed)");
                } else if (ruleCount(v6) != expected(Rules.node(v6, zt, state.options(), false))) {
                    problems.add("the node's " + t + " chain " + Rules.CHAIN + " has " + ruleCount(v6) + " rules, "
                            + "not the " + expected(Rules.node(v6, zt, state.options(), false)) + " it should");
                }
            }
        });
        if (zt != null) {
            NetNs ns = NetNs.parse(zt.netns());
            if (!ns.exists()) {
                problems.add("ztunnel's network namespace " + zt.netns() + " is gone");
            } else {
                ns.run(() -> {
                    for (boolean v6 : new boolean[] {false, true}) {
                        if (!jumpPresent(v6)) {
                            problems.add("no TPROXY chain in ztunnel's " + (v6 ? "ip6" : "ip") + "tables");
                        } else if (ruleCount(v6) != expected(Rules.ztunnel(v6, state.options(), false))) {
                            problems.add("ztunnel's " + (v6 ? "ip6" : "ip") + "tables chain " + Rules.CHAIN
                                    + " has " + ruleCount(v6) + " rules, not the "
                                    + expected(Rules.ztunnel(v6, state.options(), false)) + " it should");
                        }
                    }
                    if (!ZtunnelRouting.presentHere()) {
                        problems.add("ztunnel's namespace lacks the fwmark 0x111 -> table 133 local route");
                    }
                });
            }
        }
        return problems;
    }

    /** Our chain's rules in mangle and raw. */
    private int ruleCount(boolean v6) {
        int n = 0;
        for (String table : List.of("mangle", "raw")) {
            n += saved(v6).rules(table).size();
        }
        return n;
    }

    private static int expected(String restoreInput) {
        return (int) restoreInput.lines().filter(l -> l.startsWith("-A ")).count();
    }

    /**
     * The addresses in both families' sets of this namespace, read in-process (a set that is not there: none), as
     * {@link IpAddrs#format} writes them.
     */
    private static List<String> setMembers() {
        List<String> out = new ArrayList<>();
        for (String set : List.of(Rules.SET4, Rules.SET6)) {
            IpSets.membersHere(set).forEach(ip -> out.add(IpAddrs.format(ip)));
        }
        return out;
    }

    @Override
    public List<String> reconcile(boolean dryRun) {
        List<String> out = new ArrayList<>();
        java.util.Set<String> known = new java.util.HashSet<>();
        state.workloads.forEach(w -> w.ips().forEach(ip -> known.add(IpAddrs.format(IpAddrs.parse(ip)))));
        List<NetNs> spaces = new ArrayList<>(List.of(cfg.nodeNetns()));
        if (state.ztunnel != null && NetNs.parse(state.ztunnel.netns()).exists()) {
            spaces.add(NetNs.parse(state.ztunnel.netns()));
        }
        for (NetNs ns : spaces) {
            List<String> stray = ns.call(IptablesRedirector::setMembers).stream()
                    .filter(ip -> !known.contains(ip)).toList();
            for (String ip : stray) {
                out.add("remove unrecorded set member " + ip + (ns.equals(cfg.nodeNetns()) ? "" : " in " + ns.display()));
            }
            if (!dryRun && !stray.isEmpty()) {
                ns.run(() -> ipset(members(false, stray)));
            }
        }
        return out;
    }

    /** Any object of this mode in the node's namespace or in ztunnel's (chains, jumps, sets, routing rules). */
    @Override
    public boolean present() {
        if (cfg.nodeNetns().call(() -> anyHere()
                || (NodeRouting.anyHere() && !nftablesHoldsNodeRouting()))) {
            return true;
        }
        boolean[] there = {false};
        inZtunnel(state.ztunnel, ns -> there[0] = ns.call(this::anyHere));
        return there[0];
    }

    /**
     * Our chain or a jump to it in any table, or our set, in this namespace: in-process (a libnftables listing, the
     * sets over netlink), no process unless legacy tables are here or libnftables is missing.
     */
    private boolean anyHere() {
        return chainsHere() || IpSets.anyHere(List.of(Rules.SET4, Rules.SET6));
    }

    /**
     * Our chain or a jump to it in any table of this namespace. The nft backend's: one libnftables listing of the
     * chains (in nf_tables a jump cannot exist without its chain, so the chain is enough); the legacy backend's:
     * its save tool, only where x_tables has a table here. Without libnftables (or nf_tables): one save per family
     * of the detected backend's tools, as before.
     */
    private boolean chainsHere() {
        Boolean nft = nftChainHere();
        if (nft == null) {
            return chainsHereSaved(backend());
        }
        return nft || Backend.legacyTablesHere() && chainsHereSaved(Backend.LEGACY);
    }

    /** The tables iptables-nft keeps its chains in (what iptables-nft-save lists; other nft tables are not ours). */
    static final java.util.Set<String> XTABLES = java.util.Set.of("filter", "mangle", "raw", "nat", "security");

    /**
     * Whether iptables-nft has our chain in this namespace (a chain of that name in an {@code ip} or {@code ip6}
     * table of iptables' names), from one libnftables listing of the chains; null when libnftables cannot say (not
     * installed, nf_tables missing).
     */
    static Boolean nftChainHere() {
        if (!io.ambientctl.redirect.nftables.Nftables.available()) {
            return null;
        }
        com.fasterxml.jackson.databind.JsonNode listing;
        try {
            listing = io.ambientctl.redirect.nftables.Nftables.json("list chains");
        } catch (io.ambientctl.redirect.nftables.Nftables.NftException | IllegalStateException e) {
            return null; // nf_tables refused (not in this kernel), or not JSON (a library built without it)
        }
        if (listing == null || !listing.has("nftables")) {
            return null;
        }
        return io.ambientctl.redirect.nftables.Nftables.objects(listing, "chain").stream().anyMatch(c ->
                Rules.CHAIN.equals(c.path("name").asText())
                && XTABLES.contains(c.path("table").asText())
                && ("ip".equals(c.path("family").asText()) || "ip6".equals(c.path("family").asText())));
    }

    /** Our chain or a jump to it in {@code b}'s save of either family (false when its tools are missing). */
    static boolean chainsHereSaved(Backend b) {
        for (boolean v6 : new boolean[] {false, true}) {
            Exec.Result r;
            try {
                r = Exec.run(List.of(b.tool(v6, "save")));
            } catch (Exec.ExecException e) {
                return false;
            }
            if (r.ok() && r.stdout().lines().anyMatch(l -> l.startsWith(":" + Rules.CHAIN + " ")
                    || l.endsWith(" -j " + Rules.CHAIN))) {
                return true;
            }
        }
        return false;
    }

    /** Whether this mode's chain or jump is in the node's namespace (the nftables mode shares its routing). */
    public boolean chainsPresent() {
        return cfg.nodeNetns().call(this::chainsHere);
    }

    /** The rules this mode would apply, for --dry-run. */
    @Override
    public String plan(Ztunnel zt, DatapathOptions o) {
        StringBuilder sb = new StringBuilder();
        for (boolean v6 : new boolean[] {false, true}) {
            sb.append("# node namespace, ").append(v6 ? "ip6tables" : "iptables").append("-restore --noflush\n");
            sb.append(Rules.node(v6, zt, o, true));
        }
        if (zt != null) {
            for (boolean v6 : new boolean[] {false, true}) {
                sb.append("# ztunnel namespace ").append(zt.netns()).append(", ").append(v6 ? "ip6tables" : "iptables")
                        .append("-restore --noflush\n");
                sb.append(Rules.ztunnel(v6, o, true));
            }
        }
        return sb.toString();
    }

    @Override
    public void uninstall() {
        reading(() -> uninstallNow());
    }

    private void uninstallNow() {
        requireWritable();
        cfg.nodeNetns().run(() -> {
            removeHere();
            removeNodeRouting();
        });
        inZtunnel(state.ztunnel, ns -> ns.run(this::removeHere));
    }

    /** The workload's set entries in the node's namespace and the node's chain, as the kernel has them. */
    @Override
    public java.util.Map<String, Object> describe(Workload w) {
        return reading(() -> describeNow(w));
    }

    private java.util.Map<String, Object> describeNow(Workload w) {
        java.util.Map<String, Object> out = new java.util.LinkedHashMap<>();
        java.util.Set<String> node = new java.util.HashSet<>();
        List<String> rules = new ArrayList<>();
        cfg.nodeNetns().run(() -> {
            node.addAll(setMembers());
            for (boolean v6 : new boolean[] {false, true}) {
                String t = v6 ? "ip6tables" : "iptables";
                Saved saved = saved(v6);
                for (String table : List.of("raw", "mangle")) {
                    saved.rules(table).stream().map(l -> t + " -t " + table + " " + l).forEach(rules::add);
                }
            }
        });
        List<String> members = new ArrayList<>();
        for (String ip : w.ips()) {
            String set = Rules.set(IpAddrs.isV6(IpAddrs.parse(ip)));
            members.add(set + " " + ip + (node.contains(IpAddrs.format(IpAddrs.parse(ip))) ? "" : " MISSING"));
        }
        out.put("setEntries", members);
        out.put("rules", rules);
        return out;
    }

    /** The node's sets' members (addresses only) and the veth of the policy route to ztunnel. */
    @Override
    public Adoptable adoptable() {
        List<String> members = new ArrayList<>();
        String[] ztIf = {null};
        cfg.nodeNetns().run(() -> {
            members.addAll(setMembers());
            ztIf[0] = NodeRouting.ztunnelInterfaceHere();
        });
        List<Found> found = new ArrayList<>();
        for (String ip : members) {
            found.add(new Found(0, 0, List.of(IpAddrs.parse(ip))));
        }
        return new Adoptable(found, 0, ztIf[0]);
    }

    @Override
    public void benchFill(List<java.net.InetAddress> extra, boolean clear) {
        requireWritable();
        java.util.Set<String> known = new java.util.HashSet<>();
        state.workloads.forEach(w -> w.ips().forEach(ip -> known.add(IpAddrs.format(IpAddrs.parse(ip)))));
        for (NetNs ns : ztunnelAndNode()) {
            ns.run(() -> {
                if (clear) {
                    ipset(members(false, setMembers().stream().filter(ip -> !known.contains(ip)).toList()));
                }
                ipset(members(true, extra.stream().map(IpAddrs::format).toList()));
            });
        }
    }

    /**
     * Where a crafted packet goes, read from the live rules and sets (walked for it), the kernel's routing answer
     * and ztunnel's sockets; changes nothing.
     */
    @Override
    public io.ambientctl.observe.Explanation explain(io.ambientctl.observe.Probe probe) {
        return new io.ambientctl.redirect.NetfilterExplainer(cfg, state, new IptablesExplain(backend())).explain(probe);
    }

    /** The log rules' NFLOG group read in the node's and ztunnel's namespaces (a reader: no lock, no journal). */
    @Override
    public io.ambientctl.observe.Monitor monitor(io.ambientctl.observe.MonitorOptions options) {
        return new io.ambientctl.redirect.NetfilterMonitor(cfg, state, options, true, NOTE);
    }

    static final String NOTE = "iptables mode: NFLOG rules (group " + io.ambientctl.redirect.Marks.NFLOG_GROUP + ") ahead of the node chain's decisions and of ztunnel's TPROXY rules: TCP packets with SYN set, UDP at most " + io.ambientctl.redirect.NetfilterLog.UDP_PER_SEC + " per rule and second (what the limit leaves out is not counted), every fail-closed drop; TPROXY drops a packet that finds no listener inside the target, so noListener is told from ztunnel's listening sockets when the monitor reads the packet (a TCP packet without SYN dropped so is not seen)";

    @Override
    public void close() {
        // nothing held open
    }
}
