package io.ambientctl.redirect;

/**
 * How far a {@link Node} operation that loops over workloads has come: {@code done} of {@code total}
 * steps of {@code phase} ("discovering", "enrolling", "installing iptables", "verifying", ...). Called
 * on the thread doing the work, before the first step and after each one; a listener only records or
 * renders (core has no UI), and must not throw.
 */
@FunctionalInterface
public interface Progress {
    /** A listener that ignores everything (the default). */
    Progress NONE = (phase, done, total) -> { };

    void update(String phase, int done, int total);
}
