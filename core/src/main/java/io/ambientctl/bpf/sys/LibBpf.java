package io.ambientctl.bpf.sys;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.Delegate;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.size_t;

/**
 * Raw binding of the system's libbpf.so.1 (libbpf 1.x: functions return a negative errno on
 * failure, pointer-returning ones NULL with errno set). C names verbatim; only
 * {@code io.ambientctl.bpf} uses it. Struct arguments are passed as native memory laid out by
 * {@link Layouts}.
 */
public interface LibBpf {

    /** libbpf's print callback: {@code int (*)(enum libbpf_print_level, const char *fmt, va_list)}. */
    interface PrintFn {
        @Delegate
        int print(int level, Pointer format, Pointer vaList);
    }

    Pointer libbpf_set_print(PrintFn fn);

    int libbpf_major_version();

    int libbpf_minor_version();

    String libbpf_version_string();

    int libbpf_num_possible_cpus();

    int libbpf_probe_bpf_prog_type(int progType, Pointer opts);

    int libbpf_probe_bpf_helper(int progType, int helperId, Pointer opts);

    int libbpf_probe_bpf_map_type(int mapType, Pointer opts);

    /** {@code int (*ring_buffer_sample_fn)(void *ctx, void *data, size_t size)}. */
    interface RingBufferSampleFn {
        @Delegate
        int sample(Pointer ctx, Pointer data, @size_t long size);
    }

    Pointer ring_buffer__new(int mapFd, RingBufferSampleFn sample, Pointer ctx, Pointer opts);

    int ring_buffer__poll(Pointer rb, int timeoutMs);

    int ring_buffer__consume(Pointer rb);

    void ring_buffer__free(Pointer rb);

    // bpf_object
    Pointer bpf_object__open_mem(Pointer objBuf, @size_t long size, Pointer opts);

    int bpf_object__load(Pointer obj);

    void bpf_object__close(Pointer obj);

    Pointer bpf_object__next_map(Pointer obj, Pointer prev);

    Pointer bpf_object__next_program(Pointer obj, Pointer prev);

    Pointer bpf_object__find_map_by_name(Pointer obj, String name);

    Pointer bpf_object__find_program_by_name(Pointer obj, String name);

    // bpf_map (libbpf's object view)
    String bpf_map__name(Pointer map);

    int bpf_map__fd(Pointer map);

    int bpf_map__type(Pointer map);

    int bpf_map__key_size(Pointer map);

    int bpf_map__value_size(Pointer map);

    int bpf_map__max_entries(Pointer map);

    int bpf_map__set_max_entries(Pointer map, int maxEntries);

    int bpf_map__set_pin_path(Pointer map, String path);

    // bpf_program
    String bpf_program__name(Pointer prog);

    int bpf_program__fd(Pointer prog);

    int bpf_program__set_log_buf(Pointer prog, Pointer logBuf, @size_t long logSize);

    int bpf_program__set_log_level(Pointer prog, int level);

    // low-level bpf(2) wrappers (bpf.h)
    int bpf_map_update_elem(int fd, @In byte[] key, @In byte[] value, long flags);

    int bpf_map_lookup_elem(int fd, @In byte[] key, @Out byte[] value);

    int bpf_map_delete_elem(int fd, @In byte[] key);

    int bpf_map_get_next_key(int fd, @In byte[] key, @Out byte[] nextKey);

    /**
     * BPF_MAP_LOOKUP_BATCH (5.6+): up to {@code count[0]} entries from {@code inBatch} (null: the start); the
     * kernel sets {@code count[0]} to what it wrote and {@code outBatch} to where to go on; -ENOENT when no
     * entry is left (with the last ones written).
     */
    int bpf_map_lookup_batch(int fd, @In byte[] inBatch, @Out byte[] outBatch, @Out byte[] keys, @Out byte[] values,
                             @In @Out int[] count, Pointer opts);

    int bpf_obj_pin(int fd, String pathname);

    int bpf_obj_get(String pathname);

    int bpf_link_create(int progFd, int targetFd, int attachType, Pointer opts);

    int bpf_link_detach(int linkFd);

    /** Replaces the program of a link in place (no moment without a program on the hook); opts may be NULL. */
    int bpf_link_update(int linkFd, int newProgFd, Pointer opts);

    int bpf_prog_query(int targetFd, int type, int queryFlags, @Out int[] attachFlags, @Out int[] progIds,
                       int[] progCnt);

    int bpf_prog_get_fd_by_id(int id);

    int bpf_map_get_fd_by_id(int id);

    int bpf_link_get_fd_by_id(int id);

    int bpf_prog_get_next_id(int startId, @Out int[] nextId);

    int bpf_map_get_next_id(int startId, @Out int[] nextId);

    int bpf_link_get_next_id(int startId, @Out int[] nextId);

    int bpf_obj_get_info_by_fd(int fd, Pointer info, int[] infoLen);

    int bpf_prog_test_run_opts(int progFd, Pointer opts);

    int bpf_enable_stats(int type);

    // tc (clsact) attach, libbpf.h
    int bpf_tc_hook_create(Pointer hook);

    int bpf_tc_hook_destroy(Pointer hook);

    int bpf_tc_attach(Pointer hook, Pointer opts);

    int bpf_tc_detach(Pointer hook, Pointer opts);

    int bpf_tc_query(Pointer hook, Pointer opts);
}
