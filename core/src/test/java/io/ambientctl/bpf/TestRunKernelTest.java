package io.ambientctl.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.net.Mac;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.Packets;

/** BPF_PROG_TEST_RUN on crafted frames: verdict and bytes. */
class TestRunKernelTest {
    static final Mac SRC = Mac.parse("02:00:00:00:00:01");
    static final Mac DST = Mac.parse("02:00:00:00:00:02");
    static final Mac NEW = Mac.parse("0a:bb:cc:dd:ee:ff");

    @BeforeEach
    void setUp() {
        Kernel.require();
    }

    static byte[] config(int dropProto, Mac newDst) {
        var b = Codecs.buffer(12).putInt(dropProto).put((byte) (newDst == null ? 0 : 1));
        b.put(newDst == null ? new byte[6] : newDst.bytes()).put((byte) 0);
        return b.array();
    }

    @Test
    void countsPassesDropsAndRewrites() {
        byte[] tcp = Packets.frame(SRC, DST, "10.0.0.1", "10.0.0.2", Packets.TCP, 40000, 80);
        try (BpfObject o = BpfObject.openResource("selftest.bpf.o").load()) {
            BpfProgram p = o.program("selftest_count");
            TypedMap<Integer, Long> stats = new TypedMap<>(o.map("selftest_stats"), Codecs.U32, Codecs.U64);

            TestRun.Result r = p.testRun(TestRun.packet(tcp));
            assertThat(r.retval()).isEqualTo(BpfProgram.TC_ACT_UNSPEC);
            assertThat(r.packet()).isEqualTo(tcp);
            assertThat(stats.get(6)).contains(1L);

            o.map("selftest_config").put(Codecs.U32.encode(0), config(6, null));
            r = p.testRun(TestRun.packet(tcp));
            assertThat(r.retval()).isEqualTo(BpfProgram.TC_ACT_SHOT);
            assertThat(stats.get(6)).contains(2L);

            o.map("selftest_config").put(Codecs.U32.encode(0), config(17, NEW));
            r = p.testRun(TestRun.packet(tcp));
            assertThat(r.retval()).isEqualTo(BpfProgram.TC_ACT_UNSPEC);
            assertThat(Packets.dstMac(r.packet())).isEqualTo(NEW);
            assertThat(Arrays.copyOfRange(r.packet(), 6, r.packet().length))
                    .isEqualTo(Arrays.copyOfRange(tcp, 6, tcp.length));

            byte[] v6 = Packets.frame(SRC, DST, "fd00::1", "fd00::2", Packets.UDP, 5000, 53);
            r = p.testRun(TestRun.packet(v6));
            assertThat(r.retval()).isEqualTo(BpfProgram.TC_ACT_UNSPEC);
            assertThat(stats.get(0x10000 | 0x86dd)).contains(1L);
        }
    }

    @Test
    void contextFieldsGoInAndComeBack() {
        byte[] udp = Packets.frame(SRC, DST, "10.0.0.1", "10.0.0.2", Packets.UDP, 1, 2);
        try (BpfObject o = BpfObject.openResource("selftest.bpf.o").load()) {
            TestRun.Result r = o.program("selftest_count").testRun(TestRun.packet(udp).mark(0x42).cb(2, 7));
            assertThat(r.mark()).isEqualTo(0x42);
            assertThat(r.cb()[2]).isEqualTo(7);
        }
    }
}
