package io.ambientctl.bpf;

import io.ambientctl.bpf.sys.Layouts;
import jnr.ffi.Pointer;

/**
 * A loaded program: of a {@link BpfObject} (the object owns its fd), or opened from a pin
 * (this handle owns the fd; close it).
 */
public final class BpfProgram implements AutoCloseable {
    /** TC_ACT_* verdicts. */
    public static final int TC_ACT_UNSPEC = -1;
    public static final int TC_ACT_OK = 0;
    public static final int TC_ACT_SHOT = 2;
    public static final int TC_ACT_REDIRECT = 7;

    private final String name;
    private final Pointer handle;
    private final int ownFd;

    BpfProgram(String name, Pointer handle) {
        this.name = name;
        this.handle = handle;
        this.ownFd = -1;
    }

    private BpfProgram(String name, int fd) {
        this.name = name;
        this.handle = null;
        this.ownFd = fd;
    }

    /** Opens a pinned program (bpf_obj_get). */
    public static BpfProgram openPinned(java.nio.file.Path pin) {
        int fd = Bpf.lib().bpf_obj_get(pin.toString());
        if (fd < 0) {
            throw new BpfException("bpf_obj_get", pin.toString(), -fd);
        }
        try {
            String n = ProgramInfo.ofFd(fd, pin.toString()).name();
            return new BpfProgram(n, fd);
        } catch (RuntimeException e) {
            Bpf.closeFd(fd);
            throw e;
        }
    }

    /** Pins the program at {@code path}. */
    public void pin(java.nio.file.Path path) {
        BpfException.check(Bpf.lib().bpf_obj_pin(requireFd(), path.toString()), "bpf_obj_pin", name + " at " + path);
    }

    @Override
    public void close() {
        if (ownFd >= 0) {
            Bpf.closeFd(ownFd);
        }
    }

    public String name() {
        return name;
    }

    /** The program's fd, or -1 before the object is loaded. */
    public int fd() {
        return handle == null ? ownFd : Bpf.lib().bpf_program__fd(handle);
    }

    public ProgramInfo info() {
        return ProgramInfo.ofFd(requireFd(), "program " + name);
    }

    int requireFd() {
        int fd = fd();
        if (fd < 0) {
            throw new IllegalStateException("program " + name + " is not loaded");
        }
        return fd;
    }

    /** The ids of the maps the loaded program uses. */
    public java.util.Set<Integer> mapIds() {
        int fd = requireFd();
        Pointer info = Bpf.alloc(Layouts.PROG_INFO_SIZE);
        int[] len = {Layouts.PROG_INFO_SIZE};
        BpfException.check(Bpf.lib().bpf_obj_get_info_by_fd(fd, info, len), "bpf_obj_get_info_by_fd", name);
        int n = info.getInt(Layouts.PROG_INFO_NR_MAP_IDS);
        java.util.Set<Integer> ids = new java.util.TreeSet<>();
        if (n == 0) {
            return ids;
        }
        Pointer buf = Bpf.alloc(4 * n);
        Pointer again = Bpf.alloc(Layouts.PROG_INFO_SIZE);
        again.putInt(Layouts.PROG_INFO_NR_MAP_IDS, n);
        again.putLong(Layouts.PROG_INFO_MAP_IDS, buf.address());
        int[] len2 = {Layouts.PROG_INFO_SIZE};
        BpfException.check(Bpf.lib().bpf_obj_get_info_by_fd(fd, again, len2), "bpf_obj_get_info_by_fd", name);
        for (int i = 0; i < n; i++) {
            ids.add(buf.getInt(4L * i));
        }
        return ids;
    }

    /** BPF_PROG_TEST_RUN: runs the program once on the packet, returns the verdict and what it left. */
    public TestRun.Result testRun(TestRun in) {
        byte[] pkt = in.packet();
        int outCap = pkt.length + 256;
        Pointer dataIn = Bpf.alloc(pkt.length);
        dataIn.put(0, pkt, 0, pkt.length);
        Pointer dataOut = Bpf.alloc(outCap);
        Pointer opts = Bpf.alloc(Layouts.TEST_RUN_SIZE);
        opts.putLong(0, Layouts.TEST_RUN_SIZE);
        opts.putPointer(Layouts.TEST_RUN_DATA_IN, dataIn);
        opts.putPointer(Layouts.TEST_RUN_DATA_OUT, dataOut);
        opts.putInt(Layouts.TEST_RUN_DATA_SIZE_IN, pkt.length);
        opts.putInt(Layouts.TEST_RUN_DATA_SIZE_OUT, outCap);
        opts.putInt(Layouts.TEST_RUN_REPEAT, in.repeatValue());
        Pointer ctxIn = Bpf.alloc(Layouts.SKB_SIZE);
        Pointer ctxOut = Bpf.alloc(Layouts.SKB_SIZE);
        if (in.withContext()) {
            ctxIn.putInt(Layouts.SKB_MARK, in.markValue());
            ctxIn.putInt(Layouts.SKB_INGRESS_IFINDEX, in.ingressIfindexValue());
            ctxIn.putInt(Layouts.SKB_IFINDEX, in.ifindexValue());
            int[] cb = in.cbValues();
            for (int i = 0; i < cb.length; i++) {
                ctxIn.putInt(Layouts.SKB_CB + 4L * i, cb[i]);
            }
            opts.putPointer(Layouts.TEST_RUN_CTX_IN, ctxIn);
            opts.putInt(Layouts.TEST_RUN_CTX_SIZE_IN, Layouts.SKB_SIZE);
        }
        opts.putPointer(Layouts.TEST_RUN_CTX_OUT, ctxOut);
        opts.putInt(Layouts.TEST_RUN_CTX_SIZE_OUT, Layouts.SKB_SIZE);
        BpfException.check(Bpf.lib().bpf_prog_test_run_opts(requireFd(), opts), "bpf_prog_test_run_opts",
                "program " + name);
        int outLen = opts.getInt(Layouts.TEST_RUN_DATA_SIZE_OUT);
        byte[] out = new byte[outLen];
        dataOut.get(0, out, 0, outLen);
        int[] cb = new int[5];
        for (int i = 0; i < 5; i++) {
            cb[i] = ctxOut.getInt(Layouts.SKB_CB + 4L * i);
        }
        return new TestRun.Result(opts.getInt(Layouts.TEST_RUN_RETVAL), out, ctxOut.getInt(Layouts.SKB_MARK), cb,
                opts.getInt(Layouts.TEST_RUN_DURATION));
    }

    @Override
    public String toString() {
        return "program " + name;
    }
}
