package io.ambientctl.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class BpfExceptionTest {
    @Test
    void namesCallObjectErrnoAndHint() {
        BpfException e = new BpfException("bpf_map_update_elem", "ambient_workloads", Errno.E2BIG);
        assertThat(e.getMessage()).startsWith("bpf_map_update_elem(ambient_workloads): E2BIG")
                .contains("the map is full");
        assertThat(new BpfException("bpf_link_create", "x", Errno.EPERM).getMessage()).contains("CAP_BPF");
        assertThat(new BpfException("bpf_obj_get", "/p", Errno.ENOENT).getMessage()).contains("bpffs");
        assertThat(new BpfException("bpf_x", null, Errno.EINVAL).getMessage()).contains("preflight");
    }

    @Test
    void verifierLogKeepsTheLastLines() {
        StringBuilder log = new StringBuilder();
        for (int i = 0; i < 100; i++) {
            log.append(i).append(": insn\n");
        }
        BpfException e = new BpfException("bpf_object__load", "o", Errno.EACCES, null, log.toString());
        assertThat(e.getMessage()).contains("99: insn").doesNotContain("\n50: insn");
        assertThat(e.verifierLog()).contains("0: insn");
    }

    @Test
    void checkPassesNonNegativeAndThrowsNegative() {
        assertThat(BpfException.check(3, "c", "o")).isEqualTo(3);
        assertThatThrownBy(() -> BpfException.check(-Errno.EBUSY, "c", "o")).isInstanceOf(BpfException.class)
                .hasMessageContaining("EBUSY");
        assertThat(Errno.name(9999)).isEqualTo("errno 9999");
    }

    @Test
    void codecsAreHostOrder() {
        assertThat(Codecs.U32.encode(1)).containsExactly(1, 0, 0, 0);
        assertThat(Codecs.U64.decode(Codecs.U64.encode(1L << 40))).isEqualTo(1L << 40);
    }
}
