package io.ambientctl.bpf.sys;

/** A native library could not be loaded; the message names it, where it was looked for and the fix. */
public class NativeLibraryException extends RuntimeException {
    public NativeLibraryException(String message) {
        super(message);
    }

    public NativeLibraryException(String message, Throwable cause) {
        super(message, cause);
    }
}
