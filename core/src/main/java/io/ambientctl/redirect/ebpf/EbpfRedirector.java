package io.ambientctl.redirect.ebpf;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.bpf.AttachedProgram;
import io.ambientctl.bpf.BpfException;
import io.ambientctl.bpf.BpfMap;
import io.ambientctl.bpf.Errno;
import io.ambientctl.bpf.Tc;
import io.ambientctl.bpf.TcAttachment;
import io.ambientctl.bpf.TcDirection;
import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.Mac;
import io.ambientctl.net.NetNs;
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

/**
 * eBPF mode: programs on the TC hooks of each enrolled pod's host veth and of ztunnel's veths, and
 * the maps that tell them who is enrolled and where ztunnel is. What it attached is recorded in the
 * {@link State} (by workload key) so that it removes exactly that.
 */
public final class EbpfRedirector implements Redirector {
    public static final String ZTUNNEL_KEY = "ztunnel";
    private static final Mac NO_MAC = new Mac(new byte[6]);

    private final NodeConfig cfg;
    private final State state;
    private final AttachKind attachKind; // null: TCX where the kernel has it
    private Datapath dp;

    public EbpfRedirector(NodeConfig cfg, State state, AttachKind attachKind) {
        this.cfg = cfg;
        this.state = state;
        this.attachKind = attachKind;
    }

    @Override
    public RedirectMode mode() {
        return RedirectMode.ebpf;
    }

    /** The datapath, loaded on first use. */
    public Datapath datapath() {
        if (dp == null) {
            dp = Datapath.open(cfg.bpffs());
        }
        return dp;
    }

    private Path linkPin(String name) {
        return Datapath.linksDir(cfg.bpffs()).resolve(name);
    }

    private static int flags(DatapathOptions o) {
        return (o.dnsCapture() ? Maps.ZTUNNEL_F_DNS_CAPTURE : 0) | (o.failOpen() ? Maps.ZTUNNEL_F_FAIL_OPEN : 0);
    }

    private Hook attach(NetNs ns, String program, int ifindex, TcDirection dir, String pinName) {
        var prog = datapath().program(program);
        io.ambientctl.util.Faults.step("tc-attach");
        TcAttachment t = ns.call(() -> Tc.attach(prog, ifindex, dir, attachKind, linkPin(pinName)));
        return new Hook(ns.display(), t);
    }

    private void detach(Hook h) {
        io.ambientctl.util.Faults.step("tc-detach");
        NetNs ns = NetNs.parse(h.netns());
        if (h.tc().kind() == AttachKind.TCX) {
            Tc.detachTcx(Pins.requireUnder(cfg.bpffs(), h.tc().linkPin())); // by pin: works when the netns is gone
        } else if (ns.exists()) {
            ns.run(() -> Tc.detach(h.tc()));
        }
    }

