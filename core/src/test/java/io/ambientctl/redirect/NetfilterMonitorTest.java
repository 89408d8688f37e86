package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;

import org.junit.jupiter.api.Test;

import io.ambientctl.net.IpAddrs;

/** The headers the netfilter monitor reads from a logged packet's copy (pure). */
class NetfilterMonitorTest {
    @Test
    void ipv4TcpSynAndIpv6Udp() {
        ByteBuffer v4 = ByteBuffer.allocate(40);
        v4.put(0, (byte) 0x45).putShort(2, (short) 60).put(9, (byte) 6)
                .put(12, new byte[] {10, 0, 0, 1}).put(16, new byte[] {10, 0, 0, 2})
                .putShort(20, (short) 40000).putShort(22, (short) 8080).put(33, (byte) 0x12);
        NetfilterMonitor.Headers h = NetfilterMonitor.Headers.parse(v4);
        assertThat(h.proto()).isEqualTo(6);
        assertThat(IpAddrs.format(h.src())).isEqualTo("10.0.0.1");
        assertThat(IpAddrs.format(h.dst())).isEqualTo("10.0.0.2");
        assertThat(h.sport()).isEqualTo(40000);
        assertThat(h.dport()).isEqualTo(8080);
        assertThat(io.ambientctl.observe.Packets.tcpFlags(h.tcpFlags())).isEqualTo("SYN,ACK");
        assertThat(h.length()).isEqualTo(60);
        assertThat(io.ambientctl.observe.Packets.endpoint(h.dst(), h.dport(), h.proto())).isEqualTo("10.0.0.2:8080");

        ByteBuffer v6 = ByteBuffer.allocate(48);
        byte[] src = IpAddrs.parse("fd00::1").getAddress();
        byte[] dst = IpAddrs.parse("fd00::2").getAddress();
        v6.put(0, (byte) 0x60).putShort(4, (short) 8).put(6, (byte) 17).put(8, src).put(24, dst)
                .putShort(40, (short) 5353).putShort(42, (short) 53);
        h = NetfilterMonitor.Headers.parse(v6);
        assertThat(h.proto()).isEqualTo(17);
        assertThat(io.ambientctl.observe.Packets.endpoint(h.dst(), h.dport(), h.proto())).isEqualTo("[fd00::2]:53");
        assertThat(h.length()).isEqualTo(48);
        // not IP: nothing
        assertThat(NetfilterMonitor.Headers.parse(ByteBuffer.allocate(10))).isNull();
    }
}
