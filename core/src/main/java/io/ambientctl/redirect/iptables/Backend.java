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
        int nft = rules(NFT);
        int legacy = rules(LEGACY);
        if (nft < 0 && legacy < 0) {
            return DEFAULT;
        }
        if (legacy > 0 && nft <= 0) {
            return LEGACY;
        }
        return nft >= 0 ? NFT : LEGACY;
    }

    /** Rules (-A lines) the backend holds for both families, or -1 when its tools are missing. */
    public static int rules(Backend b) {
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
            n += (int) r.stdout().lines().filter(l -> l.startsWith("-A ")).count();
        }
        return n;
    }
}
