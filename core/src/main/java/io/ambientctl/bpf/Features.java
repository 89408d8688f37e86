package io.ambientctl.bpf;

import java.util.Map;

/** Kernel feature probes through libbpf (nothing is left in the kernel). */
public final class Features {
    public static final int BPF_PROG_TYPE_SCHED_CLS = 3;
    /** Helper ids (enum bpf_func_id) of the helpers the datapath uses. */
    public static final Map<String, Integer> HELPERS = Map.of(
            "bpf_redirect", 23, "bpf_skc_lookup_tcp", 99, "bpf_sk_assign", 124, "bpf_redirect_peer", 155,
            "bpf_sk_lookup_udp", 85);

    private Features() {
    }

    /** 1: the program type loads; 0: not supported; negative: the errno of the probe itself. */
    public static int progType(int type) {
        return Bpf.lib().libbpf_probe_bpf_prog_type(type, null);
    }

    /** 1: the helper is available to the program type; 0: not; negative: the errno. */
    public static int helper(int progType, String helper) {
        Integer id = HELPERS.get(helper);
        if (id == null) {
            throw new IllegalArgumentException("unknown helper " + helper);
        }
        return Bpf.lib().libbpf_probe_bpf_helper(progType, id, null);
    }

    public static final int BPF_MAP_TYPE_RINGBUF = 27;
    private static volatile Boolean ringbuf;

    /** Whether the kernel has BPF ring buffers (5.8+): the monitor needs them (probed once per process). */
    public static boolean ringbuf() {
        Boolean r = ringbuf;
        if (r == null) {
            r = Bpf.lib().libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, null) == 1;
            ringbuf = r;
        }
        return r;
    }

    /** Whether TCX links can be made: a link create on a non-existent interface answers ENODEV. */
    public static boolean tcx() {
        try (BpfObject o = BpfObject.openResource("selftest.bpf.o").load()) {
            return Tc.tcxSupported(o.program("selftest_count"));
        }
    }

    /** Creates and removes a clsact qdisc on {@code ifindex} (call in a namespace of your own). */
    public static void clsact(int ifindex) {
        var hook = Bpf.alloc(io.ambientctl.bpf.sys.Layouts.TC_HOOK_SIZE);
        hook.putLong(0, io.ambientctl.bpf.sys.Layouts.TC_HOOK_SIZE);
        hook.putInt(io.ambientctl.bpf.sys.Layouts.TC_HOOK_IFINDEX, ifindex);
        hook.putInt(io.ambientctl.bpf.sys.Layouts.TC_HOOK_ATTACH_POINT, 3);
        BpfException.check(Bpf.lib().bpf_tc_hook_create(hook), "bpf_tc_hook_create(clsact)", "ifindex " + ifindex);
        Bpf.lib().bpf_tc_hook_destroy(hook);
    }
}
