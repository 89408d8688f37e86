package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
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
    void aCorruptOrForeignStateFileIsRefused() throws Exception {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(NodeState.FILE), "{not json");
        assertThatThrownBy(() -> NodeState.load(dir)).hasMessageContaining("corrupt").hasMessageContaining("repair");
        Files.writeString(dir.resolve(NodeState.FILE), "{\"version\": 99}");
        assertThatThrownBy(() -> NodeState.load(dir)).hasMessageContaining("version 99");
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
}
