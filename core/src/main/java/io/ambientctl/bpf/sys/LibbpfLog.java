package io.ambientctl.bpf.sys;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.Consumer;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * Receives libbpf's own messages (instead of libbpf printing to stderr): keeps the last lines of
 * each thread for error messages and forwards them to a sink (the CLI's --verbose).
 */
public final class LibbpfLog {
    public static final int WARN = 0;
    public static final int INFO = 1;
    public static final int DEBUG = 2;

    private static final int KEEP = 40;
    private static final ThreadLocal<Deque<String>> RECENT = ThreadLocal.withInitial(ArrayDeque::new);
    private static volatile Consumer<String> sink;
    private static volatile int sinkLevel = WARN;
    // the callback must stay reachable for as long as libbpf may call it
    private static LibBpf.PrintFn callback;

    private LibbpfLog() {
    }

    static synchronized void install(LibBpf lib) {
        if (callback != null) {
            return;
        }
        LibC libc = Native.libc();
        Runtime rt = Runtime.getRuntime(lib);
        callback = (level, format, vaList) -> {
            Pointer buf = Memory.allocateDirect(rt, 1024);
            int n = libc.vsnprintf(buf, 1024, format, vaList);
            String line = buf.getString(0, Math.max(0, Math.min(n, 1023)), java.nio.charset.StandardCharsets.UTF_8)
                    .stripTrailing();
            if (level <= INFO) {
                Deque<String> q = RECENT.get();
                q.addLast(line);
                while (q.size() > KEEP) {
                    q.removeFirst();
                }
            }
            Consumer<String> s = sink;
            if (s != null && level <= sinkLevel) {
                s.accept("libbpf: " + line);
            }
            return 0;
        };
        lib.libbpf_set_print(callback);
    }

    /** Where libbpf's messages go (null: nowhere) and up to which level. */
    public static void setSink(Consumer<String> s, int level) {
        sink = s;
        sinkLevel = level;
    }

    /** The messages libbpf printed on this thread since the last {@link #clear()}. */
    public static List<String> recent() {
        return new ArrayList<>(RECENT.get());
    }

    public static void clear() {
        RECENT.get().clear();
    }
}
