package io.ambientctl.bpf;

/**
 * One program attached by ambientctl to one TC hook. For TCX, {@code linkPin} keeps the link alive
 * after the process exits; for tc, {@code priority}/{@code handle} name our filter and
 * {@code createdQdisc} says whether we created the clsact qdisc.
 */
public record TcAttachment(AttachKind kind, int ifindex, TcDirection direction, int progId, int linkId,
                           String linkPin, int priority, int handle, boolean createdQdisc) {
}
