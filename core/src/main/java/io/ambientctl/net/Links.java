package io.ambientctl.net;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.bpf.sys.Native;
import io.ambientctl.util.Exec;
import io.ambientctl.util.Json;

/** Reads the interfaces of a network namespace (through iproute2's JSON output, or libc for names only). */
public final class Links {
    private Links() {
    }

    /** Every interface of the namespace the calling thread is in. */
    public static List<Link> here() {
        Exec.Result r = Exec.run(List.of("ip", "-j", "-d", "address", "show")).check();
        return parse(r.stdout());
    }

    /**
     * The names of the interfaces of the namespace the calling thread is in, by ifindex: one libc call
     * ({@code if_nameindex}, netlink underneath), no process; for decoding ifindexes where nothing else is needed.
     */
    public static Map<Integer, String> namesHere() {
        return Native.interfaceNames();
    }

    /** {@link #namesHere} of {@code ns}. */
    public static Map<Integer, String> names(NetNs ns) {
        return ns.call(Links::namesHere);
    }

    /** Every interface of {@code ns}. */
    public static List<Link> in(NetNs ns) {
        return ns.call(Links::here);
    }

    public static Optional<Link> byIndex(List<Link> links, int ifindex) {
        return links.stream().filter(l -> l.ifindex() == ifindex).findFirst();
    }

    public static Optional<Link> byName(List<Link> links, String name) {
        return links.stream().filter(l -> l.name().equals(name)).findFirst();
    }

    static List<Link> parse(String json) {
        List<Link> out = new ArrayList<>();
        JsonNode arr = Json.parse(json);
        if (arr == null || !arr.isArray()) {
            return out;
        }
        for (JsonNode l : arr) {
            List<Link.Address> addrs = new ArrayList<>();
            for (JsonNode a : l.path("addr_info")) {
                if (!a.has("local")) {
                    continue;
                }
                addrs.add(new Link.Address(IpAddrs.parse(a.get("local").asText()), a.path("prefixlen").asInt(),
                        a.path("scope").asText("global")));
            }
            String mac = l.path("address").asText("");
            boolean hasPeerNs = l.has("link_netnsid");
            out.add(new Link(l.path("ifindex").asInt(), l.path("ifname").asText(),
                    mac.matches("([0-9a-f]{2}:){5}[0-9a-f]{2}") ? Mac.parse(mac) : null,
                    l.path("linkinfo").path("info_kind").asText(""),
                    hasPeerNs ? l.path("link_index").asInt(-1) : -1,
                    hasPeerNs ? l.path("link_netnsid").asInt(-1) : -1,
                    l.path("flags").toString().contains("\"UP\""), List.copyOf(addrs)));
        }
        return out;
    }
}
