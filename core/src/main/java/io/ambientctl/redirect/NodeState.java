package io.ambientctl.redirect;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

import com.fasterxml.jackson.core.JsonProcessingException;

import io.ambientctl.util.ExitCodeException;
import io.ambientctl.util.Json;

/**
 * The state file (STATE_DIR/state.json) and the lock (STATE_DIR/lock) that every changing command
 * takes. Writes are atomic: temp file, fsync, rename, fsync of the directory.
 */
public final class NodeState {
    public static final String FILE = "state.json";
    public static final String LOCK = "lock";
    public static final String JOURNAL = "journal";

    private NodeState() {
    }

    /**
     * Builds Jackson's mapper and the state's deserializer ahead of {@link #load} (the CLI does it on a second
     * thread while it parses the command line): ~20% of a local command's start is this first use of Jackson.
     */
    public static void prefetchReader() {
        Json.MAPPER.readerFor(State.class);
    }

    /** Where notes go (a state directory's mode tightened); the CLI sends them to stderr, the agent to its log. */
    private static volatile Consumer<String> notes = line -> System.err.println("ambientctl: " + line);

    public static void noteTo(Consumer<String> sink) {
        notes = sink == null ? line -> { } : sink;
    }

    private static final Set<PosixFilePermission> DIR_MODE = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> FILE_MODE = PosixFilePermissions.fromString("rw-------");

    /** The effective user id of this process (the owner of /proc/self), -1 when unknown. */
    static long euid() {
        try {
            return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return -1;
        }
    }

    static IllegalStateException mustBeRoot(Path where, String what) {
        return new IllegalStateException("ambientctl must run as root: " + what + " " + where + " belongs to root "
                + "(uid " + euid() + " may not use it); run it with sudo, or as root");
    }

