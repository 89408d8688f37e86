package io.ambientctl.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.NetNs;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.TestNet;

/**
 * Attaching to the TC hooks of a veth in another namespace (TCX and clsact), listing, real traffic
 * through the program, detaching while a filter someone else added stays.
 */
class TcAttachKernelTest {
    private TestNet net;
    private Path pins;
    private NetNs a;
    private NetNs b;

    @BeforeEach
    void setUp() throws Exception {
        Kernel.require();
        net = new TestNet("actest-tc");
        pins = Kernel.bpffsDir("actest-tc");
        a = net.netns("a");
        b = net.netns("b");
        net.veth(a, "va", b, "vb");
        TestNet.sh(a, "ip", "addr", "add", "192.0.2.1/24", "dev", "va");
        TestNet.sh(b, "ip", "addr", "add", "192.0.2.2/24", "dev", "vb");
    }

    @AfterEach
    void tearDown() {
        if (net != null) {
            net.close();
        }
        Kernel.removeTree(pins);
    }

    @ParameterizedTest
    @EnumSource(AttachKind.class)
    void attachListRunDetachKeepingOthersFilter(AttachKind kind) throws Exception {
        // another agent's filter, added by tc before us
        Path obj = java.nio.file.Files.createTempFile("selftest", ".o");
        java.nio.file.Files.write(obj, BpfObject.resourceBytes("selftest.bpf.o"));
        TestNet.sh(a, "tc", "qdisc", "add", "dev", "va", "clsact");
        TestNet.sh(a, "tc", "filter", "add", "dev", "va", "ingress", "pref", "1", "bpf", "da", "obj", obj.toString(),
                "sec", "tc");
        TestNet.sh(a, "tc", "filter", "add", "dev", "va", "egress", "pref", "1", "bpf", "da", "obj", obj.toString(),
                "sec", "tc");
        java.nio.file.Files.delete(obj);

        try (BpfObject o = BpfObject.openResource("selftest.bpf.o").pinMaps(pins).load()) {
            BpfProgram prog = o.program("selftest_count");
            int progId = prog.info().id();
            int ifindex = Links.byName(Links.in(a), "va").map(Link::ifindex).orElseThrow();

            List<TcAttachment> ours = a.call(() -> List.of(
                    Tc.attach(prog, ifindex, TcDirection.INGRESS, kind, pins.resolve("link_in")),
                    Tc.attach(prog, ifindex, TcDirection.EGRESS, kind, pins.resolve("link_eg"))));
            assertThat(ours).allSatisfy(t -> assertThat(t.progId()).isEqualTo(progId));

            // the query API lists ours and the other agent's on each hook
            for (TcDirection dir : TcDirection.values()) {
                List<AttachedProgram> listed = a.call(() -> Tc.query(ifindex, dir));
                assertThat(listed).extracting(AttachedProgram::progId).contains(progId);
                assertThat(listed).filteredOn(p -> p.progId() != progId).hasSize(1)
                        .allSatisfy(p -> assertThat(p.priority()).isEqualTo(1));
                assertThat(listed).filteredOn(p -> p.progId() == progId)
                        .allSatisfy(p -> assertThat(p.kind()).isEqualTo(kind));
            }
            if (kind == AttachKind.TC) {
                // Debian's bpftool 7.1 lists tc filters; it predates TCX links (the query API shows those)
                String shown = a.exec("bpftool", "net", "show", "dev", "va").check().stdout();
                assertThat(shown).contains("id " + progId);
            }
            // attaching again is idempotent
            TcAttachment again = a.call(() -> Tc.attach(prog, ifindex, TcDirection.INGRESS, kind,
                    pins.resolve("link_in")));
            assertThat(again.progId()).isEqualTo(progId);
            assertThat(a.call(() -> Tc.query(ifindex, TcDirection.INGRESS))).filteredOn(p -> p.progId() == progId)
                    .hasSize(1);

            // real traffic from b to a passes through our ingress program and is counted
            TypedMap<Integer, Long> stats = new TypedMap<>(o.map("selftest_stats"), Codecs.U32, Codecs.U64);
            long before = stats.get(17).orElse(0L);
            b.run(() -> {
                try (DatagramSocket s = new DatagramSocket()) {
                    for (int i = 0; i < 5; i++) {
                        byte[] d = "hello".getBytes();
                        s.send(new DatagramPacket(d, d.length, InetAddress.getByName("192.0.2.1"), 9));
                    }
                }
            });
            assertThat(stats.get(17).orElse(0L)).isGreaterThanOrEqualTo(before + 5);

            // detach: ours gone, the other agent's filter stays on both hooks
            a.run(() -> ours.forEach(Tc::detach));
            for (TcDirection dir : TcDirection.values()) {
                List<AttachedProgram> listed = a.call(() -> Tc.query(ifindex, dir));
                assertThat(listed).extracting(AttachedProgram::progId).doesNotContain(progId);
                assertThat(listed).hasSize(1);
            }
            assertThat(a.exec("tc", "qdisc", "show", "dev", "va").check().stdout()).contains("clsact");
            // detaching twice is fine
            a.run(() -> ours.forEach(Tc::detach));
        }
    }

    @ParameterizedTest
    @EnumSource(AttachKind.class)
    void detachRemovesTheQdiscOnlyWhenWeCreatedItAndItIsEmpty(AttachKind kind) throws Exception {
        try (BpfObject o = BpfObject.openResource("selftest.bpf.o").load()) {
            BpfProgram prog = o.program("selftest_count");
            int ifindex = Links.byName(Links.in(b), "vb").map(Link::ifindex).orElseThrow();
            TcAttachment t = b.call(() -> Tc.attach(prog, ifindex, TcDirection.INGRESS, kind, pins.resolve("l")));
            b.run(() -> Tc.detach(t));
            assertThat(b.call(() -> Tc.query(ifindex, TcDirection.INGRESS))).isEmpty();
            assertThat(b.exec("tc", "qdisc", "show", "dev", "vb").check().stdout()).doesNotContain("clsact");
        }
    }
}
