package io.ambientctl.cli;

import io.ambientctl.bpf.AttachKind;
import picocli.CommandLine.Option;

/** --attach for the commands that hang the eBPF programs on workloads' veths (enroll, mode set ebpf). */
class AttachOption {
    enum Kind { auto, tcx, tc }

    @Option(names = "--attach", paramLabel = "KIND",
            description = "In eBPF mode, how the programs hang on the hooks: ${COMPLETION-CANDIDATES}. "
                    + "auto (default): tc filters on a clsact qdisc on the workloads' veths (no RCU grace period "
                    + "per hook: 1,000 workloads attach in a fraction of a second) and TCX links on ztunnel's two "
                    + "hooks where the kernel has them (6.6+); tcx: TCX links everywhere (~20 ms a hook to attach "
                    + "and detach); tc: clsact filters everywhere. The kind is recorded per hook; changing it "
                    + "re-hooks and leaves nothing of the other. Other owners' programs are kept either way.")
    Kind kind = Kind.auto;

    /** The kind to attach with; null: auto. */
    AttachKind attachKind() {
        return switch (kind) {
            case auto -> null;
            case tcx -> AttachKind.TCX;
            case tc -> AttachKind.TC;
        };
    }
}
