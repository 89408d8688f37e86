package io.ambientctl.bpf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.Consumer;

import io.ambientctl.bpf.sys.LibBpf;
import jnr.ffi.Pointer;

/**
 * A consumer of a BPF_MAP_TYPE_RINGBUF map through libbpf's ring_buffer__new / ring_buffer__poll (libbpf
 * does the memory-ordering protocol of the ring: the producer's and consumer's positions, busy and discard
 * bits; doing it over a Java mmap would mean re-implementing acquire/release reads by hand). Each record is
 * handed to the consumer as a host-order ByteBuffer copy, on the polling thread.
 */
public final class RingBuffer implements AutoCloseable {
    private final Pointer rb;
    private final LibBpf.RingBufferSampleFn callback; // held: libbpf keeps the native pointer to it
    private RuntimeException failure;

    public RingBuffer(BpfMap map, Consumer<ByteBuffer> consumer) {
        this.callback = (ctx, data, size) -> {
            try {
                byte[] b = new byte[(int) size];
                data.get(0, b, 0, b.length);
                consumer.accept(ByteBuffer.wrap(b).order(ByteOrder.nativeOrder()));
                return 0;
            } catch (RuntimeException e) {
                failure = e;
                return -1; // stops this poll; rethrown by poll()
            }
        };
        Pointer p = Bpf.lib().ring_buffer__new(map.fd(), callback, null, null);
        if (p == null) {
            throw new BpfException("ring_buffer__new", "map fd " + map.fd(), Bpf.lastErrno(), null, null);
        }
        this.rb = p;
    }

    /** Waits up to {@code timeoutMs} for records and hands each over; the number consumed. */
    public int poll(int timeoutMs) {
        int n = Bpf.lib().ring_buffer__poll(rb, timeoutMs);
        if (failure != null) {
            RuntimeException e = failure;
            failure = null;
            throw e;
        }
        if (n < 0 && n != -Errno.EINTR) {
            throw new BpfException("ring_buffer__poll", "ring buffer", -n, null, null);
        }
        return Math.max(n, 0);
    }

    @Override
    public void close() {
        Bpf.lib().ring_buffer__free(rb);
    }
}
