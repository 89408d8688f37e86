package io.ambientctl.bpf;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

import io.ambientctl.bpf.sys.Layouts;
import jnr.ffi.Pointer;

/** What the kernel says of a loaded program. runCount/runTimeNs count only while bpf stats are on. */
public record ProgramInfo(int id, int type, String name, String tag, long runCount, long runTimeNs) {

    static ProgramInfo ofFd(int fd, String what) {
        Pointer info = Bpf.alloc(Layouts.PROG_INFO_SIZE);
        int[] len = {Layouts.PROG_INFO_SIZE};
        BpfException.check(Bpf.lib().bpf_obj_get_info_by_fd(fd, info, len), "bpf_obj_get_info_by_fd", what);
        byte[] tag = new byte[8];
        info.get(Layouts.PROG_INFO_TAG, tag, 0, 8);
        return new ProgramInfo(info.getInt(Layouts.PROG_INFO_ID), info.getInt(Layouts.PROG_INFO_TYPE),
                info.getString(Layouts.PROG_INFO_NAME, Layouts.BPF_OBJ_NAME_LEN, StandardCharsets.US_ASCII),
                HexFormat.of().formatHex(tag), info.getLong(Layouts.PROG_INFO_RUN_CNT),
                info.getLong(Layouts.PROG_INFO_RUN_TIME_NS));
    }

    /** Looks a program up by its kernel id. */
    public static ProgramInfo ofId(int id) {
        int fd = Bpf.lib().bpf_prog_get_fd_by_id(id);
        if (fd < 0) {
            throw new BpfException("bpf_prog_get_fd_by_id", "program id " + id, -fd);
        }
        try {
            return ofFd(fd, "program id " + id);
        } finally {
            Bpf.closeFd(fd);
        }
    }
}
