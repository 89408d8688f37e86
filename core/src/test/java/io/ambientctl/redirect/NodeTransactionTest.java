package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
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
 * recorded workload (and ztunnel, and the datapath options) is installed in the recorded mode, nothing else is
 * installed anywhere; a transaction leaves them wholly as before or wholly as after, and the next run converges.
 */
class NodeTransactionTest {
    private Path dir;
    private final Map<RedirectMode, FakeKernel> kernels = new EnumMap<>(RedirectMode.class);
    private int calls;
    private int failAt = -1;
    private int failRollbackFrom = -1; // from this call on, every call fails (a rollback that fails too)
    private final Set<String> vanished = new HashSet<>(); // workloads whose namespace is gone (rediscover: null)
    private final Set<String> replumbed = new HashSet<>(); // workloads whose veth is another now (a restart)
    private final Set<String> routing = new LinkedHashSet<>(); // namespaces with ztunnel's policy routing (display)

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("node-tx");
        for (RedirectMode m : MODES) {
            kernels.put(m, new FakeKernel());
        }
    }

    @AfterEach
    void tearDown() {
        Kernel.removeTree(dir);
    }

    private static final List<RedirectMode> MODES = List.of(RedirectMode.ebpf, RedirectMode.iptables,
            RedirectMode.nftables);

    /** What a mode has "in the kernel". */
    static final class FakeKernel {
        final Set<String> enrolled = new LinkedHashSet<>();
        String ztunnel; // the netns of the ztunnel whose side is installed
        DatapathOptions options; // as the mode's objects apply them (null: never applied)
        boolean objects;
        boolean broken; // a node-wide object is missing (verifyNode says so; installZtunnel, applyOptions fix it)

        void clear() {
            enrolled.clear();
            ztunnel = null;
            options = null;
            objects = false;
            broken = false;
        }

        @Override
        public String toString() {
            return "enrolled=" + new java.util.TreeSet<>(enrolled) + " ztunnel=" + ztunnel + " options=" + options + " present="
                    + (objects || !enrolled.isEmpty() || ztunnel != null);
        }
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
        final State state; // Node's, as the real modes get it (what reconcile keeps and verifyNode checks against)

        Fake(RedirectMode mode, State state) {
            this.mode = mode == RedirectMode.none ? RedirectMode.ebpf : mode;
            this.k = kernels.get(this.mode);
            this.state = state;
        }

        @Override
        public RedirectMode mode() {
            return mode;
        }

        @Override
        public void installZtunnel(Ztunnel zt, DatapathOptions options) {
            step("installZtunnel " + zt.netns());
            routing.add(NetNs.parse(zt.netns()).display()); // as every mode ensures it
            k.ztunnel = zt.netns();
            k.options = options;
            k.objects = true;
            k.broken = false;
        }

        @Override
        public void uninstallZtunnel(Ztunnel zt, DatapathOptions options) {
            step("uninstallZtunnel");
            k.ztunnel = null;
            k.options = options;
        }

        @Override
        public void applyOptions(DatapathOptions options) {
            step("applyOptions");
            k.options = options;
            k.objects = true;
            k.broken = false;
        }

        @Override
        public void refreshNodeAddresses() {
            step("refreshNodeAddresses");
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
            List<String> problems = new ArrayList<>();
            if (k.broken) {
                problems.add("a node-wide object is missing");
            }
            if (state != null && state.ztunnel != null && !state.ztunnel.netns().equals(k.ztunnel)) {
                problems.add("ztunnel's side is not installed");
            }
            return problems;
        }

        /** Removes what the state does not account for: workloads' entries, another ztunnel's side. */
        @Override
        public List<String> reconcile(boolean dryRun) {
            Set<String> keys = new HashSet<>();
            state.workloads.forEach(w -> keys.add(w.key()));
            List<String> extra = k.enrolled.stream().filter(x -> !keys.contains(x)).toList();
            boolean zt = k.ztunnel != null && (state.ztunnel == null || !state.ztunnel.netns().equals(k.ztunnel));
            if (extra.isEmpty() && !zt) {
                return List.of();
            }
            List<String> did = new ArrayList<>();
            extra.forEach(x -> did.add("remove " + x));
            if (zt) {
                did.add("remove ztunnel's side in " + k.ztunnel);
            }
            if (!dryRun) {
                step("reconcile");
                extra.forEach(k.enrolled::remove);
                if (zt) {
                    k.ztunnel = null;
                }
            }
            return did;
        }

        @Override
        public boolean present() {
            return k.objects || !k.enrolled.isEmpty() || k.ztunnel != null;
        }

        /** What the fake kernel holds (the addresses do not matter to Node before --adopt's discovery). */
        @Override
        public Adoptable adoptable() {
            return new Adoptable(k.enrolled.stream().map(x -> new Found(0, 0,
                    List.of(java.net.InetAddress.getLoopbackAddress()))).toList(), 0, null);
        }

        @Override
        public void uninstall() {
            step("uninstall " + mode);
            k.clear();
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
                return new Fake(mode, state);
            }

            @Override
            public Redirector reader(RedirectMode mode, NodeConfig cfg, State state) {
                return new Fake(mode, state);
            }

            @Override
            public List<RedirectMode> all() {
                return MODES;
            }

            @Override
            public boolean traces(NodeConfig cfg) {
                return kernels.values().stream().anyMatch(k -> k.objects || !k.enrolled.isEmpty() || k.ztunnel != null);
            }

            @Override
            public void removeZtunnelRouting(NetNs ns) {
                step("removeZtunnelRouting " + ns.display()); // never the kernel's: the fake's namespaces are not
                routing.remove(ns.display());
            }

            @Override
            public Workload rediscover(NodeConfig cfg, Workload w) {
                // the fake workloads' plumbing changes only where a test says so
                if (vanished.contains(w.key())) {
                    return null;
                }
                return replumbed.contains(w.key()) ? replumb(w) : w;
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

    /** The same workload on a new veth (its Pod restarted in the same namespace). */
    private static Workload replumb(Workload w) {
        return w.hostInterface().startsWith("new-") ? w : new Workload(w.name(), w.namespace(), w.uid(), w.netns(),
                w.ips(), w.podInterface(), w.podIfindex(), w.podMac(), "new-" + w.hostInterface(), w.hostIfindex() + 100,
                w.hostMac(), w.id(), w.netnsId());
    }

    /**
     * Namespaces for ztunnel that exist (so that Node takes a failure to remove their routing as one, not as the
     * namespace gone meanwhile): paths of this process's own; nothing enters them, the fake removes their routing.
     */
    private static final String ZT1 = "/proc/" + ProcessHandle.current().pid() + "/ns/net";
    private static final String ZT2 = "/proc/" + ProcessHandle.current().pid() + "/task/" + ProcessHandle.current().pid()
            + "/ns/net";

    /** ztunnel's workload in {@code netns}. */
    private static Workload ztunnel(String netns) {
        return new Workload(netns, null, null, netns, List.of("10.9.1.1"), "eth0", 2, "02:00:00:00:00:02", "vzt"
                + Math.abs(netns.hashCode() % 1000), 90, "02:00:00:00:02:01", 0, "zt:" + netns);
    }

    /**
     * The invariant: the state's workloads, ztunnel and options are installed in its mode and no workload or
     * ztunnel is installed in another.
     */
    private void assertConsistent() {
        State s = NodeState.load(dir);
        Set<String> keys = new LinkedHashSet<>();
        s.workloads.forEach(w -> keys.add(w.key()));
        for (var e : kernels.entrySet()) {
            FakeKernel k = e.getValue();
            if (e.getKey() == s.mode || (s.mode == RedirectMode.none && e.getKey() == RedirectMode.ebpf)) {
                assertThat(k.enrolled).as("installed in " + e.getKey()).isEqualTo(keys);
                assertThat(k.ztunnel).as("ztunnel's side in " + e.getKey())
                        .isEqualTo(s.ztunnel == null ? null : s.ztunnel.netns());
                if (s.ztunnel != null) {
                    assertThat(routing).as("ztunnel's routing").contains(NetNs.parse(s.ztunnel.netns()).display());
                }
                if (s.mode != RedirectMode.none && k.options != null) {
                    assertThat(k.options).as("options in " + e.getKey()).isEqualTo(s.options());
                }
            } else {
                assertThat(k.enrolled).as("leftovers in " + e.getKey()).isEmpty();
                assertThat(k.ztunnel).as("ztunnel's side left in " + e.getKey()).isNull();
            }
        }
    }

    /** The state file (what of it the operations change) and every mode's fake kernel, to compare wholly. */
    private String snapshot() {
        State s = NodeState.load(dir);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("mode", s.mode);
        m.put("workloads", s.workloads.stream().map(w -> w.key() + "@" + w.hostInterface()).toList());
        m.put("ztunnel", s.ztunnel == null ? null : s.ztunnel.netns());
        m.put("options", s.options());
        m.put("ztunnel routing", List.copyOf(routing));
        kernels.forEach((mode, k) -> m.put(mode.name(), k.toString()));
        return m.toString();
    }

    /**
     * Runs {@code op} (a transaction) failing at every Redirector call it makes, in turn. After each failure: the
     * journal is cleared (the operation rolled back), the state file and the fake kernel agree and are wholly as
     * before the operation or wholly as after it; a failure the operation took as done (removing what it switched
     * from) is finished by repair; repair then changes nothing, and running {@code op} again brings the node to
     * where it came without a failure. Returns the number of calls the operation makes.
     */
    private int failingAtEveryCall(Consumer<Node> setup, Consumer<Node> op) throws Exception {
        return failingAtEveryCall(setup, op, true);
    }

    /**
     * As {@link #failingAtEveryCall(Consumer, Consumer)}; with {@code atomic} false the operation is a sequence of
     * transactions (purge): after a failure the node is consistent (but may be between before and after), the
     * journal is cleared, and repair then the operation again converge to where it came without a failure.
     */
    private int failingAtEveryCall(Consumer<Node> setup, Consumer<Node> op, boolean atomic) throws Exception {
        int total;
        String after;
        {
            reset();
            setup.accept(node());
            int before = calls;
            op.accept(node());
            total = calls - before;
            assertConsistent();
            after = snapshot();
        }
        assertThat(total).as("calls of the operation").isPositive();
        int thrown = 0;
        for (int k = 1; k <= total; k++) {
            reset();
            setup.accept(node());
            String before = snapshot();
            failAt = calls + k;
            int at = k;
            try {
                op.accept(node());
                // the operation was done when the failure came (removing a switched-from mode): it said so, and
                // what is left of the old mode is a leftover that repair removes
                failAt = -1;
                node().repair(false);
                assertThat(snapshot()).as("done despite a failure at call " + at + ", then repaired").isEqualTo(after);
            } catch (RuntimeException e) {
                assertThat(injected(e)).as("failing at call " + at + ": " + e).isTrue();
                thrown++;
                failAt = -1;
            }
            assertThat(NodeState.journal(dir)).as("journal after a rolled-back failure at call " + at).isEmpty();
            assertConsistent();
            String failed = snapshot();
            if (atomic) {
                assertThat(failed).as("all or nothing, failing at call " + at).isIn(before, after);
                assertThat(node().repair(false)).as("repair after a rolled-back failure at call " + at).isEmpty();
                assertThat(snapshot()).as("repair changes nothing after a failure at call " + at).isEqualTo(failed);
            } else {
                node().repair(false);
                assertConsistent();
            }
            op.accept(node());
            assertThat(snapshot()).as("running it again after a failure at call " + at).isEqualTo(after);
        }
        assertThat(thrown).as("failures that failed the operation").isPositive();
        return total;
    }

    /** Whether the failure (or what it wraps) is the fake's. */
    private static boolean injected(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (String.valueOf(t.getMessage()).contains("injected failure")) {
                return true;
            }
        }
        return false;
    }

    private void reset() throws Exception {
        Kernel.removeTree(dir);
        Files.createDirectories(dir);
        kernels.values().forEach(FakeKernel::clear);
        vanished.clear();
        replumbed.clear();
        routing.clear();
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

    // ---- ztunnel set / unset ----

    @Test
    void ztunnelSetAtEveryCall() throws Exception {
        // the first ztunnel, on a node with workloads (and a DNS capture choice)
        failingAtEveryCall(n -> n.enrollWorkloads(workloads(3), false),
                n -> n.ztunnelSetWorkload(ztunnel(ZT1), true, null, false));
        // another ztunnel in place of the first (a restart into a new namespace), with fail-open
        failingAtEveryCall(n -> {
            n.enrollWorkloads(workloads(3), false);
            n.ztunnelSetWorkload(ztunnel(ZT1), null, null, false);
        }, n -> n.ztunnelSetWorkload(ztunnel(ZT2), null, true, false));
        // on a node with nothing installed: ztunnel's side chooses the mode
        failingAtEveryCall(n -> { }, n -> n.ztunnelSetWorkload(ztunnel(ZT1), null, null, false));
        // in a netfilter mode
        failingAtEveryCall(n -> {
            n.enrollWorkloads(workloads(2), false);
            n.ztunnelSetWorkload(ztunnel(ZT1), null, null, false);
            n.modeSet(RedirectMode.nftables, false);
        }, n -> n.ztunnelSetWorkload(ztunnel(ZT2), false, false, false));
    }

    @Test
    void ztunnelUnsetAtEveryCall() throws Exception {
        failingAtEveryCall(n -> {
            n.enrollWorkloads(workloads(3), false);
            n.ztunnelSetWorkload(ztunnel(ZT1), true, true, false);
        }, n -> n.ztunnelUnset(false));
        failingAtEveryCall(n -> {
            n.enrollWorkloads(workloads(2), false);
            n.ztunnelSetWorkload(ztunnel(ZT1), null, null, false);
            n.modeSet(RedirectMode.iptables, false);
        }, n -> n.ztunnelUnset(false));
    }

    /**
     * Removing the old ztunnel's routing (after the new side is in) fails: 'ztunnel set' and 'ztunnel unset' fail
     * wholly, the old ztunnel's side and options are back (and the new one's routing gone), the journal cleared; when
     * putting them back fails too, the journal stays and repair brings the node back to its state file.
     */
    @Test
    void ztunnelRoutingThatCannotBeRemovedRollsBackZtunnelSetAndUnset() {
        node().enrollWorkloads(workloads(2), false);
        node().ztunnelSetWorkload(ztunnel(ZT1), false, false, false);
        String before = snapshot();
        assertThat(routing).containsExactly(ZT1);

        failAt = calls + 2; // the new side goes in (call 1), removing the old one's routing fails
        assertThatThrownBy(() -> node().ztunnelSetWorkload(ztunnel(ZT2), true, true, false))
                .hasMessageContaining("ztunnel set failed, ztunnel stays in " + ZT1)
                .hasMessageContaining("cannot remove the policy routing in its namespace (injected failure");
        failAt = -1;
        assertThat(NodeState.journal(dir)).isEmpty();
        assertConsistent();
        assertThat(snapshot()).as("the old ztunnel's side, options and routing are back").isEqualTo(before);
        assertThat(kernels.get(RedirectMode.ebpf).options).isEqualTo(new DatapathOptions(false, false,
                Marks.DEFAULT_NODE_BIT));

        failAt = calls + 2; // its side goes (call 1), removing its routing fails
        assertThatThrownBy(() -> node().ztunnelUnset(false))
                .hasMessageContaining("ztunnel unset failed, ztunnel stays in " + ZT1);
        failAt = -1;
        assertThat(NodeState.journal(dir)).isEmpty();
        assertConsistent();
        assertThat(snapshot()).isEqualTo(before);

        // putting the old side back fails too: the journal stays, and repair brings the node back to its state file
        failRollbackFrom = calls + 2;
        assertThatThrownBy(() -> node().ztunnelSetWorkload(ztunnel(ZT2), null, null, false))
                .hasMessageContaining("ztunnel set failed");
        failRollbackFrom = -1;
        assertThat(NodeState.journal(dir)).hasValueSatisfying(j -> assertThat(j).contains("ztunnel set"));
        assertThat(kernels.get(RedirectMode.ebpf).ztunnel).isEqualTo(ZT2);
        List<String> did = node().repair(false);
        assertThat(did.get(0)).startsWith("finished the interrupted operation (ztunnel set");
        assertThat(NodeState.journal(dir)).isEmpty();
        assertConsistent();
        assertThat(kernels.get(RedirectMode.ebpf).ztunnel).isEqualTo(ZT1);

        failRollbackFrom = calls + 2;
        assertThatThrownBy(() -> node().ztunnelUnset(false)).hasMessageContaining("ztunnel unset failed");
        failRollbackFrom = -1;
        assertThat(NodeState.journal(dir)).hasValueSatisfying(j -> assertThat(j).contains("ztunnel unset"));
        assertThat(kernels.get(RedirectMode.ebpf).ztunnel).isNull();
        node().repair(false);
        assertThat(NodeState.journal(dir)).isEmpty();
        assertConsistent();
        assertThat(kernels.get(RedirectMode.ebpf).ztunnel).isEqualTo(ZT1);
    }

    /** An old ztunnel whose namespace is gone took its routing along: failing to remove it is no failure. */
    @Test
    void theRoutingOfAGoneZtunnelNamespaceIsNoFailure() {
        node().ztunnelSetWorkload(ztunnel("ambientctl-fake-gone-zt"), null, null, false);
        failAt = calls + 2;
        node().ztunnelSetWorkload(ztunnel(ZT2), null, null, false);
        failAt = -1;
        assertThat(NodeState.load(dir).ztunnel.netns()).isEqualTo(ZT2);
        assertThat(NodeState.journal(dir)).isEmpty();
        assertConsistent();
    }

    // ---- mode switches to and from nftables ----

    @Test
    void switchesToAndFromNftablesRollBackAtEveryCall() throws Exception {
        List<RedirectMode> path = List.of(RedirectMode.ebpf, RedirectMode.nftables, RedirectMode.iptables,
                RedirectMode.nftables, RedirectMode.ebpf);
        for (int i = 1; i < path.size(); i++) {
            List<RedirectMode> to = path.subList(1, i + 1);
            failingAtEveryCall(n -> {
                n.enrollWorkloads(workloads(3), false);
                n.ztunnelSetWorkload(ztunnel(ZT1), true, null, false);
                to.subList(0, to.size() - 1).forEach(m -> n.modeSet(m, false));
            }, n -> n.modeSet(to.get(to.size() - 1), false));
        }
    }

    // ---- purge (uninstall) ----

    /**
     * purge is a sequence of transactions (unenroll every workload, forget ztunnel, remove every mode's objects, the
     * state file): a failure at any call leaves the node consistent, with the journal cleared, and purge again (after
     * repair, or not) removes everything and the state file.
     */
    @Test
    void purgeAtEveryCall() throws Exception {
        Consumer<Node> ebpfWithLeftover = n -> {
            n.enrollWorkloads(workloads(3), false);
            n.ztunnelSetWorkload(ztunnel(ZT1), null, null, false);
            kernels.get(RedirectMode.nftables).objects = true; // leftovers of another mode
        };
        int calls = failingAtEveryCall(ebpfWithLeftover, n -> n.purge(false), false);
        assertThat(calls).as("unenroll; ztunnel unset: its side, its routing; two modes' uninstall").isEqualTo(5);
        assertPurged();
        failingAtEveryCall(n -> {
            n.enrollWorkloads(workloads(2), false);
            n.ztunnelSetWorkload(ztunnel(ZT1), null, null, false);
            n.modeSet(RedirectMode.iptables, false);
            kernels.get(RedirectMode.ebpf).objects = true;
        }, n -> n.purge(false), false);
        assertPurged();
        // and purge without a failure again does nothing
        int before = this.calls;
        assertThat(node().purge(false).removed()).isEmpty();
        assertThat(this.calls).isEqualTo(before);
    }

    @Test
    void purgeSkippingAFailedStepIsResumedByTheNextPurge() {
        Node n = node();
        n.enrollWorkloads(workloads(3), false);
        n.ztunnelSetWorkload(ztunnel(ZT1), null, null, false);
        failAt = calls + 4; // unenroll, ztunnel unset (its side, its routing), then the ebpf mode's uninstall fails
        assertThatThrownBy(() -> node().purge(false)).hasMessageContaining("injected failure");
        failAt = -1;
        // the first two transactions are done and recorded; the mode's objects and the state file stay
        State s = NodeState.load(dir);
        assertThat(s.workloads).isEmpty();
        assertThat(s.ztunnel).isNull();
        assertThat(s.mode).isEqualTo(RedirectMode.ebpf);
        assertThat(kernels.get(RedirectMode.ebpf).objects).isTrue();
        assertThat(NodeState.journal(dir)).isEmpty();
        assertConsistent();
        node().purge(false);
        assertPurged();
    }

    private void assertPurged() {
        assertThat(Files.exists(dir.resolve(NodeState.FILE))).as("state file").isFalse();
        assertThat(Files.exists(dir.resolve(NodeState.JOURNAL))).as("journal").isFalse();
        kernels.forEach((m, k) -> assertThat(k.toString()).as(m + " after purge")
                .isEqualTo("enrolled=[] ztunnel=null options=null present=false"));
    }

    // ---- repair ----

    /**
     * A node that drifted from its state file in every way repair knows: a workload's namespace gone, one re-plumbed,
     * one's redirection missing, an entry the state does not know, ztunnel re-plumbed, leftovers of another mode.
     */
    private void drift(Node n, RedirectMode mode) {
        n.enrollWorkloads(workloads(5), false);
        n.ztunnelSetWorkload(ztunnel(ZT1), true, null, false);
        if (mode != RedirectMode.ebpf) {
            n.modeSet(mode, false);
        }
        vanished.add("fake-p2");
        replumbed.add("fake-p3");
        replumbed.add(ZT1);
        kernels.get(mode).enrolled.remove("fake-p4");
        kernels.get(mode).enrolled.add("stray");
        kernels.get(mode == RedirectMode.nftables ? RedirectMode.iptables : RedirectMode.nftables).objects = true;
    }

    /**
     * repair is not a transaction: what it did before a failure stays done (each of its steps brings the kernel to
     * the state file or to what is there) and its journal is cleared. At every call: a failed repair leaves the
     * healthy workloads redirected, loses nothing recorded, and the next repair converges to where a repair without
     * a failure comes; a repair after that does nothing.
     */
    @Test
    void repairAtEveryCall() throws Exception {
        for (RedirectMode mode : List.of(RedirectMode.ebpf, RedirectMode.nftables)) {
            reset();
            drift(node(), mode);
            int before = calls;
            List<String> did = node().repair(false);
            int total = calls - before;
            assertThat(did).anyMatch(x -> x.startsWith("fake-p2: its namespace or veth is gone"))
                    .anyMatch(x -> x.startsWith("fake-p3: re-plumbed"))
                    .anyMatch(x -> x.startsWith("fake-p4: fake-p4 not installed"))
                    .anyMatch(x -> x.startsWith("ztunnel was re-plumbed"))
                    .anyMatch(x -> x.equals("remove stray"));
            assertConsistent();
            String after = snapshot();
            assertThat(after).contains("fake-p3@new-veth3").doesNotContain("fake-p2").doesNotContain("stray");
            // ztunnel, unenroll gone, unenroll re-plumbed, enroll 2, stray, the other mode, node addresses
            assertThat(total).as("calls of repair in " + mode).isEqualTo(8);
            for (int k = 1; k <= total; k++) {
                reset();
                drift(node(), mode);
                failAt = calls + k;
                int at = k;
                assertThatThrownBy(() -> node().repair(false)).as("repair failing at call " + at)
                        .hasMessageContaining("injected failure");
                failAt = -1;
                assertThat(NodeState.journal(dir)).as("journal after repair failed at call " + at).isEmpty();
                State s = NodeState.load(dir);
                assertThat(s.workloads).extracting(Workload::key).as("recorded after a failure at call " + at)
                        .containsExactly("fake-p1", "fake-p2", "fake-p3", "fake-p4", "fake-p5");
                assertThat(kernels.get(mode).enrolled).as("healthy ones after a failure at call " + at)
                        .contains("fake-p1", "fake-p5");
                MODES.stream().filter(m -> m != mode).forEach(m -> assertThat(kernels.get(m).enrolled)
                        .as(m + " after a failure at call " + at).isEmpty());
                assertThat(node().repair(false)).as("the next repair after a failure at call " + at).isNotEmpty();
                assertThat(snapshot()).as("repaired after a failure at call " + at).isEqualTo(after);
                assertThat(node().repair(false)).as("then nothing to repair").isEmpty();
            }
        }
    }

    /**
     * With nothing recorded, repair removes a mode's objects that redirect no workload, and refuses, before any
     * change, to remove what does (a lost state file: 'repair --adopt' is the way).
     */
    @Test
    void repairOfAnEmptyStateRemovesLeftoversButRefusesToUnredirectWorkloads() {
        kernels.get(RedirectMode.iptables).objects = true;
        int before = calls;
        assertThat(node().repair(false)).containsExactly("removed leftovers of the iptables mode");
        assertThat(calls).isEqualTo(before + 1);
        assertThat(NodeState.journal(dir)).isEmpty();
        assertThat(node().repair(false)).isEmpty();

        kernels.get(RedirectMode.nftables).enrolled.add("lost-p1");
        before = calls;
        assertThatThrownBy(() -> node().repair(false)).hasMessageContaining("the state file records nothing, but the "
                + "nftables mode's objects redirect 1 workload(s)").hasMessageContaining("repair --adopt");
        assertThat(calls).as("no change").isEqualTo(before);
        assertThat(NodeState.journal(dir)).isEmpty();
        assertThat(kernels.get(RedirectMode.nftables).enrolled).containsExactly("lost-p1");
    }
}
