package io.ambientctl.bpf;

/** Encodes a typed key or value to the bytes a map holds, and back. */
public interface Codec<T> {
    int size();

    byte[] encode(T value);

    T decode(byte[] bytes);
}
