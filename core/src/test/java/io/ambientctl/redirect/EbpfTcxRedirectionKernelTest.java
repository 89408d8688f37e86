package io.ambientctl.redirect;

import io.ambientctl.bpf.AttachKind;

/** The redirection suite in eBPF mode with TCX links. */
class EbpfTcxRedirectionKernelTest extends EbpfRedirectionSuite {
    @Override
    AttachKind kind() {
        return AttachKind.TCX;
    }
}