    /**
     * The state directory, checked before anything in it is read or written: not a symbolic link, a directory,
     * owned by the user running ambientctl; a mode looser than 0700 (as a hostPath's DirectoryOrCreate makes:
     * 0755) is tightened with a note. Created 0700 when missing and {@code create}. Returns whether it exists.
     */
    static boolean checkDir(Path stateDir, boolean create) throws IOException {
        if (!Files.exists(stateDir, LinkOption.NOFOLLOW_LINKS)) {
            if (Files.isSymbolicLink(stateDir)) { // a dangling link
                throw linkRefused("state directory", stateDir);
            }
            if (!create) {
                return false;
            }
            Path parent = stateDir.getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            try {
                Files.createDirectory(stateDir, PosixFilePermissions.asFileAttribute(DIR_MODE));
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                // another ambientctl made it: checked below
            }
        }
        PosixFileAttributes a = Files.readAttributes(stateDir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (a.isSymbolicLink()) {
            throw linkRefused("state directory", stateDir);
        }
        if (!a.isDirectory()) {
            throw new IllegalStateException("state directory " + stateDir + " is not a directory: refusing it; remove "
                    + "it, or give another --state-dir");
        }
        requireOwned("state directory", stateDir);
        Set<PosixFilePermission> mode = a.permissions();
        if (!DIR_MODE.containsAll(mode)) {
            if (mode.contains(PosixFilePermission.GROUP_WRITE) || mode.contains(PosixFilePermission.OTHERS_WRITE)) {
                throw new IllegalStateException("state directory " + stateDir + " is writable by others (mode "
                        + octal(mode) + "): refusing to trust what is in it; give ambientctl a directory of its own "
                        + "(e.g. " + NodeConfig.DEFAULT_STATE_DIR + "), or 'chmod 700 " + stateDir + "' if it is one");
            }
            String foreign = foreignEntry(stateDir);
            if (foreign != null) {
                throw new IllegalStateException("state directory " + stateDir + " has mode " + octal(mode) + " and holds "
                        + foreign + ", not ambientctl's: refusing to change its mode; give ambientctl a directory of its "
                        + "own (e.g. " + NodeConfig.DEFAULT_STATE_DIR + "), or 'chmod 700 " + stateDir + "' if it is one");
            }
            Files.setPosixFilePermissions(stateDir, DIR_MODE);
            notes.accept("note: state directory " + stateDir + " had mode " + octal(mode) + " (others could read or "
                    + "write it); tightened to 0700");
        }
        return true;
    }

    /** Creates (0700) or checks a state directory as {@link #save} does; for the lab's directories. */
    public static void ensureDir(Path stateDir) {
        try {
            checkDir(stateDir, true);
        } catch (java.nio.file.AccessDeniedException e) {
            throw euid() != 0 ? mustBeRoot(stateDir, "the state directory") : new IllegalStateException(
                    "cannot create " + stateDir + ": permission denied", e);
        } catch (IOException e) {
            throw new IllegalStateException("cannot create the state directory " + stateDir + ": " + e.getMessage(), e);
        }
    }

    /** What ambientctl (and its lab) keeps in a state directory. */
    private static final java.util.regex.Pattern OURS = java.util.regex.Pattern.compile(
            "state\\.json|lock|journal|(state\\.json|journal)\\..*\\.tmp|state\\.json\\.tmp|journal\\.tmp|lab-.+"
                    + "|pods|serve\\.(log|pid)|ready|captures\\.jsonl");

    /** An entry of {@code dir} that is not ambientctl's (so the directory is not ours to chmod), or null. */
    private static String foreignEntry(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !OURS.matcher(n).matches()).findFirst()
                    .orElse(null);
        }
    }

    private static void requireOwned(String what, Path p) throws IOException {
        long owner = ((Number) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS)).longValue();
        long me = euid();
        if (me >= 0 && owner != me) {
            if (owner == 0) {
                throw mustBeRoot(p, "the " + what);
            }
            throw new IllegalStateException(what + " " + p + " is owned by uid " + owner + ", not by the user running "
                    + "ambientctl (uid " + me + "): refusing to trust it; 'chown root:root " + p + "' and 'chmod "
                    + (what.contains("directory") ? "700" : "600") + " " + p + "' if it is yours, or give another "
                    + "--state-dir");
        }
    }

    private static IllegalStateException linkRefused(String what, Path p) {
        String to;
        try {
            to = " (to " + Files.readSymbolicLink(p) + ")";
        } catch (IOException | UnsupportedOperationException e) {
            to = "";
        }
        return new IllegalStateException(what + " " + p + " is a symbolic link" + to + ": refusing to follow it; "
                + (what.contains("directory") ? "give the real directory with --state-dir, or replace the link with a "
                        + "directory owned by root, mode 0700" : "remove it, then run 'ambientctl repair'"));
    }

    private static String octal(Set<PosixFilePermission> mode) {
        int m = 0;
        for (PosixFilePermission p : mode) {
            m |= 1 << (8 - p.ordinal());
        }
        return String.format("%04o", m);
    }

    /** A file in the state directory: not a link, a regular file, ours; group/other bits are taken away. */
    private static void checkFile(Path f, String what) throws IOException {
        PosixFileAttributes a = Files.readAttributes(f, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (a.isSymbolicLink()) {
            throw linkRefused(what, f);
        }
        if (!a.isRegularFile()) {
            throw new IllegalStateException(what + " " + f + " is not a regular file: refusing it; remove it, then run "
                    + "'ambientctl repair'");
        }
        requireOwned(what, f);
        if (!FILE_MODE.containsAll(a.permissions())) {
            Files.setPosixFilePermissions(f, FILE_MODE);
            notes.accept("note: " + what + " " + f + " had mode " + octal(a.permissions()) + "; tightened to 0600");
        }
    }

    /** Reads the state; a missing file is the empty state, a corrupt or foreign one is refused. */
    public static State load(Path stateDir) {
        Path f = stateDir.resolve(FILE);
        try {
            if (!checkDir(stateDir, false) || !Files.exists(f, LinkOption.NOFOLLOW_LINKS)) {
                return new State();
            }
            checkFile(f, "state file");
        } catch (IOException e) {
            throw new IllegalStateException("cannot read state file " + f + ": " + e.getMessage(), e);
        }
        byte[] bytes;
        try (InputStream in = Files.newInputStream(f, LinkOption.NOFOLLOW_LINKS)) {
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read state file " + f + ": " + e.getMessage(), e);
        }
        return parsed(f, bytes).copy();
    }

    /**
     * What {@code bytes}, read from {@code f}, parse to (the cached result when they are the bytes parsed last;
     * not to be changed: callers copy it). One parse at a time: a load that comes while {@link #prefetch} parses
     * the same bytes waits for it instead of parsing them twice.
     */
    private static State parsed(Path f, byte[] bytes) {
        synchronized (PARSING) {
            Loaded last = lastLoaded;
            if (last != null && last.file().equals(f) && java.util.Arrays.equals(last.bytes(), bytes)) {
                return last.state(); // the same bytes as read before: not parsed again
            }
            State s = parse(f, bytes);
            lastLoaded = new Loaded(f, bytes, s);
            return s;
        }
    }

    private static State parse(Path f, byte[] bytes) {
        try {
            PARSES.incrementAndGet();
            int version = version(bytes);
            if (version < 1) {
                throw new IllegalStateException("state file " + f + " has no version (not ambientctl's?); refusing to "
                        + "use it: move it aside and run 'ambientctl repair --adopt'");
            }
            if (version > State.VERSION) {
                throw newerState(f, version);
            }
            State s;
            if (version < State.VERSION) {
                // an older version's file: migrated as a tree (saved by the next change)
                com.fasterxml.jackson.databind.node.ObjectNode doc =
                        (com.fasterxml.jackson.databind.node.ObjectNode) Json.MAPPER.readTree(bytes);
                State.migrate(doc, version);
                s = Json.MAPPER.treeToValue(doc, State.class);
            } else {
                s = Json.MAPPER.readValue(bytes, State.class); // one pass, no tree: a thousand workloads' file
            }
            if (s.layout > State.LAYOUT) {
                throw newerLayout("state file " + f + " records", s.layout);
            }
            String invalid = s.invalid();
            if (invalid != null) {
                throw corrupt(f, invalid, null);
            }
            return s;
        } catch (JsonProcessingException e) {
            throw corrupt(f, e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read state file " + f + ": " + e.getMessage(), e);
        }
    }

    /** A state file that does not parse, or holds what no mode could use: why, and the way out. */
    private static IllegalStateException corrupt(Path f, String why, Throwable cause) {
        return new IllegalStateException("state file " + f + " is corrupt (" + why + "); move it aside and run "
                + "'ambientctl repair --adopt' (it rebuilds the state from the kernel and keeps every workload "
                + "redirected)", cause);
    }

    /**
     * Parses the state file in {@code stateDir} ahead of {@link #load} (the CLI does it on a second thread while
     * its main thread builds the command line: a thousand workloads' file takes ~0.1 s to parse cold), so that
     * the load, which checks the file's owner and mode first and reads it again, finds these bytes parsed. Only a
     * cache: nothing is checked, kept or reported here; a file that is not a regular one, or over 64 MiB, or does
     * not parse, is left to the load.
     */
    public static void prefetch(Path stateDir) {
        Path f = stateDir.resolve(FILE);
        int limit = 64 << 20;
        try {
            if (!Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
                return;
            }
            byte[] bytes;
            try (InputStream in = Files.newInputStream(f, LinkOption.NOFOLLOW_LINKS)) {
                bytes = in.readNBytes(limit + 1);
            }
            if (bytes.length <= limit) {
                parsed(f, bytes);
            }
        } catch (IOException | RuntimeException | OutOfMemoryError e) {
            // the load meets it, and reports it
        }
    }

    /**
     * The state file this process read last, its bytes and what they parsed to: a changing command reads the
     * state before its lock, in the upgrade check, and under the lock, and the agent at every check; the same
     * bytes are not parsed again (reading a thousand workloads' file takes a millisecond, parsing it tens).
     */
    private record Loaded(Path file, byte[] bytes, State state) {
    }

    private static volatile Loaded lastLoaded;
    private static final Object PARSING = new Object();
    private static final java.util.concurrent.atomic.AtomicLong PARSES = new java.util.concurrent.atomic.AtomicLong();

    /** How many state files this process parsed (for tests: a file read again is not parsed again). */
    public static long parses() {
        return PARSES.get();
    }

    /**
     * The top-level {@code version} of a state file (0: none, or not an object), read with the streaming parser
     * without binding the rest (the writer puts it first, so this reads a few tokens).
     */
    static int version(byte[] bytes) throws IOException {
        try (com.fasterxml.jackson.core.JsonParser p = Json.MAPPER.getFactory().createParser(bytes)) {
            if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
                return 0;
            }
            while (p.nextToken() == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
                String name = p.currentName();
                com.fasterxml.jackson.core.JsonToken value = p.nextToken();
                if (name.equals("version")) {
                    return value == com.fasterxml.jackson.core.JsonToken.VALUE_NUMBER_INT
                            && p.getNumberType() == com.fasterxml.jackson.core.JsonParser.NumberType.INT
                            ? p.getIntValue() : 0;
                }
                p.skipChildren();
            }
            return 0;
        }
    }

    /**
     * For 'uninstall --force' only: the state as far as this version can read it, whatever its version (a newer
     * one's fields that this version knows: mode, ztunnel, workloads, attachments), or the empty state when there is
     * none or it cannot be parsed. Never for anything but removing.
     */
    public static State loadLoosely(Path stateDir) {
        Path f = stateDir.resolve(FILE);
        try {
            if (!checkDir(stateDir, false) || !Files.exists(f, LinkOption.NOFOLLOW_LINKS)) {
                return new State();
            }
            checkFile(f, "state file");
            try (InputStream in = Files.newInputStream(f, LinkOption.NOFOLLOW_LINKS)) {
                State s = Json.MAPPER.readValue(in, State.class);
                return s == null ? new State() : s;
            }
        } catch (IOException | RuntimeException e) {
            notes.accept("note: state file " + f + " not readable by this version (" + e.getMessage() + "): removing "
                    + "by names and pins only");
            return new State();
        }
    }

    /** A refusal to work on what a newer ambientctl wrote (a downgrade); its message says the way back. */
    public static final class Downgrade extends IllegalStateException {
        Downgrade(String message) {
            super(message);
        }
    }

    /** What a downgrade is told: the state was written by a newer ambientctl. */
    static Downgrade newerState(Path f, int version) {
        return new Downgrade("state file " + f + " has version " + version
                + ", written by a newer ambientctl (this one reads versions up to " + State.VERSION + "): downgrading "
                + "in place is refused, and nothing was changed (the node keeps its redirection as the newer version "
                + "left it). " + WAY_BACK);
    }

    /** What a downgrade is told: kernel objects (or a state) of a newer layout than this build installs. */
    public static Downgrade newerLayout(String what, int layout) {
        return new Downgrade(what + " layout " + layout + ", made by a newer "
                + "ambientctl (this one installs layout " + State.LAYOUT + "): downgrading in place is refused, and "
                + "nothing was changed. " + WAY_BACK);
    }

    static final String WAY_BACK = "The way back: reinstall the newer ambientctl; to go back to this version, run "
            + "'ambientctl uninstall' with the newer one first (every Pod leaves the mesh until enrolled again), or "
            + "'ambientctl uninstall --force' with this one (it removes everything under its state and bpffs "
            + "directories, with the same consequence), then enroll again.";

    /** Writes the state atomically. */
    public static void save(Path stateDir, State s) {
        try {
            checkDir(stateDir, true);
            writeAtomically(stateDir, FILE, Json.MAPPER.writeValueAsBytes(s));
        } catch (IOException e) {
            throw new IllegalStateException("cannot write state file in " + stateDir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Writes {@code name} in the checked directory: a new temporary file of a unique name (O_EXCL: never
     * through a planted link), fsync, rename over {@code name} (which replaces a link, never follows it),
     * fsync of the directory.
     */
    private static void writeAtomically(Path dir, String name, byte[] bytes) throws IOException {
        Path tmp = Files.createTempFile(dir, name + ".", ".tmp", PosixFilePermissions.asFileAttribute(FILE_MODE));
        try {
            try (SeekableByteChannel ch = Files.newByteChannel(tmp, Set.of(StandardOpenOption.WRITE,
                    LinkOption.NOFOLLOW_LINKS))) {
                ByteBuffer b = ByteBuffer.wrap(bytes);
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                ((FileChannel) ch).force(true);
            }
            try {
                Files.move(tmp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            d.force(true);
        }
    }

    /**
     * Records, before a changing operation acts, that it is under way (atomically, like the state).
     * A journal left behind means an operation was interrupted: the next changing command repairs.
     */
    public static void beginJournal(Path stateDir, String operation) {
        try {
            checkDir(stateDir, true);
            writeAtomically(stateDir, JOURNAL, (operation + " pid " + ProcessHandle.current().pid() + " at "
                    + java.time.Instant.now() + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("cannot write the journal in " + stateDir + ": " + e.getMessage(), e);
        }
    }

    /** The journal's text if an operation left one (in progress or interrupted); never read through a link. */
    public static Optional<String> journal(Path stateDir) {
        Path j = stateDir.resolve(JOURNAL);
        if (!Files.exists(j, LinkOption.NOFOLLOW_LINKS)) {
            return Optional.empty();
        }
        if (Files.isSymbolicLink(j)) {
            return Optional.of("a symbolic link in place of the journal, not read");
        }
        try (InputStream in = Files.newInputStream(j, LinkOption.NOFOLLOW_LINKS)) {
            String text = new String(in.readNBytes(512), StandardCharsets.UTF_8).strip();
            return Optional.of(text.replaceAll("\\p{Cntrl}", "?"));
        } catch (IOException e) {
            return Optional.of("unreadable journal");
        }
    }

    /** NONE: no journal; IN_PROGRESS: a journal and its operation holds the lock; INTERRUPTED: nobody holds it. */
    public enum JournalState { NONE, IN_PROGRESS, INTERRUPTED }

    /**
     * What the journal says and whether its operation still runs: {@code text} is "OPERATION pid N, since T" when
     * the journal has that form, else the journal's text.
     */
    public record JournalStatus(JournalState state, String text) {
        public boolean interrupted() {
            return state == JournalState.INTERRUPTED;
        }

        public boolean inProgress() {
            return state == JournalState.IN_PROGRESS;
        }
    }

    private static final java.util.regex.Pattern JOURNAL_LINE =
            java.util.regex.Pattern.compile("(.+) pid (\\d+) at (\\S+)");

    /** The journal, and whether its operation is in progress (the lock is held) or was interrupted. */
    public static JournalStatus journalStatus(Path stateDir) {
        Optional<String> j = journal(stateDir);
        if (j.isEmpty()) {
            return new JournalStatus(JournalState.NONE, null);
        }
        java.util.regex.Matcher m = JOURNAL_LINE.matcher(j.get());
        String text = m.matches() ? m.group(1) + " pid " + m.group(2) + ", since " + m.group(3) : j.get();
        return new JournalStatus(lockHeld(stateDir) ? JournalState.IN_PROGRESS : JournalState.INTERRUPTED, text);
    }

    /** Locks this JVM holds (a probe must not open and close the file: that drops the process's own lock). */
    private static final Set<Path> HELD = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * Whether a changing command holds the lock now: a non-blocking probe taken and released at once (holds
     * nothing; creates no lock file).
     */
    public static boolean lockHeld(Path stateDir) {
        Path l = stateDir.resolve(LOCK).toAbsolutePath().normalize();
        if (HELD.contains(l)) {
            return true;
        }
        if (!Files.isRegularFile(l, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(l, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
            FileLock probe = ch.tryLock();
            if (probe == null) {
                return true;
            }
            probe.release();
            return false;
        } catch (OverlappingFileLockException e) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    public static void endJournal(Path stateDir) {
        try {
            Files.deleteIfExists(stateDir.resolve(JOURNAL)); // a link is removed itself, never followed
        } catch (IOException e) {
            throw new IllegalStateException("cannot remove the journal in " + stateDir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Takes the node lock, waiting up to {@code wait} (zero: not at all). Exit code 5 when another
     * ambientctl holds it.
     */
    public static Lock lock(Path stateDir, Duration wait) {
        Path lockFile = stateDir.resolve(LOCK);
        try {
            checkDir(stateDir, true);
            if (Files.isSymbolicLink(lockFile)) {
                throw linkRefused("lock", lockFile);
            }
            FileChannel ch;
            try {
                ch = FileChannel.open(lockFile, Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                        LinkOption.NOFOLLOW_LINKS), PosixFilePermissions.asFileAttribute(FILE_MODE));
            } catch (java.nio.file.FileSystemException e) {
                if (Files.isSymbolicLink(lockFile)) {
                    throw linkRefused("lock", lockFile);
                }
                throw e;
            }
            long deadline = System.nanoTime() + wait.toNanos();
            while (true) {
                FileLock l;
                try {
                    l = ch.tryLock();
                } catch (OverlappingFileLockException e) {
                    l = null; // held by this JVM (another thread)
                }
                if (l != null) {
                    Path key = lockFile.toAbsolutePath().normalize();
                    HELD.add(key);
                    return new Lock(ch, l, key);
                }
                if (System.nanoTime() >= deadline) {
                    ch.close();
                    throw new ExitCodeException(ExitCodeException.LOCKED, "another ambientctl holds the lock "
                            + lockFile + (wait.isZero() ? "; retry, or pass --wait 30s to wait for it"
                                    : "; it was not released within " + wait.toSeconds() + "s"));
                }
                Thread.sleep(20);
            }
        } catch (java.nio.file.AccessDeniedException e) {
            if (euid() != 0) {
                throw mustBeRoot(stateDir, "the state directory");
            }
            throw new IllegalStateException("cannot take the lock in " + stateDir + ": permission denied on "
                    + e.getFile() + "; check the directory's owner and mode", e);
        } catch (IOException e) {
            throw new IllegalStateException("cannot take the lock in " + stateDir + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the lock", e);
        }
    }

    /** The held lock; close releases it. */
    public static final class Lock implements AutoCloseable {
        private final FileChannel channel;
        private final FileLock lock;
        private final Path key;

        Lock(FileChannel channel, FileLock lock, Path key) {
            this.channel = channel;
            this.lock = lock;
            this.key = key;
        }

        @Override
        public void close() {
            HELD.remove(key);
            try {
                lock.release();
                channel.close();
            } catch (IOException e) {
                // closing the channel releases the lock anyway
            }
        }
    }
}
