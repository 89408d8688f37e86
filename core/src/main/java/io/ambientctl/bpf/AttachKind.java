package io.ambientctl.bpf;

/** How a program hangs on a TC hook: a TCX link (kernel 6.6+) or a filter on the clsact qdisc. */
public enum AttachKind {
    TCX, TC;

    public String label() {
        return name().toLowerCase();
    }
}
