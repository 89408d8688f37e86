package io.ambientctl.redirect.ebpf;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.ambientctl.bpf.BpfMap;
import io.ambientctl.bpf.BpfObject;
import io.ambientctl.bpf.BpfProgram;
import io.ambientctl.bpf.Codecs;
import io.ambientctl.bpf.TypedMap;

/**
 * The loaded redirection datapath: its maps pinned under BPFFS/layout2/maps (reused, contents kept), its
 * programs pinned under BPFFS/layout2/progs (a pinned program with the same tag is reused, so links keep
 * pointing at one program; a changed one is replaced), and typed views of the maps.
 */
public final class Datapath implements AutoCloseable {
    public static final String OBJECT = "redirect.bpf.o";
    /** The same programs without the monitor (no ring buffer), for kernels before 5.8. */
    public static final String OBJECT_NO_MONITOR = "redirect-nomonitor.bpf.o";
    public static final String POD_INGRESS = "ambient_pod_ingress";
    public static final String POD_EGRESS = "ambient_pod_egress";
    public static final String ZTUNNEL_INGRESS = "ambient_ztunnel_ingress";
    public static final String ZTUNNEL_CAPTURE = "ambient_ztunnel_capture";
    public static final List<String> PROGRAMS = List.of(POD_INGRESS, POD_EGRESS, ZTUNNEL_INGRESS, ZTUNNEL_CAPTURE);

    /** The decision every program leaves in skb->cb[0] (redirect.bpf.c AMBIENT_CB_*); cb[1] is the target. */
    public static final int CB_PASS = 0;
    public static final int CB_OUTBOUND = 1;
    public static final int CB_INBOUND = 2;
    public static final int CB_BYPASS = 3;
    public static final int CB_ASSIGNED = 4;
    public static final int CB_DROP = 5;
    /** Why ztunnel_capture dropped, in cb[2] (the drop reasons; cb[3] the errno). */
    public static final int WHY_NO_LISTENER = io.ambientctl.redirect.DropReason.NO_LISTENER.code();
    public static final int WHY_ASSIGN_FAILED = io.ambientctl.redirect.DropReason.ASSIGN_FAILED.code();
    public static final int MARK_TPROXY = 0x111;
    public static final int MARK_TPROXY_MASK = 0xfff;

    private final Path bpffs;
    private final BpfObject object; // null when opened from the pins only
    private final Map<String, BpfProgram> programs = new LinkedHashMap<>();
    private final Map<String, BpfMap> maps = new LinkedHashMap<>();

    private Datapath(Path bpffs, BpfObject object) {
        this.bpffs = bpffs;
        this.object = object;
        if (object != null) {
            for (String m : Maps.ALL) {
                maps.put(m, object.map(m)); // by the object's names (the kernel keeps 15 characters)
            }
            if (object.name().equals(OBJECT)) {
                for (String m : Maps.MONITOR_MAPS) {
                    maps.put(m, object.map(m));
                }
            }
        }
    }

    /**
     * The datapath as pinned under {@code bpffs}, for reading: its maps and programs opened from their pins,
     * nothing loaded through the verifier, nothing created. Empty when nothing (or not all of it) is pinned.
     */
    public static java.util.Optional<Datapath> pinned(Path bpffs) {
        refuseNewer(bpffs);
        if (!Files.isDirectory(mapsDir(bpffs)) || !Files.isDirectory(progsDir(bpffs))) {
            return java.util.Optional.empty();
        }
        Datapath dp = new Datapath(bpffs, null);
        try {
            for (String m : Maps.ALL) {
                Path pin = mapsDir(bpffs).resolve(m);
                if (!Files.exists(pin)) {
                    dp.close();
                    return java.util.Optional.empty();
                }
                dp.maps.put(m, BpfMap.openPinned(pin));
            }
            for (String m : Maps.MONITOR_MAPS) { // the build without the monitor has none of them
                Path pin = mapsDir(bpffs).resolve(m);
                if (Files.exists(pin)) {
                    dp.maps.put(m, BpfMap.openPinned(pin));
                }
            }
            for (String name : PROGRAMS) {
                Path pin = progsDir(bpffs).resolve(name);
                if (!Files.exists(pin)) {
                    dp.close();
                    return java.util.Optional.empty();
                }
                dp.programs.put(name, BpfProgram.openPinned(pin));
            }
        } catch (RuntimeException e) {
            dp.close();
            throw e;
        }
        return java.util.Optional.of(dp);
    }

