package io.ambientctl.cli;

import io.ambientctl.bpf.AttachKind;
import picocli.CommandLine.Option;

/** --attach for the commands that hang the eBPF programs on workloads' veths (enroll, mode set ebpf). */
class AttachOption {
    enum Kind { auto, tcx, tc }

    @Option(names = "--attach", paramLabel = "KIND",
            description = "In eBPF mode, how the programs hang on the workloads' veths: ${COMPLETION-CANDIDATES}. "
                    + "auto (default): TCX links where the kernel has them (6.6+), else tc filters on a clsact "
                    + "qdisc; tc: clsact filters, which wait for no RCU grace period per hook: enrolling or "
                    + "unenrolling many workloads at once is up to ~10x faster (1,000 in 2.9 s instead of 31 s). "
                    + "Other owners' programs are kept either way.")
    Kind kind = Kind.auto;

    /** The kind to attach with; null: the kernel's best. */
    AttachKind attachKind() {
        return switch (kind) {
            case auto -> null;
            case tcx -> AttachKind.TCX;
            case tc -> AttachKind.TC;
        };
    }
}
