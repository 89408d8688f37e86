package io.ambientctl.redirect;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;

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

    /** Reads the state; a missing file is the empty state, a corrupt or foreign one is refused. */
    public static State load(Path stateDir) {
        Path f = stateDir.resolve(FILE);
        if (!Files.exists(f)) {
            return new State();
        }
        try {
            State s = Json.MAPPER.readValue(f.toFile(), State.class);
            if (s == null || s.version != State.VERSION) {
                throw new IllegalStateException("state file " + f + " has version " + (s == null ? "none" : s.version)
                        + ", this ambientctl reads version " + State.VERSION + "; refusing to use it");
            }
            return s;
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("state file " + f + " is corrupt (" + e.getOriginalMessage()
                    + "); move it aside and run 'ambientctl repair --adopt' (it rebuilds the state from the kernel and keeps "
                    + "every workload redirected)", e);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read state file " + f + ": " + e.getMessage(), e);
        }
    }

    /** Writes the state atomically. */
    public static void save(Path stateDir, State s) {
        try {
            ensureDir(stateDir);
            Path tmp = stateDir.resolve(FILE + ".tmp");
            byte[] bytes = Json.MAPPER.writeValueAsBytes(s);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(java.nio.ByteBuffer.wrap(bytes));
                ch.force(true);
            }
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-------"));
            try {
                Files.move(tmp, stateDir.resolve(FILE), StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, stateDir.resolve(FILE), StandardCopyOption.REPLACE_EXISTING);
            }
            try (FileChannel dir = FileChannel.open(stateDir, StandardOpenOption.READ)) {
                dir.force(true);
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot write state file in " + stateDir + ": " + e.getMessage(), e);
        }
    }

    static void ensureDir(Path stateDir) throws IOException {
        if (!Files.isDirectory(stateDir)) {
            Files.createDirectories(stateDir);
            Files.setPosixFilePermissions(stateDir, PosixFilePermissions.fromString("rwx------"));
        }
    }

    /**
     * Records, before a changing operation acts, that it is under way (atomically, like the state).
     * A journal left behind means an operation was interrupted: the next changing command repairs.
     */
    public static void beginJournal(Path stateDir, String operation) {
        try {
            ensureDir(stateDir);
            Path tmp = stateDir.resolve(JOURNAL + ".tmp");
            Files.writeString(tmp, operation + " pid " + ProcessHandle.current().pid() + " at "
                    + java.time.Instant.now() + "\n");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            Files.move(tmp, stateDir.resolve(JOURNAL), StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write the journal in " + stateDir + ": " + e.getMessage(), e);
        }
    }

    /** The interrupted operation, if one left its journal. */
    public static java.util.Optional<String> journal(Path stateDir) {
        try {
            Path j = stateDir.resolve(JOURNAL);
            return Files.exists(j) ? java.util.Optional.of(Files.readString(j).strip()) : java.util.Optional.empty();
        } catch (IOException e) {
            return java.util.Optional.of("unreadable journal");
        }
    }

    public static void endJournal(Path stateDir) {
        try {
            Files.deleteIfExists(stateDir.resolve(JOURNAL));
        } catch (IOException e) {
            throw new IllegalStateException("cannot remove the journal in " + stateDir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Takes the node lock, waiting up to {@code wait} (zero: not at all). Exit code 5 when another
     * ambientctl holds it.
     */
    public static Lock lock(Path stateDir, Duration wait) {
        try {
            ensureDir(stateDir);
            FileChannel ch = FileChannel.open(stateDir.resolve(LOCK), StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE);
            long deadline = System.nanoTime() + wait.toNanos();
            while (true) {
                FileLock l;
                try {
                    l = ch.tryLock();
                } catch (OverlappingFileLockException e) {
                    l = null; // held by this JVM (another thread)
                }
                if (l != null) {
                    return new Lock(ch, l);
                }
                if (System.nanoTime() >= deadline) {
                    ch.close();
                    throw new ExitCodeException(ExitCodeException.LOCKED, "another ambientctl holds the lock "
                            + stateDir.resolve(LOCK) + (wait.isZero() ? "; retry, or pass --wait 30s to wait for it"
                                    : "; it was not released within " + wait.toSeconds() + "s"));
                }
                Thread.sleep(20);
            }
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

        Lock(FileChannel channel, FileLock lock) {
            this.channel = channel;
            this.lock = lock;
        }

        @Override
        public void close() {
            try {
                lock.release();
                channel.close();
            } catch (IOException e) {
                // closing the channel releases the lock anyway
            }
        }
    }
}
