package io.ambientctl.redirect.ebpf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.ambientctl.bpf.BpfException;
import io.ambientctl.bpf.BpfMap;
import io.ambientctl.bpf.BpfProgram;
import io.ambientctl.bpf.Errno;
import io.ambientctl.bpf.Tc;
import io.ambientctl.bpf.TcAttachment;
import io.ambientctl.bpf.TcDirection;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.Hook;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.State;
import io.ambientctl.util.Faults;

/**
 * Layout 1 (release v0.1.0: maps and programs pinned under BPFFS/maps and BPFFS/progs, counters of 40 bytes
 * per CPU) to layout 2 (this build's, under BPFFS/layout2), in place, with every hook redirecting throughout:
 * <ol>
 * <li>this build's object is loaded with its maps pinned under BPFFS/layout2 (done by the caller);</li>
 * <li>the entries are copied into the new maps before any new program runs: workloads, ztunnel, node addresses
 * and settings as they are; counters widened (40 to 96 bytes per CPU, {@code dropped_packets} into
 * {@code drops[NO_ZTUNNEL]}), each CPU's own;</li>
 * <li>every recorded hook gets its new program in place (tc filter replaced at its priority and handle, TCX link
 * updated): no moment without a program, and the old and the new program read maps with the same entries;</li>
 * <li>what the old programs counted since the copy is added to the new counters;</li>
 * <li>the layout 1 pins go (the old programs and maps with them).</li>
 * </ol>
 * A failure before the last step puts the old programs back on the hooks already changed (the caller then
 * removes the layout 2 pins): the node stays on layout 1, whole. A kill at any step leaves both maps complete (every hook
 * redirects, whichever program it runs) and the journal: the next changing command runs the upgrade again,
 * which picks up where it stopped (copies are idempotent; counters already copied are kept).
 */
final class LayoutUpgrade {
    /** Bytes per CPU of layout 1's struct workload_counters (out/in packets and bytes, dropped_packets). */
    static final int COUNTERS1_SIZE = 40;
    /** Layout 1's maps and programs, by pin name (fixed: later layouts may have more). */
    static final List<String> LAYOUT1_MAPS = List.of("ambient_workloads", "ambient_ztunnel", "ambient_node_addrs",
            "ambient_counters", "ambient_settings");
    static final List<String> LAYOUT1_PROGRAMS = List.of("ambient_pod_ingress", "ambient_pod_egress",
            "ambient_ztunnel_ingress", "ambient_ztunnel_capture");

    private final NodeConfig cfg;
    private final State state;
    private final Datapath dp;
    private final List<String> did = new ArrayList<>();

    private LayoutUpgrade(NodeConfig cfg, State state, Datapath dp) {
        this.cfg = cfg;
        this.state = state;
        this.dp = dp;
    }

    /** Upgrades the pins and hooks of layout 1 to {@code dp}'s (layout 2); updates the state's hooks. */
    static List<String> from1(NodeConfig cfg, State state, Datapath dp) {
        return new LayoutUpgrade(cfg, state, dp).run();
    }

