package io.ambientctl.bpf.sys;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;

/**
 * Loads libbpf.so.1 and libc once, lazily, with a test call right after loading. A failure names
 * the library, the paths searched and the Debian package that provides it.
 */
public final class Native {
    /** Where Debian and other distributions put libbpf.so.1. */
    public static final List<String> SEARCH_PATHS = List.of(
            "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib64",
            "/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/local/lib");

    static {
        // jnr-ffi binds a library through reflection instead of generating (with ASM) and loading a stub class
        // for the whole interface: ~40 ms less for every command that loads libbpf or libc (README
        // "Start-up"); a call costs a little more, invisible next to the syscall it makes. -Djnr.ffi.asm.enabled=true
        // restores the generated stubs.
        if (System.getProperty("jnr.ffi.asm.enabled") == null) {
            System.setProperty("jnr.ffi.asm.enabled", "false");
        }
    }

    private Native() {
    }

    private static final class BpfHolder {
        static final LibBpf LIB = loadBpf();
    }

    private static final class CHolder {
        static final LibC LIB = loadC();
    }

    public static LibBpf bpf() {
        try {
            return BpfHolder.LIB;
        } catch (ExceptionInInitializerError e) {
            throw (NativeLibraryException) e.getCause();
        } catch (NoClassDefFoundError e) {
            // the holder failed before: report the same thing again
            return loadBpf();
        }
    }

    public static LibC libc() {
        try {
            return CHolder.LIB;
        } catch (ExceptionInInitializerError e) {
            throw (NativeLibraryException) e.getCause();
        } catch (NoClassDefFoundError e) {
            return loadC();
        }
    }

    private static LibC loadC() {
        try {
            return LibraryLoader.create(LibC.class).failImmediately().load("c");
        } catch (LinkageError | RuntimeException e) {
            NativeLibraryException stub = jffiStubFailure(e);
            throw stub != null ? stub : new NativeLibraryException("cannot load libc: " + e.getMessage(), e);
        }
    }

    /**
     * jnr-ffi's own native half (jffi's stub, libjffi-1.2.so) failing to load looks, to a caller, like the library
     * being bound failing: name the real cause. jffi takes the stub from {@code -Djffi.boot.library.path} (the
     * launchers point it at their cache directory), else extracts it from the jar into {@code java.io.tmpdir},
     * else into the working directory; with none of them writable and executable it cannot load.
     */
    static NativeLibraryException jffiStubFailure(Throwable e) {
        String root = null;
        boolean jffi = false;
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = String.valueOf(t.getMessage());
            if (m.contains("FFI provider") || m.contains("jffi") || t.getClass().getName().startsWith("com.kenai.jffi")) {
                jffi = true;
            }
            root = t.getMessage();
        }
        if (!jffi) {
            return null;
        }
        String boot = System.getProperty("jffi.boot.library.path");
        return new NativeLibraryException("jnr-ffi's native stub (libjffi-1.2.so, from the jar) could not be loaded: " + root
                + (boot != null ? " (not found in -Djffi.boot.library.path=" + boot + ")" : "")
                + "; it is extracted into java.io.tmpdir (" + System.getProperty("java.io.tmpdir")
                + ") or the working directory, which must be writable and not mounted noexec: run"
                + " with AMBIENTCTL_JAVA_OPTS=-Djava.io.tmpdir=DIR naming such a directory (this is not a libbpf problem)", e);
    }

    /** errno of the last native call made on this thread. */
    public static int errno() {
        return Runtime.getRuntime(libc()).getLastError();
    }

    /** Finds libbpf.so.1 in the usual library directories (or $AMBIENTCTL_LIBBPF). */
    public static Path findLibbpf() {
        String override = System.getenv("AMBIENTCTL_LIBBPF");
        if (override != null && !override.isBlank()) {
            return Path.of(override);
        }
        for (String dir : SEARCH_PATHS) {
            Path p = Path.of(dir, "libbpf.so.1");
            if (Files.exists(p)) {
                return p;
            }
        }
        return null;
    }

    private static LibBpf loadBpf() {
        Path path = findLibbpf();
        List<String> searched = new ArrayList<>(SEARCH_PATHS);
        if (path == null) {
            throw new NativeLibraryException("libbpf.so.1 not found (searched " + String.join(", ", searched)
                    + "); install it with: apt-get install libbpf1");
        }
        LibBpf lib;
        try {
            lib = LibraryLoader.create(LibBpf.class).failImmediately().load(path.toString());
        } catch (LinkageError | RuntimeException e) {
            NativeLibraryException stub = jffiStubFailure(e);
            if (stub != null) {
                throw stub;
            }
            throw new NativeLibraryException("cannot load " + path + ": " + e.getMessage()
                    + "; ambientctl needs libbpf 1.x (apt-get install libbpf1)", e);
        }
        int major = lib.libbpf_major_version();
        if (major < 1) {
            throw new NativeLibraryException(path + " is libbpf " + lib.libbpf_version_string()
                    + "; ambientctl needs libbpf 1.0 or newer (apt-get install libbpf1)");
        }
        LibbpfLog.install(lib);
        return lib;
    }
}
