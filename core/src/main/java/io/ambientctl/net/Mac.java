package io.ambientctl.net;

import java.util.HexFormat;

/** A MAC address. */
public record Mac(byte[] bytes) {
    public Mac {
        if (bytes.length != 6) {
            throw new IllegalArgumentException("a MAC address has 6 bytes, not " + bytes.length);
        }
        bytes = bytes.clone();
    }

    public static Mac parse(String s) {
        String hex = s.replace(":", "").replace("-", "");
        if (hex.length() != 12) {
            throw new IllegalArgumentException("invalid MAC address '" + s + "'");
        }
        return new Mac(HexFormat.of().parseHex(hex));
    }

    @Override
    public byte[] bytes() {
        return bytes.clone();
    }

    @Override
    public String toString() {
        return HexFormat.ofDelimiter(":").formatHex(bytes);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Mac m && java.util.Arrays.equals(bytes, m.bytes);
    }

    @Override
    public int hashCode() {
        return java.util.Arrays.hashCode(bytes);
    }
}
