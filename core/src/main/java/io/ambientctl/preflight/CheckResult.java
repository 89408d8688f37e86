package io.ambientctl.preflight;

/**
 * One preflight check's outcome. {@code required}: the chosen mode cannot work when this fails.
 * {@code fix} tells the administrator what to do (null when nothing is to be done).
 */
public record CheckResult(String id, Status status, boolean required, String detail, String fix) {
    public enum Status {
        pass, warn, fail, skip
    }

    public static CheckResult pass(String id, boolean required, String detail) {
        return new CheckResult(id, Status.pass, required, detail, null);
    }

    public static CheckResult warn(String id, boolean required, String detail, String fix) {
        return new CheckResult(id, Status.warn, required, detail, fix);
    }

    public static CheckResult fail(String id, boolean required, String detail, String fix) {
        return new CheckResult(id, Status.fail, required, detail, fix);
    }

    public static CheckResult skip(String id, boolean required, String detail) {
        return new CheckResult(id, Status.skip, required, detail, null);
    }

    /** A required check that failed: the mode cannot work. */
    public boolean blocking() {
        return required && status == Status.fail;
    }
}
