package io.ambientctl.net;

/** A network namespace is missing or cannot be entered. errno 2 (ENOENT) means it does not exist. */
public class NetNsException extends RuntimeException {
    private final int errno;

    public NetNsException(String message, int errno) {
        super(message);
        this.errno = errno;
    }

    public NetNsException(String message, Throwable cause) {
        super(message, cause);
        this.errno = 0;
    }

    public int errno() {
        return errno;
    }

    public boolean notFound() {
        return errno == 2;
    }
}
