package io.ambientctl.bpf;

/** A TC hook of an interface. */
public enum TcDirection {
    INGRESS(46, 1), EGRESS(47, 2);

    private final int tcxAttachType;
    private final int tcAttachPoint;

    TcDirection(int tcxAttachType, int tcAttachPoint) {
        this.tcxAttachType = tcxAttachType;
        this.tcAttachPoint = tcAttachPoint;
    }

    /** BPF_TCX_INGRESS / BPF_TCX_EGRESS. */
    public int tcxAttachType() {
        return tcxAttachType;
    }

    /** BPF_TC_INGRESS / BPF_TC_EGRESS of libbpf's tc API. */
    public int tcAttachPoint() {
        return tcAttachPoint;
    }

    public String label() {
        return name().toLowerCase();
    }
}
