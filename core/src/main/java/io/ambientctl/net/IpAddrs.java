package io.ambientctl.net;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;

/** IP address helpers: literals only (never a DNS lookup), and the 16-byte form the maps use. */
public final class IpAddrs {
    private IpAddrs() {
    }

    /** Parses an IPv4 or IPv6 literal; refuses host names. */
    public static InetAddress parse(String literal) {
        String s = literal.strip();
        if (!(s.matches("[0-9.]+") || s.contains(":"))) {
            throw new IllegalArgumentException("not an IP address: '" + literal + "'");
        }
        try {
            int pct = s.indexOf('%');
            return InetAddress.getByName(pct >= 0 ? s.substring(0, pct) : s);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("not an IP address: '" + literal + "'", e);
        }
    }

    /** IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), IPv6 as is: the maps' key. */
    public static byte[] toKey(InetAddress a) {
        byte[] out = new byte[16];
        byte[] b = a.getAddress();
        if (a instanceof Inet4Address) {
            out[10] = (byte) 0xff;
            out[11] = (byte) 0xff;
            System.arraycopy(b, 0, out, 12, 4);
        } else {
            System.arraycopy(b, 0, out, 0, 16);
        }
        return out;
    }

    /** The inverse of {@link #toKey}. */
    public static InetAddress fromKey(byte[] key) {
        boolean mapped = true;
        for (int i = 0; i < 10; i++) {
            mapped &= key[i] == 0;
        }
        mapped &= key[10] == (byte) 0xff && key[11] == (byte) 0xff;
        try {
            if (mapped) {
                return InetAddress.getByAddress(new byte[] {key[12], key[13], key[14], key[15]});
            }
            return Inet6Address.getByAddress(null, key.clone(), null);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    public static String format(InetAddress a) {
        String s = a.getHostAddress();
        int pct = s.indexOf('%');
        return pct >= 0 ? s.substring(0, pct) : s;
    }

    public static boolean isV6(InetAddress a) {
        return a instanceof Inet6Address;
    }
}
