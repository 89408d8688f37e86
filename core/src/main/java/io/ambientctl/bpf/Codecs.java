package io.ambientctl.bpf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Codecs of plain numbers in host byte order, as the kernel stores them. */
public final class Codecs {
    private Codecs() {
    }

    public static final Codec<Integer> U32 = new Codec<>() {
        @Override
        public int size() {
            return 4;
        }

        @Override
        public byte[] encode(Integer v) {
            return buffer(4).putInt(v).array();
        }

        @Override
        public Integer decode(byte[] b) {
            return wrap(b).getInt();
        }
    };

    public static final Codec<Long> U64 = new Codec<>() {
        @Override
        public int size() {
            return 8;
        }

        @Override
        public byte[] encode(Long v) {
            return buffer(8).putLong(v).array();
        }

        @Override
        public Long decode(byte[] b) {
            return wrap(b).getLong();
        }
    };

    /** A little-endian (host order) buffer of {@code n} bytes. */
    public static ByteBuffer buffer(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.nativeOrder());
    }

    public static ByteBuffer wrap(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.nativeOrder());
    }
}
