package io.ambientctl.testing;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.ByteBuffer;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.net.Mac;

/** Crafted Ethernet/IPv4/IPv6 + TCP/UDP frames for BPF_PROG_TEST_RUN. */
public final class Packets {
    public static final int TCP = 6;
    public static final int UDP = 17;
    public static final int ICMP = 1;

    private Packets() {
    }

    public static byte[] frame(Mac src, Mac dst, String srcIp, String dstIp, int proto, int sport, int dport) {
        InetAddress s = IpAddrs.parse(srcIp);
        InetAddress d = IpAddrs.parse(dstIp);
        boolean v4 = s instanceof Inet4Address;
        int l4 = proto == TCP ? 20 : 8;
        byte[] payload = "ambientctl".getBytes();
        int ipLen = (v4 ? 20 : 40) + l4 + payload.length;
        ByteBuffer b = ByteBuffer.allocate(14 + ipLen);
        b.put(dst.bytes()).put(src.bytes()).putShort((short) (v4 ? 0x0800 : 0x86dd));
        if (v4) {
            b.put((byte) 0x45).put((byte) 0).putShort((short) ipLen).putShort((short) 1).putShort((short) 0x4000)
                    .put((byte) 64).put((byte) proto).putShort((short) 0).put(s.getAddress()).put(d.getAddress());
            int sum = 0;
            for (int i = 14; i < 34; i += 2) {
                sum += ((b.get(i) & 0xff) << 8) | (b.get(i + 1) & 0xff);
            }
            while ((sum >> 16) != 0) {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            b.putShort(24, (short) ~sum);
        } else {
            b.putInt(0x60000000).putShort((short) (l4 + payload.length)).put((byte) proto).put((byte) 64)
                    .put(s.getAddress()).put(d.getAddress());
        }
        if (proto == TCP) {
            b.putShort((short) sport).putShort((short) dport).putInt(1).putInt(0).put((byte) 0x50).put((byte) 0x02)
                    .putShort((short) 65535).putShort((short) 0).putShort((short) 0);
        } else {
            b.putShort((short) sport).putShort((short) dport).putShort((short) (8 + payload.length)).putShort((short) 0);
        }
        b.put(payload);
        return b.array();
    }

    public static Mac dstMac(byte[] frame) {
        byte[] m = new byte[6];
        System.arraycopy(frame, 0, m, 0, 6);
        return new Mac(m);
    }
}
