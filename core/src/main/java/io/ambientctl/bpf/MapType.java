package io.ambientctl.bpf;

/** Kernel map types (enum bpf_map_type) the tool names. */
public enum MapType {
    UNSPEC(0), HASH(1), ARRAY(2), PROG_ARRAY(3), PERF_EVENT_ARRAY(4), PERCPU_HASH(5), PERCPU_ARRAY(6),
    STACK_TRACE(7), CGROUP_ARRAY(8), LRU_HASH(9), LRU_PERCPU_HASH(10), LPM_TRIE(11), RINGBUF(27), UNKNOWN(-1);

    private final int id;

    MapType(int id) {
        this.id = id;
    }

    public int id() {
        return id;
    }

    public boolean perCpu() {
        return this == PERCPU_HASH || this == PERCPU_ARRAY || this == LRU_PERCPU_HASH;
    }

    public static MapType of(int id) {
        for (MapType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return UNKNOWN;
    }
}
