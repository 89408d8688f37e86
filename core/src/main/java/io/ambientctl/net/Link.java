package io.ambientctl.net;

import java.net.InetAddress;
import java.util.List;

/**
 * An interface as read inside one network namespace: for a veth whose peer lives in another
 * namespace, {@code peerIfindex} is the peer's index there and {@code peerNetnsId} the local id of
 * that namespace (-1 when the peer is in the same namespace or the link is not a veth).
 */
public record Link(int ifindex, String name, Mac mac, String kind, int peerIfindex, int peerNetnsId, boolean up,
                   List<Address> addresses) {

    /** An address with its prefix length and scope (global, link, host). */
    public record Address(InetAddress ip, int prefixLen, String scope) {
        public boolean global() {
            return "global".equals(scope);
        }
    }

    public boolean veth() {
        return "veth".equals(kind);
    }

    /** Global addresses, IPv4 first. */
    public List<InetAddress> globalIps() {
        return addresses.stream().filter(Address::global).map(Address::ip)
                .sorted((a, b) -> Boolean.compare(IpAddrs.isV6(a), IpAddrs.isV6(b))).toList();
    }
}