    private List<String> run() {
        Path bpffs = cfg.bpffs();
        Map<String, BpfMap> oldMaps = new LinkedHashMap<>();
        Map<String, BpfProgram> oldProgs = new LinkedHashMap<>();
        Map<String, List<Hook>> before = new LinkedHashMap<>();
        state.attachments.forEach((k, v) -> before.put(k, List.copyOf(v)));
        List<Swapped> swapped = new ArrayList<>();
        try {
            for (String m : LAYOUT1_MAPS) {
                Path pin = Datapath.mapsDir(bpffs, 1).resolve(m);
                if (Files.exists(pin)) {
                    oldMaps.put(m, BpfMap.openPinned(pin));
                }
            }
            for (String p : LAYOUT1_PROGRAMS) {
                Path pin = Datapath.progsDir(bpffs, 1).resolve(p);
                if (Files.exists(pin)) {
                    oldProgs.put(p, BpfProgram.openPinned(pin));
                }
            }
            Map<Integer, byte[]> snapshot = Map.of();
            if (oldMaps.keySet().containsAll(LAYOUT1_MAPS)) {
                Faults.step("upgrade-copy");
                copySame(oldMaps, Maps.WORKLOADS);
                copySame(oldMaps, Maps.ZTUNNEL);
                copySame(oldMaps, Maps.NODE_ADDRS);
                copySame(oldMaps, Maps.SETTINGS);
                snapshot = copyCounters(oldMaps.get(Maps.COUNTERS));
            } else if (!oldMaps.isEmpty()) {
                // an earlier run was killed while removing the layout 1 pins: its hooks were all replaced by then
                did.add("layout 1 maps partly removed by an interrupted upgrade: not copied again");
            }
            // every hook gets the new program in place
            int n = 0;
            for (Map.Entry<String, List<Hook>> e : state.attachments.entrySet()) {
                List<Hook> now = new ArrayList<>();
                for (Hook h : e.getValue()) {
                    String name = program(e.getKey(), h);
                    BpfProgram next = dp.program(name);
                    Faults.step("upgrade-replace");
                    TcAttachment t;
                    try {
                        t = replace(h, next);
                    } catch (BpfException gone) {
                        if (gone.errno() != Errno.ENOENT && gone.errno() != Errno.ENODEV) {
                            throw gone;
                        }
                        // nothing there to replace (a Pod's veth gone, a hook lost before): nothing runs an old
                        // program on it; kept as recorded, for repair to re-attach or forget
                        did.add(e.getKey() + ": its " + h.tc().direction().label() + " hook on ifindex "
                                + h.tc().ifindex() + " is not there (" + gone.getMessage() + "): left to repair");
                        now.add(h);
                        continue;
                    }
                    swapped.add(new Swapped(h, name));
                    now.add(new Hook(h.netns(), t));
                    n++;
                }
                e.setValue(now);
            }
            did.add("replaced the programs of " + n + " hook(s) in place (tc filters at their priority and handle, "
                    + "TCX links updated)");
            if (!snapshot.isEmpty()) {
                addCountedSince(oldMaps.get(Maps.COUNTERS), snapshot);
            }
        } catch (RuntimeException e) {
            rollBack(e, swapped, oldProgs);
            state.attachments.clear();
            state.attachments.putAll(before);
            close(oldMaps, oldProgs);
            throw new IllegalStateException("upgrading the eBPF datapath from layout 1 to " + Maps.LAYOUT + " failed, "
                    + "the node stays on layout 1 (every hook runs its old program): " + e.getMessage()
                    + "; the next changing command, or 'ambientctl repair --upgrade', tries again", e);
        }
        close(oldMaps, oldProgs);
        // the new layout is whole: the old pins go (a failure here leaves leftovers that repair removes)
        try {
            Faults.step("upgrade-unpin");
            removeLayout1(bpffs);
            did.add("removed the layout 1 pins under " + Datapath.mapsDir(bpffs, 1) + " and "
                    + Datapath.progsDir(bpffs, 1));
        } catch (RuntimeException e) {
            did.add("upgraded, but removing the layout 1 pins failed (" + e.getMessage() + "); no hook uses them: "
                    + "'ambientctl repair' removes them");
        }
        return did;
    }

    private record Swapped(Hook was, String program) {
    }

    /** The program a recorded hook runs: by the workload key and the hook's direction and namespace. */
    private String program(String key, Hook h) {
        if (key.equals(EbpfRedirector.ZTUNNEL_KEY)) {
            if (h.netns().equals(cfg.nodeNetns().display())) {
                return Datapath.ZTUNNEL_INGRESS; // on ztunnel's host veth, in the node's namespace
            }
            if (state.ztunnel != null && h.netns().equals(NetNs.parse(state.ztunnel.netns()).display())) {
                return Datapath.ZTUNNEL_CAPTURE; // on ztunnel's eth0, in its namespace
            }
            throw new IllegalStateException("ztunnel's hook in " + h.netns() + " is in neither the node's namespace ("
                    + cfg.nodeNetns().display() + ") nor ztunnel's: not upgraded; 'ambientctl repair' re-attaches it");
        }
        return h.tc().direction() == TcDirection.INGRESS ? Datapath.POD_INGRESS : Datapath.POD_EGRESS;
    }

    /** TCX by its pin (from any namespace), a tc filter in its interface's namespace. */
    private static TcAttachment replace(Hook h, BpfProgram prog) {
        if (h.tc().kind() == io.ambientctl.bpf.AttachKind.TCX) {
            return Tc.replace(h.tc(), prog);
        }
        return NetNs.parse(h.netns()).call(() -> Tc.replace(h.tc(), prog));
    }

    private void rollBack(RuntimeException e, List<Swapped> swapped, Map<String, BpfProgram> oldProgs) {
        for (Swapped s : swapped) {
            try {
                BpfProgram old = oldProgs.get(s.program());
                if (old == null) {
                    throw new IllegalStateException("the layout 1 program " + s.program() + " is not pinned");
                }
                replace(s.was(), old);
            } catch (RuntimeException ex) {
                e.addSuppressed(ex);
            }
        }
    }

    private void copySame(Map<String, BpfMap> old, String name) {
        BpfMap from = old.get(name);
        BpfMap to = dp.map(name);
        if (from.keySize() != to.keySize() || from.valueSize() != to.valueSize()) {
            throw new IllegalStateException("the layout 1 map " + name + " has key/value sizes " + from.keySize() + "/"
                    + from.valueSize() + ", layout " + Maps.LAYOUT + "'s " + to.keySize() + "/" + to.valueSize()
                    + ": not the layout 1 of release v0.1.0");
        }
        int count = 0;
        for (BpfMap.Entry e : from.entries()) {
            Faults.step("map-update");
            to.put(e.key(), e.value());
            count++;
        }
        did.add("copied " + count + " entr" + (count == 1 ? "y" : "ies") + " of " + name);
    }

