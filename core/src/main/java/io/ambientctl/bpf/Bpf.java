package io.ambientctl.bpf;

import io.ambientctl.bpf.sys.LibBpf;
import io.ambientctl.bpf.sys.Native;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/** Package-wide access to the native layer, and small helpers shared by the safe API. */
final class Bpf {
    private Bpf() {
    }

    static LibBpf lib() {
        return Native.bpf();
    }

    static Runtime runtime() {
        return Runtime.getRuntime(lib());
    }

    /** Zeroed native memory of {@code size} bytes. */
    static Pointer alloc(int size) {
        Pointer p = Memory.allocateDirect(runtime(), size);
        p.setMemory(0, size, (byte) 0);
        return p;
    }

    static void closeFd(int fd) {
        if (fd >= 0) {
            Native.libc().close(fd);
        }
    }

    /** errno from a libbpf call that returned NULL. */
    static int lastErrno() {
        int e = Native.errno();
        return e == 0 ? Errno.EINVAL : e;
    }
}
