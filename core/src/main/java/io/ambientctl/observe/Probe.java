package io.ambientctl.observe;

import java.net.InetAddress;

/**
 * The packet `ambientctl explain` follows: from a workload (by its key), or from/to an address, to
 * {@code dst}:{@code dport}. {@code workload} null: {@code address} is the source (or, when it is not
 * enrolled and the destination is, the packet is inbound).
 */
public record Probe(String workload, InetAddress address, InetAddress dst, int dport, boolean udp) {
}
