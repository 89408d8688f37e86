package io.ambientctl.observe;

import java.net.InetAddress;

import io.ambientctl.net.IpAddrs;

/** How `monitor` and `explain` write a packet's parts, the same in every mode. */
public final class Packets {
    public static final int TCP = 6;
    public static final int UDP = 17;

    private Packets() {
    }

    /** tcp, udp, or ip-proto-N ("other" for 0: the programs saw no IP protocol). */
    public static String protocol(int proto) {
        return proto == TCP ? "tcp" : proto == UDP ? "udp" : proto == 0 ? "other" : "ip-proto-" + proto;
    }

    /** ADDR:PORT ([ADDR]:PORT for IPv6); the address alone for a protocol without ports. */
    public static String endpoint(InetAddress a, int port, int proto) {
        String addr = IpAddrs.format(a);
        String host = a instanceof java.net.Inet6Address ? "[" + addr + "]" : addr;
        return proto == TCP || proto == UDP ? host + ":" + port : host;
    }

    /** The TCP flags set, by name, comma-separated in bit order (FIN,SYN,RST,PSH,ACK,URG,ECE,CWR). */
    public static String tcpFlags(int f) {
        StringBuilder b = new StringBuilder();
        String[] n = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
        for (int i = 0; i < n.length; i++) {
            if ((f & (1 << i)) != 0) {
                b.append(b.length() == 0 ? "" : ",").append(n[i]);
            }
        }
        return b.toString();
    }
}
