package io.ambientctl.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.ambientctl.redirect.Node;
import io.ambientctl.redirect.Workload;
import io.ambientctl.redirect.Ztunnel;

/** The JSON/YAML documents of the command-line contract (field names are the contract). */
final class Docs {
    private Docs() {
    }

    static Map<String, Object> workload(Workload w) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", w.name());
        m.put("namespace", w.namespace());
        m.put("netns", w.netns());
        m.put("ips", w.ips());
        m.put("podInterface", w.podInterface());
        m.put("podMac", w.podMac());
        m.put("hostInterface", w.hostInterface());
        m.put("hostIfindex", w.hostIfindex());
        m.put("id", w.id());
        m.put("dnsCapture", w.noDnsCapture() ? Boolean.FALSE : null);
        return m;
    }

    /**
     * The marks, routing tables and rule preferences in use: the node's mark bit (set and matched masked by
     * itself; used in the node's namespace by the iptables and nftables modes), ztunnel's namespace's mark.
     */
    static Map<String, Object> marks(Node.Status s) {
        int bit = s.options().markBit();
        boolean netfilter = s.mode() == io.ambientctl.redirect.RedirectMode.iptables
                || s.mode() == io.ambientctl.redirect.RedirectMode.nftables;
        Map<String, Object> node = new LinkedHashMap<>();
        node.put("bit", io.ambientctl.redirect.Marks.hex(bit));
        node.put("mark", io.ambientctl.redirect.Marks.node(bit));
        node.put("inUse", netfilter);
        node.put("table", Integer.parseInt(io.ambientctl.redirect.Marks.NODE_TABLE));
        node.put("rulePreference", Integer.parseInt(io.ambientctl.redirect.Marks.NODE_RULE_PREF));
        Map<String, Object> zt = new LinkedHashMap<>();
        zt.put("mark", io.ambientctl.redirect.Marks.tproxy());
        zt.put("table", Integer.parseInt(io.ambientctl.redirect.Marks.ZTUNNEL_TABLE));
        zt.put("rulePreference", Integer.parseInt(io.ambientctl.redirect.Marks.ZTUNNEL_RULE_PREF));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("node", node);
        m.put("ztunnel", zt);
        return m;
    }

    static Map<String, Object> ztunnel(Ztunnel z) {
        if (z == null) {
            return null;
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", z.name());
        m.put("namespace", z.namespace());
        m.put("netns", z.netns());
        m.put("ips", z.ips());
        m.put("podInterface", z.podInterface());
        m.put("podMac", z.podMac());
        m.put("hostInterface", z.hostInterface());
        m.put("hostIfindex", z.hostIfindex());
        m.put("ports", Map.of("outbound", Ztunnel.OUTBOUND_PORT, "inbound", Ztunnel.INBOUND_PORT, "hbone",
                Ztunnel.HBONE_PORT, "dns", Ztunnel.DNS_PORT));
        return m;
    }

    static Map<String, Object> status(Node.Status s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("mode", s.mode().name());
        m.put("layout", s.layout());
        m.put("upgradedFrom", s.upgradedFrom());
        m.put("ztunnel", ztunnel(s.ztunnel()));
        m.put("dnsCapture", s.options().dnsCapture());
        m.put("failOpen", s.options().failOpen());
        m.put("marks", marks(s));
        List<Map<String, Object>> ws = new ArrayList<>();
        for (Node.WorkloadStatus w : s.workloads()) {
            Map<String, Object> d = workload(w.workload());
            d.put("verified", w.verification().verified());
            d.put("problems", w.verification().problems());
            var c = w.counters();
            Map<String, Object> cm = new LinkedHashMap<>();
            cm.put("outPackets", c.outPackets());
            cm.put("outBytes", c.outBytes());
            cm.put("inPackets", c.inPackets());
            cm.put("inBytes", c.inBytes());
            cm.put("droppedPackets", c.droppedPackets());
            cm.put("drops", c.dropsByReason());
            d.put("counters", cm);
            ws.add(d);
        }
        m.put("workloads", ws);
        m.put("nodeProblems", s.nodeProblems());
        m.put("verified", s.verified());
        return m;
    }

    static Map<String, Object> outcomes(List<Node.Outcome> outcomes, boolean dryRun) {
        List<Map<String, Object>> rs = new ArrayList<>();
        for (Node.Outcome o : outcomes) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("target", o.target());
            r.put("action", o.action());
            if (o.workload() != null && !o.workload().key().equals(o.target())) {
                r.put("enrolledAs", o.workload().key()); // the same namespace, enrolled under another name or path
            }
            r.put("workload", o.workload() == null ? null : workload(o.workload()));
            rs.add(r);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dryRun", dryRun);
        m.put("results", rs);
        return m;
    }
}
