package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.inspect.Inspector;
import io.ambientctl.lab.Lab;
import io.ambientctl.redirect.ebpf.Datapath;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.LabFixture;

/** status, inspect and dry runs only read: no lock, no object loaded through the verifier, no pin created. */
class ReadingOnlyReadsKernelTest {
    private LabFixture f;
    private Lab.Pod a;

    @BeforeEach
    void setUp() throws Exception {
        f = new LabFixture(2, null);
        a = f.pod(1);
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        f.node.enroll(List.of(a.netns()), false);
    }

    @AfterEach
    void tearDown() {
        if (f != null) {
            f.close();
        }
    }

    @Test
    void statusRunsWhileAnotherCommandHoldsTheLock() throws Exception {
        try (NodeState.Lock held = NodeState.lock(f.stateDir, Duration.ZERO)) {
            Node.Status s = f.node.status();
            assertThat(s.verified()).isTrue();
            assertThat(s.workloads()).hasSize(1);
            assertThat(new Inspector(f.config).maps(null, false)).isNotEmpty();
        }
    }

    /** Every path under the bpffs directory (pins and their directories), sorted. */
    private List<String> pins() throws java.io.IOException {
        try (var s = Files.walk(f.bpffs)) {
            return s.map(Path::toString).sorted().toList();
        }
    }

    @Test
    void everyReadingCommandRunsUnderAnotherCommandsLockLoadsNoObjectAndCreatesNoPin() throws Exception {
        List<String> before = pins();
        long loads = Datapath.objectLoads();
        try (NodeState.Lock held = NodeState.lock(f.stateDir, Duration.ZERO)) {
            Node reader = new Node(f.config); // a fresh one, as each command makes: nothing cached from the setup
            Inspector inspector = new Inspector(f.config);
            // status and mode show
            assertThat(reader.status().verified()).isTrue();
            // ztunnel show
            assertThat(reader.recorded().ztunnel).isNotNull();
            // inspect programs, maps (decoded and raw), pod
            assertThat(inspector.programs(false)).isNotEmpty();
            assertThat(inspector.maps(null, false)).isNotEmpty();
            assertThat(inspector.maps(null, true)).isNotEmpty();
            assertThat(inspector.workload(a.netns().display())).isNotEmpty();
            assertThat(reader.describe(reader.recorded().workload(a.netns().display()).orElseThrow())).isNotEmpty();
        }
        assertThat(Datapath.objectLoads()).as("objects loaded through the verifier").isEqualTo(loads);
        assertThat(pins()).as("pins").isEqualTo(before);
    }

    @Test
    void statusReportsMissingPinsInsteadOfLoadingAndPinningAgain() throws Exception {
        Path progs = Datapath.progsDir(f.bpffs);
        try (var s = Files.list(progs)) {
            for (Path p : s.toList()) {
                Files.delete(p); // the programs stay attached; only their pins go
            }
        }
        Files.delete(progs);
        Node.Status s = f.node.status();
        assertThat(s.verified()).isFalse();
        assertThat(String.join("; ", s.nodeProblems())).contains("not pinned");
        assertThat(s.workloads().get(0).verification().problems()).anyMatch(p -> p.contains("not pinned"));
        assertThat(new Node(f.config).enroll(List.of(a.netns()), true)).isNotEmpty(); // a dry run reads too
        assertThat(new Node(f.config).repair(true)).isNotEmpty();
        assertThat(progs).as("no pin re-created by a reading command").doesNotExist();
        // a changing command puts them back
        f.node.repair(false);
        assertThat(progs).isDirectory();
        assertThat(f.node.status().verified()).isTrue();
    }

    @Test
    void statusOnANodeWithNothingCreatesNothing() throws Exception {
        Path fresh = Kernel.bpffsDir("actest-ro");
        Path state = Files.createTempDirectory("ambientctl-ro");
        try {
            Files.delete(fresh);
            NodeConfig cfg = new NodeConfig(fresh, state, f.lab.node());
            Node.Status s = new Node(cfg).status();
            assertThat(s.mode()).isEqualTo(RedirectMode.none);
            assertThat(new Inspector(cfg).programs(false)).isNotNull();
            assertThat(fresh).doesNotExist();
        } finally {
            Kernel.removeTree(fresh);
            Kernel.removeTree(state);
        }
    }
}
