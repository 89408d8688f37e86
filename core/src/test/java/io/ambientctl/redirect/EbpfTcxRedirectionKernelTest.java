package io.ambientctl.redirect;

import io.ambientctl.bpf.AttachKind;

/** The redirection suite in eBPF mode with TCX links. */
class EbpfTcxRedirectionKernelTest extends RedirectionSuite {
    @Override
    AttachKind kind() {
        return AttachKind.TCX;
    }
}
