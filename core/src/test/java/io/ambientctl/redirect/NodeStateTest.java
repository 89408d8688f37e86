package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.testing.Kernel;
import io.ambientctl.util.ExitCodeException;

class NodeStateTest {
    private Path dir;

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("state").resolve("sub");
    }

    @AfterEach
    void tearDown() {
        Kernel.removeTree(dir.getParent());
    }

    static Workload w(String name) {
        return new Workload(name, null, null, name, List.of("10.0.0.1"), "eth0", 2, "02:00:00:00:00:01", "v1", 7,
                "02:00:00:00:00:07", 0, null);
    }

    @Test
    void writesAtomicallyReadsBackAndKeepsIds() throws Exception {
        assertThat(NodeState.load(dir).workloads).isEmpty();
        State s = new State();
        s.mode = RedirectMode.iptables;
        Workload a = s.put(w("a"));
        Workload b = s.put(w("b"));
        assertThat(a.id()).isNotEqualTo(b.id());
        assertThat(s.put(w("a")).id()).isEqualTo(a.id());
        NodeState.save(dir, s);
        assertThat(Files.getPosixFilePermissions(dir)).isEqualTo(PosixFilePermissions.fromString("rwx------"));
        assertThat(Files.getPosixFilePermissions(dir.resolve(NodeState.FILE)))
                .isEqualTo(PosixFilePermissions.fromString("rw-------"));
        assertThat(dir.resolve(NodeState.FILE + ".tmp")).doesNotExist();
        State back = NodeState.load(dir);
        assertThat(back.mode).isEqualTo(RedirectMode.iptables);
        assertThat(back.workloads).containsExactly(a, b);
        assertThat(back.nextId).isEqualTo(s.nextId);
    }

    @Test
    void aFileReadAgainIsNotParsedAgainYetEveryReaderGetsItsOwnCopyAndASaveIsSeen() throws Exception {
        State s = new State();
        s.mode = RedirectMode.ebpf;
        s.put(w("a"));
        NodeState.save(dir, s);
        long parses = NodeState.parses();
        State first = NodeState.load(dir);
        first.put(w("b")); // a reader's change is its own until it saves
        first.attachments.put("a", new java.util.ArrayList<>());
        State second = NodeState.load(dir);
        assertThat(NodeState.parses()).isEqualTo(parses + 1); // the second read was not parsed
        assertThat(second).isNotSameAs(first);
        assertThat(second.workloads).extracting(Workload::name).containsExactly("a");
        assertThat(second.attachments).isEmpty();
        // a save is a new file: read afresh
        NodeState.save(dir, first);
        assertThat(NodeState.load(dir).workloads).extracting(Workload::name).containsExactly("a", "b");
        assertThat(NodeState.parses()).isEqualTo(parses + 2);
        // so is a file written in place, even of the same length
        String json = Files.readString(dir.resolve(NodeState.FILE)).replace("\"ebpf\"", "\"none\"");
        Files.writeString(dir.resolve(NodeState.FILE), json);
        assertThat(NodeState.load(dir).mode).isEqualTo(RedirectMode.none);
    }

    @Test
    void aPrefetchedFileIsParsedOnceAndTheLoadStillChecksItAndGetsItsOwnCopy() throws Exception {
        State s = new State();
        s.mode = RedirectMode.ebpf;
        s.put(w("a"));
        NodeState.save(dir, s);
        Path f = dir.resolve(NodeState.FILE);
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
        long parses = NodeState.parses();
        NodeState.prefetch(dir);
        assertThat(NodeState.parses()).isEqualTo(parses + 1);
        State loaded = NodeState.load(dir);
        assertThat(NodeState.parses()).isEqualTo(parses + 1); // found parsed
        assertThat(loaded.workloads).extracting(Workload::name).containsExactly("a");
        // the load's checks ran all the same: the file's mode was tightened
        assertThat(Files.getPosixFilePermissions(f)).isEqualTo(PosixFilePermissions.fromString("rw-------"));
        loaded.put(w("b"));
        assertThat(NodeState.load(dir).workloads).extracting(Workload::name).containsExactly("a");
        // a corrupt file: the prefetch keeps quiet, the load refuses it
        Files.writeString(f, "{not json");
        NodeState.prefetch(dir);
        assertThatThrownBy(() -> NodeState.load(dir)).hasMessageContaining("corrupt");
        // no file, or not a regular one: nothing prefetched, nothing thrown
        Files.delete(f);
        NodeState.prefetch(dir);
        Files.createDirectory(f);
        NodeState.prefetch(dir);
        Files.delete(f);
    }

    @Test
    void aCopyHasEveryFieldAndSharesNoCollection() throws Exception {
        State s = new State();
        // every field set to other than a new State's: a field added later and not copied fails here
        s.version = 9;
        s.mode = RedirectMode.nftables;
        s.layout = 5;
        s.upgradedFrom = 1;
        s.ztunnel = new Ztunnel("zt", null, "zt", List.of("10.0.0.2"), "eth0", 2, "02:00:00:00:00:02", "vzt", 3,
                "02:00:00:00:00:03");
        s.dnsCapture = true;
        s.failOpen = true;
        s.markBit = 0x4000;
        s.put(w("a"));
        s.attachments.put("a", new java.util.ArrayList<>(List.of(new Hook("a", null))));
        State fresh = new State();
        for (java.lang.reflect.Field f : State.class.getFields()) {
            if (!java.lang.reflect.Modifier.isStatic(f.getModifiers())) {
                assertThat(f.get(s)).as(f.getName()).isNotEqualTo(f.get(fresh));
            }
        }
        State c = s.copy();
        assertThat((Object) io.ambientctl.util.Json.MAPPER.valueToTree(c))
                .isEqualTo(io.ambientctl.util.Json.MAPPER.valueToTree(s));
        c.workloads.clear();
        c.attachments.get("a").clear();
        assertThat(s.workloads).hasSize(1);
        assertThat(s.attachments.get("a")).hasSize(1);
    }

    @Test
    void aStateFileEditedToHoldWhatNoModeCanUseIsRefusedWhenReadNotHalfWayThroughAChange() throws Exception {
        State s = new State();
        s.mode = RedirectMode.ebpf;
        s.put(w("a"));
        s.put(w("b"));
        NodeState.save(dir, s);
        Path f = dir.resolve(NodeState.FILE);
        String good = Files.readString(f);
        assertThat(NodeState.load(dir).workloads).hasSize(2);
        String[][] edits = {
            {"\"10.0.0.1\"", "\"10.0.0.300\"", "workload a: not an IP address: '10.0.0.300'"},
            {"\"10.0.0.1\"", "\"pod.example\"", "not an IP address: 'pod.example'"},
            {"\"02:00:00:00:00:01\"", "\"02:00:zz:00:00:01\"", "workload a:"},
            {"\"02:00:00:00:00:07\"", "\"02:00\"", "invalid MAC address '02:00'"},
            {"\"netns\" : \"a\"", "\"netns\" : \"../etc\"", "invalid network namespace name '../etc'"},
            {"\"hostIfindex\" : 7", "\"hostIfindex\" : 0", "host interface index 0"},
            {"\"netns\" : \"b\"", "\"netns\" : \"a\"", "workload a is recorded twice"},
        };
        for (String[] e : edits) {
            String edited = good.replaceFirst(java.util.regex.Pattern.quote(e[0]),
                    java.util.regex.Matcher.quoteReplacement(e[1]));
            assertThat(edited).as(e[0]).isNotEqualTo(good);
            Files.writeString(f, edited);
            assertThatThrownBy(() -> NodeState.load(dir)).as(e[1]).hasMessageContaining("is corrupt")
                    .hasMessageContaining(e[2]).hasMessageContaining("repair --adopt");
        }
        Files.writeString(f, good);
        assertThat(NodeState.load(dir).workloads).hasSize(2);
    }

    @Test
    void aCorruptOrForeignStateFileIsRefused() throws Exception {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(NodeState.FILE), "{not json");
        assertThatThrownBy(() -> NodeState.load(dir)).hasMessageContaining("corrupt").hasMessageContaining("repair");
        Files.writeString(dir.resolve(NodeState.FILE), "{\"version\": 99}");
        assertThatThrownBy(() -> NodeState.load(dir)).hasMessageContaining("version 99");
    }

    @Test
    void aVersion1StateIsMigratedForwardAndANewerOneIsRefusedWithTheWayBack() throws Exception {
        Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        // as release v0.1.0 writes it (state version 1: no layout field)
        Files.writeString(dir.resolve(NodeState.FILE), "{\"version\": 1, \"mode\": \"ebpf\", \"dnsCapture\": true, "
                + "\"failOpen\": false, \"nextId\": 3, \"workloads\": [], \"attachments\": {}}");
        State s = NodeState.load(dir);
        assertThat(s.version).isEqualTo(State.VERSION).isEqualTo(2);
        assertThat(s.layout).as("v0.1.0 installs layout 1").isEqualTo(1);
        assertThat(s.upgradedFrom).isNull();
        assertThat(s.mode).isEqualTo(RedirectMode.ebpf);
        assertThat(s.dnsCapture).isTrue();
        assertThat(s.nextId).isEqualTo(3);
        assertThat(Files.readString(dir.resolve(NodeState.FILE))).as("reading writes nothing").contains("\"version\": 1");
        Files.writeString(dir.resolve(NodeState.FILE), "{\"version\": 1, \"mode\": \"none\"}");
        assertThat(NodeState.load(dir).layout).as("nothing installed").isZero();

        // written by a newer ambientctl: refused, with what to do
        Files.writeString(dir.resolve(NodeState.FILE), "{\"version\": 3, \"mode\": \"ebpf\", \"layout\": 3}");
        assertThatThrownBy(() -> NodeState.load(dir)).hasMessageContaining("version 3")
                .hasMessageContaining("newer ambientctl").hasMessageContaining("downgrading in place is refused")
                .hasMessageContaining("reinstall the newer ambientctl").hasMessageContaining("uninstall --force");
        Files.writeString(dir.resolve(NodeState.FILE), "{\"version\": 2, \"mode\": \"ebpf\", \"layout\": 3}");
        assertThatThrownBy(() -> NodeState.load(dir)).hasMessageContaining("layout 3")
                .hasMessageContaining("downgrading in place is refused");
        Files.writeString(dir.resolve(NodeState.FILE), "{\"mode\": \"ebpf\"}");
        assertThatThrownBy(() -> NodeState.load(dir)).hasMessageContaining("no version");

        // this version's round trip keeps the layout and where it was upgraded from
        State now = new State();
        now.mode = RedirectMode.nftables;
        now.layout = State.LAYOUT;
        now.upgradedFrom = 1;
        NodeState.save(dir, now);
        State back = NodeState.load(dir);
        assertThat(back.layout).isEqualTo(State.LAYOUT);
        assertThat(back.upgradedFrom).isEqualTo(1);
    }

    @Test
    void theLockIsExclusiveAndWaitable() throws Exception {
        try (var held = NodeState.lock(dir, Duration.ZERO)) {
            assertThatThrownBy(() -> NodeState.lock(dir, Duration.ofMillis(100)))
                    .isInstanceOfSatisfying(ExitCodeException.class, e -> assertThat(e.exitCode()).isEqualTo(5));
        }
        try (var again = NodeState.lock(dir, Duration.ZERO)) {
            assertThat(again).isNotNull();
        }
    }

    private static String mode(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void plantedLinksInTheStateDirectoryAreNeverWrittenThroughNorRead() throws Exception {
        Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Path outside = Files.createTempDirectory("victim");
        try {
            Path victimState = Files.writeString(outside.resolve("state-victim"), "precious\n");
            Path victimJournal = Files.writeString(outside.resolve("journal-victim"), "precious\n");
            Path victimLock = outside.resolve("lock-victim"); // does not exist: must not be created
            Path secret = Files.writeString(outside.resolve("secret"), "root's secret\n");
            Files.createSymbolicLink(dir.resolve(NodeState.FILE + ".tmp"), victimState);
            Files.createSymbolicLink(dir.resolve(NodeState.JOURNAL + ".tmp"), victimJournal);
            Files.createSymbolicLink(dir.resolve(NodeState.LOCK), victimLock);

            State s = new State();
            s.put(w("a"));
            NodeState.save(dir, s);
            NodeState.beginJournal(dir, "enroll");
            assertThat(Files.readString(victimState)).isEqualTo("precious\n");
            assertThat(Files.readString(victimJournal)).isEqualTo("precious\n");
            assertThat(NodeState.load(dir).workloads).hasSize(1);
            assertThat(Files.isSymbolicLink(dir.resolve(NodeState.FILE))).isFalse();
            assertThat(mode(dir.resolve(NodeState.FILE))).isEqualTo("rw-------");
            assertThat(NodeState.journal(dir).orElseThrow()).startsWith("enroll pid ");

            assertThatThrownBy(() -> NodeState.lock(dir, Duration.ZERO)).hasMessageContaining("lock")
                    .hasMessageContaining("symbolic link");
            assertThat(victimLock).doesNotExist();

            // a journal that is a link to another file: never read (status would print the target)
            Files.delete(dir.resolve(NodeState.JOURNAL));
            Files.createSymbolicLink(dir.resolve(NodeState.JOURNAL), secret);
            assertThat(NodeState.journal(dir).orElseThrow()).doesNotContain("secret").contains("symbolic link");
            NodeState.endJournal(dir);
            assertThat(secret).exists();

            // a state file that is a link: refused, not read
            Files.delete(dir.resolve(NodeState.FILE));
            Files.createSymbolicLink(dir.resolve(NodeState.FILE), secret);
            assertThatThrownBy(() -> NodeState.load(dir)).hasMessageContaining("symbolic link")
                    .hasMessageNotContaining("root's secret");
        } finally {
            Kernel.removeTree(outside);
        }
    }

    @Test
    void aLooseStateDirectoryIsTightenedAForeignOrLinkedOneRefused() throws Exception {
        Kernel.requireThat("root (to give a directory to another user)", "root".equals(System.getProperty("user.name")));
        List<String> notes = new java.util.ArrayList<>();
        NodeState.noteTo(notes::add);
        try {
            // as a DaemonSet's DirectoryOrCreate hostPath makes it
            Files.createDirectories(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
            NodeState.save(dir, new State());
            assertThat(mode(dir)).isEqualTo("rwx------");
            assertThat(notes).anySatisfy(n -> assertThat(n).contains(dir.toString()).contains("0755")
                    .contains("tightened to 0700"));

            // never chmod a directory that is not ambientctl's own (--state-dir /var/lib, /tmp)
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.writeString(dir.resolve("someone-elses.conf"), "x");
            assertThatThrownBy(() -> NodeState.load(dir)).hasMessageContaining("someone-elses.conf")
                    .hasMessageContaining("refusing to change its mode");
            assertThat(mode(dir)).isEqualTo("rwxr-xr-x");
            Files.delete(dir.resolve("someone-elses.conf"));
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
            assertThatThrownBy(() -> NodeState.lock(dir, Duration.ZERO)).hasMessageContaining("writable by others");
            assertThat(mode(dir)).isEqualTo("rwxrwxrwx");
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));

            Files.setAttribute(dir, "unix:uid", 65534);
            assertThatThrownBy(() -> NodeState.load(dir)).hasMessageContaining("owned by uid 65534")
                    .hasMessageContaining("chown");
            assertThatThrownBy(() -> NodeState.lock(dir, Duration.ZERO)).hasMessageContaining("owned by uid 65534");
            Files.setAttribute(dir, "unix:uid", 0);

            Path link = dir.getParent().resolve("linked");
            Files.createSymbolicLink(link, dir);
            assertThatThrownBy(() -> NodeState.lock(link, Duration.ZERO)).hasMessageContaining("symbolic link")
                    .hasMessageContaining("--state-dir");
            assertThatThrownBy(() -> NodeState.load(link)).hasMessageContaining("symbolic link");
        } finally {
            NodeState.noteTo(null);
        }
    }

    @Test
    void aJournalIsInProgressWhileItsOperationHoldsTheLockElseInterrupted() throws Exception {
        assertThat(NodeState.journalStatus(dir).state()).isEqualTo(NodeState.JournalState.NONE);
        Process holder = io.ambientctl.testing.LockHolder.start(dir, "mode set");
        try {
            NodeState.JournalStatus js = NodeState.journalStatus(dir);
            assertThat(js.state()).isEqualTo(NodeState.JournalState.IN_PROGRESS);
            assertThat(js.text()).isEqualTo("mode set pid " + holder.pid() + ", since "
                    + NodeState.journal(dir).orElseThrow().replaceFirst(".* at ", ""));
            // the probe holds nothing: the holder still has it, and another taker is refused
            assertThatThrownBy(() -> NodeState.lock(dir, Duration.ZERO)).isInstanceOf(ExitCodeException.class);
        } finally {
            holder.destroy();
            holder.waitFor();
        }
        assertThat(NodeState.journalStatus(dir).state()).isEqualTo(NodeState.JournalState.INTERRUPTED);
        try (var held = NodeState.lock(dir, Duration.ZERO)) { // this JVM: probed without opening the file
            assertThat(NodeState.journalStatus(dir).state()).isEqualTo(NodeState.JournalState.IN_PROGRESS);
            assertThat(NodeState.lockHeld(dir)).isTrue();
        }
        assertThat(NodeState.lockHeld(dir)).isFalse();
    }
}
