package io.ambientctl.redirect.ebpf;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.bpf.AttachedProgram;
import io.ambientctl.bpf.BpfException;
import io.ambientctl.bpf.BpfMap;
import io.ambientctl.bpf.BpfProgram;
import io.ambientctl.bpf.Errno;
import io.ambientctl.bpf.Tc;
import io.ambientctl.bpf.TcAttachment;
import io.ambientctl.bpf.TcDirection;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.Mac;
import io.ambientctl.net.NetNs;
import io.ambientctl.net.TcFilter;
import io.ambientctl.net.TcFilters;
import io.ambientctl.redirect.Counters;
import io.ambientctl.redirect.DatapathOptions;
import io.ambientctl.redirect.Discovery;
import io.ambientctl.redirect.Hook;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.Pins;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.redirect.Redirector;
import io.ambientctl.redirect.State;
import io.ambientctl.redirect.Verification;
import io.ambientctl.redirect.Workload;
import io.ambientctl.redirect.Ztunnel;
import io.ambientctl.redirect.ZtunnelRouting;
import io.ambientctl.util.Faults;

/**
 * eBPF mode: programs on the TC hooks of each enrolled pod's host veth and of ztunnel's veths, and
 * the maps that tell them who is enrolled and where ztunnel is. What it attached, and with which
 * attach kind, is recorded per hook in the {@link State} (by workload key) so that it removes exactly
 * that, whatever kind a later call chooses.
 * <p>
 * Attach kinds ({@code attachKind} null is {@code auto}, the default): Pods' veths get tc filters on
 * clsact (no RCU grace period per hook: 1,000 workloads attach in a fraction of a second), ztunnel's
 * two hooks get TCX links where the kernel has them (6.6+; owned by a pinned link). {@code TCX} or
 * {@code TC} forces one kind on every hook.
 */
public final class EbpfRedirector implements Redirector {
    public static final String ZTUNNEL_KEY = "ztunnel";
    private static final Mac NO_MAC = new Mac(new byte[6]);

    private final NodeConfig cfg;
    private final State state;
    private final AttachKind attachKind; // null: auto
    private final boolean readOnly;
    private Datapath dp;
    private boolean pinnedChecked;
    /** A reading command's one read of the maps (see {@link #workloadEntries}). */
    private Map<InetAddress, Maps.WorkloadInfo> workloadsRead;
    private Map<Integer, Counters> countersRead;

    public EbpfRedirector(NodeConfig cfg, State state, AttachKind attachKind, boolean readOnly) {
        this.cfg = cfg;
        this.state = state;
        this.attachKind = attachKind;
        this.readOnly = readOnly;
    }

    @Override
    public RedirectMode mode() {
        return RedirectMode.ebpf;
    }

    /** For a changing command (see {@link io.ambientctl.redirect.Redirectors#open}). */
    public EbpfRedirector(NodeConfig cfg, State state, AttachKind attachKind) {
        this(cfg, state, attachKind, false);
    }

    /**
     * The datapath: loaded (or reused from the pins) on first use; for a reader, the pins only. Only this
     * mode and tests of it use it.
     */
    public Datapath datapath() {
        if (dp == null) {
            if (readOnly) {
                dp = pinned();
                if (dp == null) {
                    throw new IllegalStateException("the eBPF datapath is not pinned under " + cfg.bpffs()
                            + " ('ambientctl repair' reinstalls it)");
                }
            } else {
                dp = Datapath.open(cfg.bpffs());
            }
        }
        return dp;
    }

    /** The pinned datapath, or null when it is not (wholly) pinned; never loads or creates anything. */
    private Datapath pinned() {
        if (dp == null && !pinnedChecked) {
            pinnedChecked = true;
            dp = Datapath.pinned(cfg.bpffs()).orElse(null);
        }
        return dp;
    }

    private void requireWritable() {
        if (readOnly) {
            throw new IllegalStateException("a reading command tried to change the eBPF mode");
        }
    }

    private Path linkPin(String name) {
        return Datapath.linksDir(cfg.bpffs()).resolve(name);
    }

    private static int flags(DatapathOptions o) {
        return (o.dnsCapture() ? Maps.ZTUNNEL_F_DNS_CAPTURE : 0) | (o.failOpen() ? Maps.ZTUNNEL_F_FAIL_OPEN : 0);
    }

    /** The kind a Pod's hook gets: tc filters unless one kind was forced. */
    private AttachKind podKind() {
        return attachKind != null ? attachKind : AttachKind.TC;
    }

