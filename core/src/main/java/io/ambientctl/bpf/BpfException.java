package io.ambientctl.bpf;

import java.util.List;

/**
 * A failed BPF operation: names the call, the object it was about, the errno and a hint;
 * verifier failures carry the verifier's log.
 */
public class BpfException extends RuntimeException {
    private final String call;
    private final String object;
    private final int errno;
    private final String verifierLog;

    public BpfException(String call, String object, int errno, String detail, String verifierLog) {
        super(format(call, object, errno, detail, verifierLog));
        this.call = call;
        this.object = object;
        this.errno = errno;
        this.verifierLog = verifierLog;
    }

    public BpfException(String call, String object, int errno) {
        this(call, object, errno, null, null);
    }

    /** Turns a libbpf return value (negative errno) into an exception; returns rc when it is not an error. */
    public static int check(int rc, String call, String object) {
        if (rc < 0) {
            throw new BpfException(call, object, -rc);
        }
        return rc;
    }

    static String format(String call, String object, int errno, String detail, String verifierLog) {
        StringBuilder sb = new StringBuilder();
        sb.append(call);
        if (object != null) {
            sb.append('(').append(object).append(')');
        }
        sb.append(": ").append(Errno.name(errno));
        if (detail != null && !detail.isBlank()) {
            sb.append(": ").append(detail);
        }
        String hint = Errno.hint(errno);
        if (hint != null) {
            sb.append(" — ").append(hint);
        }
        if (verifierLog != null && !verifierLog.isBlank()) {
            sb.append("\nverifier log (last lines):\n").append(lastLines(verifierLog, 20));
        }
        return sb.toString();
    }

    static String lastLines(String log, int n) {
        List<String> lines = log.lines().filter(l -> !l.isBlank()).toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }

    public String call() {
        return call;
    }

    public String object() {
        return object;
    }

    public int errno() {
        return errno;
    }

    /** The whole verifier log, or null. */
    public String verifierLog() {
        return verifierLog;
    }
}
