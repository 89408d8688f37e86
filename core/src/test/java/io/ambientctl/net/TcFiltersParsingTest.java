package io.ambientctl.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import org.junit.jupiter.api.Test;

/** Decoding RTM_NEWTFILTER payloads (struct tcmsg and attributes) without a kernel. */
class TcFiltersParsingTest {
    private static ByteBuffer attr(int type, byte[] value) {
        int len = 4 + value.length;
        ByteBuffer b = ByteBuffer.allocate(Netlink.align(len)).order(ByteOrder.nativeOrder());
        b.putShort((short) len).putShort((short) type).put(value);
        return b.flip().limit(b.capacity());
    }

    private static byte[] u32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(v).array();
    }

    private static ByteBuffer message(int info, ByteBuffer... attrs) {
        ByteBuffer m = ByteBuffer.allocate(1024).order(ByteOrder.nativeOrder());
        m.put((byte) 0).put((byte) 0).putShort((short) 0).putInt(7).putInt(0xa3).putInt(TcFilters.INGRESS).putInt(info);
        for (ByteBuffer a : attrs) {
            m.put(a.duplicate());
        }
        return m.flip().slice().order(ByteOrder.nativeOrder());
    }

    @Test
    void aBpfFilterWithItsOptions() {
        ByteBuffer opts = ByteBuffer.allocate(256).order(ByteOrder.nativeOrder());
        opts.put(attr(TcFilters.TCA_BPF_ID, u32(42))).put(attr(TcFilters.TCA_BPF_NAME, "p:[42]\0".getBytes()))
                .put(attr(TcFilters.TCA_BPF_FLAGS, u32(TcFilters.TCA_BPF_FLAG_ACT_DIRECT)))
                .put(attr(TcFilters.TCA_BPF_TAG, new byte[] {0x2d, 0x50, 0x1d, (byte) 0xbe, 0, 1, 2, (byte) 0xff}));
        byte[] o = new byte[opts.position()];
        opts.flip().get(o);
        // pref 0xa3, protocol ETH_P_ALL in network order in the low 16 bits of tcm_info
        int info = (0xa3 << 16) | (ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? 0x0003 : 0x0300);
        TcFilter f = TcFilters.filter(message(info, attr(TcFilters.TCA_KIND, "bpf\0".getBytes()),
                attr(TcFilters.TCA_OPTIONS | 0x8000, o), attr(TcFilters.TCA_CHAIN, u32(0))));
        assertThat(f).isEqualTo(new TcFilter(7, TcFilters.INGRESS, 0xa3, 0x0003, 0xa3, 0, "bpf", 42, "p:[42]",
                "2d501dbe000102ff", true));
    }

    @Test
    void aPriorityHeaderWithoutOptionsIsNotAFilter() {
        assertThat(TcFilters.filter(message(1 << 16, attr(TcFilters.TCA_KIND, "bpf\0".getBytes())))).isNull();
        assertThat(TcFilters.filter(ByteBuffer.allocate(8))).isNull();
    }
}
