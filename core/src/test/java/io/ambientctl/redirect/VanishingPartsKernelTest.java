package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn;
import io.ambientctl.redirect.ebpf.Datapath;
import io.ambientctl.redirect.iptables.Rules;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.LabFixture;

/** Parts vanishing under ambientctl: each detected by status and fixed by repair. */
class VanishingPartsKernelTest {
    private LabFixture f;
    private Lab.Pod a;
    private Lab.Pod b;
    private Lab.Pod c;

    @BeforeEach
    void setUp() throws Exception {
        f = new LabFixture(3, null);
        a = f.pod(1);
        b = f.pod(2);
        c = f.pod(3);
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        f.node.enroll(List.of(a.netns(), b.netns()), false);
    }

    @AfterEach
    void tearDown() {
        if (f != null) {
            f.close();
        }
    }

    private boolean captured(Lab.Pod from) {
        int before = f.standIn.captures().size();
        Traffic.Result r = Traffic.tcp(from.netns(), null, c.ipv4(), 8080, "v", LabFixture.SHORT);
        return r.answered() && f.standIn.captures().size() > before;
    }

    @Test
    void aWorkloadsNamespaceDeletedUnderUs() {
        b.netns().delete();
        Node.Status st = f.node.status();
        assertThat(st.verified()).isFalse();
        assertThat(st.workloads()).anySatisfy(w -> assertThat(w.verification().problems())
                .anySatisfy(p -> assertThat(p).contains("is gone")));
        List<String> done = f.node.repair(false);
        assertThat(done).anySatisfy(x -> assertThat(x).contains(b.netns().display()).contains("gone: unenrolled"));
        assertThat(f.node.recorded().workloads).extracting(Workload::key).containsExactly(a.netns().display());
        assertThat(f.node.status().verified()).isTrue();
        assertThat(f.node.repair(false)).isEmpty();
        assertThat(captured(a)).isTrue();
    }

    @Test
    void ztunnelsNamespaceDeletedAndRecreated() {
        f.standIn.close();
        f.lab.recreateZtunnel();
        f.standIn = ZtunnelStandIn.start(f.lab.ztunnel(), null);
        Node.Status st = f.node.status();
        assertThat(st.verified()).isFalse();
        assertThat(captured(a)).isFalse(); // the datapath still points at the old veth: dropped, not leaked
        List<String> done = f.node.repair(false);
        assertThat(done).anySatisfy(x -> assertThat(x).contains("ztunnel was re-plumbed"));
        assertThat(f.node.status().verified()).isTrue();
        assertThat(captured(a)).isTrue();
        assertThat(captured(c)).isFalse();
    }

    @Test
    void ztunnelsNamespaceGoneIsForgottenAndTrafficFailsClosed() {
        f.standIn.close();
        f.lab.ztunnel().delete();
        assertThat(f.node.repair(false)).anySatisfy(x -> assertThat(x).contains("is gone: forgot ztunnel"));
        assertThat(f.node.recorded().ztunnel).isNull();
        assertThat(Traffic.tcp(a.netns(), null, c.ipv4(), 8080, "v", LabFixture.SHORT).answered()).isFalse();
        assertThat(f.node.status().verified()).isTrue();
    }

    @Test
    void bpffsPinsRemovedByHand() throws Exception {
        Kernel.removeTree(Datapath.linksDir(f.bpffs));
        Kernel.removeTree(Datapath.progsDir(f.bpffs));
        Kernel.removeTree(Datapath.mapsDir(f.bpffs));
        // the links go with their pins (the kernel releases them a moment later)
        long deadline = System.currentTimeMillis() + 5000;
        while (f.node.status().verified() && System.currentTimeMillis() < deadline) {
            Thread.onSpinWait();
        }
        assertThat(f.node.status().verified()).isFalse();
        assertThat(f.node.repair(false)).isNotEmpty();
        assertThat(f.node.status().verified()).isTrue();
        assertThat(captured(a)).isTrue();
        assertThat(captured(b)).isTrue();
        assertThat(captured(c)).isFalse();
    }

