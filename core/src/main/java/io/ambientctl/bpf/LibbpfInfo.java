package io.ambientctl.bpf;

import io.ambientctl.bpf.sys.Native;

/** What libbpf the tool runs on. */
public final class LibbpfInfo {
    private LibbpfInfo() {
    }

    /** e.g. "v1.1" plus the path of the library. */
    public static String version() {
        return Bpf.lib().libbpf_version_string();
    }

    public static String path() {
        var p = Native.findLibbpf();
        return p == null ? null : p.toString();
    }

    public static int possibleCpus() {
        return BpfException.check(Bpf.lib().libbpf_num_possible_cpus(), "libbpf_num_possible_cpus", null);
    }
}