    /**
     * Copies the counters widened (each CPU's own), keeping any counter the new map has already (a second run);
     * returns what was copied, by workload id, to add what the old programs count meanwhile.
     */
    private Map<Integer, byte[]> copyCounters(BpfMap from) {
        BpfMap to = dp.map(Maps.COUNTERS);
        int cpus = from.valueBufferSize() / COUNTERS1_SIZE;
        if (from.valueSize() != COUNTERS1_SIZE || to.valueSize() != Maps.COUNTERS_SIZE
                || to.valueBufferSize() != cpus * Maps.COUNTERS_SIZE) {
            throw new IllegalStateException("the layout 1 counters map has values of " + from.valueSize()
                    + " bytes, expected " + COUNTERS1_SIZE + " (layout " + Maps.LAYOUT + ": " + to.valueSize() + ")");
        }
        Map<Integer, byte[]> snapshot = new HashMap<>();
        int copied = 0;
        for (BpfMap.Entry e : from.entries()) {
            byte[] wide = new byte[cpus * Maps.COUNTERS_SIZE];
            add(wide, e.value(), cpus, 1);
            try {
                Faults.step("map-update");
                to.update(e.key(), wide, BpfMap.NOEXIST);
                snapshot.put(ByteBuffer.wrap(e.key()).order(ByteOrder.nativeOrder()).getInt(), e.value());
                copied++;
            } catch (BpfException ex) {
                if (ex.errno() != Errno.EEXIST) {
                    throw ex;
                }
            }
        }
        did.add("copied the counters of " + copied + " workload(s) (" + COUNTERS1_SIZE + " -> " + Maps.COUNTERS_SIZE
                + " bytes per CPU; dropped packets into drops[NO_ZTUNNEL])");
        return snapshot;
    }

    /** Adds {@code sign} times the layout 1 values {@code narrow} into the layout 2 values {@code wide}, per CPU. */
    private static void add(byte[] wide, byte[] narrow, int cpus, int sign) {
        ByteBuffer w = ByteBuffer.wrap(wide).order(ByteOrder.nativeOrder());
        ByteBuffer n = ByteBuffer.wrap(narrow).order(ByteOrder.nativeOrder());
        for (int cpu = 0; cpu < cpus; cpu++) {
            int wo = cpu * Maps.COUNTERS_SIZE;
            int no = cpu * COUNTERS1_SIZE;
            for (int i = 0; i < 4; i++) {
                w.putLong(wo + 8 * i, w.getLong(wo + 8 * i) + sign * n.getLong(no + 8 * i));
            }
            int drop = wo + 8 * (4 + Maps.DROP_NO_ZTUNNEL);
            w.putLong(drop, w.getLong(drop) + sign * n.getLong(no + 32));
        }
    }

    /** What the old programs counted between the copy and their replacement, added to the new counters. */
    private void addCountedSince(BpfMap from, Map<Integer, byte[]> snapshot) {
        BpfMap to = dp.map(Maps.COUNTERS);
        int cpus = from.valueBufferSize() / COUNTERS1_SIZE;
        for (Map.Entry<Integer, byte[]> e : snapshot.entrySet()) {
            byte[] key = ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(e.getKey()).array();
            byte[] now = from.lookup(key).orElse(null);
            byte[] cur = to.lookup(key).orElse(null);
            if (now == null || cur == null || java.util.Arrays.equals(now, e.getValue())) {
                continue;
            }
            add(cur, now, cpus, 1);
            add(cur, e.getValue(), cpus, -1);
            to.update(key, cur, BpfMap.EXIST);
        }
    }

    private static void close(Map<String, BpfMap> maps, Map<String, BpfProgram> progs) {
        maps.values().forEach(BpfMap::close);
        progs.values().forEach(BpfProgram::close);
    }

    /** Removes layout 1's map and program pins (BPFFS/progs, BPFFS/maps), never the links. */
    static void removeLayout1(Path bpffs) {
        for (Path dir : List.of(Datapath.progsDir(bpffs, 1), Datapath.mapsDir(bpffs, 1))) {
            removeDir(dir);
        }
    }

    /** Removes the map and program pins of a layout directory (BPFFS/layoutN) and the directory. */
    static void removePins(Path layoutDir) {
        removeDir(layoutDir.resolve("progs"));
        removeDir(layoutDir.resolve("maps"));
        try {
            Files.deleteIfExists(layoutDir);
        } catch (IOException e) {
            throw new IllegalStateException("cannot remove " + layoutDir + ": " + e.getMessage(), e);
        }
    }

    private static void removeDir(Path dir) {
        if (!Files.isDirectory(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) {
                Files.deleteIfExists(p);
            }
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            throw new IllegalStateException("cannot remove pins under " + dir + ": " + e.getMessage(), e);
        }
    }
}
