package io.ambientctl.redirect;

/**
 * Node-wide choices: capture DNS (UDP/TCP 53) to ztunnel's 15053, and what happens to an enrolled
 * workload's traffic while no ztunnel is set (fail closed, dropped, by default).
 */
public record DatapathOptions(boolean dnsCapture, boolean failOpen) {
    public static final DatapathOptions DEFAULT = new DatapathOptions(false, false);
}
