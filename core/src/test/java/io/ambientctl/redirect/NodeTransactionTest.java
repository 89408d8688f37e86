package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.net.NetNs;
import io.ambientctl.testing.Kernel;

/**
 * Node as a transaction, without a kernel: a fake {@link Redirector} per mode keeps what is "installed"
 * and fails on a chosen call. After any failure the state file and the fake kernel agree: every
 * recorded workload is installed in the recorded mode, nothing else is installed anywhere.
 */
class NodeTransactionTest {
    private Path dir;
    private final Map<RedirectMode, FakeKernel> kernels = new EnumMap<>(RedirectMode.class);
    private int calls;
    private int failAt = -1;
    private int failRollbackFrom = -1; // from this call on, every call fails (a rollback that fails too)

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("node-tx");
        for (RedirectMode m : List.of(RedirectMode.ebpf, RedirectMode.iptables)) {
            kernels.put(m, new FakeKernel());
        }
    }

    @AfterEach
    void tearDown() {
        Kernel.removeTree(dir);
    }

    /** What a mode has "in the kernel". */
    static final class FakeKernel {
        final Set<String> enrolled = new LinkedHashSet<>();
        boolean ztunnel;
        boolean objects;
    }

    private void step(String what) {
        calls++;
        if (calls == failAt || (failRollbackFrom > 0 && calls >= failRollbackFrom)) {
            throw new IllegalStateException("injected failure at call " + calls + " (" + what + ")");
        }
    }

    private final class Fake implements Redirector {
        final RedirectMode mode;
        final FakeKernel k;

        Fake(RedirectMode mode) {
            this.mode = mode == RedirectMode.none ? RedirectMode.ebpf : mode;
            this.k = kernels.get(this.mode);
        }

        @Override
        public RedirectMode mode() {
            return mode;
        }

        @Override
        public void installZtunnel(Ztunnel zt, DatapathOptions options) {
            step("installZtunnel");
            k.ztunnel = true;
            k.objects = true;
        }

        @Override
        public void uninstallZtunnel(Ztunnel zt, DatapathOptions options) {
            step("uninstallZtunnel");
            k.ztunnel = false;
        }

        @Override
        public void applyOptions(DatapathOptions options) {
            step("applyOptions");
            k.objects = true;
        }

        @Override
        public void enroll(List<Workload> batch) {
            // a mode's batch is all or nothing: a failure in its middle undoes its first half
            List<String> done = new ArrayList<>();
            try {
                for (Workload w : batch) {
                    step("enroll " + w.key());
                    if (k.enrolled.add(w.key())) {
                        done.add(w.key());
                    }
                    k.objects = true;
                }
            } catch (RuntimeException e) {
                done.forEach(k.enrolled::remove);
                throw e;
            }
        }

        @Override
        public void unenroll(List<Workload> batch) {
            if (batch.isEmpty()) {
                return;
            }
            step("unenroll");
            batch.forEach(w -> k.enrolled.remove(w.key()));
        }

        @Override
        public List<Verification> verifyAll(List<Workload> ws) {
            return ws.stream().map(w -> Verification.of(k.enrolled.contains(w.key()) ? List.of()
                    : List.of(w.key() + " not installed"))).toList();
        }

        @Override
        public List<String> verifyNode() {
            return List.of();
        }

        @Override
        public List<String> reconcile(boolean dryRun) {
            return List.of();
        }

        @Override
        public boolean present() {
            return k.objects || !k.enrolled.isEmpty();
        }

        @Override
        public void uninstall() {
            step("uninstall " + mode);
            k.enrolled.clear();
            k.ztunnel = false;
            k.objects = false;
        }

        @Override
        public Map<String, Object> describe(Workload w) {
            return Map.of();
        }

        @Override
        public void close() {
        }
    }

    private Node node() {
        Node.Modes modes = new Node.Modes() {
            @Override
            public Redirector open(RedirectMode mode, NodeConfig cfg, State state, AttachKind attachKind) {
                return new Fake(mode);
            }

            @Override
            public Redirector reader(RedirectMode mode, NodeConfig cfg, State state) {
                return new Fake(mode);
            }

            @Override
            public List<RedirectMode> all() {
                return List.of(RedirectMode.ebpf, RedirectMode.iptables);
            }

            @Override
            public Workload rediscover(NodeConfig cfg, Workload w) {
                return w; // the fake workloads' plumbing never changes
            }
        };
        return new Node(new NodeConfig(Path.of("/sys/fs/bpf/ambientctl-fake"), dir, NetNs.self()), Duration.ZERO,
                null, modes);
    }

    /** Workloads in namespaces that do not exist: the fake never looks. */
    private static List<Workload> workloads(int n) {
        List<Workload> ws = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            ws.add(new Workload("fake-p" + i, null, null, "fake-p" + i, List.of("10.9.0." + i), "eth0", 2,
                    "02:00:00:00:00:01", "veth" + i, 100 + i, "02:00:00:00:01:0" + i, 0, "cookie:" + i));
        }
        return ws;
    }

    /** The invariant: the state's workloads are installed in its mode and nothing else is installed. */
    private void assertConsistent() {
        State s = NodeState.load(dir);
        Set<String> keys = new LinkedHashSet<>();
        s.workloads.forEach(w -> keys.add(w.key()));
        for (var e : kernels.entrySet()) {
            if (e.getKey() == s.mode || (s.mode == RedirectMode.none && e.getKey() == RedirectMode.ebpf)) {
                assertThat(e.getValue().enrolled).as("installed in " + e.getKey()).isEqualTo(keys);
            } else {
                assertThat(e.getValue().enrolled).as("leftovers in " + e.getKey()).isEmpty();
            }
        }
    }

    /** Runs {@code op} failing at every call in turn; after each, state and fake kernel agree. */
    private void failingAtEveryCall(Consumer<Node> setup, Consumer<Node> op) throws Exception {
        int total;
        {
            reset();
            setup.accept(node());
            int before = calls;
            op.accept(node());
            total = calls - before;
            assertConsistent();
        }
        assertThat(total).as("calls of the operation").isPositive();
        int thrown = 0;
        for (int k = 1; k <= total; k++) {
            reset();
            setup.accept(node());
            failAt = calls + k;
            int at = k;
            try {
                op.accept(node());
                // the operation was done when the failure came (removing a switched-from mode): it said so, and
                // what is left of the old mode is a leftover that repair removes
                failAt = -1;
                node().repair(false);
            } catch (IllegalStateException e) {
                assertThat(e).as("failing at call " + at).hasMessageContaining("injected failure");
                thrown++;
                failAt = -1;
            }
            assertThat(NodeState.journal(dir)).as("journal after a rolled-back failure at call " + at).isEmpty();
            assertConsistent();
        }
        assertThat(thrown).as("failures that failed the operation").isPositive();
    }

    private void reset() throws Exception {
        Kernel.removeTree(dir);
        Files.createDirectories(dir);
        kernels.values().forEach(k -> {
            k.enrolled.clear();
            k.ztunnel = false;
            k.objects = false;
        });
        calls = 0;
        failAt = -1;
        failRollbackFrom = -1;
    }

    @Test
    void enrollIsOneBatchAndAllOrNothingAtEveryCall() throws Exception {
        failingAtEveryCall(n -> n.enrollWorkloads(workloads(2), false), n -> n.enrollWorkloads(workloads(5), false));
    }

    @Test
    void modeSwitchRollsBackAtEveryCall() throws Exception {
        failingAtEveryCall(n -> n.enrollWorkloads(workloads(3), false), n -> n.modeSet(RedirectMode.iptables, false));
        // and the way back
        failingAtEveryCall(n -> {
            n.enrollWorkloads(workloads(3), false);
            n.modeSet(RedirectMode.iptables, false);
        }, n -> n.modeSet(RedirectMode.ebpf, false));
    }

    @Test
    void unenrollAtEveryCall() throws Exception {
        failingAtEveryCall(n -> n.enrollWorkloads(workloads(4), false),
                n -> n.unenrollTargets(List.of(), true, false));
    }

    @Test
    void aSecondNameForTheSameNamespaceIsAlreadyEnrolledNotASecondWorkload() {
        Node n = node();
        Workload a = workloads(1).get(0);
        n.enrollWorkloads(List.of(a), false);
        Workload alias = new Workload("/proc/1/ns/net", null, null, "/proc/1/ns/net", a.ips(), a.podInterface(),
                a.podIfindex(), a.podMac(), a.hostInterface(), a.hostIfindex(), a.hostMac(), 0, a.netnsId());
        List<Node.Outcome> out = n.enrollWorkloads(List.of(alias), false);
        assertThat(out).extracting(Node.Outcome::action).containsExactly("already-enrolled");
        assertThat(out.get(0).workload().key()).isEqualTo("fake-p1");
        assertThat(NodeState.load(dir).workloads).extracting(Workload::key).containsExactly("fake-p1");
        assertThat(kernels.get(RedirectMode.ebpf).enrolled).containsExactly("fake-p1");
    }

    @Test
    void aFailedRollbackLeavesTheJournalAndRepairSaysItFinishedIt() {
        Node n = node();
        n.enrollWorkloads(workloads(2), false);
        failRollbackFrom = calls + 2; // the batch fails in its middle, and so does everything after
        assertThatThrownBy(() -> n.enrollWorkloads(workloads(4), false)).hasMessageContaining("injected failure");
        failRollbackFrom = -1;
        assertThat(NodeState.journal(dir)).isPresent();
        List<String> did = node().repair(false);
        assertThat(did.get(0)).startsWith("finished the interrupted operation (enroll");
        assertThat(NodeState.journal(dir)).isEmpty();
    }

    @Test
    void dryRunsChangeNothing() {
        Node n = node();
        n.enrollWorkloads(workloads(2), false);
        int before = calls;
        assertThat(n.enrollWorkloads(workloads(3), true)).extracting(Node.Outcome::action)
                .containsExactly("already-enrolled", "already-enrolled", "would-enroll");
        assertThat(n.modeSet(RedirectMode.iptables, true).changed()).isTrue();
        assertThat(n.unenrollTargets(List.of(), true, true)).hasSize(2);
        assertThat(calls).isEqualTo(before);
        assertThat(NodeState.load(dir).mode).isEqualTo(RedirectMode.ebpf);
        assertConsistent();
    }
}
