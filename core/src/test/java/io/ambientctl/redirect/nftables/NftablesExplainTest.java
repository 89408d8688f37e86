package io.ambientctl.redirect.nftables;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import io.ambientctl.net.IpAddrs;
import io.ambientctl.observe.Explanation;
import io.ambientctl.redirect.NetfilterWalk;
import io.ambientctl.util.Json;

/**
 * The nft JSON reading of explain (pure): ztunnel's tproxy rule and the drop after it, the mark statements, a
 * log statement stepped over, the family of an "ip saddr" match.
 */
class NftablesExplainTest {
    static final InetAddress POD = IpAddrs.parse("10.77.0.11");

    static NetfilterWalk.Env env(boolean listening) {
        return new NetfilterWalk.Env() {
            @Override
            public boolean inSet(String set, InetAddress ip) {
                return set.equals("pods4") && ip.equals(POD);
            }

            @Override
            public boolean local(InetAddress ip) {
                return false;
            }

            @Override
            public boolean listening(int port, boolean udp, InetAddress dst) {
                return listening;
            }
        };
    }

    static NetfilterWalk.Rule rule(int n, String json) {
        return NftablesExplain.rule(n, "rule " + n, Json.parse(json));
    }

    static final String L4 = "{\"match\": {\"op\": \"==\", \"left\": {\"meta\": {\"key\": \"l4proto\"}}, \"right\": "
            + "{\"set\": [\"tcp\", \"udp\"]}}}, {\"match\": {\"op\": \"==\", \"left\": {\"payload\": {\"protocol\": "
            + "\"ip\", \"field\": \"saddr\"}}, \"right\": \"@pods4\"}}";

    @Test
    void tproxyWithAndWithoutAListener() {
        NetfilterWalk.Chain c = new NetfilterWalk.Chain("inet ambientctl prerouting", null, List.of(
                rule(1, "[" + L4 + ", {\"log\": {\"group\": 7, \"prefix\": \"x\"}}]"),
                rule(2, "[" + L4 + ", {\"tproxy\": {\"family\": \"ip\", \"port\": 15001}}, {\"mangle\": {\"key\": "
                        + "{\"meta\": {\"key\": \"mark\"}}, \"value\": {\"|\": [{\"&\": [{\"meta\": {\"key\": "
                        + "\"mark\"}}, 4294963473]}, 273]}}}, {\"accept\": null}]"),
                rule(3, "[" + L4 + ", {\"drop\": null}]")));
        NetfilterWalk.Packet p = new NetfilterWalk.Packet(POD, IpAddrs.parse("10.77.0.12"), false, 40000, 8080,
                "eth0", 0);
        List<Explanation.Step> steps = new ArrayList<>();
        NetfilterWalk.Outcome o = NetfilterWalk.walk(c, "zt", p, env(true), steps);
        assertThat(o.end()).isEqualTo(NetfilterWalk.End.TPROXIED);
        assertThat(o.port()).isEqualTo(15001);
        assertThat(steps).extracting(Explanation.Step::decision).containsExactly("continue", "tproxy");

        steps.clear();
        o = NetfilterWalk.walk(c, "zt", p, env(false), steps);
        assertThat(o.end()).isEqualTo(NetfilterWalk.End.DROPPED);
        assertThat(o.reason()).isEqualTo("noListener");
        assertThat(o.port()).isEqualTo(15001);
        assertThat(steps).extracting(Explanation.Step::decision).containsExactly("continue", "no listener", "drop");

        // an IPv6 packet does not match "ip saddr @pods4"
        steps.clear();
        o = NetfilterWalk.walk(c, "zt", new NetfilterWalk.Packet(IpAddrs.parse("fd77::11"), IpAddrs.parse("fd77::12"),
                false, 40000, 8080, "eth0", 0), env(true), steps);
        assertThat(o.end()).isEqualTo(NetfilterWalk.End.FELL_THROUGH);
        assertThat(steps).isEmpty();
    }

    @Test
    void markStatementsAndMatches() {
        assertThat(NftablesExplain.markValue(Json.parse("{\"|\": [{\"meta\": {\"key\": \"mark\"}}, 4096]}")))
                .containsExactly(4096, 4096);
        assertThat(NftablesExplain.markValue(Json.parse("{\"|\": [{\"&\": [{\"meta\": {\"key\": \"mark\"}}, "
                + "4294963473]}, 273]}"))).containsExactly(273, 0xeee);
        NetfilterWalk.Rule own = rule(1, "[{\"match\": {\"op\": \"==\", \"left\": {\"&\": [{\"meta\": {\"key\": "
                + "\"mark\"}}, 4095]}, \"right\": 273}}, {\"return\": null}]");
        assertThat(own.matches().get(0).kind()).isEqualTo(NetfilterWalk.M.MARK);
        List<Explanation.Step> steps = new ArrayList<>();
        NetfilterWalk.Chain c = new NetfilterWalk.Chain("c", null, List.of(own));
        NetfilterWalk.Outcome o = NetfilterWalk.walk(c, "zt", new NetfilterWalk.Packet(POD, POD, false, 1, 2, "eth0",
                0x111), env(true), steps);
        assertThat(o.reason()).isEqualTo("ztunnelOwn");
        NetfilterWalk.Rule jump = rule(2, "[{\"jump\": {\"target\": \"other\"}}]");
        assertThat(jump.matches()).extracting(NetfilterWalk.Match::kind).containsExactly(NetfilterWalk.M.UNKNOWN);
        assertThat(NftablesExplain.ruleTexts("table inet ambientctl {\n\tchain prerouting {\n\t\ttype filter hook "
                + "prerouting priority mangle; policy accept;\n\t\tiifname \"vzt\" return\n\t}\n}\n", "prerouting"))
                .containsExactly("iifname \"vzt\" return");
    }
}
