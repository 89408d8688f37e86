package io.ambientctl.redirect.nftables;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.bpf.sys.NativeLibraryException;
import io.ambientctl.util.Json;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;

/**
 * libnftables, loaded once and lazily (jnr-ffi, like libbpf in {@code bpf/sys}). Each call makes a context
 * on the calling thread, so it acts in that thread's network namespace (run it inside {@code NetNs.call}),
 * runs the commands as one transaction (all or nothing in the kernel), and frees the context. The library's
 * error text goes into the exception.
 */
public final class Nftables {
    public static final String LIBRARY = "libnftables.so.1";
    /** Where Debian and other distributions put it (as for libbpf). */
    public static final List<String> SEARCH_PATHS = List.of(
            "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib64",
            "/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/local/lib");

    static {
        // the same binding style as libbpf's (no generated stub class, see bpf.sys.Native), in case this
        // library is the first one loaded
        if (System.getProperty("jnr.ffi.asm.enabled") == null) {
            System.setProperty("jnr.ffi.asm.enabled", "false");
        }
    }

    /** libnftables refused a command: {@code errors} is the library's text. */
    public static final class NftException extends RuntimeException {
        private final String errors;

        NftException(String message, String errors) {
            super(message);
            this.errors = errors;
        }

        public String errors() {
            return errors;
        }
    }

    private Nftables() {
    }

    private static final class Holder {
        static final LibNftables LIB = load();
    }

    // libnftables keeps a little global state (its symbol tables' caches): one call at a time in this process
    private static final Object LOCK = new Object();

    static LibNftables lib() {
        try {
            return Holder.LIB;
        } catch (ExceptionInInitializerError e) {
            throw (NativeLibraryException) e.getCause();
        } catch (NoClassDefFoundError e) {
            return load();
        }
    }

    /** Where libnftables.so.1 is ($AMBIENTCTL_LIBNFTABLES, else the usual library directories), or null. */
    public static Path find() {
        String override = System.getenv("AMBIENTCTL_LIBNFTABLES");
        if (override != null && !override.isBlank()) {
            return Path.of(override);
        }
        for (String dir : SEARCH_PATHS) {
            Path p = Path.of(dir, LIBRARY);
            if (Files.exists(p)) {
                return p;
            }
        }
        return null;
    }

    private static LibNftables load() {
        Path path = find();
        if (path == null) {
            throw new NativeLibraryException(LIBRARY + " not found (searched " + String.join(", ", SEARCH_PATHS)
                    + "); install it with: apt-get install libnftables1");
        }
        try {
            return LibraryLoader.create(LibNftables.class).failImmediately().load(path.toString());
        } catch (LinkageError | RuntimeException e) {
            throw new NativeLibraryException("cannot load " + path + ": " + e.getMessage()
                    + "; the nftables mode needs libnftables 1.x (apt-get install libnftables1)", e);
        }
    }

    /** Loads the library now; throws {@link NativeLibraryException} naming where it looked and the fix. */
    public static void require() {
        lib();
    }

    /** Whether the library loads (without throwing). */
    public static boolean available() {
        try {
            lib();
            return true;
        } catch (NativeLibraryException e) {
            return false;
        }
    }

    /**
     * Runs {@code commands} (nft syntax, one transaction) in the calling thread's network namespace and
     * returns what the library printed; throws {@link NftException} with the library's error text.
     */
    public static String run(String commands) {
        return run(commands, false);
    }

    /** Runs {@code commands} with JSON output (e.g. a {@code list}) and parses it; {@code null} when it printed nothing. */
    public static JsonNode json(String commands) {
        String out = run(commands, true);
        return out.isBlank() ? null : Json.parse(out);
    }

    private static String run(String commands, boolean json) {
        LibNftables lib = lib();
        synchronized (LOCK) {
            Pointer ctx = lib.nft_ctx_new(LibNftables.NFT_CTX_DEFAULT);
            if (ctx == null) {
                throw new NftException("libnftables: cannot create a context (nft_ctx_new)", "");
            }
            try {
                if (json) {
                    lib.nft_ctx_output_set_flags(ctx, lib.nft_ctx_output_get_flags(ctx) | LibNftables.NFT_CTX_OUTPUT_JSON);
                }
                if (lib.nft_ctx_buffer_output(ctx) != 0 || lib.nft_ctx_buffer_error(ctx) != 0) {
                    throw new NftException("libnftables: cannot buffer its output", "");
                }
                int rc = lib.nft_run_cmd_from_buffer(ctx, commands);
                String out = lib.nft_ctx_get_output_buffer(ctx);
                String err = lib.nft_ctx_get_error_buffer(ctx);
                if (rc != 0) {
                    String e = err == null ? "" : err.strip();
                    throw new NftException("nftables refused the change (nothing of it was applied): "
                            + (e.isEmpty() ? "error " + rc : e), e);
                }
                return out == null ? "" : out;
            } finally {
                lib.nft_ctx_free(ctx);
            }
        }
    }

    /** Whether the library was built with JSON support (a JSON list of an empty ruleset parses). */
    public static boolean jsonSupported() {
        try {
            JsonNode n = json("list tables");
            return n != null && n.has("nftables");
        } catch (NftException | IllegalStateException e) {
            return false;
        }
    }

    /** The objects of a JSON listing ({"nftables": [{"table": ...}, {"set": ...}, ...]}) of one kind. */
    public static List<JsonNode> objects(JsonNode listing, String kind) {
        List<JsonNode> out = new ArrayList<>();
        if (listing == null || !listing.has("nftables")) {
            return out;
        }
        for (JsonNode n : listing.get("nftables")) {
            if (n.has(kind)) {
                out.add(n.get(kind));
            }
        }
        return out;
    }
}
