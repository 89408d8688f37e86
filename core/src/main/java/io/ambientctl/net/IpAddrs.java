package io.ambientctl.net;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;

/** IP address helpers: literals only (never a DNS lookup), and the 16-byte form the maps use. */
public final class IpAddrs {
    private IpAddrs() {
    }

    /** Compiled once: a status reads a thousand workloads' addresses. */
    private static final java.util.regex.Pattern IPV4_CHARS = java.util.regex.Pattern.compile("[0-9.]+");

    /** Parses an IPv4 or IPv6 literal; refuses host names. */
    public static InetAddress parse(String literal) {
        String s = literal.strip();
        if (!(IPV4_CHARS.matcher(s).matches() || s.contains(":"))) {
            throw new IllegalArgumentException("not an IP address: '" + literal + "'");
        }
        try {
            int pct = s.indexOf('%');
            return InetAddress.getByName(pct >= 0 ? s.substring(0, pct) : s);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("not an IP address: '" + literal + "'", e);
        }
    }

    /**
     * Whether {@code s} is an IP literal as {@link #format} writes one: IPv4 as a dotted quad (checked here, with no
     * object made: a state file's thousand addresses are checked on every read), IPv6 as {@link #parse} takes it.
     */
    public static boolean isLiteral(String s) {
        if (s == null || s.isEmpty()) {
            return false;
        }
        if (s.indexOf(':') >= 0) {
            try {
                parse(s);
                return true;
            } catch (IllegalArgumentException e) {
                return false;
            }
        }
        int parts = 0;
        int value = 0;
        int digits = 0;
        for (int i = 0; i <= s.length(); i++) {
            char c = i < s.length() ? s.charAt(i) : '.';
            if (c == '.') {
                if (digits == 0 || value > 255) {
                    return false;
                }
                parts++;
                value = 0;
                digits = 0;
            } else if (c >= '0' && c <= '9' && digits < 3) {
                value = value * 10 + (c - '0');
                digits++;
            } else {
                return false;
            }
        }
        return parts == 4;
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

    /** The canonical text form: dotted IPv4, RFC 5952 IPv6 (lower case, longest zero run as "::"). */
    public static String format(InetAddress a) {
        if (a instanceof Inet4Address) {
            return a.getHostAddress();
        }
        byte[] b = a.getAddress();
        int[] g = new int[8];
        for (int i = 0; i < 8; i++) {
            g[i] = ((b[2 * i] & 0xff) << 8) | (b[2 * i + 1] & 0xff);
        }
        int bestStart = -1;
        int bestLen = 1;
        for (int i = 0; i < 8; ) {
            if (g[i] != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && g[j] == 0) {
                j++;
            }
            if (j - i > bestLen) {
                bestStart = i;
                bestLen = j - i;
            }
            i = j;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                sb.append("::");
                i += bestLen - 1;
                continue;
            }
            if (sb.length() > 0 && sb.charAt(sb.length() - 1) != ':') {
                sb.append(':');
            }
            sb.append(Integer.toHexString(g[i]));
        }
        return sb.toString();
    }

    public static boolean isV6(InetAddress a) {
        return a instanceof Inet6Address;
    }
}
