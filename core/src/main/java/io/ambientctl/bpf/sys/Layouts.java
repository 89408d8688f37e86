package io.ambientctl.bpf.sys;

/**
 * Offsets and sizes of the libbpf and kernel structs passed as native memory (x86-64/aarch64,
 * LP64), checked against libbpf 1.1's headers. Kernel UAPI structs only grow at the end.
 */
public final class Layouts {
    private Layouts() {
    }

    // struct bpf_test_run_opts
    public static final int TEST_RUN_SIZE = 80;
    public static final int TEST_RUN_DATA_IN = 8;
    public static final int TEST_RUN_DATA_OUT = 16;
    public static final int TEST_RUN_DATA_SIZE_IN = 24;
    public static final int TEST_RUN_DATA_SIZE_OUT = 28;
    public static final int TEST_RUN_CTX_IN = 32;
    public static final int TEST_RUN_CTX_OUT = 40;
    public static final int TEST_RUN_CTX_SIZE_IN = 48;
    public static final int TEST_RUN_CTX_SIZE_OUT = 52;
    public static final int TEST_RUN_RETVAL = 56;
    public static final int TEST_RUN_REPEAT = 60;
    public static final int TEST_RUN_DURATION = 64;

    // struct bpf_tc_hook
    public static final int TC_HOOK_SIZE = 24;
    public static final int TC_HOOK_IFINDEX = 8;
    public static final int TC_HOOK_ATTACH_POINT = 12;
    public static final int TC_HOOK_PARENT = 16;

    // struct bpf_tc_opts
    public static final int TC_OPTS_SIZE = 32;
    public static final int TC_OPTS_PROG_FD = 8;
    public static final int TC_OPTS_FLAGS = 12;
    public static final int TC_OPTS_PROG_ID = 16;
    public static final int TC_OPTS_HANDLE = 20;
    public static final int TC_OPTS_PRIORITY = 24;

    // struct bpf_prog_info (prefix we read)
    public static final int PROG_INFO_SIZE = 232;
    public static final int PROG_INFO_TYPE = 0;
    public static final int PROG_INFO_ID = 4;
    public static final int PROG_INFO_TAG = 8;
    public static final int PROG_INFO_NR_MAP_IDS = 52;
    public static final int PROG_INFO_MAP_IDS = 56;
    public static final int PROG_INFO_NAME = 64;
    public static final int PROG_INFO_RUN_TIME_NS = 192;
    public static final int PROG_INFO_RUN_CNT = 200;

    // struct bpf_map_info
    public static final int MAP_INFO_SIZE = 88;
    public static final int MAP_INFO_TYPE = 0;
    public static final int MAP_INFO_ID = 4;
    public static final int MAP_INFO_KEY_SIZE = 8;
    public static final int MAP_INFO_VALUE_SIZE = 12;
    public static final int MAP_INFO_MAX_ENTRIES = 16;
    public static final int MAP_INFO_FLAGS = 20;
    public static final int MAP_INFO_NAME = 24;

    // struct bpf_link_info (tcx member of the union, kernel 6.6+)
    public static final int LINK_INFO_SIZE = 48;
    public static final int LINK_INFO_TYPE = 0;
    public static final int LINK_INFO_ID = 4;
    public static final int LINK_INFO_PROG_ID = 8;
    public static final int LINK_INFO_TCX_IFINDEX = 16;
    public static final int LINK_INFO_TCX_ATTACH_TYPE = 20;

    // struct __sk_buff (the ctx of BPF_PROG_TEST_RUN for tc programs)
    public static final int SKB_SIZE = 192;
    public static final int SKB_MARK = 8;
    public static final int SKB_INGRESS_IFINDEX = 36;
    public static final int SKB_IFINDEX = 40;
    public static final int SKB_CB = 48;

    public static final int BPF_OBJ_NAME_LEN = 16;
}
