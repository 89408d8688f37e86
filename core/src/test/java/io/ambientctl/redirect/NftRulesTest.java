package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.ambientctl.redirect.iptables.Rules;
import io.ambientctl.redirect.nftables.NftRules;

/** The nftables mode's commands: the iptables mode's rules, one table, one transaction each. */
class NftRulesTest {
    static final Ztunnel ZT = RulesTest.ZT;

    @Test
    void nodeTableMarksPodsByTheSetsAsTheIptablesModeDoes() {
        String t = NftRules.node(ZT, DatapathOptions.DEFAULT);
        assertThat(t).startsWith("add table inet ambientctl\n")
                .contains("add set inet ambientctl pods4 { type ipv4_addr; }\n")
                .contains("add set inet ambientctl pods6 { type ipv6_addr; }\n")
                .contains("{ type filter hook prerouting priority mangle; policy accept; }")
                .contains("flush chain inet ambientctl prerouting\n")
                .contains("prerouting iifname \"vzt\" return\n")
                .contains("prerouting fib daddr type local return\n")
                .contains("meta l4proto { tcp, udp } th dport 53 ip saddr @pods4 return")
                .contains("meta l4proto { tcp, udp } ip6 daddr @pods6 meta mark set meta mark | 0x00001000")
                .contains("add set inet ambientctl nodns4 { type ipv4_addr; }\n")
                .contains("add chain inet ambientctl untrack { type filter hook prerouting priority raw; policy accept; }")
                .contains("untrack meta l4proto { tcp, udp } ip saddr @pods4 notrack\n")
                .contains("untrack iifname \"vzt\" meta l4proto { tcp, udp } ip6 daddr @pods6 notrack\n");
        assertThat(t.indexOf("chain inet ambientctl untrack")).isLessThan(t.indexOf("chain inet ambientctl prerouting"));
        // the same rules as iptables' two chains, in one: per family, no rule names a pod
        long ipt = Rules.node(false, ZT, DatapathOptions.DEFAULT, false).lines().filter(l -> l.startsWith("-A")).count()
                + Rules.node(true, ZT, DatapathOptions.DEFAULT, false).lines().filter(l -> l.startsWith("-A")).count();
        // iptables splits tcp and udp; nftables matches both with one set of protocols, and needs one
        // local/ztunnel-veth rule for both families
        // (and the log rules ahead of the decisions: 22)
        assertThat(NftRules.nodeRules(ZT, DatapathOptions.DEFAULT)).hasSize(32);
        assertThat(NftRules.nodeRules(ZT, DatapathOptions.DEFAULT).stream().filter(l -> l.contains(" log prefix ")))
                .hasSize(22).allMatch(l -> l.endsWith(" group " + Marks.NFLOG_GROUP));
        assertThat(NftRules.notrackRules(ZT, DatapathOptions.DEFAULT)).hasSize(8);
        assertThat(NftRules.notrackRules(null, DatapathOptions.DEFAULT)).isEmpty();
        assertThat(ipt).isEqualTo(60);
    }

    @Test
    void optionsAndNoZtunnelChangeTheRules() {
        assertThat(NftRules.node(ZT, new DatapathOptions(true, false))).doesNotContain("dport 53 ip saddr @pods4")
                .contains("meta l4proto { tcp, udp } th dport 53 ip saddr @nodns4 return");
        assertThat(NftRules.ztunnel(new DatapathOptions(true, false)))
                .contains("meta l4proto { tcp, udp } th dport 53 ip saddr @pods4 tproxy ip to :15053");
        assertThat(NftRules.node(null, DatapathOptions.DEFAULT)).contains("meta mark set").doesNotContain("iifname");
        assertThat(NftRules.node(null, new DatapathOptions(false, true))).doesNotContain("meta mark set");
    }

