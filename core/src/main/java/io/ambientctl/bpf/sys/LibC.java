package io.ambientctl.bpf.sys;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/** The few libc calls ambientctl needs (namespaces, fds, formatting libbpf's messages). */
public interface LibC {
    int O_RDONLY = 0;
    int O_CLOEXEC = 0x80000;
    int CLONE_NEWNET = 0x40000000;

    int setns(int fd, int nstype);

    int unshare(int flags);

    int open(String path, int flags, int mode);

    int close(int fd);

    int socket(int domain, int type, int protocol);

    int getsockopt(int fd, int level, int optname, @Out byte[] optval, @In @Out int[] optlen);

    int getpid();

    int gettid();

    @ssize_t
    long read(int fd, @Out byte[] buf, @size_t long count);

    @ssize_t
    long write(int fd, @In byte[] buf, @size_t long count);

    /** Formats a va_list (x86-64 and aarch64 pass it as a pointer): used for libbpf's print callback. */
    int vsnprintf(Pointer buf, @size_t long size, Pointer format, Pointer vaList);

    String strerror(int errnum);

    /** {@code struct pollfd[]} as bytes: per fd an int fd, a short events, a short revents (native order). */
    int poll(@In @Out byte[] fds, @size_t long nfds, int timeoutMs);

    /** {@code struct timespec} as two longs (64-bit): seconds, nanoseconds. */
    int clock_gettime(int clockId, @Out long[] ts);

    int if_nametoindex(String name);

    Pointer if_indextoname(int ifindex, @Out byte[] name);
}