    /** Attaches in the calling thread's namespace (the caller is inside {@code ns}). */
    private Hook attachHere(NetNs ns, String program, int ifindex, TcDirection dir, AttachKind kind, String pinName) {
        BpfProgram prog = datapath().program(program);
        Faults.step("tc-attach");
        TcAttachment t = Tc.attach(prog, ifindex, dir, kind, linkPin(pinName));
        return new Hook(ns.display(), t);
    }

    /** Detaches in the calling thread's namespace (TCX by pin, checked to be ours, which works from any namespace). */
    private void detachHere(Hook h) {
        Faults.step("tc-detach");
        if (h.tc().kind() == AttachKind.TCX) {
            Tc.detachTcx(Pins.requireUnder(cfg.bpffs(), h.tc().linkPin()));
        } else {
            Tc.detach(h.tc());
        }
    }

    /** Detaches the hooks, each namespace entered once; the first failure is thrown after trying all. */
    private void detachAll(List<Hook> hooks) {
        Map<String, List<Hook>> byNs = new LinkedHashMap<>();
        for (Hook h : hooks) {
            byNs.computeIfAbsent(h.netns(), k -> new ArrayList<>()).add(h);
        }
        RuntimeException first = null;
        for (var e : byNs.entrySet()) {
            List<Hook> tcx = e.getValue().stream().filter(h -> h.tc().kind() == AttachKind.TCX).toList();
            List<Hook> tc = e.getValue().stream().filter(h -> h.tc().kind() != AttachKind.TCX).toList();
            for (Hook h : tcx) { // by pin: works even when the namespace is gone
                try {
                    detachHere(h);
                } catch (RuntimeException ex) {
                    first = first == null ? ex : first;
                }
            }
            NetNs ns = NetNs.parse(e.getKey());
            // a qdisc we created under a TCX hook (the kind changed since) goes with the last of ours there
            List<Integer> createdUnderTcx = tcx.stream().filter(h -> h.tc().createdQdisc()).map(h -> h.tc().ifindex())
                    .distinct().toList();
            if (tc.isEmpty() && !createdUnderTcx.isEmpty() && ns.exists()) {
                try {
                    ns.run(() -> Tc.removeQdiscsIfUnused(createdUnderTcx));
                } catch (RuntimeException ex) {
                    first = first == null ? ex : first;
                }
            }
            if (tc.isEmpty() || !ns.exists()) {
                continue;
            }
            try {
                // the filters, then each qdisc we created once (not a check per filter)
                RuntimeException inner = ns.call(() -> {
                    try {
                        Tc.detachFilters(tc.stream().map(Hook::tc).toList(), () -> Faults.step("tc-detach"));
                        return null;
                    } catch (RuntimeException ex) {
                        return ex;
                    }
                });
                first = first == null ? inner : first;
            } catch (RuntimeException ex) {
                first = first == null ? ex : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }

    @Override
    public void installZtunnel(Ztunnel zt, DatapathOptions options) {
        requireWritable();
        Datapath d = datapath();
        NetNs ztNs = NetNs.parse(zt.netns());
        List<Hook> hooks = new ArrayList<>();
        List<Hook> previous = state.attachments.getOrDefault(ZTUNNEL_KEY, List.of());
        try {
            // auto (attachKind null): TCX where the kernel has it, for these two hooks
            hooks.add(cfg.nodeNetns().call(() -> attachHere(cfg.nodeNetns(), Datapath.ZTUNNEL_INGRESS,
                    zt.hostIfindex(), TcDirection.INGRESS, attachKind,
                    "ztunnel_" + zt.hostInterface() + "_" + zt.hostIfindex() + "_in")));
            hooks.add(ztNs.call(() -> attachHere(ztNs, Datapath.ZTUNNEL_CAPTURE, zt.podIfindex(), TcDirection.INGRESS,
                    attachKind, "ztunnel_capture_" + ztNs.inode() + "_" + zt.podIfindex())));
            ZtunnelRouting.ensure(ztNs);
            refreshNodeAddresses();
            d.ztunnel().put(0, new Maps.ZtunnelInfo(zt.hostIfindex(), Mac.parse(zt.podMac()), flags(options)));
        } catch (RuntimeException e) {
            // nothing half-done: what this call attached goes again
            try {
                detachAll(newSlots(hooks, previous));
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        // hooks of an earlier ztunnel (another veth) or of another attach kind go
        state.attachments.put(ZTUNNEL_KEY, hooks.stream().map(h -> h.inheriting(previous)).toList());
        detachAll(newSlots(previous, hooks));
    }

    @Override
    public void uninstallZtunnel(Ztunnel zt, DatapathOptions options) {
        requireWritable();
        datapath().ztunnel().put(0, new Maps.ZtunnelInfo(0, NO_MAC, flags(options)));
        detachAll(state.attachments.getOrDefault(ZTUNNEL_KEY, List.of()));
        state.attachments.remove(ZTUNNEL_KEY);
    }

    /** Sets the datapath options without touching ztunnel's hooks. */
    @Override
    public void applyOptions(DatapathOptions options) {
        requireWritable();
        var z = datapath().ztunnel();
        Maps.ZtunnelInfo cur = z.get(0).orElse(new Maps.ZtunnelInfo(0, NO_MAC, 0));
        z.put(0, new Maps.ZtunnelInfo(cur.ifindex(), cur.mac(), flags(options)));
    }

    /** The node's own addresses bypass the mesh; re-read them (they can change). */
    @Override
    public void refreshNodeAddresses() {
        requireWritable();
        var m = datapath().nodeAddrs();
        Set<InetAddress> now = new HashSet<>();
        for (String ip : Discovery.nodeAddresses(cfg.nodeNetns())) {
            now.add(IpAddrs.parse(ip));
        }
        for (InetAddress old : m.entries().keySet()) {
            if (!now.contains(old)) {
                m.delete(old);
            }
        }
        for (InetAddress a : now) {
            m.put(a, 1);
        }
    }

    private static String podPinBase(Workload w) {
        return "pod_" + w.hostInterface() + "_" + w.hostIfindex();
    }

    /**
     * Attaches both hooks of every workload in one visit of the node's namespace, then fills the maps.
     * On failure, what this call attached or entered goes again (hooks already there stay).
     */
    @Override
    public void enroll(List<Workload> batch) {
        requireWritable();
        if (batch.isEmpty()) {
            return;
        }
        long t = io.ambientctl.util.Trace.start();
        Datapath d = datapath();
        t = io.ambientctl.util.Trace.since(t, "ebpf: datapath open");
        AttachKind kind = podKind();
        Map<String, List<Hook>> attached = new LinkedHashMap<>();
        List<InetAddress> added = new ArrayList<>();
        try {
            NetNs node = cfg.nodeNetns();
            RuntimeException failed = node.call(() -> {
                try {
                    for (Workload w : batch) {
                        List<Hook> hs = new ArrayList<>(2);
                        attached.put(w.key(), hs);
                        Hook in = attachHere(node, Datapath.POD_INGRESS, w.hostIfindex(), TcDirection.INGRESS, kind,
                                podPinBase(w) + "_in");
                        hs.add(in);
                        if (in.tc().kind() == AttachKind.TC) {
                            // the clsact qdisc is there now: the egress filter goes straight onto it
                            Faults.step("tc-attach");
                            hs.add(new Hook(node.display(), Tc.attachTcOnQdisc(d.program(Datapath.POD_EGRESS),
                                    w.hostIfindex(), TcDirection.EGRESS, in.tc().createdQdisc())));
                        } else {
                            hs.add(attachHere(node, Datapath.POD_EGRESS, w.hostIfindex(), TcDirection.EGRESS, kind,
                                    podPinBase(w) + "_eg"));
                        }
                    }
                    return null;
                } catch (RuntimeException e) {
                    return e;
                }
            });
            if (failed != null) {
                throw failed;
            }
            t = io.ambientctl.util.Trace.since(t, "ebpf: " + 2 * batch.size() + " hooks attached");
            var cm = d.counters();
            var wm = d.workloads();
            for (Workload w : batch) {
                try {
                    cm.update(w.id(), Counters.ZERO, BpfMap.NOEXIST);
                } catch (BpfException e) {
                    if (e.errno() != Errno.EEXIST) {
                        throw e;
                    }
                }
                Maps.WorkloadInfo info = new Maps.WorkloadInfo(w.hostIfindex(), w.id(), Mac.parse(w.podMac()),
                        Maps.workloadFlags(dnsCaptureOptOut(w)));
                for (String ip : w.ips()) {
                    InetAddress a = IpAddrs.parse(ip);
                    Faults.step("map-update");
                    wm.put(a, info);
                    added.add(a);
                }
            }
        } catch (RuntimeException e) {
            try {
                added.forEach(a -> d.workloads().delete(a));
                List<Hook> fresh = new ArrayList<>();
                attached.forEach((key, hs) -> fresh.addAll(newSlots(hs,
                        state.attachments.getOrDefault(key, List.of()))));
                detachAll(fresh);
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        t = io.ambientctl.util.Trace.since(t, "ebpf: map entries");
        // record the hooks; a hook of another slot (another attach kind, an older veth) goes now
        List<Hook> stale = new ArrayList<>();
        for (Workload w : batch) {
            List<Hook> previous = state.attachments.getOrDefault(w.key(), List.of());
            List<Hook> now = attached.get(w.key());
            state.attachments.put(w.key(), now.stream().map(h -> h.inheriting(previous)).toList());
            stale.addAll(newSlots(previous, now));
        }
        detachAll(stale);
    }

    /** The hooks of {@code hooks} whose slot is not among {@code others}. */
    private static List<Hook> newSlots(List<Hook> hooks, List<Hook> others) {
        return hooks.stream().filter(h -> others.stream().noneMatch(h::sameSlot)).toList();
    }

    /** Whether the workload opted out of DNS capture (WORKLOAD_F_NO_DNS_CAPTURE in its map entries). */
    private static boolean dnsCaptureOptOut(Workload w) {
        return w.noDnsCapture();
    }

    @Override
    public void unenroll(List<Workload> batch) {
        requireWritable();
        if (batch.isEmpty()) {
            return;
        }
        for (Workload w : batch) { // before any change: the state names only our pins
            Pins.requireAllUnder(cfg.bpffs(), state.attachments.getOrDefault(w.key(), List.of()));
        }
        long t = io.ambientctl.util.Trace.start();
        Datapath d = datapath();
        t = io.ambientctl.util.Trace.since(t, "ebpf: datapath open");
        var wm = d.workloads();
        Map<InetAddress, Maps.WorkloadInfo> entries = wm.entries(); // one read in batches, not a lookup per address
        for (Workload w : batch) {
            for (String ip : w.ips()) {
                InetAddress a = IpAddrs.parse(ip);
                // only our entry: the address may belong to another workload by now
                Maps.WorkloadInfo i = entries.get(a);
                if (i != null && i.ifindex() == w.hostIfindex() && i.id() == w.id()) {
                    wm.delete(a);
                }
            }
        }
        t = io.ambientctl.util.Trace.since(t, "ebpf: map entries removed");
        List<Hook> hooks = new ArrayList<>();
        batch.forEach(w -> hooks.addAll(state.attachments.getOrDefault(w.key(), List.of())));
        detachAll(hooks);
        t = io.ambientctl.util.Trace.since(t, "ebpf: " + hooks.size() + " hooks detached");
        var cm = d.counters();
        for (Workload w : batch) {
            state.attachments.remove(w.key());
            cm.delete(w.id());
        }
        io.ambientctl.util.Trace.since(t, "ebpf: counters removed");
    }

    @Override
    public Map<Integer, Counters> counters(List<Workload> ws) {
        Datapath d = readOnly ? pinned() : datapath();
        Map<Integer, Counters> out = new HashMap<>();
        if (d == null) {
            return out;
        }
        Map<Integer, Counters> all = counterEntries(d);
        for (Workload w : ws) {
            Counters c = all.get(w.id());
            if (c != null) {
                out.put(w.id(), c);
            }
        }
        return out;
    }

    /**
     * The workload map's entries, read once (in batches) by a reading command, whose questions (verify, the
     * dry-run reconcile) all look at the same moment's map; a changing one reads afresh each time.
     */
    private Map<InetAddress, Maps.WorkloadInfo> workloadEntries(Datapath d) {
        if (!readOnly) {
            return d.workloads().entries();
        }
        if (workloadsRead == null) {
            workloadsRead = d.workloads().entries();
        }
        return workloadsRead;
    }

    /** The counters map's entries, as {@link #workloadEntries}. */
    private Map<Integer, Counters> counterEntries(Datapath d) {
        if (!readOnly) {
            return d.counters().entries();
        }
        if (countersRead == null) {
            countersRead = d.counters().entries();
        }
        return countersRead;
    }

    /**
     * Reads the node's interfaces and hooks once (one visit of the node's namespace), then the map
     * entries by syscall: no process per workload or per hook.
     */
    @Override
    public List<Verification> verifyAll(List<Workload> ws) {
        if (ws.isEmpty()) {
            return List.of();
        }
        Datapath d = readOnly ? pinned() : datapath();
        if (d == null) {
            String why = "the eBPF datapath is not pinned under " + cfg.bpffs();
            return ws.stream().map(w -> Verification.of(List.of(why))).toList();
        }
        long t = io.ambientctl.util.Trace.start();
        int wantIn = d.program(Datapath.POD_INGRESS).info().id();
        int wantEg = d.program(Datapath.POD_EGRESS).info().id();
        Map<String, List<String>> hookProblems = readHooks(ws, wantIn, wantEg);
        t = io.ambientctl.util.Trace.since(t, "verifyAll: links and filters");
        Map<InetAddress, Maps.WorkloadInfo> wm = workloadEntries(d);
        t = io.ambientctl.util.Trace.since(t, "verifyAll: map read");
        List<Verification> out = new ArrayList<>(ws.size());
        for (Workload w : ws) {
            List<String> problems = new ArrayList<>();
            if (!NetNs.parse(w.netns()).exists()) {
                problems.add("network namespace " + w.netns() + " is gone");
            }
            problems.addAll(hookProblems.getOrDefault(w.key(), List.of()));
            for (String ip : w.ips()) {
                var e = java.util.Optional.ofNullable(wm.get(IpAddrs.parse(ip)));
                if (e.isEmpty()) {
                    problems.add("no workload map entry for " + ip);
                } else if (e.get().ifindex() != w.hostIfindex() || e.get().id() != w.id()) {
                    problems.add("workload map entry for " + ip + " points at ifindex " + e.get().ifindex());
                } else if (((e.get().flags() & Maps.WORKLOAD_F_NO_DNS_CAPTURE) != 0) != w.noDnsCapture()) {
                    problems.add("workload map entry for " + ip + (w.noDnsCapture() ? " lacks" : " has")
                            + " the DNS capture opt-out the state records " + (w.noDnsCapture() ? "" : "not ")
                            + "for it");
                }
            }
            out.add(Verification.of(problems));
        }
        io.ambientctl.util.Trace.since(t, "verifyAll: namespaces and map entries");
        return out;
    }

    /** Each workload's problems with its veth and its hooks, read in the node's namespace. */
    private Map<String, List<String>> readHooks(List<Workload> ws, int wantIn, int wantEg) {
        return cfg.nodeNetns().call(() -> {
            Map<String, List<String>> out = new HashMap<>();
            // the recorded tc filters, each asked for by its place (the TCX links by syscall, in checkHook)
            List<TcFilters.Place> places = new ArrayList<>();
            for (Workload w : ws) {
                for (Hook h : state.attachments.getOrDefault(w.key(), List.of())) {
                    if (h.tc().kind() == AttachKind.TC && h.tc().ifindex() == w.hostIfindex()) {
                        places.add(place(h));
                    }
                }
            }
            long t1 = io.ambientctl.util.Trace.start();
            Map<TcFilters.Place, TcFilter> filters = new HashMap<>();
            try (TcFilters f = TcFilters.open()) {
                List<TcFilter> found = f.find(places);
                for (int i = 0; i < places.size(); i++) {
                    if (found.get(i) != null) {
                        filters.put(places.get(i), found.get(i));
                    }
                }
            }
            t1 = io.ambientctl.util.Trace.since(t1, "verifyAll: filters");
            for (Workload w : ws) {
                List<String> problems = new ArrayList<>();
                if (!w.hostInterface().equals(Links.nameHere(w.hostIfindex()))) {
                    problems.add("host veth " + w.hostInterface() + " (ifindex " + w.hostIfindex() + ") is gone");
                } else {
                    List<Hook> hooks = state.attachments.getOrDefault(w.key(), List.of());
                    checkHook(problems, w, hooks, TcDirection.INGRESS, Datapath.POD_INGRESS, wantIn, filters);
                    checkHook(problems, w, hooks, TcDirection.EGRESS, Datapath.POD_EGRESS, wantEg, filters);
                }
                out.put(w.key(), problems);
            }
            return out;
        });
    }

    /** Where a tc filter hook is: its interface, clsact hook, priority and handle. */
    private static TcFilters.Place place(Hook h) {
        return new TcFilters.Place(h.tc().ifindex(), h.tc().direction() == TcDirection.INGRESS ? TcFilters.INGRESS
                : TcFilters.EGRESS, h.tc().priority(), h.tc().handle());
    }

    /** The recorded hook of that direction is in the kernel with our program (TCX by syscall, tc as read). */
    private static void checkHook(List<String> problems, Workload w, List<Hook> hooks, TcDirection dir, String program,
                                  int want, Map<TcFilters.Place, TcFilter> filters) {
        Hook h = hooks.stream().filter(x -> x.tc().direction() == dir && x.tc().ifindex() == w.hostIfindex())
                .findFirst().orElse(null);
        boolean there;
        if (h == null) {
            there = false;
        } else if (h.tc().kind() == AttachKind.TCX) {
            there = Tc.queryTcx(w.hostIfindex(), dir).contains(want);
        } else {
            TcFilter f = filters.get(place(h));
            there = f != null && f.progId() == want;
        }
        if (!there) {
            problems.add(program + " is not attached to ifindex " + w.hostIfindex() + " " + dir.label());
        }
    }

    @Override
    public List<String> verifyNode() {
        List<String> problems = new ArrayList<>();
        long t = io.ambientctl.util.Trace.start();
        Datapath d = readOnly ? pinned() : datapath();
        t = io.ambientctl.util.Trace.since(t, "verifyNode: pinned");
        if (d == null) {
            problems.add("the eBPF datapath is not pinned under " + cfg.bpffs());
            return problems;
        }
        Maps.ZtunnelInfo zi = d.ztunnel().get(0).orElse(new Maps.ZtunnelInfo(0, NO_MAC, 0));
        Ztunnel zt = state.ztunnel;
        if (zt == null) {
            if (zi.set()) {
                problems.add("the ztunnel map points at ifindex " + zi.ifindex() + " but no ztunnel is set");
            }
            return problems;
        }
        if (zi.ifindex() != zt.hostIfindex()) {
            problems.add("the ztunnel map points at ifindex " + zi.ifindex() + ", ztunnel's veth is "
                    + zt.hostIfindex());
        }
        int want = d.program(Datapath.ZTUNNEL_INGRESS).info().id();
        if (cfg.nodeNetns().call(() -> Tc.query(zt.hostIfindex(), TcDirection.INGRESS)).stream()
                .noneMatch(p -> p.progId() == want)) {
            problems.add(Datapath.ZTUNNEL_INGRESS + " is not attached to ztunnel's veth " + zt.hostInterface());
        }
        NetNs ztNs = NetNs.parse(zt.netns());
        if (!ztNs.exists()) {
            problems.add("ztunnel's network namespace " + zt.netns() + " is gone");
            return problems;
        }
        t = io.ambientctl.util.Trace.since(t, "verifyNode: ztunnel map, hook");
        int cap = d.program(Datapath.ZTUNNEL_CAPTURE).info().id();
        if (ztNs.call(() -> Tc.query(zt.podIfindex(), TcDirection.INGRESS)).stream().noneMatch(p -> p.progId() == cap)) {
            problems.add(Datapath.ZTUNNEL_CAPTURE + " is not attached to ztunnel's " + zt.podInterface());
        }
        t = io.ambientctl.util.Trace.since(t, "verifyNode: capture hook");
        if (!ztNs.call(ZtunnelRouting::presentHere)) {
            problems.add("ztunnel's namespace lacks the fwmark 0x111 -> table 133 local route");
        }
        io.ambientctl.util.Trace.since(t, "verifyNode: ztunnel routing");
        return problems;
    }

    @Override
    public List<String> reconcile(boolean dryRun) {
        List<String> out = new ArrayList<>();
        if (state.layout >= Maps.LAYOUT && (Files.isDirectory(Datapath.mapsDir(cfg.bpffs(), 1))
                || Files.isDirectory(Datapath.progsDir(cfg.bpffs(), 1)))) {
            // an upgrade that failed while removing them: no hook runs those programs any more
            out.add("remove layout 1 pins left by an upgrade (" + Datapath.mapsDir(cfg.bpffs(), 1) + ", "
                    + Datapath.progsDir(cfg.bpffs(), 1) + ")");
            if (!dryRun) {
                LayoutUpgrade.removeLayout1(cfg.bpffs());
            }
        }
        if (!Files.isDirectory(Datapath.mapsDir(cfg.bpffs()))) {
            return out;
        }
        Datapath d = dryRun ? pinned() : datapath();
        out.addAll(Pins.fixOutside(cfg.bpffs(), Datapath.linksDir(cfg.bpffs()), state.attachments, dryRun));
        // link pins nobody in the state attached
        Set<String> known = new HashSet<>();
        state.attachments.values().forEach(hs -> hs.forEach(h -> {
            if (h.tc().linkPin() != null) {
                known.add(h.tc().linkPin());
            }
        }));
        Path links = Datapath.linksDir(cfg.bpffs());
        if (Files.isDirectory(links)) {
            try (var s = Files.list(links)) {
                for (Path p : s.toList()) {
                    if (!known.contains(p.toString())) {
                        out.add("detach unrecorded link " + p.getFileName());
                        if (!dryRun) {
                            Tc.detachTcx(p);
                        }
                    }
                }
            } catch (IOException e) {
                throw new IllegalStateException("cannot list " + links + ": " + e.getMessage(), e);
            }
        }
        if (d == null) {
            return out;
        }
        // map entries of no recorded workload
        Set<String> entries = new HashSet<>();
        Set<Integer> ids = new HashSet<>();
        for (Workload w : state.workloads) {
            ids.add(w.id());
            w.ips().forEach(ip -> entries.add(IpAddrs.format(IpAddrs.parse(ip)) + "/" + w.hostIfindex() + "/" + w.id()));
        }
        var wm = d.workloads();
        for (var e : workloadEntries(d).entrySet()) {
            String k = IpAddrs.format(e.getKey()) + "/" + e.getValue().ifindex() + "/" + e.getValue().id();
            if (!entries.contains(k)) {
                out.add("delete unrecorded workload map entry " + IpAddrs.format(e.getKey()));
                if (!dryRun) {
                    wm.delete(e.getKey());
                }
            }
        }
        var cm = d.counters();
        for (Integer id : counterEntries(d).keySet()) {
            if (!ids.contains(id)) {
                out.add("delete counters of unrecorded workload id " + id);
                if (!dryRun) {
                    cm.delete(id);
                }
            }
        }
        return out;
    }

    @Override
    public boolean present() {
        return Files.exists(Datapath.mapsDir(cfg.bpffs())) || Files.exists(Datapath.linksDir(cfg.bpffs()))
                || Files.exists(Datapath.mapsDir(cfg.bpffs(), 1)) || Files.exists(Datapath.progsDir(cfg.bpffs(), 1))
                || !state.attachments.isEmpty();
    }

    /** The programs of our datapath as pinned, id to full name (to tell ours from other owners' programs). */
    @Override
    public Map<Integer, String> programs() {
        Map<Integer, String> ids = new HashMap<>();
        Path dir = Datapath.progsDir(cfg.bpffs());
        if (!Files.isDirectory(dir)) {
            return ids;
        }
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) {
                try (BpfProgram prog = BpfProgram.openPinned(p)) {
                    ids.put(prog.info().id(), p.getFileName().toString());
                } catch (RuntimeException e) {
                    // not a program pin
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        return ids;
    }

    @Override
    public io.ambientctl.observe.Monitor monitor(io.ambientctl.observe.MonitorOptions options) {
        return new EbpfMonitor(datapath(), cfg, state, options);
    }

    @Override
    public io.ambientctl.observe.Explanation explain(io.ambientctl.observe.Probe probe) {
        return new EbpfExplainer(datapath(), cfg, state).explain(probe);
    }

    @Override
    public List<Table> tables(String only, boolean raw) {
        return MapDecoder.tables(cfg.bpffs(), cfg, state, only, raw);
    }

    @Override
    public Map<String, Object> describe(Workload w) {
        Map<String, Object> out = new LinkedHashMap<>();
        Datapath d = readOnly ? pinned() : datapath();
        List<Map<String, Object>> entries = new ArrayList<>();
        if (d != null) {
            var wm = d.workloads();
            for (String ip : w.ips()) {
                wm.get(IpAddrs.parse(ip)).ifPresent(i -> {
                    Map<String, Object> v = new LinkedHashMap<>();
                    v.put("ifindex", i.ifindex());
                    v.put("interface", w.hostIfindex() == i.ifindex() ? w.hostInterface() : null);
                    v.put("mac", i.mac().toString());
                    v.put("id", i.id());
                    v.put("workload", i.id() == w.id() ? w.key() : null);
                    v.put("flags", i.flags());
                    Map<String, Object> e = new LinkedHashMap<>();
                    e.put("key", Map.of("ip", ip));
                    e.put("value", v);
                    entries.add(e);
                });
            }
        }
        out.put("mapEntries", entries);
        Counters c = counters(List.of(w)).get(w.id());
        out.put("counters", c);
        out.put("hooks", state.attachments.getOrDefault(w.key(), List.of()).stream().map(h -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("direction", h.tc().direction().label());
            m.put("attach", h.tc().kind().label());
            m.put("ifindex", h.tc().ifindex());
            if (h.tc().kind() == AttachKind.TC) {
                m.put("priority", h.tc().priority());
                m.put("handle", h.tc().handle());
            } else {
                m.put("linkPin", h.tc().linkPin());
            }
            return m;
        }).toList());
        return out;
    }

    /** The workload map's entries grouped by counter id (its veth and addresses), and the ztunnel map's veth. */
    @Override
    public Adoptable adoptable() {
        Datapath d = readOnly ? pinned() : datapath();
        if (d == null) {
            return Adoptable.NONE;
        }
        Map<Integer, List<InetAddress>> ips = new LinkedHashMap<>();
        Map<Integer, Integer> veth = new HashMap<>();
        for (var e : d.workloads().entries().entrySet()) {
            if (e.getValue().id() >= BENCH_ID) {
                continue;
            }
            ips.computeIfAbsent(e.getValue().id(), k -> new ArrayList<>()).add(e.getKey());
            veth.put(e.getValue().id(), e.getValue().ifindex());
        }
        List<Found> found = new ArrayList<>();
        ips.forEach((id, as) -> found.add(new Found(id, veth.get(id), as)));
        Maps.ZtunnelInfo zi = d.ztunnel().get(0).orElse(new Maps.ZtunnelInfo(0, NO_MAC, 0));
        return new Adoptable(found, zi.set() ? zi.ifindex() : 0, null);
    }

    @Override
    public void benchFill(List<InetAddress> extra, boolean clear) {
        requireWritable();
        var wm = datapath().workloads();
        if (clear) {
            for (var e : wm.entries().entrySet()) {
                if (e.getValue().id() >= BENCH_ID) {
                    wm.delete(e.getKey());
                }
            }
        }
        Mac mac = Mac.parse("02:00:00:00:00:01");
        for (int i = 0; i < extra.size(); i++) {
            wm.put(extra.get(i), new Maps.WorkloadInfo(BENCH_ID + i, BENCH_ID + i, mac, Maps.WORKLOAD_F_ENROLLED));
        }
    }

    /** Workload ids of the bench's synthetic entries (never given to a real workload). */
    private static final int BENCH_ID = 100_000_000;

    /**
     * Takes over the datapath an older build pinned (layout {@code fromLayout}) in place: see {@link LayoutUpgrade}.
     * A node without layout 1 pins (nothing of the eBPF mode installed, or an upgrade that got as far as removing
     * them) only needs the hooks' programs replaced, which the same steps do.
     */
    @Override
    public List<String> upgrade(int fromLayout) {
        requireWritable();
        if (fromLayout >= Maps.LAYOUT) {
            return List.of();
        }
        if (fromLayout != 1) {
            throw new IllegalStateException("the eBPF mode upgrades from layout 1 only, the state records layout "
                    + fromLayout);
        }
        Datapath d = datapath();
        try {
            return LayoutUpgrade.from1(cfg, state, d);
        } catch (RuntimeException e) {
            if (e.getCause() == null || e.getCause().getSuppressed().length == 0) {
                // every hook has its old program again: the layout 2 pins go, the node is on layout 1 alone
                try {
                    close();
                    LayoutUpgrade.removePins(Datapath.layoutDir(cfg.bpffs(), Maps.LAYOUT));
                } catch (RuntimeException ex) {
                    e.addSuppressed(ex);
                }
            }
            throw e;
        }
    }

    /** The layouts whose pins are under BPFFS (1: an older build's, not upgraded yet). */
    public java.util.SortedSet<Integer> layoutsPinned() {
        return Datapath.layoutsPinned(cfg.bpffs());
    }

    @Override
    public void checkRemovable() {
        state.attachments.values().forEach(hs -> Pins.requireAllUnder(cfg.bpffs(), hs));
    }

    @Override
    public void uninstall() {
        requireWritable();
        state.attachments.values().forEach(hs -> Pins.requireAllUnder(cfg.bpffs(), hs)); // before any change
        RuntimeException first = null;
        List<Hook> all = new ArrayList<>();
        state.attachments.values().forEach(all::addAll);
        try {
            detachAll(all);
        } catch (RuntimeException ex) {
            first = ex;
        }
        state.attachments.clear();
        close();
        removePins(cfg.bpffs());
        if (first != null) {
            throw first;
        }
    }

    /** Removes the pin tree of the datapath (links, programs, maps; this build's layout and layout 1's). */
    public static void removePins(Path bpffs) {
        for (Path dir : List.of(Datapath.linksDir(bpffs), Datapath.progsDir(bpffs), Datapath.mapsDir(bpffs),
                Datapath.progsDir(bpffs, 1), Datapath.mapsDir(bpffs, 1), Datapath.layoutDir(bpffs, Maps.LAYOUT))) {
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (var s = Files.list(dir)) {
                for (Path p : s.toList()) {
                    if (dir.equals(Datapath.linksDir(bpffs))) {
                        Tc.detachTcx(p);
                    } else {
                        Files.deleteIfExists(p);
                    }
                }
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                throw new IllegalStateException("cannot remove pins under " + dir + ": " + e.getMessage(), e);
            }
        }
        // the pins of any other layout (a newer build's, removed by 'uninstall --force')
        for (int layout : Datapath.layoutsPinned(bpffs)) {
            if (layout > 1) {
                LayoutUpgrade.removePins(Datapath.layoutDir(bpffs, layout));
            }
        }
        try {
            Files.deleteIfExists(bpffs);
        } catch (IOException e) {
            // something else lives there: leave it
        }
    }

    @Override
    public void close() {
        if (dp != null) {
            dp.close();
            dp = null;
        }
        pinnedChecked = false;
    }
}