    private void detachAll(List<Hook> hooks) {
        RuntimeException first = null;
        for (Hook h : hooks) {
            try {
                detach(h);
            } catch (RuntimeException e) {
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }

    @Override
    public void installZtunnel(Ztunnel zt, DatapathOptions options) {
        Datapath d = datapath();
        NetNs ztNs = NetNs.parse(zt.netns());
        List<Hook> hooks = new ArrayList<>();
        try {
            hooks.add(attach(cfg.nodeNetns(), Datapath.ZTUNNEL_INGRESS, zt.hostIfindex(), TcDirection.INGRESS,
                    "ztunnel_" + zt.hostInterface() + "_" + zt.hostIfindex() + "_in"));
            hooks.add(attach(ztNs, Datapath.ZTUNNEL_CAPTURE, zt.podIfindex(), TcDirection.INGRESS,
                    "ztunnel_capture_" + ztNs.inode() + "_" + zt.podIfindex()));
            ZtunnelRouting.ensure(ztNs);
            refreshNodeAddresses();
            d.ztunnel().put(0, new Maps.ZtunnelInfo(zt.hostIfindex(), Mac.parse(zt.podMac()), flags(options)));
        } catch (RuntimeException e) {
            // nothing half-done: what this call attached goes again
            List<Hook> previous = state.attachments.getOrDefault(ZTUNNEL_KEY, List.of());
            List<Hook> fresh = newSlots(hooks, previous);
            try {
                detachAll(fresh);
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        // hooks of an earlier ztunnel (another veth) go
        List<Hook> previous = state.attachments.getOrDefault(ZTUNNEL_KEY, List.of());
        state.attachments.put(ZTUNNEL_KEY, hooks.stream().map(h -> h.inheriting(previous)).toList());
        detachAll(newSlots(previous, hooks));
    }

    @Override
    public void uninstallZtunnel(Ztunnel zt, DatapathOptions options) {
        datapath().ztunnel().put(0, new Maps.ZtunnelInfo(0, NO_MAC, flags(options)));
        detachAll(state.attachments.getOrDefault(ZTUNNEL_KEY, List.of()));
        state.attachments.remove(ZTUNNEL_KEY);
    }

    /** Sets the datapath options without touching ztunnel's hooks. */
    @Override
    public void applyOptions(DatapathOptions options) {
        var z = datapath().ztunnel();
        Maps.ZtunnelInfo cur = z.get(0).orElse(new Maps.ZtunnelInfo(0, NO_MAC, 0));
        z.put(0, new Maps.ZtunnelInfo(cur.ifindex(), cur.mac(), flags(options)));
    }

    /** The node's own addresses bypass the mesh; re-read them (they can change). */
    @Override
    public void refreshNodeAddresses() {
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

    @Override
    public void enroll(Workload w) {
        Datapath d = datapath();
        List<Hook> previous = state.attachments.getOrDefault(w.key(), List.of());
        List<Hook> hooks = new ArrayList<>();
        List<InetAddress> added = new ArrayList<>();
        try {
            String base = "pod_" + w.hostInterface() + "_" + w.hostIfindex();
            hooks.add(attach(cfg.nodeNetns(), Datapath.POD_INGRESS, w.hostIfindex(), TcDirection.INGRESS, base + "_in"));
            hooks.add(attach(cfg.nodeNetns(), Datapath.POD_EGRESS, w.hostIfindex(), TcDirection.EGRESS, base + "_eg"));
            try {
                d.counters().update(w.id(), Maps.ZERO, BpfMap.NOEXIST);
            } catch (BpfException e) {
                if (e.errno() != Errno.EEXIST) {
                    throw e;
                }
            }
            var wm = d.workloads();
            for (String ip : w.ips()) {
                InetAddress a = IpAddrs.parse(ip);
                io.ambientctl.util.Faults.step("map-update");
                wm.put(a, new Maps.WorkloadInfo(w.hostIfindex(), w.id(), Mac.parse(w.podMac()), Maps.WORKLOAD_F_ENROLLED));
                added.add(a);
            }
        } catch (RuntimeException e) {
            try {
                added.forEach(a -> d.workloads().delete(a));
                detachAll(newSlots(hooks, previous));
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        state.attachments.put(w.key(), hooks.stream().map(h -> h.inheriting(previous)).toList());
    }

    /** The hooks of {@code hooks} whose slot is not among {@code others}. */
    private static List<Hook> newSlots(List<Hook> hooks, List<Hook> others) {
        return hooks.stream().filter(h -> others.stream().noneMatch(h::sameSlot)).toList();
    }

    @Override
    public void unenroll(Workload w) {
        Pins.requireAllUnder(cfg.bpffs(), state.attachments.getOrDefault(w.key(), List.of())); // before any change
        Datapath d = datapath();
        var wm = d.workloads();
        for (String ip : w.ips()) {
            InetAddress a = IpAddrs.parse(ip);
            // only our entry: the address may belong to another workload by now
            wm.get(a).filter(i -> i.ifindex() == w.hostIfindex() && i.id() == w.id()).ifPresent(i -> wm.delete(a));
        }
        detachAll(state.attachments.getOrDefault(w.key(), List.of()));
        state.attachments.remove(w.key());
        d.counters().delete(w.id());
    }

    @Override
    public Maps.Counters counters(Workload w) {
        return datapath().counters().get(w.id()).orElse(Maps.ZERO);
    }

    @Override
    public Verification verify(Workload w) {
        return verifyAll(List.of(w)).get(0);
    }

    /** Reads the node's interfaces once, and asks the kernel for the hooks by syscall where they are TCX. */
    @Override
    public List<Verification> verifyAll(List<Workload> ws) {
        if (ws.isEmpty()) {
            return List.of();
        }
        List<Link> host = Links.in(cfg.nodeNetns());
        int wantIn = datapath().program(Datapath.POD_INGRESS).info().id();
        int wantEg = datapath().program(Datapath.POD_EGRESS).info().id();
        var wm = datapath().workloads();
        List<Verification> out = new ArrayList<>();
        for (Workload w : ws) {
            List<String> problems = new ArrayList<>();
            if (!NetNs.parse(w.netns()).exists()) {
                problems.add("network namespace " + w.netns() + " is gone");
            }
            Link veth = Links.byIndex(host, w.hostIfindex()).orElse(null);
            if (veth == null || !veth.name().equals(w.hostInterface())) {
                problems.add("host veth " + w.hostInterface() + " (ifindex " + w.hostIfindex() + ") is gone");
            } else {
                boolean tcx = state.attachments.getOrDefault(w.key(), List.of()).stream()
                        .allMatch(h -> h.tc().kind() == AttachKind.TCX);
                checkHook(problems, w.hostIfindex(), TcDirection.INGRESS, Datapath.POD_INGRESS, wantIn, tcx);
                checkHook(problems, w.hostIfindex(), TcDirection.EGRESS, Datapath.POD_EGRESS, wantEg, tcx);
            }
            for (String ip : w.ips()) {
                var e = wm.get(IpAddrs.parse(ip));
                if (e.isEmpty()) {
                    problems.add("no workload map entry for " + ip);
                } else if (e.get().ifindex() != w.hostIfindex() || e.get().id() != w.id()) {
                    problems.add("workload map entry for " + ip + " points at ifindex " + e.get().ifindex());
                }
            }
            out.add(Verification.of(problems));
        }
        return out;
    }

    private void checkHook(List<String> problems, int ifindex, TcDirection dir, String program, int want, boolean tcx) {
        boolean there = cfg.nodeNetns().call(() -> tcx ? Tc.queryTcx(ifindex, dir).contains(want)
                : Tc.query(ifindex, dir).stream().anyMatch(p -> p.progId() == want));
        if (!there) {
            problems.add(program + " is not attached to ifindex " + ifindex + " " + dir.label());
        }
    }

    @Override
    public List<String> verifyNode() {
        List<String> problems = new ArrayList<>();
        Maps.ZtunnelInfo zi = datapath().ztunnel().get(0).orElse(new Maps.ZtunnelInfo(0, NO_MAC, 0));
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
        int want = datapath().program(Datapath.ZTUNNEL_INGRESS).info().id();
        if (cfg.nodeNetns().call(() -> Tc.query(zt.hostIfindex(), TcDirection.INGRESS)).stream()
                .noneMatch(p -> p.progId() == want)) {
            problems.add(Datapath.ZTUNNEL_INGRESS + " is not attached to ztunnel's veth " + zt.hostInterface());
        }
        NetNs ztNs = NetNs.parse(zt.netns());
        if (!ztNs.exists()) {
            problems.add("ztunnel's network namespace " + zt.netns() + " is gone");
            return problems;
        }
        int cap = datapath().program(Datapath.ZTUNNEL_CAPTURE).info().id();
        if (ztNs.call(() -> Tc.query(zt.podIfindex(), TcDirection.INGRESS)).stream().noneMatch(p -> p.progId() == cap)) {
            problems.add(Datapath.ZTUNNEL_CAPTURE + " is not attached to ztunnel's " + zt.podInterface());
        }
        if (!ztNs.call(ZtunnelRouting::presentHere)) {
            problems.add("ztunnel's namespace lacks the fwmark 0x111 -> table 133 local route");
        }
        return problems;
    }

    @Override
    public List<String> reconcile(boolean dryRun) {
        List<String> out = new ArrayList<>();
        if (!Files.isDirectory(Datapath.mapsDir(cfg.bpffs()))) {
            return out;
        }
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
        // map entries of no recorded workload
        Set<String> entries = new HashSet<>();
        Set<Integer> ids = new HashSet<>();
        for (Workload w : state.workloads) {
            ids.add(w.id());
            w.ips().forEach(ip -> entries.add(IpAddrs.format(IpAddrs.parse(ip)) + "/" + w.hostIfindex() + "/" + w.id()));
        }
        var wm = datapath().workloads();
        for (var e : wm.entries().entrySet()) {
            String k = IpAddrs.format(e.getKey()) + "/" + e.getValue().ifindex() + "/" + e.getValue().id();
            if (!entries.contains(k)) {
                out.add("delete unrecorded workload map entry " + IpAddrs.format(e.getKey()));
                if (!dryRun) {
                    wm.delete(e.getKey());
                }
            }
        }
        var cm = datapath().counters();
        for (Integer id : cm.entries().keySet()) {
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
                || !state.attachments.isEmpty();
    }

    /** The program ids of our datapath (to tell ours from other owners' programs). */
    public Set<Integer> programIds() {
        Set<Integer> ids = new HashSet<>();
        for (String p : Datapath.PROGRAMS) {
            ids.add(datapath().program(p).info().id());
        }
        return ids;
    }

    @Override
    public void uninstall() {
        state.attachments.values().forEach(hs -> Pins.requireAllUnder(cfg.bpffs(), hs)); // before any change
        RuntimeException first = null;
        for (var e : new ArrayList<>(state.attachments.entrySet())) {
            try {
                detachAll(e.getValue());
            } catch (RuntimeException ex) {
                first = first == null ? ex : first;
            }
        }
        state.attachments.clear();
        close();
        removePins(cfg.bpffs());
        if (first != null) {
            throw first;
        }
    }

    /** Removes the pin tree of the datapath (links, programs, maps). */
    public static void removePins(Path bpffs) {
        for (Path dir : List.of(Datapath.linksDir(bpffs), Datapath.progsDir(bpffs), Datapath.mapsDir(bpffs))) {
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
    }
}
