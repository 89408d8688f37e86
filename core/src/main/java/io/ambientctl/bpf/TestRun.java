package io.ambientctl.bpf;

import java.util.Arrays;

/**
 * Input of BPF_PROG_TEST_RUN for a tc program: a packet, and optionally the {@code __sk_buff}
 * fields the kernel lets a test set (mark, ingress_ifindex, ifindex, cb).
 */
public final class TestRun {
    private final byte[] packet;
    private int mark;
    private int ingressIfindex;
    private int ifindex;
    private final int[] cb = new int[5];
    private boolean withContext;
    private int repeat = 1;

    private TestRun(byte[] packet) {
        this.packet = packet.clone();
    }

    public static TestRun packet(byte[] packet) {
        return new TestRun(packet);
    }

    public TestRun mark(int mark) {
        this.mark = mark;
        this.withContext = true;
        return this;
    }

    public TestRun ingressIfindex(int ifindex) {
        this.ingressIfindex = ifindex;
        this.withContext = true;
        return this;
    }

    /** The device the packet is on; must exist in the caller's network namespace (default: lo). */
    public TestRun ifindex(int ifindex) {
        this.ifindex = ifindex;
        this.withContext = true;
        return this;
    }

    public TestRun cb(int index, int value) {
        this.cb[index] = value;
        this.withContext = true;
        return this;
    }

    public TestRun repeat(int n) {
        this.repeat = n;
        return this;
    }

    byte[] packet() {
        return packet;
    }

    int markValue() {
        return mark;
    }

    int ingressIfindexValue() {
        return ingressIfindex;
    }

    int ifindexValue() {
        return ifindex;
    }

    int[] cbValues() {
        return cb;
    }

    boolean withContext() {
        return withContext;
    }

    int repeatValue() {
        return repeat;
    }

    /** What the program returned and left: verdict, packet bytes, skb mark and cb. */
    public record Result(int retval, byte[] packet, int mark, int[] cb, int durationNs) {
        @Override
        public String toString() {
            return "Result[retval=" + retval + ", mark=" + mark + ", cb=" + Arrays.toString(cb) + ", "
                    + packet.length + " bytes]";
        }
    }
}
