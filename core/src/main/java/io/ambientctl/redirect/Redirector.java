package io.ambientctl.redirect;

/**
 * One redirection mode. Every operation is idempotent, and leaves nothing half-done when it fails.
 * Switching mode is: install the new one for every workload, verify, remove the old one.
 */
public interface Redirector {
    RedirectMode mode();

    /** Installs ztunnel's side (and the datapath options: DNS capture, fail-open). */
    void installZtunnel(Ztunnel zt, DatapathOptions options);

    /** Removes ztunnel's side; enrolled workloads then fail closed (or open, if chosen). */
    void uninstallZtunnel(Ztunnel zt, DatapathOptions options);

    void enroll(Workload w);

    void unenroll(Workload w);

    Verification verify(Workload w);

    /** Removes everything of this mode from the node. */
    void uninstall();
}
