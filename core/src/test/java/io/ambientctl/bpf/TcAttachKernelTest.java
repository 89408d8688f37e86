package io.ambientctl.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import org.assertj.core.groups.Tuple;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import io.ambientctl.net.Link;
import io.ambientctl.net.Links;
import io.ambientctl.net.NetNs;
import io.ambientctl.net.TcFilter;
import io.ambientctl.net.TcFilters;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.TestNet;

/**
 * Attaching to the TC hooks of a veth in another namespace (TCX and clsact), listing, real traffic
 * through the program, detaching while a filter someone else added stays; the tc filters read over
 * rtnetlink are what {@code tc -j filter show} reports.
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

    /** selftest.bpf.o as a file, for tc to load (another owner's filters). */
    private static Path objectFile() throws Exception {
        Path obj = Files.createTempFile("selftest", ".o");
        Files.write(obj, BpfObject.resourceBytes("selftest.bpf.o"));
        return obj;
    }

    private static int ifindex(NetNs ns, String name) {
        return Links.byName(Links.in(ns), name).map(Link::ifindex).orElseThrow();
    }

    private static int parent(TcDirection dir) {
        return dir == TcDirection.INGRESS ? TcFilters.INGRESS : TcFilters.EGRESS;
    }

    /** The tc filters {@code listed} (Tc.query's) and the raw netlink ones are exactly what tc shows. */
    private static void assertAsTcShows(NetNs ns, String ifname, int ifindex, TcDirection dir,
                                        List<AttachedProgram> listed) {
        List<TcReference.Filter> ref = TcReference.show(ns, ifname, dir);
        List<TcReference.Filter> ebpf = ref.stream().filter(f -> f.progId() != 0).toList();
        assertThat(listed).filteredOn(p -> p.kind() == AttachKind.TC)
                .extracting(AttachedProgram::direction, AttachedProgram::position, AttachedProgram::priority,
                        AttachedProgram::handle, AttachedProgram::progId, AttachedProgram::name, AttachedProgram::tag)
                .as(ifname + " " + dir.label()).containsExactlyElementsOf(IntStream.range(0, ebpf.size())
                        .mapToObj(i -> Tuple.tuple(dir, i, ebpf.get(i).priority(), ebpf.get(i).handle(),
                                ebpf.get(i).progId(), ebpf.get(i).progName(), ebpf.get(i).tag())).toList());
        List<TcFilter> raw = ns.call(() -> TcFilters.here(ifindex, parent(dir)));
        assertThat(raw).extracting(TcFilter::kind, TcFilter::priority, TcFilter::handle, TcFilter::progId,
                        TcFilter::tag, TcFilter::bpfName, TcFilter::directAction).as(ifname + " " + dir.label())
                .containsExactlyElementsOf(ref.stream().map(f -> Tuple.tuple(f.kind(), f.priority(), f.handle(),
                        f.progId(), f.tag(), f.bpfName(), f.directAction())).toList());
        assertThat(raw).allSatisfy(f -> {
            assertThat(f.ifindex()).isEqualTo(ifindex);
            assertThat(f.parent()).isEqualTo(parent(dir)); // ffff:fff2 / ffff:fff3, as asked
            assertThat(f.protocol()).isEqualTo(0x0003); // ETH_P_ALL, tc's "protocol all"
            assertThat(f.chain()).isZero();
        });
    }

    @Test
    void netlinkListsWhatTcShowsFromNoQdiscToAVanishedInterface() throws Exception {
        int ifindex = ifindex(a, "va");
        // no clsact qdisc: nothing, and no error
        for (TcDirection dir : TcDirection.values()) {
            assertThat(a.call(() -> Tc.query(ifindex, dir))).isEmpty();
            assertThat(a.call(() -> TcFilters.here(ifindex, parent(dir)))).isEmpty();
            assertAsTcShows(a, "va", ifindex, dir, List.of());
        }
        // a qdisc without filters: nothing
        TestNet.sh(a, "tc", "qdisc", "add", "dev", "va", "clsact");
        for (TcDirection dir : TcDirection.values()) {
            assertThat(a.call(() -> Tc.query(ifindex, dir))).isEmpty();
            assertAsTcShows(a, "va", ifindex, dir, List.of());
        }
        // another owner's filters around ours: direct-action or not, another handle, classic BPF
        Path obj = objectFile();
        try {
            TestNet.sh(a, "tc", "filter", "add", "dev", "va", "ingress", "pref", "1", "bpf", "da", "obj",
                    obj.toString(), "sec", "tc");
            TestNet.sh(a, "tc", "filter", "add", "dev", "va", "ingress", "pref", "400", "handle", "7", "bpf", "obj",
                    obj.toString(), "sec", "tc");
            TestNet.sh(a, "tc", "filter", "add", "dev", "va", "egress", "pref", "1", "bpf", "da", "obj",
                    obj.toString(), "sec", "tc");
            TestNet.sh(a, "tc", "filter", "add", "dev", "va", "egress", "pref", "9", "bpf", "bytecode",
                    "1,6 0 0 4294967295,");
        } finally {
            Files.delete(obj);
        }
        try (BpfObject o = BpfObject.openResource("selftest.bpf.o").load()) {
            BpfProgram prog = o.program("selftest_count");
            int progId = prog.info().id();
            a.run(() -> {
                for (TcDirection dir : TcDirection.values()) {
                    Tc.attach(prog, ifindex, dir, AttachKind.TC, null);
                }
            });
            for (TcDirection dir : TcDirection.values()) {
                List<AttachedProgram> listed = a.call(() -> Tc.query(ifindex, dir));
                assertAsTcShows(a, "va", ifindex, dir, listed);
                assertThat(listed).filteredOn(p -> p.progId() == progId).singleElement().satisfies(p -> {
                    assertThat(p.priority()).isEqualTo(Tc.PRIORITY);
                    assertThat(p.handle()).isEqualTo(Tc.HANDLE);
                    assertThat(p.name()).isEqualTo("selftest_count");
                });
                assertThat(listed).hasSize(dir == TcDirection.INGRESS ? 3 : 2); // classic BPF is not listed
                assertThat(a.call(() -> Tc.queryAll(List.of(ifindex), dir))).containsExactly(Map.entry(ifindex,
                        listed));
            }
            assertThat(a.call(() -> TcFilters.here(ifindex, TcFilters.EGRESS)))
                    .anySatisfy(f -> assertThat(f.progId()).isZero()).filteredOn(f -> f.progId() == progId)
                    .singleElement().satisfies(f -> {
                        assertThat(f.directAction()).isTrue();
                        assertThat(f.bpfName()).isEqualTo("selftest_count:[" + progId + "]"); // libbpf's
                    });
            // filter dumps need an interface: ifindex 0 (all of them) answers nothing
            assertThat(a.call(() -> TcFilters.here(0, TcFilters.INGRESS))).isEmpty();

            // the interface vanishes: nothing, no error (one at a time or in a batch)
            TestNet.sh(a, "ip", "link", "del", "va");
            for (TcDirection dir : TcDirection.values()) {
                assertThat(a.call(() -> Tc.query(ifindex, dir))).isEmpty();
                assertThat(a.call(() -> TcFilters.here(ifindex, parent(dir)))).isEmpty();
                assertThat(a.call(() -> Tc.queryAll(List.of(ifindex), dir))).containsExactly(Map.entry(ifindex,
                        List.of()));
            }
        }
    }

    @Test
    void queryAllReadsManyInterfacesOverOneSocketAsTcShowsThem() throws Exception {
        NetNs c = net.netns("c");
        int n = 24;
        for (int i = 0; i < n; i++) {
            TestNet.sh(c, "ip", "link", "add", "q" + i, "type", "veth", "peer", "name", "r" + i);
        }
        Map<String, Integer> byName = Links.names(c).entrySet().stream()
                .collect(java.util.stream.Collectors.toMap(Map.Entry::getValue, Map.Entry::getKey));
        List<Integer> ifindexes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ifindexes.add(byName.get("q" + i));
        }
        Path obj = objectFile();
        try (BpfObject o = BpfObject.openResource("selftest.bpf.o").load()) {
            BpfProgram prog = o.program("selftest_count");
            // every third has another owner's ingress filter; even ones have ours on both hooks
            for (int i = 0; i < n; i += 3) {
                TestNet.sh(c, "tc", "qdisc", "add", "dev", "q" + i, "clsact");
                TestNet.sh(c, "tc", "filter", "add", "dev", "q" + i, "ingress", "pref", "2", "bpf", "da", "obj",
                        obj.toString(), "sec", "tc");
            }
            c.run(() -> {
                for (int i = 0; i < n; i += 2) {
                    for (TcDirection dir : TcDirection.values()) {
                        Tc.attach(prog, ifindexes.get(i), dir, AttachKind.TC, null);
                    }
                }
            });
            int gone = byName.get("q" + (n - 1));
            TestNet.sh(c, "ip", "link", "del", "q" + (n - 1));
            for (TcDirection dir : TcDirection.values()) {
                Map<Integer, List<AttachedProgram>> all = c.call(() -> Tc.queryAll(ifindexes, dir));
                assertThat(all.keySet()).containsExactlyElementsOf(ifindexes);
                assertThat(all.get(gone)).isEmpty();
                for (int i = 0; i < n - 1; i++) {
                    int ifindex = ifindexes.get(i);
                    assertAsTcShows(c, "q" + i, ifindex, dir, all.get(ifindex));
                    assertThat(all.get(ifindex)).as("q" + i + " " + dir.label())
                            .isEqualTo(c.call(() -> Tc.query(ifindex, dir)))
                            .hasSize((i % 2 == 0 ? 1 : 0) + (i % 3 == 0 && dir == TcDirection.INGRESS ? 1 : 0));
                }
            }
            // each hook asked for by its place, many to a write (more places than one write carries): what the
            // dump has at that place, or nothing (no filter there, another priority, the interface gone)
            List<TcFilters.Place> places = new ArrayList<>();
            for (int ifindex : ifindexes) {
                for (TcDirection dir : TcDirection.values()) {
                    places.add(new TcFilters.Place(ifindex, parent(dir), Tc.PRIORITY, Tc.HANDLE));
                }
            }
            TcFilter foreign = c.call(() -> TcFilters.here(ifindexes.get(0), TcFilters.INGRESS)).stream()
                    .filter(f -> f.priority() == 2).findFirst().orElseThrow();
            places.add(new TcFilters.Place(ifindexes.get(0), TcFilters.INGRESS, 2, foreign.handle()));
            places.add(new TcFilters.Place(ifindexes.get(0), TcFilters.INGRESS, 3, Tc.HANDLE));
            assertThat(places.size()).isGreaterThan(40);
            List<TcFilter> found = c.call(() -> {
                try (TcFilters f = TcFilters.open()) {
                    return f.find(places);
                }
            });
            assertThat(found).hasSameSizeAs(places);
            for (int i = 0; i < places.size(); i++) {
                TcFilters.Place p = places.get(i);
                TcFilter expected = c.call(() -> TcFilters.here(p.ifindex(), p.parent())).stream()
                        .filter(f -> f.priority() == p.priority() && f.handle() == p.handle()).findFirst().orElse(null);
                assertThat(found.get(i)).as(p.toString()).isEqualTo(expected);
            }
            assertThat(found.get(places.size() - 2)).isEqualTo(foreign);
            assertThat(found.stream().filter(java.util.Objects::nonNull).filter(f -> f.progId() == prog.info().id()))
                    .hasSize(2 * (n / 2)); // ours: both hooks of each even one (the gone q23 was odd)

            Map<Integer, List<AttachedProgram>> both = c.call(() -> Tc.queryAll(ifindexes));
            assertThat(both.keySet()).containsExactlyElementsOf(ifindexes);
            for (int ifindex : ifindexes) {
                List<AttachedProgram> expected = new ArrayList<>(c.call(() -> Tc.query(ifindex, TcDirection.INGRESS)));
                expected.addAll(c.call(() -> Tc.query(ifindex, TcDirection.EGRESS)));
                assertThat(both.get(ifindex)).isEqualTo(expected);
            }
        } finally {
            Files.delete(obj);
        }
    }

    @Test
    void detachKeepsTheQdiscWeCreatedWhileAnotherOwnersNonEbpfFilterIsOnIt() throws Exception {
        try (BpfObject o = BpfObject.openResource("selftest.bpf.o").load()) {
            BpfProgram prog = o.program("selftest_count");
            int ifindex = ifindex(b, "vb");
            TcAttachment t = b.call(() -> Tc.attach(prog, ifindex, TcDirection.INGRESS, AttachKind.TC, null));
            assertThat(t.createdQdisc()).isTrue();
            // a classic BPF filter: Tc.query does not list it, but it uses the qdisc
            TestNet.sh(b, "tc", "filter", "add", "dev", "vb", "egress", "pref", "9", "bpf", "bytecode",
                    "1,6 0 0 4294967295,");
            b.run(() -> Tc.detach(t));
            assertThat(b.call(() -> Tc.query(ifindex, TcDirection.INGRESS))).isEmpty();
            assertThat(b.exec("tc", "qdisc", "show", "dev", "vb").check().stdout()).contains("clsact");
            assertThat(TcReference.show(b, "vb", TcDirection.EGRESS)).singleElement()
                    .satisfies(f -> assertThat(f.priority()).isEqualTo(9));
        }
    }
}