    /** Where this build's maps are pinned: BPFFS/layout2/maps (layout 1, release v0.1.0: BPFFS/maps). */
    public static Path mapsDir(Path bpffs) {
        return mapsDir(bpffs, Maps.LAYOUT);
    }

    /** Where this build's programs are pinned: BPFFS/layout2/progs (layout 1: BPFFS/progs). */
    public static Path progsDir(Path bpffs) {
        return progsDir(bpffs, Maps.LAYOUT);
    }

    /** The directory of a layout's map and program pins: BPFFS itself for layout 1, BPFFS/layoutN after. */
    public static Path layoutDir(Path bpffs, int layout) {
        return layout <= 1 ? bpffs : bpffs.resolve("layout" + layout);
    }

    public static Path mapsDir(Path bpffs, int layout) {
        return layoutDir(bpffs, layout).resolve("maps");
    }

    public static Path progsDir(Path bpffs, int layout) {
        return layoutDir(bpffs, layout).resolve("progs");
    }

    /**
     * The layouts whose map or program pins are under {@code bpffs}, in order (1: BPFFS/maps or BPFFS/progs;
     * N: BPFFS/layoutN). Links (BPFFS/links) belong to no layout: an upgrade updates them in place.
     */
    public static java.util.SortedSet<Integer> layoutsPinned(Path bpffs) {
        java.util.SortedSet<Integer> out = new java.util.TreeSet<>();
        if (Files.isDirectory(mapsDir(bpffs, 1)) || Files.isDirectory(progsDir(bpffs, 1))) {
            out.add(1);
        }
        if (Files.isDirectory(bpffs)) {
            try (var s = Files.list(bpffs)) {
                s.map(p -> p.getFileName().toString()).filter(n -> n.matches("layout[0-9]{1,6}"))
                        .forEach(n -> out.add(Integer.parseInt(n.substring(6))));
            } catch (IOException e) {
                throw new IllegalStateException("cannot list " + bpffs + ": " + e.getMessage(), e);
            }
        }
        return out;
    }

    /** Refuses pins of a layout newer than this build's (a downgrade): nothing is loaded over them. */
    public static void refuseNewer(Path bpffs) {
        java.util.SortedSet<Integer> pinned = layoutsPinned(bpffs);
        if (!pinned.isEmpty() && pinned.last() > Maps.LAYOUT) {
            throw io.ambientctl.redirect.NodeState.newerLayout("the eBPF pins under " + bpffs + " are of",
                    pinned.last());
        }
    }

    public static Path linksDir(Path bpffs) {
        return bpffs.resolve("links");
    }

