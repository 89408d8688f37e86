package io.ambientctl.net;

import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.util.Exec;
import io.ambientctl.util.Json;

/** iproute2's view of a namespace's interfaces ({@code ip -j -d address show}): the reference for {@link Netlink}. */
final class Iproute {
    private Iproute() {
    }

    static List<Link> in(NetNs ns) {
        return ns.call(() -> parse(Exec.run(List.of("ip", "-j", "-d", "address", "show")).check().stdout()));
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
