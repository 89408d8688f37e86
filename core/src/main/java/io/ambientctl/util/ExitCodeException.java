package io.ambientctl.util;

/**
 * A failure that carries the exit code of the command-line contract: 3 preflight failed,
 * 4 target not found / not on this node, 5 lock held. Core throws it; the CLI maps it.
 */
public class ExitCodeException extends RuntimeException {
    public static final int PREFLIGHT = 3;
    public static final int NOT_FOUND = 4;
    public static final int LOCKED = 5;

    private final int exitCode;

    public ExitCodeException(int exitCode, String message) {
        super(message);
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }

    public static ExitCodeException notFound(String message) {
        return new ExitCodeException(NOT_FOUND, message);
    }
}
