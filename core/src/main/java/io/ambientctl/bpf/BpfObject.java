package io.ambientctl.bpf;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.ambientctl.bpf.sys.LibbpfLog;
import jnr.ffi.Pointer;

/**
 * A BPF object file opened from bytes (the objects ship inside the bpf module's jar), optionally
 * with its maps pinned under a bpffs directory, then loaded. Closing it closes its programs' and
 * maps' fds; pinned maps and pinned links stay in the kernel.
 */
public final class BpfObject implements AutoCloseable {
    /** Where the bpf module puts the compiled objects on the classpath. */
    public static final String RESOURCE_DIR = "/io/ambientctl/bpf/obj/";
    private static final int LOG_SIZE = 1 << 20;

    private final String name;
    private final Pointer handle;
    @SuppressWarnings("unused") // libbpf reads the ELF from this buffer until the object is closed
    private final Pointer elf;
    private final Map<String, Pointer> logBufs = new LinkedHashMap<>();
    private boolean loaded;
    private boolean closed;

    private BpfObject(String name, Pointer handle, Pointer elf) {
        this.name = name;
        this.handle = handle;
        this.elf = elf;
    }

    /** Opens an object from its ELF bytes (bpf_object__open_mem); nothing is in the kernel yet. */
    public static BpfObject open(String name, byte[] elfBytes) {
        Pointer buf = Bpf.alloc(elfBytes.length);
        buf.put(0, elfBytes, 0, elfBytes.length);
        LibbpfLog.clear();
        Pointer obj = Bpf.lib().bpf_object__open_mem(buf, elfBytes.length, null);
        if (obj == null) {
            throw new BpfException("bpf_object__open_mem", name, Bpf.lastErrno(), libbpfSays(), null);
        }
        return new BpfObject(name, obj, buf);
    }

    /** Opens one of the objects the bpf module ships, e.g. "redirect.bpf.o". */
    public static BpfObject openResource(String fileName) {
        return open(fileName, resourceBytes(fileName));
    }

    public static byte[] resourceBytes(String fileName) {
        try (InputStream in = BpfObject.class.getResourceAsStream(RESOURCE_DIR + fileName)) {
            if (in == null) {
                throw new IllegalStateException("BPF object " + fileName + " is not on the classpath ("
                        + RESOURCE_DIR + "); rebuild with: mvn -pl bpf package");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("reading BPF object " + fileName, e);
        }
    }

    public String name() {
        return name;
    }

    /**
     * Pins every map of the object as DIR/MAPNAME: on load an existing compatible pin is reused (its
     * contents kept), a missing one is created and pinned, an incompatible one fails the load.
     */
    public BpfObject pinMaps(Path dir) {
        for (Pointer m = next(null, true); m != null; m = next(m, true)) {
            String mapName = Bpf.lib().bpf_map__name(m);
            pin(m, mapName, dir.resolve(mapName));
        }
        return this;
    }

    /** Pins one map at a path of its own. */
    public BpfObject pinMap(String mapName, Path path) {
        pin(mapHandle(mapName), mapName, path);
        return this;
    }

    /** Changes a map's size before load. */
    public BpfObject setMaxEntries(String mapName, int maxEntries) {
        BpfException.check(Bpf.lib().bpf_map__set_max_entries(mapHandle(mapName), maxEntries),
                "bpf_map__set_max_entries", mapName);
        return this;
    }

    private void pin(Pointer map, String mapName, Path path) {
        requireOpen(false);
        BpfException.check(Bpf.lib().bpf_map__set_pin_path(map, path.toString()), "bpf_map__set_pin_path",
                mapName + " at " + path);
    }

    /** Loads maps and programs into the kernel. A verifier failure carries the program's log. */
    public BpfObject load() {
        requireOpen(false);
        for (Pointer p = next(null, false); p != null; p = next(p, false)) {
            Pointer log = Bpf.alloc(LOG_SIZE);
            Bpf.lib().bpf_program__set_log_buf(p, log, LOG_SIZE);
            logBufs.put(Bpf.lib().bpf_program__name(p), log);
        }
        LibbpfLog.clear();
        int rc = Bpf.lib().bpf_object__load(handle);
        if (rc < 0) {
            String verifier = null;
            String failed = null;
            for (var e : logBufs.entrySet()) {
                String text = e.getValue().getString(0, LOG_SIZE, StandardCharsets.UTF_8);
                if (!text.isBlank()) {
                    failed = e.getKey();
                    verifier = text;
                }
            }
            throw new BpfException("bpf_object__load", failed == null ? name : name + ": program " + failed, -rc,
                    libbpfSays(), verifier);
        }
        loaded = true;
        return this;
    }

    public BpfMap map(String mapName) {
        requireOpen(true);
        Pointer m = mapHandle(mapName);
        int fd = Bpf.lib().bpf_map__fd(m);
        BpfException.check(fd, "bpf_map__fd", mapName);
        return BpfMap.fromFd(fd, false);
    }

    public List<BpfMap> maps() {
        requireOpen(true);
        List<BpfMap> out = new ArrayList<>();
        for (Pointer m = next(null, true); m != null; m = next(m, true)) {
            out.add(BpfMap.fromFd(Bpf.lib().bpf_map__fd(m), false));
        }
        return out;
    }

    public BpfProgram program(String progName) {
        requireOpen(false);
        Pointer p = Bpf.lib().bpf_object__find_program_by_name(handle, progName);
        if (p == null) {
            throw new BpfException("bpf_object__find_program_by_name", name + ": " + progName, Errno.ENOENT,
                    "no such program in the object", null);
        }
        return new BpfProgram(progName, p);
    }

    public List<BpfProgram> programs() {
        requireOpen(false);
        List<BpfProgram> out = new ArrayList<>();
        for (Pointer p = next(null, false); p != null; p = next(p, false)) {
            out.add(new BpfProgram(Bpf.lib().bpf_program__name(p), p));
        }
        return out;
    }

    private Pointer mapHandle(String mapName) {
        requireOpen(false);
        Pointer m = Bpf.lib().bpf_object__find_map_by_name(handle, mapName);
        if (m == null) {
            throw new BpfException("bpf_object__find_map_by_name", name + ": " + mapName, Errno.ENOENT,
                    "no such map in the object", null);
        }
        return m;
    }

    private Pointer next(Pointer prev, boolean map) {
        return map ? Bpf.lib().bpf_object__next_map(handle, prev) : Bpf.lib().bpf_object__next_program(handle, prev);
    }

    private void requireOpen(boolean mustBeLoaded) {
        if (closed) {
            throw new IllegalStateException("BPF object " + name + " is closed");
        }
        if (mustBeLoaded && !loaded) {
            throw new IllegalStateException("BPF object " + name + " is not loaded");
        }
    }

    private static String libbpfSays() {
        List<String> lines = LibbpfLog.recent();
        // the verifier log is reported separately; keep libbpf's own diagnosis
        List<String> own = lines.stream().filter(l -> l.startsWith("libbpf:") || !l.matches("^\\d+: .*"))
                .filter(l -> !l.isBlank()).toList();
        List<String> tail = own.subList(Math.max(0, own.size() - 4), own.size());
        return String.join("; ", tail);
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Bpf.lib().bpf_object__close(handle);
        }
    }
}
