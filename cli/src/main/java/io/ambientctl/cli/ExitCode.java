package io.ambientctl.cli;

/** The exit codes of the command-line contract (docs/cli.md). */
public final class ExitCode {
    public static final int OK = 0;
    /** The operation failed (kernel, iptables, Kubernetes API error). */
    public static final int FAILED = 1;
    /** Usage error: unknown command, flag or mode. */
    public static final int USAGE = 2;
    /** preflight: a check the mode requires failed. */
    public static final int PREFLIGHT = 3;
    /** A named target does not exist or is not on this node. */
    public static final int NOT_FOUND = 4;
    /** Another ambientctl holds the lock. */
    public static final int LOCKED = 5;

    private ExitCode() {
    }

    // The list every command's help and man page shows (picocli's exitCodeList, "code:meaning").
    static final String HEADING = "%nExit codes:%n";
    static final String L0 = "0:success";
    static final String L1 = "1:the operation failed (kernel, iptables, Kubernetes API); the message says what to do";
    static final String L2 = "2:usage error (unknown command, flag or mode)";
    static final String L3 = "3:preflight: a check the mode requires failed";
    static final String L4 = "4:a named target does not exist or is not on this node";
    static final String L5 = "5:another ambientctl holds the lock (see --wait)";
}
