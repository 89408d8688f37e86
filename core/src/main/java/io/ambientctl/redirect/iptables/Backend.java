package io.ambientctl.redirect.iptables;

import java.util.List;

import io.ambientctl.util.Exec;

/**
 * Which iptables the host uses: the nft or the legacy backend. Detected the way the host already
 * uses it (the one that holds rules; nft when neither or both do), so ambientctl's rules land
 * beside the others instead of in a table nobody looks at.
 */
public enum Backend {
    NFT("-nft"), LEGACY("-legacy"), DEFAULT("");

    private final String suffix;

    Backend(String suffix) {
        this.suffix = suffix;
    }

    /** e.g. iptables-nft-restore, ip6tables-legacy-save, iptables. */
    public String tool(boolean v6, String verb) {
        return (v6 ? "ip6tables" : "iptables") + suffix + (verb.isEmpty() ? "" : "-" + verb);
    }

    public String label() {
        return this == DEFAULT ? "default" : name().toLowerCase();
    }

    /** Counts the rules each backend holds (in the calling thread's namespace) and picks one. */
    public static Backend detect() {
        return detect(null);
    }

    /**
     * As {@link #detect()}; {@code nftSaves}, when given, gets the nft backend's save of each family ({@code false}:
     * IPv4) that the detection read, so that a caller in the same namespace need not run them again.
     */
    static Backend detect(java.util.Map<Boolean, String> nftSaves) {
        int nft = rules(NFT, nftSaves);
        // the legacy tools run only where legacy tables exist (or the nft tools are missing): none, no rule
        int legacy = nft >= 0 && !legacyTablesHere() ? 0 : rules(LEGACY);
        if (nft < 0 && legacy < 0) {
            return DEFAULT;
        }
        if (legacy > 0 && nft <= 0) {
            return LEGACY;
        }
        return nft >= 0 ? NFT : LEGACY;
    }

    /**
     * Whether the legacy backend has a table in the calling thread's namespace: x_tables lists them in
     * /proc/thread-self/net/ip_tables_names and ip6_tables_names (a namespace gets them when first used); with none
     * it holds no rule, and no legacy tool need run to say so.
     */
    static boolean legacyTablesHere() {
        for (String f : List.of("ip_tables_names", "ip6_tables_names")) {
            try {
                if (!java.nio.file.Files.readString(java.nio.file.Path.of("/proc/thread-self/net", f)).isBlank()) {
                    return true;
                }
            } catch (java.nio.file.NoSuchFileException absent) {
                // the family's legacy module is not loaded: no table of it anywhere
            } catch (java.io.IOException e) {
                return true; // unknown: ask the tools
            }
        }
        return false;
    }

    /** Rules (-A lines) the backend holds for both families, or -1 when its tools are missing. */
    public static int rules(Backend b) {
        return rules(b, null);
    }

    private static int rules(Backend b, java.util.Map<Boolean, String> saves) {
        int n = 0;
        for (boolean v6 : new boolean[] {false, true}) {
            Exec.Result r;
            try {
                r = Exec.run(List.of(b.tool(v6, "save")));
            } catch (Exec.ExecException e) {
                return -1;
            }
            if (!r.ok()) {
                continue;
            }
            if (saves != null) {
                saves.put(v6, r.stdout());
            }
            n += (int) r.stdout().lines().filter(l -> l.startsWith("-A ")).count();
        }
        return n;
    }
}
