package io.ambientctl.redirect;

import io.ambientctl.bpf.AttachKind;

/** The redirection suite in eBPF mode with filters on the clsact qdisc (kernels before 6.6). */
class EbpfClsactRedirectionKernelTest extends EbpfRedirectionSuite {
    @Override
    AttachKind kind() {
        return AttachKind.TC;
    }
}
