package io.ambientctl.bpf;

import java.util.function.Consumer;

import io.ambientctl.bpf.sys.LibbpfLog;
import io.ambientctl.bpf.sys.Native;

/** What libbpf the tool runs on, and where its own messages go. */
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

    /**
     * Forwards libbpf's warnings and informational messages (prefixed "libbpf: ") to {@code sink}, e.g. for
     * --verbose; null: nowhere (the default; the last lines still go into error messages).
     */
    public static void logTo(Consumer<String> sink) {
        LibbpfLog.setSink(sink, LibbpfLog.INFO);
    }

    public static int possibleCpus() {
        return BpfException.check(Bpf.lib().libbpf_num_possible_cpus(), "libbpf_num_possible_cpus", null);
    }
}
