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
                .contains("-p tcp -m set --match-set ambient-pods-v4 src -j MARK --set-xmark 0x2000/0xf000")
                .contains("-p udp -m set --match-set ambient-pods-v4 dst -j MARK --set-xmark 0x2000/0xf000")
                .endsWith("COMMIT\n");
        // the per-packet cost is the sets': no rule names a pod
        assertThat(r.lines().filter(l -> l.startsWith("-A"))).hasSize(10);
        assertThat(Rules.node(true, ZT, DatapathOptions.DEFAULT, false)).contains("ambient-pods-v6")
                .doesNotContain("-I PREROUTING");
    }

    @Test
    void dnsCaptureAndFailOpenChangeTheRules() {
        assertThat(Rules.node(false, ZT, new DatapathOptions(true, false), false)).doesNotContain("--dport 53");
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
    void removalTouchesOnlyOurChainAndJump() {
        assertThat(Rules.removal(true, true)).isEqualTo("*mangle\n-D PREROUTING -j AMBIENT-PREROUTING\n"
                + "-F AMBIENT-PREROUTING\n-X AMBIENT-PREROUTING\nCOMMIT\n");
        assertThat(Rules.removal(false, false)).isEqualTo("*mangle\nCOMMIT\n");
    }
}
