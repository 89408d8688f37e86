package io.ambientctl.bpf;

import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.net.NetNs;
import io.ambientctl.util.Json;

/**
 * iproute2's view of the tc filters of a hook ({@code tc -j filter show dev IF ingress|egress}): the
 * reference for the rtnetlink reader behind {@link Tc#query} (and what {@code Tc.query} ran before).
 */
final class TcReference {
    /** One filter (a priority's header line is left out); progId 0 when not an eBPF program. */
    record Filter(String kind, int priority, int handle, int progId, String progName, String tag, String bpfName,
                  boolean directAction) {
    }

    private TcReference() {
    }

    static List<Filter> show(NetNs ns, String ifname, TcDirection dir) {
        return parse(ns.exec("tc", "-j", "filter", "show", "dev", ifname, dir.label()).check().stdout());
    }

    static List<Filter> parse(String json) {
        List<Filter> out = new ArrayList<>();
        JsonNode arr = Json.parse(json);
        if (arr == null || !arr.isArray()) {
            return out;
        }
        for (JsonNode f : arr) {
            JsonNode o = f.path("options");
            if (o.isMissingNode()) {
                continue;
            }
            JsonNode prog = o.path("prog");
            out.add(new Filter(f.path("kind").asText(), f.path("pref").asInt(),
                    Integer.decode(o.path("handle").asText("0x0")), prog.path("id").asInt(0),
                    prog.path("name").asText(""), prog.path("tag").asText(o.path("tag").asText("")),
                    o.path("bpf_name").asText(""), o.path("direct-action").asBoolean(false)));
        }
        return out;
    }
}
