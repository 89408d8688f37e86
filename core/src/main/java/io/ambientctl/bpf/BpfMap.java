package io.ambientctl.bpf;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import io.ambientctl.bpf.sys.Layouts;
import jnr.ffi.Pointer;

/**
 * A BPF map by fd: raw byte[] keys and values, sized as the kernel has them. For per-CPU maps a
 * value is the kernel's array of per-CPU slots, each rounded up to 8 bytes. Maps opened from a
 * pin own their fd and close it; maps of a {@link BpfObject} belong to the object.
 */
public final class BpfMap implements AutoCloseable {
    public static final long ANY = 0;
    public static final long NOEXIST = 1;
    public static final long EXIST = 2;

    private final String name;
    private final int fd;
    private final MapType type;
    private final int keySize;
    private final int valueSize;
    private final int maxEntries;
    private final int id;
    private final boolean ownsFd;
    private boolean closed;

    BpfMap(String name, int fd, MapType type, int keySize, int valueSize, int maxEntries, int id, boolean ownsFd) {
        this.name = name;
        this.fd = fd;
        this.type = type;
        this.keySize = keySize;
        this.valueSize = valueSize;
        this.maxEntries = maxEntries;
        this.id = id;
        this.ownsFd = ownsFd;
    }

    /** Opens a pinned map (bpf_obj_get) and reads its layout from the kernel. */
    public static BpfMap openPinned(Path pin) {
        int fd = Bpf.lib().bpf_obj_get(pin.toString());
        if (fd < 0) {
            throw new BpfException("bpf_obj_get", pin.toString(), -fd);
        }
        try {
            return fromFd(fd, true);
        } catch (RuntimeException e) {
            Bpf.closeFd(fd);
            throw e;
        }
    }

    /** Opens a map by its kernel id. */
    public static BpfMap openById(int id) {
        int fd = Bpf.lib().bpf_map_get_fd_by_id(id);
        if (fd < 0) {
            throw new BpfException("bpf_map_get_fd_by_id", "map id " + id, -fd);
        }
        try {
            return fromFd(fd, true);
        } catch (RuntimeException e) {
            Bpf.closeFd(fd);
            throw e;
        }
    }

    static BpfMap fromFd(int fd, boolean owns) {
        Pointer info = Bpf.alloc(Layouts.MAP_INFO_SIZE);
        int[] len = {Layouts.MAP_INFO_SIZE};
        BpfException.check(Bpf.lib().bpf_obj_get_info_by_fd(fd, info, len), "bpf_obj_get_info_by_fd", "map fd " + fd);
        String name = info.getString(Layouts.MAP_INFO_NAME, Layouts.BPF_OBJ_NAME_LEN,
                java.nio.charset.StandardCharsets.US_ASCII);
        return new BpfMap(name, fd, MapType.of(info.getInt(Layouts.MAP_INFO_TYPE)),
                info.getInt(Layouts.MAP_INFO_KEY_SIZE), info.getInt(Layouts.MAP_INFO_VALUE_SIZE),
                info.getInt(Layouts.MAP_INFO_MAX_ENTRIES), info.getInt(Layouts.MAP_INFO_ID), owns);
    }

    public String name() {
        return name;
    }

    public int fd() {
        return fd;
    }

    public MapType type() {
        return type;
    }

    public int keySize() {
        return keySize;
    }

    /** The value size of one entry (of one CPU's slot, for per-CPU maps). */
    public int valueSize() {
        return valueSize;
    }

    /** Bytes of a value buffer as lookup/update use it (all CPUs' slots for per-CPU maps). */
    public int valueBufferSize() {
        return type.perCpu() ? ((valueSize + 7) & ~7) * LibbpfInfo.possibleCpus() : valueSize;
    }

    public int maxEntries() {
        return maxEntries;
    }

    public int id() {
        return id;
    }

    public Optional<byte[]> lookup(byte[] key) {
        checkKey(key);
        byte[] value = new byte[valueBufferSize()];
        int rc = Bpf.lib().bpf_map_lookup_elem(fd, key, value);
        if (rc == -Errno.ENOENT) {
            return Optional.empty();
        }
        BpfException.check(rc, "bpf_map_lookup_elem", name);
        return Optional.of(value);
    }

