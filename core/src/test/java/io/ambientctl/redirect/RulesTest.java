package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.ambientctl.redirect.iptables.Rules;

class RulesTest {
    static final Ztunnel ZT = new Ztunnel("zt", null, "zt", List.of("10.0.0.2", "fd00::2"), "eth0", 2,
            "02:00:00:00:00:02", "vzt", 9, "02:00:00:00:00:09");

    @Test
    void nodeChainMarksPodsByTheSetsAndLeavesZtunnelAndTheNodeAlone() {
        String r = Rules.node(false, ZT, DatapathOptions.DEFAULT, true);
        assertThat(r).startsWith("*mangle\n:AMBIENT-PREROUTING - [0:0]\n-F AMBIENT-PREROUTING\n")
                .contains("-I PREROUTING 1 -j AMBIENT-PREROUTING\n")
                .contains("-A AMBIENT-PREROUTING -i vzt -j RETURN\n")
                .contains("-A AMBIENT-PREROUTING -m addrtype --dst-type LOCAL -j RETURN\n")
                .contains("-p udp --dport 53 -m set --match-set ambient-pods-v4 src -j RETURN")
                .contains("-p tcp -m set --match-set ambient-pods-v4 src -j MARK --set-xmark 0x1000/0x1000")
                .contains("-p udp -m set --match-set ambient-pods-v4 dst -j MARK --set-xmark 0x1000/0x1000")
                .endsWith("COMMIT\n");
        // the per-packet cost is the sets': no rule names a pod (mangle 10 and 12 log rules, raw 8)
        assertThat(Rules.mangle(false, ZT, DatapathOptions.DEFAULT, false).lines().filter(l -> l.startsWith("-A")))
                .hasSize(22);
        assertThat(r.lines().filter(l -> l.startsWith("-A"))).hasSize(30);
        assertThat(Rules.node(true, ZT, DatapathOptions.DEFAULT, false)).contains("ambient-pods-v6")
                .doesNotContain("-I PREROUTING");
    }

    @Test
    void dnsCaptureAndFailOpenChangeTheRules() {
        // DNS captured: only the workloads that opted out keep their DNS away from ztunnel
        assertThat(Rules.node(false, ZT, new DatapathOptions(true, false), false))
                .doesNotContain("--dport 53 -m set --match-set ambient-pods-v4")
                .contains("-A AMBIENT-PREROUTING -p udp --dport 53 -m set --match-set ambient-nodns-v4 src -j RETURN")
                .contains("-A AMBIENT-PREROUTING -p tcp --sport 53 -m set --match-set ambient-nodns-v4 dst -j RETURN");
        assertThat(Rules.ztunnel(false, new DatapathOptions(true, false), false))
                .contains("-p udp --dport 53 -m set --match-set ambient-pods-v4 src -j TPROXY --tproxy-mark 0x111/0xfff "
                        + "--on-port 15053");
        // no ztunnel: fail closed marks (to the blackhole route), fail open marks nothing
        assertThat(Rules.node(false, null, DatapathOptions.DEFAULT, false)).contains("-j MARK")
                .doesNotContain("-i vzt");
        assertThat(Rules.node(false, null, new DatapathOptions(false, true), false)).doesNotContain("-j MARK");
    }

    @Test
    void ztunnelChainKeepsItsSocketsAndPicksThePortByDirection() {
        String r = Rules.ztunnel(true, DatapathOptions.DEFAULT, true);
        List<String> rules = r.lines().filter(l -> l.startsWith("-A")).toList();
        assertThat(rules.get(0)).isEqualTo("-A AMBIENT-PREROUTING -m socket --transparent -j MARK --set-xmark 0x111/0xfff");
        assertThat(rules.get(1)).contains("-m mark --mark 0x111/0xfff -j RETURN");
        assertThat(rules.get(2)).contains("--dst-type LOCAL -j RETURN");
        assertThat(r).contains("-p tcp -m set --match-set ambient-pods-v6 src -j TPROXY --tproxy-mark 0x111/0xfff "
                + "--on-port 15001")
                .contains("-p tcp --dport 15008 -m set --match-set ambient-pods-v6 dst -j TPROXY --tproxy-mark "
                        + "0x111/0xfff --on-port 15008")
                .contains("-p tcp -m set --match-set ambient-pods-v6 dst -j TPROXY --tproxy-mark 0x111/0xfff "
                        + "--on-port 15006");
        assertThat(r.indexOf("--on-port 15008")).isLessThan(r.indexOf("--on-port 15006"));
    }

    @Test
    void theRawChainLeavesCapturedFlowsUntrackedSoNoNatTableSeesThem() {
        String raw = Rules.raw(false, ZT, DatapathOptions.DEFAULT, true);
        assertThat(raw).startsWith("*raw\n:AMBIENT-PREROUTING - [0:0]\n-F AMBIENT-PREROUTING\n"
                + "-I PREROUTING 1 -j AMBIENT-PREROUTING\n");
        List<String> rules = raw.lines().filter(l -> l.startsWith("-A")).toList();
        assertThat(rules).containsExactly(
                "-A AMBIENT-PREROUTING -i vzt -p tcp -m set --match-set ambient-pods-v4 dst -j CT --notrack",
                "-A AMBIENT-PREROUTING -i vzt -p udp -m set --match-set ambient-pods-v4 dst -j CT --notrack",
                "-A AMBIENT-PREROUTING -i vzt -j RETURN",
                "-A AMBIENT-PREROUTING -m addrtype --dst-type LOCAL -j RETURN",
                "-A AMBIENT-PREROUTING -p udp --dport 53 -m set --match-set ambient-pods-v4 src -j RETURN",
                "-A AMBIENT-PREROUTING -p tcp --dport 53 -m set --match-set ambient-pods-v4 src -j RETURN",
                "-A AMBIENT-PREROUTING -p tcp -m set --match-set ambient-pods-v4 src -j CT --notrack",
                "-A AMBIENT-PREROUTING -p udp -m set --match-set ambient-pods-v4 src -j CT --notrack");
        // no ztunnel: nothing goes to ztunnel, nothing is untracked
        assertThat(Rules.raw(false, null, DatapathOptions.DEFAULT, false)).doesNotContain("-A ");
    }