    @Test
    void ztunnelTableDeliversEstablishedFlowsFirstAndTproxiesTheRest() {
        List<String> r = NftRules.ztunnelRules(DatapathOptions.DEFAULT);
        // a SYN that finds ztunnel's listener by its own destination is logged (assigned) before it is delivered
        assertThat(r.get(0)).isEqualTo("meta l4proto tcp socket transparent 1 tcp flags & (syn | ack) == syn log "
                + "prefix \"ambient assigned - - -\" group " + Marks.NFLOG_GROUP);
        assertThat(r.get(1)).isEqualTo("meta l4proto { tcp, udp } socket transparent 1 meta mark set meta mark & "
                + "0xfffff000 | 0x00000111");
        assertThat(r.get(2)).isEqualTo("meta mark & 0x00000fff == 0x00000111 return");
        // tproxy sets the mark when it finds a socket (else the rule ends); what has the mark is logged and
        // accepted, the rest logged and dropped (iptables' TPROXY drops it)
        String m15008 = "tcp dport 15008 ip6 daddr @pods6";
        int tp = r.indexOf(m15008 + " tproxy ip6 to :15008 meta mark set meta mark & 0xfffff000 | 0x00000111");
        assertThat(r.subList(tp + 1, tp + 4)).containsExactly(
                m15008 + " meta mark & 0x00000fff == 0x00000111 tcp flags & syn == syn log prefix "
                        + "\"ambient assigned - 15008 in\" group " + Marks.NFLOG_GROUP,
                m15008 + " meta mark & 0x00000fff == 0x00000111 accept",
                m15008 + " log prefix \"ambient drop noListener 15008 in\" group " + Marks.NFLOG_GROUP + " drop");
        assertThat(r).contains("meta l4proto udp ip saddr @pods4 meta mark & 0x00000fff == 0x00000111 limit rate "
                + "100/second log prefix \"ambient assigned - 15001 out\" group " + Marks.NFLOG_GROUP);
        // 15008 before 15006
        assertThat(r.indexOf("tcp dport 15008 ip daddr @pods4 log prefix \"ambient drop noListener 15008 in\" group "
                + Marks.NFLOG_GROUP + " drop")).isLessThan(r.indexOf("meta l4proto tcp ip daddr @pods4 log prefix "
                + "\"ambient drop noListener 15006 in\" group " + Marks.NFLOG_GROUP + " drop"));
    }

    @Test
    void elementsPerFamilyAndADeleteThatToleratesAMissingOne() {
        assertThat(NftRules.addElements(List.of("10.0.0.1", "FD00:0:0::1", "10.0.0.2")))
                .isEqualTo("add element inet ambientctl pods4 { 10.0.0.1, 10.0.0.2 }\n"
                        + "add element inet ambientctl pods6 { fd00::1 }\n");
        assertThat(NftRules.deleteElements(List.of("10.0.0.1"))).isEqualTo(
                "add element inet ambientctl pods4 { 10.0.0.1 }\ndelete element inet ambientctl pods4 { 10.0.0.1 }\n");
        assertThat(NftRules.addElements(List.of())).isEmpty();
        assertThat(NftRules.addNoDnsElements(List.of("10.0.0.1"))).isEqualTo(
                "add element inet ambientctl nodns4 { 10.0.0.1 }\n");
        assertThat(NftRules.removal()).isEqualTo("add table inet ambientctl\ndelete table inet ambientctl\n");
    }

    @Test
    void theMarksComeFromMarks() {
        assertThat(Rules.nodeMark(DatapathOptions.DEFAULT)).isEqualTo("0x1000/0x1000");
        assertThat(NftRules.node(ZT, DatapathOptions.DEFAULT.withMarkBit(0x20))).contains("meta mark | 0x00000020")
                .doesNotContain("0x00001000");
        assertThat(ZtunnelRouting.MARK).isEqualTo(Rules.TPROXY_MARK).isEqualTo("0x111/0xfff");
        assertThat(Marks.NODE_TABLE).isEqualTo(Rules.NODE_TABLE);
    }
}