    /** Loads (or reuses) the datapath under {@code bpffs}. */
    public static Datapath open(Path bpffs) {
        io.ambientctl.redirect.NodeConfig.requireBpffs(bpffs);
        refuseNewer(bpffs);
        try {
            for (Path d : List.of(bpffs, layoutDir(bpffs, Maps.LAYOUT), mapsDir(bpffs), progsDir(bpffs),
                    linksDir(bpffs))) {
                if (!Files.isDirectory(d)) {
                    Files.createDirectories(d);
                    Files.setPosixFilePermissions(d, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot create pin directories under " + bpffs + ": " + e.getMessage()
                    + " (is bpffs mounted? mount -t bpf bpf /sys/fs/bpf)", e);
        }
        String object = objectName();
        byte[] bytes = BpfObject.resourceBytes(object);
        if (Files.isDirectory(progsDir(bpffs))) {
            // the programs pinned by this very build (the mark says so) are reused as they are: the object need
            // not go through the verifier again to find that out
            Datapath dp = pinned(bpffs).orElse(null);
            boolean ours;
            try {
                ours = dp != null && Files.isDirectory(progsDir(bpffs).resolve(dp.buildMark(bytes)))
                        && dp.programsUseItsMaps();
            } catch (RuntimeException e) {
                ours = false; // a pin that cannot be read: the object is loaded, and replaces it
            }
            if (ours) {
                return dp;
            }
            if (dp != null) {
                dp.close();
            }
        }
        LOADS.incrementAndGet();
        BpfObject obj = BpfObject.open(object, bytes).pinMaps(mapsDir(bpffs)).load();
        Datapath dp = new Datapath(bpffs, obj);
        try {
            for (String name : PROGRAMS) {
                dp.programs.put(name, dp.pinnedOrNew(name));
            }
            dp.markBuild(dp.buildMark(bytes));
        } catch (RuntimeException e) {
            dp.close();
            throw e;
        }
        return dp;
    }

    private static final java.util.concurrent.atomic.AtomicLong LOADS = new java.util.concurrent.atomic.AtomicLong();

    /** How many times this process loaded the object through the verifier (for tests and traces). */
    public static long objectLoads() {
        return LOADS.get();
    }

    /**
     * The build mark of the programs held, loaded from {@code object}: {@code build-} and 16 hex digits of a
     * digest of the object and of each program's name and tag. It is an empty directory beside the program
     * pins (bpffs holds no regular files), made once the programs are pinned; the same object with the same
     * programs pinned finds it again, a program replaced or another object does not.
     */
    String buildMark(byte[] object) {
        try {
            java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
            md.update(object);
            for (String name : PROGRAMS) {
                md.update((name + "=" + programs.get(name).info().tag() + ";")
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
            return "build-" + java.util.HexFormat.of().formatHex(md.digest(), 0, 8);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("no SHA-256 in this Java runtime", e);
        }
    }

    /** Marks the pinned programs as this build's (an older mark goes). */
    private void markBuild(String mark) {
        Path dir = progsDir(bpffs);
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (n.startsWith("build-") && !n.equals(mark) && Files.isDirectory(p)) {
                    Files.deleteIfExists(p);
                }
            }
            if (!Files.isDirectory(dir.resolve(mark))) {
                Files.createDirectory(dir.resolve(mark));
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot mark the pinned programs in " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Whether every program uses only maps pinned now (pins replaced by hand leave programs on old maps). */
    private boolean programsUseItsMaps() {
        java.util.Set<Integer> ids = new java.util.HashSet<>();
        maps.values().forEach(m -> ids.add(m.id()));
        return programs.values().stream().allMatch(p -> ids.containsAll(p.mapIds()));
    }

    /** The object this kernel takes: with the monitor when it has ring buffers (5.8+), else without. */
    public static String objectName() {
        return io.ambientctl.bpf.Features.ringbuf() ? OBJECT : OBJECT_NO_MONITOR;
    }

    /** Whether this datapath has the monitor's maps (lease, events). */
    public boolean hasMonitor() {
        return maps.containsKey(Maps.EVENTS) && maps.containsKey(Maps.MONITOR);
    }

    private BpfProgram pinnedOrNew(String name) {
        BpfProgram fresh = object.program(name);
        Path pin = progsDir(bpffs).resolve(name);
        if (Files.exists(pin)) {
            BpfProgram pinned = BpfProgram.openPinned(pin);
            // reuse it only when it is the same build and uses the maps pinned now (pins removed by hand
            // leave the old programs on their old maps)
            if (pinned.info().tag().equals(fresh.info().tag()) && pinned.mapIds().equals(fresh.mapIds())) {
                return pinned;
            }
            pinned.close();
            try {
                Files.delete(pin); // the new one takes its place; verify then finds the hooks outdated
            } catch (IOException e) {
                throw new IllegalStateException("cannot replace pinned program " + pin + ": " + e.getMessage(), e);
            }
        }
        fresh.pin(pin);
        return fresh;
    }

    public Path bpffs() {
        return bpffs;
    }

    public BpfProgram program(String name) {
        return programs.get(name);
    }

    public BpfMap map(String name) {
        BpfMap m = maps.get(name);
        if (m == null) {
            throw new IllegalArgumentException("no map " + name + " in the datapath");
        }
        return m;
    }

    public List<BpfMap> maps() {
        return List.copyOf(maps.values());
    }

    public TypedMap<InetAddress, Maps.WorkloadInfo> workloads() {
        return new TypedMap<>(map(Maps.WORKLOADS), Maps.IP_KEY, Maps.WORKLOAD_INFO);
    }

    public TypedMap<Integer, Maps.ZtunnelInfo> ztunnel() {
        return new TypedMap<>(map(Maps.ZTUNNEL), Codecs.U32, Maps.ZTUNNEL_INFO);
    }

    public TypedMap<InetAddress, Integer> nodeAddrs() {
        return new TypedMap<>(map(Maps.NODE_ADDRS), Maps.IP_KEY, Maps.NODE_ADDR_INFO);
    }

    public TypedMap<Integer, io.ambientctl.redirect.Counters> counters() {
        return new TypedMap<>(map(Maps.COUNTERS), Codecs.U32, Maps.counters());
    }

    @Override
    public void close() {
        programs.values().forEach(BpfProgram::close);
        if (object != null) {
            object.close();
        } else {
            maps.values().forEach(BpfMap::close);
        }
    }
}