    @Test
    void theNodeMarkIsOneBitMaskedByItself() {
        String r = Rules.node(true, ZT, DatapathOptions.DEFAULT.withMarkBit(0x40), false);
        assertThat(r).contains("-j MARK --set-xmark 0x40/0x40").doesNotContain("0x1000");
        assertThat(Rules.nodeMark(DatapathOptions.DEFAULT)).isEqualTo("0x1000/0x1000");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> DatapathOptions.DEFAULT.withMarkBit(0x3000))
                .hasMessageContaining("exactly one bit");
        assertThat(Marks.parseBit("0x2000")).isEqualTo(0x2000);
        assertThat(Marks.parseBit("64")).isEqualTo(0x40);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Marks.parseBit("0")).hasMessageContaining("bit");
        // the default collides with no known owner; 0x2000 with the container engines', 0x4000 with kube-proxy's
        assertThat(Marks.collisions(Marks.DEFAULT_NODE_BIT)).isEmpty();
        assertThat(Marks.collisions(0x2000)).extracting(Marks.Owner::owner).singleElement().asString()
                .contains("container engines");
        assertThat(Marks.collisions(0x4000)).extracting(Marks.Owner::owner).containsExactly("kube-proxy");
    }

    @Test
    void removalTouchesOnlyOurChainAndJump() {
        assertThat(Rules.removal(true, true)).isEqualTo("*mangle\n-D PREROUTING -j AMBIENT-PREROUTING\n"
                + "-F AMBIENT-PREROUTING\n-X AMBIENT-PREROUTING\nCOMMIT\n");
        assertThat(Rules.removal(false, false)).isEqualTo("*mangle\nCOMMIT\n");
        assertThat(Rules.removal("raw", true, true)).isEqualTo("*raw\n-D PREROUTING -j AMBIENT-PREROUTING\n"
                + "-F AMBIENT-PREROUTING\n-X AMBIENT-PREROUTING\nCOMMIT\n");
    }

    @Test
    void aLogRuleAheadOfEachDecisionWithTheDecisionInItsPrefix() {
        List<String> m = Rules.mangle(false, ZT, DatapathOptions.DEFAULT, false).lines()
                .filter(l -> l.startsWith("-A")).toList();
        String log = " -j NFLOG --nflog-group " + Marks.NFLOG_GROUP + " --nflog-prefix ";
        assertThat(m.get(m.indexOf("-A AMBIENT-PREROUTING -p tcp -m set --match-set ambient-pods-v4 src -j MARK "
                + "--set-xmark 0x1000/0x1000") - 1)).isEqualTo("-A AMBIENT-PREROUTING -p tcp --tcp-flags SYN SYN -m set "
                + "--match-set ambient-pods-v4 src" + log + "\"ambient outbound - - out\"");
        // UDP within the limit; the destination's rule skips what the source's rule marked (logged once)
        assertThat(m).contains("-A AMBIENT-PREROUTING -p udp -m set --match-set ambient-pods-v4 dst -m mark ! --mark "
                + "0x1000/0x1000 -m limit --limit 100/sec" + log + "\"ambient inbound - - in\"");
        assertThat(m.get(m.indexOf("-A AMBIENT-PREROUTING -i vzt -j RETURN") - 2)).endsWith(
                "\"ambient pass fromZtunnel - -\"");
        // fail closed: every packet of the drop
        assertThat(Rules.mangle(false, null, DatapathOptions.DEFAULT, false)).contains("-A AMBIENT-PREROUTING -p tcp "
                + "-m set --match-set ambient-pods-v4 src" + log + "\"ambient drop noZtunnel - out\"");
        assertThat(Rules.mangle(false, null, new DatapathOptions(false, true), false)).doesNotContain("drop");
        // ztunnel: each TPROXY after its log rule (the target drops what finds no listener: no rule after it runs)
        List<String> z = Rules.ztunnel(true, DatapathOptions.DEFAULT, false).lines().filter(l -> l.startsWith("-A"))
                .toList();
        int tp = z.indexOf("-A AMBIENT-PREROUTING -p tcp --dport 15008 -m set --match-set ambient-pods-v6 dst -j TPROXY "
                + "--tproxy-mark 0x111/0xfff --on-port 15008");
        assertThat(z.get(tp - 1)).isEqualTo("-A AMBIENT-PREROUTING -p tcp --tcp-flags SYN SYN --dport 15008 -m set "
                + "--match-set ambient-pods-v6 dst" + log + "\"ambient tproxy - 15008 in\"");
        assertThat(z.stream().filter(l -> l.contains("NFLOG"))).hasSize(4);
        assertThat(NetfilterLog.parse("ambient tproxy - 15008 in"))
                .isEqualTo(new NetfilterLog("tproxy", null, 15008, "inbound"));
        assertThat(NetfilterLog.parse("ambient drop noZtunnel - out"))
                .isEqualTo(new NetfilterLog("drop", "noZtunnel", null, "outbound"));
        assertThat(NetfilterLog.parse("someone else's prefix")).isNull();
    }
}
