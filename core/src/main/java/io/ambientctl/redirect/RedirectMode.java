package io.ambientctl.redirect;

/** How enrolled workloads' traffic reaches ztunnel on this node. */
public enum RedirectMode {
    ebpf, iptables, nftables, none;

    public static RedirectMode parse(String s) {
        for (RedirectMode m : values()) {
            if (m.name().equalsIgnoreCase(s)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown mode '" + s + "': use ebpf, iptables or nftables");
    }
}