    @Test
    void aProgramPinReplacedByHandIsNotTakenForThisBuildsProgram() throws Exception {
        java.nio.file.Path progs = Datapath.progsDir(f.bpffs);
        java.nio.file.Path ingress = progs.resolve(Datapath.POD_INGRESS);
        try (var l = java.nio.file.Files.list(progs)) {
            // the build mark beside the pins: the next changing command reuses them without loading the object
            assertThat(l.map(x -> x.getFileName().toString()).filter(n -> n.startsWith("build-"))).hasSize(1);
        }
        int ours;
        try (io.ambientctl.bpf.BpfProgram p = io.ambientctl.bpf.BpfProgram.openPinned(ingress)) {
            ours = p.info().id();
        }
        long loads = Datapath.objectLoads();
        f.node.enroll(List.of(c.netns()), false); // through the mark: the same program, the object not loaded
        assertThat(Datapath.objectLoads()).isEqualTo(loads);
        try (io.ambientctl.bpf.BpfProgram p = io.ambientctl.bpf.BpfProgram.openPinned(ingress)) {
            assertThat(p.info().id()).isEqualTo(ours);
        }
        f.node.unenroll(List.of(c.netns()), false, false);
        // another program pinned under the pod ingress program's name: the mark no longer matches what is
        // pinned, so the next changing command loads the object and puts this build's program back
        java.nio.file.Files.delete(ingress);
        try (io.ambientctl.bpf.BpfProgram other = io.ambientctl.bpf.BpfProgram.openPinned(progs.resolve(
                Datapath.ZTUNNEL_CAPTURE))) {
            other.pin(ingress);
        }
        f.node.enroll(List.of(c.netns()), false);
        assertThat(Datapath.objectLoads()).isEqualTo(loads + 1); // the mark did not match: loaded and compared
        try (io.ambientctl.bpf.BpfProgram p = io.ambientctl.bpf.BpfProgram.openPinned(ingress)) {
            assertThat(p.info().name()).startsWith("ambient_pod_in"); // the kernel keeps 15 characters
        }
        // the hooks attached before still run the program that was replaced: status says so, repair re-hooks
        assertThat(f.node.status().verified()).isFalse();
        assertThat(f.node.repair(false)).isNotEmpty();
        assertThat(f.node.status().verified()).isTrue();
        assertThat(captured(a)).isTrue();
        try (var l = java.nio.file.Files.list(progs)) {
            assertThat(l.map(x -> x.getFileName().toString()).filter(n -> n.startsWith("build-"))).hasSize(1);
        }
    }

    @Test
    void iptablesChainsFlushedByHand() {
        f.node.modeSet(RedirectMode.iptables, false);
        assertThat(captured(a)).isTrue();
        f.lab.node().exec("iptables", "-t", "mangle", "-F", Rules.CHAIN).check();
        f.lab.ztunnel().exec("ip6tables", "-t", "mangle", "-F", Rules.CHAIN).check();
        assertThat(captured(a)).isFalse();
        Node.Status st = f.node.status();
        assertThat(st.verified()).isFalse();
        assertThat(st.nodeProblems()).anySatisfy(p -> assertThat(p).contains("has 0 rules"));
        assertThat(f.node.repair(false)).isNotEmpty();
        assertThat(f.node.status().verified()).isTrue();
        assertThat(captured(a)).isTrue();
    }

    @Test
    void unrecordedObjectsAndTheOtherModesLeftoversAreRemoved() {
        // an interrupted enroll of c left its map entries; iptables objects of an old mode remain
        try (var e = new io.ambientctl.redirect.ebpf.EbpfRedirector(f.config, f.node.recorded(), null)) {
            e.datapath().workloads().put(io.ambientctl.net.IpAddrs.parse(c.ipv4()),
                    new io.ambientctl.redirect.ebpf.Maps.WorkloadInfo(99, 99, io.ambientctl.net.Mac.parse(
                            "02:00:00:00:00:99"), 1));
        }
        f.lab.node().exec("ipset", "create", Rules.SET4, "hash:ip").check();
        Node.Status st = f.node.status();
        assertThat(st.nodeProblems()).anySatisfy(p -> assertThat(p).contains("not in the state file")
                .contains(c.ipv4()));
        assertThat(st.nodeProblems()).anySatisfy(p -> assertThat(p).contains("leftovers of the iptables mode"));
        assertThat(f.node.repair(true)).hasSize(2);
        List<String> done = f.node.repair(false);
        assertThat(done).anySatisfy(x -> assertThat(x).contains("unrecorded workload map entry " + c.ipv4()));
        assertThat(done).anySatisfy(x -> assertThat(x).contains("leftovers of the iptables mode"));
        assertThat(f.node.status().nodeProblems()).isEmpty();
        assertThat(f.lab.node().exec("ipset", "list", "-n").stdout()).doesNotContain("ambient");
    }

