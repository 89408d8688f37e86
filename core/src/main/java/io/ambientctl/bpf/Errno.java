package io.ambientctl.bpf;

import java.util.Map;

/** errno names and the hints an administrator can act on. */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int ESRCH = 3;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int ENXIO = 6;
    public static final int E2BIG = 7;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int EBUSY = 16;
    public static final int EEXIST = 17;
    public static final int ENODEV = 19;
    public static final int ENOTDIR = 20;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int ERANGE = 34;
    public static final int ENOSYS = 38;
    public static final int ENOTEMPTY = 39;
    public static final int ENODATA = 61;
    public static final int EPROTONOSUPPORT = 93;
    public static final int EOPNOTSUPP = 95;
    public static final int ENOBUFS = 105;
    public static final int ENOLINK = 67;
    public static final int ENOTSUPP = 524;

    private static final Map<Integer, String> NAMES = Map.ofEntries(
            Map.entry(EPERM, "EPERM"), Map.entry(ENOENT, "ENOENT"), Map.entry(ESRCH, "ESRCH"),
            Map.entry(EINTR, "EINTR"), Map.entry(EIO, "EIO"), Map.entry(ENXIO, "ENXIO"), Map.entry(E2BIG, "E2BIG"),
            Map.entry(EBADF, "EBADF"), Map.entry(EAGAIN, "EAGAIN"), Map.entry(ENOMEM, "ENOMEM"),
            Map.entry(EACCES, "EACCES"), Map.entry(EFAULT, "EFAULT"), Map.entry(EBUSY, "EBUSY"),
            Map.entry(EEXIST, "EEXIST"), Map.entry(ENODEV, "ENODEV"), Map.entry(ENOTDIR, "ENOTDIR"),
            Map.entry(EINVAL, "EINVAL"), Map.entry(ENOSPC, "ENOSPC"), Map.entry(ERANGE, "ERANGE"),
            Map.entry(ENOSYS, "ENOSYS"), Map.entry(ENOTEMPTY, "ENOTEMPTY"), Map.entry(ENODATA, "ENODATA"),
            Map.entry(EOPNOTSUPP, "EOPNOTSUPP"), Map.entry(ENOTSUPP, "ENOTSUPP"));

    private Errno() {
    }

    public static String name(int errno) {
        return NAMES.getOrDefault(errno, "errno " + errno);
    }

    /** What to do about an errno, or null when there is nothing general to say. */
    public static String hint(int errno) {
        return switch (errno) {
            case EPERM -> "run as root, or with CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN before kernel 5.8); "
                    + "before 5.11 also raise the memlock limit (ulimit -l unlimited)";
            case EACCES -> "the verifier or a security module refused it; see the log above, "
                    + "or check that bpffs is mounted read-write";
            case ENOENT -> "it does not exist: check the interface, the pin path under the bpffs directory "
                    + "or that bpffs is mounted (mount -t bpf bpf /sys/fs/bpf)";
            case EINVAL -> "the kernel rejected the arguments: the feature may be missing from this kernel "
                    + "(run 'ambientctl preflight') or a pinned object has another layout";
            case E2BIG -> "the map is full: raise its max entries or unenroll workloads";
            case EEXIST -> "it exists already";
            case EBUSY -> "something else holds it: another program or agent is attached";
            case ENODEV -> "no such interface in that network namespace";
            case EOPNOTSUPP, ENOTSUPP -> "this kernel does not support the operation; run 'ambientctl preflight'";
            default -> null;
        };
    }
}
