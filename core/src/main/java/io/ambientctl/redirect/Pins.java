package io.ambientctl.redirect;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Paths the state file names are not trusted: a pin is touched (detached, unlinked) only when it lies
 * under ambientctl's own bpffs directory: absolute, no '..', inside the directory by its real path
 * (no symbolic link on the way out), and not itself a symbolic link.
 */
public final class Pins {
    private Pins() {
    }

    /**
     * {@code pin} as a path under {@code bpffs}, or an IllegalStateException that says the state file names
     * something outside.
     */
    public static Path requireUnder(Path bpffs, String pin) {
        String why = outside(bpffs, pin);
        if (why != null) {
            throw new IllegalStateException("state file names " + printable(pin) + " outside BPFFS " + bpffs + " (" + why
                    + "): refusing to touch it; run 'ambientctl repair'");
        }
        return Path.of(pin);
    }

    /** Every TCX link pin of {@code hooks} lies under {@code bpffs} (check before changing anything of a workload). */
    public static void requireAllUnder(Path bpffs, List<Hook> hooks) {
        for (Hook h : hooks) {
            if (h.tc().linkPin() != null) {
                requireUnder(bpffs, h.tc().linkPin());
            }
        }
    }

    /** Whether {@code pin} lies under {@code bpffs} as {@link #requireUnder} requires. */
    public static boolean isUnder(Path bpffs, String pin) {
        return outside(bpffs, pin) == null;
    }

    /** Why {@code pin} is not under {@code bpffs}, or null when it is. */
    static String outside(Path bpffs, String pin) {
        if (pin == null || pin.isEmpty()) {
            return "no path";
        }
        if (pin.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
            return "control characters";
        }
        Path p;
        try {
            p = Path.of(pin);
        } catch (InvalidPathException e) {
            return "not a path";
        }
        if (!p.isAbsolute()) {
            return "a relative path";
        }
        for (Path part : p) {
            if (part.toString().equals("..") || part.toString().equals(".")) {
                return "'" + part + "' in the path";
            }
        }
        Path base = bpffs.toAbsolutePath().normalize();
        if (!p.startsWith(base) || p.equals(base)) {
            return "not under " + base;
        }
        if (!Files.exists(base, LinkOption.NOFOLLOW_LINKS)) {
            return null; // no directory: nothing under it to touch (detaching a missing pin does nothing)
        }
        try {
            Path realBase = base.toRealPath();
            // the deepest existing ancestor of the pin (the pin itself must not be a link)
            Path existing = p;
            if (Files.isSymbolicLink(existing)) {
                return "a symbolic link";
            }
            while (!Files.exists(existing, LinkOption.NOFOLLOW_LINKS)) {
                existing = existing.getParent();
            }
            Path real = existing.equals(p) ? existing.getParent().toRealPath().resolve(p.getFileName())
                    : existing.toRealPath();
            if (!real.startsWith(realBase)) {
                return "its real path is " + real;
            }
        } catch (IOException e) {
            return "cannot resolve it: " + e.getMessage();
        }
        return null;
    }

    /**
     * For repair and status: every recorded TCX link pin outside {@code bpffs} is reported and (unless
     * {@code dryRun}) its record re-pointed to the pin of the same name in {@code linksDir} when there is one
     * (the slot's pin: what ambientctl itself attached), else forgotten. The file named is never touched.
     */
    public static List<String> fixOutside(Path bpffs, Path linksDir, Map<String, List<Hook>> attachments,
            boolean dryRun) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, List<Hook>> e : attachments.entrySet()) {
            List<Hook> fixed = new ArrayList<>();
            for (Hook h : e.getValue()) {
                String pin = h.tc().linkPin();
                if (pin == null || isUnder(bpffs, pin)) {
                    fixed.add(h);
                    continue;
                }
                Path own = null;
                try {
                    Path name = Path.of(pin).getFileName();
                    own = name == null ? null : linksDir.resolve(name.toString());
                } catch (InvalidPathException ex) {
                    own = null;
                }
                if (own == null || !Files.exists(own, LinkOption.NOFOLLOW_LINKS)) {
                    own = pinOfLink(linksDir, h);
                }
                if (own != null && Files.exists(own, LinkOption.NOFOLLOW_LINKS) && isUnder(bpffs, own.toString())) {
                    out.add("re-point the state file's link pin " + printable(pin) + " (outside BPFFS, not touched) to "
                            + own);
                    var t = h.tc();
                    fixed.add(new Hook(h.netns(), new io.ambientctl.bpf.TcAttachment(t.kind(), t.ifindex(),
                            t.direction(), t.progId(), t.linkId(), own.toString(), t.priority(), t.handle(),
                            t.createdQdisc())));
                } else {
                    out.add("forget the state file's link pin " + printable(pin) + " of " + e.getKey()
                            + " (outside BPFFS, not touched)");
                }
            }
            if (!dryRun) {
                e.setValue(fixed);
            }
        }
        return out;
    }

    /** Our pin (in {@code linksDir}) of the TCX link the hook records (same link id and interface), or null. */
    private static Path pinOfLink(Path linksDir, Hook h) {
        if (h.tc().kind() != io.ambientctl.bpf.AttachKind.TCX || !Files.isDirectory(linksDir, LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        try (var s = Files.list(linksDir)) {
            for (Path p : s.toList()) {
                if (Files.isSymbolicLink(p)) {
                    continue;
                }
                var a = io.ambientctl.bpf.Tc.pinnedLink(p, h.tc().direction());
                if (a != null && a.linkId() == h.tc().linkId() && a.ifindex() == h.tc().ifindex()) {
                    return p;
                }
            }
        } catch (IOException | RuntimeException e) {
            return null; // not found: the record is forgotten, the link then counts as unrecorded
        }
        return null;
    }

    private static String printable(String s) {
        return s == null ? "no pin" : s.replaceAll("\\p{Cntrl}", "?");
    }
}
