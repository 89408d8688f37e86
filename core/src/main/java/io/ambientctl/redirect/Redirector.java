package io.ambientctl.redirect;

import java.util.List;

import io.ambientctl.redirect.ebpf.Maps;

/**
 * One redirection mode. Every operation is idempotent, and leaves nothing half-done when it fails.
 * Switching mode is: install the new one for every workload, verify, remove the old one. The
 * policy routing inside ztunnel's namespace ({@link ZtunnelRouting}) is shared by both modes and
 * is not removed by {@link #uninstall()}.
 */
public interface Redirector extends AutoCloseable {
    RedirectMode mode();

    /** Installs ztunnel's side (and the datapath options: DNS capture, fail-open). */
    void installZtunnel(Ztunnel zt, DatapathOptions options);

    /** Removes ztunnel's side; enrolled workloads then fail closed (or open, if chosen). */
    void uninstallZtunnel(Ztunnel zt, DatapathOptions options);

    /** Applies the options without a ztunnel (before one is set). */
    void applyOptions(DatapathOptions options);

    void enroll(Workload w);

    void unenroll(Workload w);

    /** Enrolls many at once (a mode may batch them); on failure none of them stays enrolled. */
    default void enrollAll(List<Workload> ws) {
        List<Workload> done = new java.util.ArrayList<>();
        try {
            for (Workload w : ws) {
                enroll(w);
                done.add(w);
            }
        } catch (RuntimeException e) {
            for (Workload w : done) {
                try {
                    unenroll(w);
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    /** Unenrolls many at once (a mode may batch them). */
    default void unenrollAll(List<Workload> ws) {
        ws.forEach(this::unenroll);
    }

    Verification verify(Workload w);

    /** Verifies many (a mode may read the kernel once for all of them); in the order given. */
    default List<Verification> verifyAll(List<Workload> ws) {
        return ws.stream().map(this::verify).toList();
    }

    /** Problems of the mode's node-wide objects (ztunnel side, chains, routing): empty when all is in place. */
    List<String> verifyNode();

    /** The node's own addresses bypass the mesh; re-read them where the mode keeps a copy. */
    default void refreshNodeAddresses() {
    }

    /** Redirected packets and bytes of the workload, where the mode counts them (else zeros). */
    default Maps.Counters counters(Workload w) {
        return Maps.ZERO;
    }

    /**
     * Kernel objects of this mode that the state does not account for (a workload's entries or hooks
     * after an interrupted operation, for instance); removes them unless {@code dryRun}. Returns what
     * it found / did, one line each.
     */
    List<String> reconcile(boolean dryRun);

    /** Whether any object of this mode is on the node (to find leftovers of the other mode). */
    boolean present();

    /** Removes everything of this mode from the node (but the shared ztunnel routing). */
    void uninstall();

    @Override
    void close();
}
