package io.ambientctl.bpf;

/**
 * A program the kernel has on a TC hook, whoever attached it: its position in the TCX chain or
 * its tc filter priority/handle, and what the kernel says of the program.
 */
public record AttachedProgram(AttachKind kind, TcDirection direction, int position, int priority, int handle,
                              int progId, String name, String tag, long runCount, long runTimeNs) {
}