    public void update(byte[] key, byte[] value, long flags) {
        checkKey(key);
        if (value.length != valueBufferSize()) {
            throw new IllegalArgumentException("map " + name + ": value of " + value.length + " bytes, the map's is "
                    + valueBufferSize());
        }
        BpfException.check(Bpf.lib().bpf_map_update_elem(fd, key, value, flags), "bpf_map_update_elem", name);
    }

    public void put(byte[] key, byte[] value) {
        update(key, value, ANY);
    }

    /** @return false when the key was not there */
    public boolean delete(byte[] key) {
        checkKey(key);
        int rc = Bpf.lib().bpf_map_delete_elem(fd, key);
        if (rc == -Errno.ENOENT) {
            return false;
        }
        BpfException.check(rc, "bpf_map_delete_elem", name);
        return true;
    }

    /** All keys, as the kernel iterates them. */
    public List<byte[]> keys() {
        List<byte[]> keys = new ArrayList<>();
        byte[] prev = null;
        while (true) {
            byte[] next = new byte[keySize];
            int rc = Bpf.lib().bpf_map_get_next_key(fd, prev, next);
            if (rc == -Errno.ENOENT) {
                return keys;
            }
            BpfException.check(rc, "bpf_map_get_next_key", name);
            keys.add(next);
            prev = next;
            if (keys.size() > Math.max(maxEntries, 1) * 2L) {
                throw new BpfException("bpf_map_get_next_key", name, Errno.EAGAIN,
                        "the map changed while iterating; try again", null);
            }
        }
    }

    /**
     * Every entry (a key deleted while iterating is skipped): read in batches of {@link #BATCH} entries a
     * system call where the kernel can (5.6+), else key by key.
     */
    public List<Entry> entries() {
        if (batches) {
            List<Entry> out = batched();
            if (out != null) {
                return out;
            }
            batches = false; // not this map type or kernel: key by key from now on
        }
        List<Entry> out = new ArrayList<>();
        for (byte[] k : keys()) {
            lookup(k).ifPresent(v -> out.add(new Entry(k, v)));
        }
        return out;
    }

    /** Whether {@link #entries()} still reads in batches (false once the kernel refused it for this map). */
    public boolean readsInBatches() {
        return batches;
    }

    /** Entries a BPF_MAP_LOOKUP_BATCH asks for. */
    static final int BATCH = 256;
    private boolean batches = true;

    /** Every entry by BPF_MAP_LOOKUP_BATCH; null when the kernel does not do it for this map. */
    private List<Entry> batched() {
        int vsize = valueBufferSize();
        byte[] keys = new byte[BATCH * keySize];
        byte[] values = new byte[BATCH * vsize];
        byte[] in = null;
        byte[] out = new byte[Math.max(keySize, 8)]; // the kernel's batch token: a bucket or index (u32), or a key
        List<Entry> entries = new ArrayList<>();
        while (true) {
            int[] count = {BATCH};
            int rc = Bpf.lib().bpf_map_lookup_batch(fd, in, out, keys, values, count, null);
            if (rc < 0 && rc != -Errno.ENOENT) {
                // not this map type or kernel (EINVAL, ENOTSUPP), a bucket larger than a batch (ENOSPC), an entry
                // gone meanwhile (EINTR), ...: what was read is dropped, and the caller reads key by key
                return null;
            }
            for (int i = 0; i < count[0]; i++) {
                entries.add(new Entry(java.util.Arrays.copyOfRange(keys, i * keySize, (i + 1) * keySize),
                        java.util.Arrays.copyOfRange(values, i * vsize, (i + 1) * vsize)));
            }
            if (rc == -Errno.ENOENT) {
                return entries;
            }
            in = out.clone();
        }
    }

    public void pin(Path path) {
        BpfException.check(Bpf.lib().bpf_obj_pin(fd, path.toString()), "bpf_obj_pin", name + " at " + path);
    }

    private void checkKey(byte[] key) {
        if (key.length != keySize) {
            throw new IllegalArgumentException("map " + name + ": key of " + key.length + " bytes, the map's is "
                    + keySize);
        }
    }

    @Override
    public void close() {
        if (ownsFd && !closed) {
            closed = true;
            Bpf.closeFd(fd);
        }
    }

    @Override
    public String toString() {
        return "map " + name + " (" + type + ", id " + id + ")";
    }

    public record Entry(byte[] key, byte[] value) {
    }
}
