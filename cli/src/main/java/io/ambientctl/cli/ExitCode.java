package io.ambientctl.cli;

/** The exit codes of the command-line contract (../shared/design/CLI.md). */
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

    /** The table shown in --help. */
    public static final String[] HELP = {
        "  0   success",
        "  1   the operation failed (kernel, iptables, Kubernetes API); the message says what to do",
        "  2   usage error (unknown command, flag or mode)",
        "  3   preflight: a check the mode requires failed",
        "  4   a named target does not exist or is not on this node",
        "  5   another ambientctl holds the lock (see --wait)",
    };
}