    /** Issue 14 #7: in eBPF mode, the iptables mode's chain left in ztunnel's namespace is seen and removed. */
    @Test
    void theOtherModesChainInZtunnelsNamespaceIsALeftover() {
        f.lab.ztunnel().exec("iptables", "-t", "mangle", "-N", Rules.CHAIN).check();
        f.lab.ztunnel().exec("iptables", "-t", "mangle", "-A", "PREROUTING", "-j", Rules.CHAIN).check();
        assertThat(f.node.status().nodeProblems()).anySatisfy(p -> assertThat(p).contains(
                "leftovers of the iptables mode"));
        assertThat(f.node.repair(false)).anySatisfy(x -> assertThat(x).contains("leftovers of the iptables mode"));
        assertThat(f.lab.ztunnel().exec("iptables", "-t", "mangle", "-S").stdout()).doesNotContain(Rules.CHAIN);
        assertThat(f.node.status().verified()).isTrue();
        assertThat(captured(a)).isTrue();
    }

    /** Issue 14 #8: a lost state file costs no Pod its redirection: status says so, repair refuses, --adopt keeps them. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = RedirectMode.class, names = {"ebpf", "iptables", "nftables"})
    void aLostStateFileIsRebuiltFromTheKernel(RedirectMode mode) throws Exception {
        f.node.modeSet(mode, false);
        java.nio.file.Path file = f.stateDir.resolve(NodeState.FILE);
        java.nio.file.Files.move(file, f.stateDir.resolve("state.json.aside"));
        assertThat(captured(a)).isTrue();
        Node.Status st = f.node.status();
        assertThat(st.verified()).isFalse();
        assertThat(st.nodeProblems()).anySatisfy(p -> assertThat(p).contains("the state file records nothing")
                .contains("repair --adopt"));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> f.node.repair(false))
                .hasMessageContaining("repair --adopt");
        assertThat(captured(a)).isTrue();
        assertThat(f.node.adopt(true)).anySatisfy(x -> assertThat(x).contains("adopted " + a.netns().display()));
        assertThat(file).doesNotExist();
        List<String> did = f.node.adopt(false);
        assertThat(did).anySatisfy(x -> assertThat(x).contains("adopted " + a.netns().display()))
                .anySatisfy(x -> assertThat(x).contains("adopted " + b.netns().display()))
                .anySatisfy(x -> assertThat(x).contains("adopted ztunnel in " + f.lab.ztunnel().display()));
        State s = f.node.recorded();
        assertThat(s.mode).isEqualTo(mode);
        assertThat(s.workloads).extracting(Workload::key).containsExactlyInAnyOrder(a.netns().display(),
                b.netns().display());
        assertThat(f.node.status().verified()).isTrue();
        assertThat(captured(a)).isTrue();
        assertThat(captured(b)).isTrue();
        assertThat(captured(c)).isFalse();
        assertThat(f.node.repair(false)).isEmpty();
    }

    /** Issue 14 #5: repair reports what it did to finish an interrupted operation, not "nothing to repair". */
    @Test
    void repairReportsTheRecoveryOfAnInterruptedOperation() {
        // a 'mode set iptables' killed after it made its set: the journal names it
        f.lab.node().exec("ipset", "create", Rules.SET4, "hash:ip").check();
        NodeState.beginJournal(f.stateDir, "mode set");
        List<String> did = f.node.repair(false);
        assertThat(did.get(0)).startsWith("finished the interrupted operation (mode set");
        assertThat(did).anySatisfy(x -> assertThat(x).contains("leftovers of the iptables mode"));
        assertThat(NodeState.journal(f.stateDir)).isEmpty();
        assertThat(f.lab.node().exec("ipset", "list", "-n").stdout()).doesNotContain("ambient");
        assertThat(f.node.status().verified()).isTrue();
        assertThat(captured(a)).isTrue();
    }
}
