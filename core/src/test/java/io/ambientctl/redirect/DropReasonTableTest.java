package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

import io.ambientctl.observe.PassReason;
import io.ambientctl.redirect.ebpf.Datapath;
import io.ambientctl.redirect.ebpf.Maps;

/** The Java mirror of bpf/src/ambient.h's tables: drop and pass reasons, decisions, flags, hooks, the layout. */
class DropReasonTableTest {
    static Map<String, Long> defines() throws Exception {
        String h = Files.readString(Path.of("../bpf/src/ambient.h"));
        Map<String, Long> m = new LinkedHashMap<>();
        Matcher x = Pattern.compile("(?m)^#define\\s+(\\w+)\\s+(0x[0-9a-fA-F]+|\\d+)\\b").matcher(h);
        while (x.find()) {
            m.put(x.group(1), Long.decode(x.group(2)));
        }
        return m;
    }

    @Test
    void dropReasonsAreAmbientHs() throws Exception {
        Map<String, Long> d = defines();
        Map<String, Long> c = new LinkedHashMap<>();
        d.forEach((k, v) -> {
            if (k.startsWith("AMBIENT_DROP_") && !k.equals("AMBIENT_DROP_REASONS")) {
                c.put(k.substring("AMBIENT_DROP_".length()), v);
            }
        });
        Map<String, Long> j = new LinkedHashMap<>();
        for (DropReason r : DropReason.values()) {
            j.put(r.name(), (long) r.code());
        }
        assertThat(j).isEqualTo(c);
        assertThat(d.get("AMBIENT_DROP_REASONS")).isEqualTo((long) DropReason.SLOTS);
    }

    @Test
    void passReasonsAreAmbientHs() throws Exception {
        Map<String, Long> c = new LinkedHashMap<>();
        defines().forEach((k, v) -> {
            if (k.startsWith("AMBIENT_PASS_")) {
                c.put(k.substring("AMBIENT_PASS_".length()), v);
            }
        });
        Map<String, Long> j = new LinkedHashMap<>();
        for (PassReason r : PassReason.values()) {
            j.put(r.name(), (long) r.code());
        }
        assertThat(j).isEqualTo(c);
    }

    @Test
    void decisionsFlagsHooksAndTheLayoutAreAmbientHs() throws Exception {
        Map<String, Long> d = defines();
        assertThat(d.get("AMBIENT_LAYOUT")).isEqualTo(Maps.LAYOUT).isEqualTo(2L);
        assertThat(d.get("AMBIENT_CB_PASS")).isEqualTo(Datapath.CB_PASS);
        assertThat(d.get("AMBIENT_CB_OUTBOUND")).isEqualTo(Datapath.CB_OUTBOUND);
        assertThat(d.get("AMBIENT_CB_INBOUND")).isEqualTo(Datapath.CB_INBOUND);
        assertThat(d.get("AMBIENT_CB_BYPASS")).isEqualTo(Datapath.CB_BYPASS);
        assertThat(d.get("AMBIENT_CB_ASSIGNED")).isEqualTo(Datapath.CB_ASSIGNED);
        assertThat(d.get("AMBIENT_CB_DROP")).isEqualTo(Datapath.CB_DROP);
        assertThat(d.get("AMBIENT_EXPLAIN_MAGIC")).isEqualTo(Maps.EXPLAIN_MAGIC);
        assertThat(d.get("WORKLOAD_F_ENROLLED")).isEqualTo(Maps.WORKLOAD_F_ENROLLED);
        assertThat(d.get("WORKLOAD_F_NO_DNS_CAPTURE")).isEqualTo(Maps.WORKLOAD_F_NO_DNS_CAPTURE);
        assertThat(d.get("MONITOR_F_EVERY_PACKET")).isEqualTo(Maps.MONITOR_F_EVERY_PACKET);
        assertThat(d.get("AMBIENT_HOOK_POD_INGRESS")).isEqualTo(Maps.HOOK_POD_INGRESS);
        assertThat(d.get("AMBIENT_HOOK_POD_EGRESS")).isEqualTo(Maps.HOOK_POD_EGRESS);
        assertThat(d.get("AMBIENT_HOOK_ZTUNNEL_INGRESS")).isEqualTo(Maps.HOOK_ZTUNNEL_INGRESS);
        assertThat(d.get("AMBIENT_HOOK_ZTUNNEL_CAPTURE")).isEqualTo(Maps.HOOK_ZTUNNEL_CAPTURE);
        assertThat(d.get("AMBIENT_DIR_OUTBOUND")).isEqualTo(Maps.DIR_OUTBOUND);
        assertThat(d.get("AMBIENT_DIR_INBOUND")).isEqualTo(Maps.DIR_INBOUND);
        assertThat(d.get("AMBIENT_MARK_TPROXY")).isEqualTo(Datapath.MARK_TPROXY);
        assertThat(d.get("AMBIENT_MARK_MASK")).isEqualTo(Datapath.MARK_TPROXY_MASK);
        assertThat(d).as("layout 2 has no bypass mark").doesNotContainKey("AMBIENT_MARK_BYPASS");
    }

    @Test
    void countersDecodeDropsByReason() {
        long[] drops = new long[DropReason.SLOTS];
        drops[DropReason.NO_LISTENER.code()] = 3;
        drops[DropReason.NO_ZTUNNEL.code()] = 2;
        Counters c = new Counters(1, 2, 3, 4, drops);
        assertThat(c.droppedPackets()).isEqualTo(5);
        assertThat(c.dropsByReason()).containsExactly(Map.entry("noZtunnel", 2L), Map.entry("noListener", 3L),
                Map.entry("assignFailed", 0L), Map.entry("rewriteFailed", 0L));
        assertThat(c).isEqualTo(new Counters(1, 2, 3, 4, drops.clone()));
    }
}
