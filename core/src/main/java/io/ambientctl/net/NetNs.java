package io.ambientctl.net;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;

import io.ambientctl.bpf.sys.LibC;
import io.ambientctl.bpf.sys.Native;
import io.ambientctl.util.Exec;

/**
 * A network namespace, by name under /var/run/netns or by path (e.g. /proc/PID/ns/net). Code runs
 * inside it on a thread of its own, so the caller's thread never changes namespace (and nothing can
 * leave it in the wrong one); child processes started there inherit the namespace.
 */
public final class NetNs {
    public static final Path RUN_DIR = Path.of("/var/run/netns");
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
    private static final Pattern PROC_PATH = Pattern.compile("/proc/(\\d+|self|thread-self)(/task/\\d+)?/ns/net");
    private static final Pattern RUN_PATH = Pattern.compile("/(var/)?run/netns/[^/]+");

    private final String name; // null for a path
    private final Path path;

    private NetNs(String name, Path path) {
        this.name = name;
        this.path = path;
    }

    /** A named namespace (as `ip netns` names it). */
    public static NetNs named(String name) {
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("invalid network namespace name '" + name
                    + "': use letters, digits, '.', '_' and '-' (at most 64)");
        }
        return new NetNs(name, RUN_DIR.resolve(name));
    }

    /** A namespace by path; only /proc/PID/ns/net, /proc/PID/task/TID/ns/net and /var/run/netns/NAME. */
    public static NetNs path(Path p) {
        Path n = p.normalize();
        String s = n.toString();
        if (!(PROC_PATH.matcher(s).matches() || RUN_PATH.matcher(s).matches())) {
            throw new IllegalArgumentException("invalid network namespace path '" + p
                    + "': give a name under /var/run/netns or a path such as /proc/PID/ns/net");
        }
        if (s.startsWith("/run/netns/") || s.startsWith("/var/run/netns/")) {
            return named(n.getFileName().toString());
        }
        return new NetNs(null, n);
    }

    /** A name, or a path when it starts with '/'. */
    public static NetNs parse(String nameOrPath) {
        return nameOrPath.startsWith("/") ? path(Path.of(nameOrPath)) : named(nameOrPath);
    }

    /** The namespace this process started in (its main thread's). */
    public static NetNs self() {
        return new NetNs(null, Path.of("/proc/" + ProcessHandle.current().pid() + "/ns/net"));
    }

    public String name() {
        return name;
    }

    public Path path() {
        return path;
    }

    /** The name when it has one, else the path. */
    public String display() {
        return name != null ? name : path.toString();
    }

    public boolean exists() {
        return Files.exists(path, LinkOption.NOFOLLOW_LINKS) || Files.exists(path);
    }

    /** Identity of the namespace (inode of its nsfs file), stable while it lives. */
    public long inode() {
        try {
            Object ino = Files.getAttribute(path, "unix:ino");
            return ((Number) ino).longValue();
        } catch (IOException | UnsupportedOperationException e) {
            String why = e instanceof java.nio.file.AccessDeniedException ? "permission denied"
                    : e instanceof java.nio.file.NoSuchFileException ? "no such namespace" : e.getMessage();
            throw new NetNsException("cannot stat network namespace " + display() + ": " + why, e);
        }
    }

    private static final int SOL_SOCKET = 1;
    private static final int SO_NETNS_COOKIE = 71;

    /**
     * The identity of the namespace the calling thread is in, whatever name or path reached it: its cookie
     * ("cookie:N", SO_NETNS_COOKIE, kernel 5.14+, unique per boot), else the device and inode of its nsfs file
     * ("ino:DEV:INO", unique only while it exists).
     */
    public static String identityHere() {
        LibC c = Native.libc();
        int fd = c.socket(1 /* AF_UNIX */, 2 /* SOCK_DGRAM */ | LibC.O_CLOEXEC, 0);
        if (fd >= 0) {
            try {
                byte[] v = new byte[8];
                int[] len = {8};
                if (c.getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, v, len) == 0 && len[0] == 8) {
                    long cookie = java.nio.ByteBuffer.wrap(v).order(java.nio.ByteOrder.nativeOrder()).getLong();
                    return "cookie:" + cookie;
                }
            } finally {
                c.close(fd);
            }
        }
        Path self = Path.of("/proc/thread-self/ns/net");
        try {
            return "ino:" + Files.getAttribute(self, "unix:dev") + ":" + Files.getAttribute(self, "unix:ino");
        } catch (IOException e) {
            throw new NetNsException("cannot stat " + self + ": " + e.getMessage(), e);
        }
    }

    /** The identity of this namespace (see {@link #identityHere()}). */
    public String identity() {
        return call(NetNs::identityHere);
    }

    /** Whether the calling thread is in this namespace already (same nsfs device and inode; no native call). */
    private boolean isCurrentThreads() {
        try {
            Path here = Path.of("/proc/thread-self/ns/net");
            return Files.getAttribute(path, "unix:ino").equals(Files.getAttribute(here, "unix:ino"))
                    && Files.getAttribute(path, "unix:dev").equals(Files.getAttribute(here, "unix:dev"));
        } catch (IOException | RuntimeException e) {
            return false; // unknown: enter it
        }
    }

    /** Runs {@code task} inside this namespace (on a thread of its own unless the caller is there) and returns its result. */
    public <T> T call(Callable<T> task) {
        if (isCurrentThreads()) {
            // already here (the node's namespace is usually the process's own): no thread, no setns
            try {
                return task.call();
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Exception e) {
                throw new NetNsException(e.getMessage(), e);
            }
        }
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                enter();
                result.set(task.call());
            } catch (Throwable e) {
                failure.set(e);
            }
        }, "netns-" + display());
        t.setDaemon(true);
        t.start();
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NetNsException("interrupted while working in network namespace " + display(), e);
        }
        Throwable f = failure.get();
        if (f instanceof RuntimeException re) {
            throw re;
        }
        if (f instanceof Error er) {
            throw er;
        }
        if (f != null) {
            throw new NetNsException(f.getMessage(), f);
        }
        return result.get();
    }

    public void run(ThrowingRunnable task) {
        call(() -> {
            task.run();
            return null;
        });
    }

    /** Runs a command inside the namespace. */
    public Exec.Result exec(List<String> command) {
        return call(() -> Exec.run(command));
    }

    public Exec.Result exec(String... command) {
        return exec(List.of(command));
    }

    /**
     * Runs {@code task} inside each namespace of {@code spaces}, on at most {@code threads} worker threads that
     * enter a namespace, run the task, and return to the namespace they started in (a worker that cannot
     * return ends, and its remaining namespaces fail): a batch of hundreds costs a few threads, not one each.
     * Results are in the order of {@code spaces}; the first failure (by position) is thrown after all ran.
     */
    public static <T> List<T> callEach(List<NetNs> spaces, java.util.function.Function<NetNs, T> task, int threads) {
        int n = spaces.size();
        Object[] results = new Object[n];
        Throwable[] failures = new Throwable[n];
        AtomicInteger next = new AtomicInteger();
        int workers = Math.max(1, Math.min(threads, n));
        List<Thread> ts = new java.util.ArrayList<>();
        for (int w = 0; w < workers; w++) {
            Thread t = new Thread(() -> {
                LibC c = Native.libc();
                int home = c.open("/proc/thread-self/ns/net", LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
                if (home < 0) {
                    for (int i; (i = next.getAndIncrement()) < n; ) {
                        failures[i] = new NetNsException("cannot open this thread's network namespace", Native.errno());
                    }
                    return;
                }
                try {
                    for (int i; (i = next.getAndIncrement()) < n; ) {
                        NetNs ns = spaces.get(i);
                        try {
                            ns.enter();
                            results[i] = task.apply(ns);
                        } catch (Throwable e) {
                            failures[i] = e;
                        } finally {
                            if (c.setns(home, LibC.CLONE_NEWNET) != 0) {
                                // this thread is stranded in another namespace: it must not run anything more
                                int errno = Native.errno();
                                for (int j; (j = next.getAndIncrement()) < n; ) {
                                    failures[j] = new NetNsException("cannot return to the original network "
                                            + "namespace: " + c.strerror(errno), errno);
                                }
                                return;
                            }
                        }
                    }
                } finally {
                    c.close(home);
                }
            }, "netns-batch-" + w);
            t.setDaemon(true);
            ts.add(t);
            t.start();
        }
        for (Thread t : ts) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new NetNsException("interrupted while working in network namespaces", e);
            }
        }
        for (Throwable f : failures) {
            if (f instanceof RuntimeException re) {
                throw re;
            }
            if (f instanceof Error er) {
                throw er;
            }
            if (f != null) {
                throw new NetNsException(f.getMessage(), f);
            }
        }
        @SuppressWarnings("unchecked")
        List<T> out = (List<T>) java.util.Arrays.asList(results);
        return out;
    }

    /** A thread factory whose threads live in this namespace (sockets they create belong to it). */
    public ThreadFactory threadFactory(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(() -> {
                enter();
                r.run();
            }, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /** Moves the current thread into this namespace: only for threads that are ours to the end. */
    private void enter() {
        LibC c = Native.libc();
        int fd = c.open(path.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
        if (fd < 0) {
            int errno = Native.errno();
            throw new NetNsException("network namespace " + display() + " not found (open " + path + ": "
                    + c.strerror(errno) + ")" + (name != null ? "; list them with: ip netns list" : ""), errno);
        }
        try {
            if (c.setns(fd, LibC.CLONE_NEWNET) != 0) {
                int errno = Native.errno();
                throw new NetNsException("cannot enter network namespace " + display() + ": " + c.strerror(errno)
                        + (errno == 1 ? " (ambientctl must run as root, or with CAP_SYS_ADMIN)" : ""), errno);
            }
        } finally {
            c.close(fd);
        }
    }

    /** Creates a named namespace (`ip netns add`). */
    public static NetNs create(String name) {
        NetNs ns = named(name);
        Exec.check("ip", "netns", "add", name);
        return ns;
    }

    /** Deletes a named namespace (`ip netns del`); a missing one is fine. */
    public void delete() {
        if (name == null) {
            throw new IllegalStateException("only named network namespaces can be deleted: " + path);
        }
        if (exists()) {
            Exec.run(List.of("ip", "netns", "del", name));
        }
    }

    @FunctionalInterface
    public interface ThrowingRunnable {
        void run() throws Exception;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NetNs other && path.equals(other.path);
    }

    @Override
    public int hashCode() {
        return path.hashCode();
    }

    @Override
    public String toString() {
        return "netns " + display();
    }
}
