package io.ambientctl.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.TestNet;
import io.ambientctl.util.Exec;

/**
 * Rules and routes changed over rtnetlink in a namespace of the test's own: what {@code ip rule} / {@code ip route}
 * then show is what the commands the modes ran before would have left, and no process is started.
 */
class PolicyRoutingKernelTest {
    private TestNet net;
    private NetNs a;
    private NetNs ref;

    @BeforeEach
    void setUp() {
        Kernel.require();
        net = new TestNet("actest-prt");
        a = net.netns("a");
        NetNs b = net.netns("b");
        net.veth(a, "vzt", b, "eth0");
        TestNet.sh(a, "ip", "link", "set", "vzt", "up");
        // where iproute2 makes the same routes, to compare with
        ref = net.netns("ref");
        NetNs c = net.netns("c");
        net.veth(ref, "vzt", c, "eth0");
        TestNet.sh(ref, "ip", "link", "set", "vzt", "up");
    }

    @AfterEach
    void tearDown() {
        if (net != null) {
            net.close();
        }
    }

    private List<String> show(String... cmd) {
        return show(a, cmd);
    }

    private static List<String> show(NetNs ns, String... cmd) {
        return ns.exec(cmd).check().stdout().lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
    }

    /** The tables as ip route shows them here and where iproute2 made the same routes: alike. */
    private void sameAsIproute2(String... tables) {
        for (String fam : List.of("-4", "-6")) {
            for (String t : tables) {
                assertThat(show("ip", fam, "route", "show", "table", t)).as("ip " + fam + " route show table " + t)
                        .isEqualTo(show(ref, "ip", fam, "route", "show", "table", t));
            }
        }
    }

    private void inA(NetNs.ThrowingRunnable r) {
        long before = Exec.started();
        a.run(r);
        assertThat(Exec.started()).as("processes started").isEqualTo(before);
    }

    @Test
    void rulesAddedAndDeletedAsIpRuleShowsThem() {
        inA(() -> {
            PolicyRouting.addRule(false, "0x1000/0x1000", 134, 32099);
            PolicyRouting.addRule(true, "0x1000/0x1000", 134, 32099);
            PolicyRouting.addRule(false, "0x111/0xfff", 133, 32100);
        });
        assertThat(show("ip", "-4", "rule", "show")).contains("32099:\tfrom all fwmark 0x1000/0x1000 lookup 134",
                "32100:\tfrom all fwmark 0x111/0xfff lookup 133");
        assertThat(show("ip", "-6", "rule", "show")).contains("32099:\tfrom all fwmark 0x1000/0x1000 lookup 134");
        // the same as ip rule add would have made: ip rule del with the command's words removes it
        TestNet.sh(a, "ip", "-4", "rule", "del", "pref", "32100", "fwmark", "0x111/0xfff", "lookup", "133");
        // an identical rule again: refused, and said so
        assertThatThrownBy(() -> a.run(() -> PolicyRouting.addRule(false, "0x1000/0x1000", 134, 32099)))
                .isInstanceOf(PolicyRouting.RoutingException.class)
                .hasMessageContaining("ip -4 rule add fwmark 0x1000/0x1000 lookup 134 pref 32099 failed");
        inA(() -> {
            assertThat(PolicyRouting.deleteRule(false, "0x1000/0x1000", 134, 32099)).isTrue();
            assertThat(PolicyRouting.deleteRule(false, "0x1000/0x1000", 134, 32099)).as("gone already").isFalse();
            assertThat(PolicyRouting.deleteRule(true, "0x1000/0x1000", 134, null)).as("any preference").isTrue();
        });
        assertThat(show("ip", "-4", "rule", "show")).noneMatch(l -> l.contains("fwmark"));
        assertThat(show("ip", "-6", "rule", "show")).noneMatch(l -> l.contains("fwmark"));
        // one made by ip rule add is deleted alike
        TestNet.sh(a, "ip", "-4", "rule", "add", "fwmark", "0x2000", "lookup", "134", "pref", "32099");
        inA(() -> assertThat(PolicyRouting.deleteRule(false, "0x2000/0xffffffff", 134, 32099)).isTrue());
        assertThat(show("ip", "-4", "rule", "show")).noneMatch(l -> l.contains("fwmark"));
    }

    @Test
    void routesReplacedReadAndFlushedAsIpRouteShowsThem() {
        inA(() -> {
            PolicyRouting.replaceLocalDefault(false, 133);
            PolicyRouting.replaceLocalDefault(true, 133);
            PolicyRouting.replaceBlackholeDefault(false, 134);
            PolicyRouting.replaceBlackholeDefault(true, 134);
        });
        TestNet.sh(ref, "ip", "-4", "route", "replace", "local", "0.0.0.0/0", "dev", "lo", "table", "133");
        TestNet.sh(ref, "ip", "-6", "route", "replace", "local", "::/0", "dev", "lo", "table", "133");
        TestNet.sh(ref, "ip", "-4", "route", "replace", "blackhole", "default", "table", "134");
        TestNet.sh(ref, "ip", "-6", "route", "replace", "blackhole", "default", "table", "134");
        assertThat(show("ip", "-4", "route", "show", "table", "133")).containsExactly("local default dev lo scope host");
        assertThat(show("ip", "-4", "route", "show", "table", "134")).containsExactly("blackhole default");
        sameAsIproute2("133", "134");
        // replaced by the route to ztunnel, the blackhole goes (one route a family)
        inA(() -> {
            PolicyRouting.replaceDefaultVia(false, 134, IpAddrs.parse("10.244.0.2"), "vzt");
            PolicyRouting.replaceDefaultVia(true, 134, IpAddrs.parse("fd00::2"), "vzt");
            // again: nothing changes
            PolicyRouting.replaceDefaultVia(false, 134, IpAddrs.parse("10.244.0.2"), "vzt");
        });
        TestNet.sh(ref, "ip", "-4", "route", "replace", "default", "via", "10.244.0.2", "dev", "vzt", "onlink", "table",
                "134");
        TestNet.sh(ref, "ip", "-6", "route", "replace", "default", "via", "fd00::2", "dev", "vzt", "onlink", "table",
                "134");
        assertThat(show("ip", "-4", "route", "show", "table", "134"))
                .containsExactly("default via 10.244.0.2 dev vzt onlink");
        sameAsIproute2("133", "134");
        int vzt = a.call(() -> Links.byName(Links.here(), "vzt").orElseThrow().ifindex());
        inA(() -> {
            assertThat(PolicyRouting.routes(false, 134)).singleElement().satisfies(r -> {
                assertThat(r.oif()).isEqualTo(vzt);
                assertThat(IpAddrs.format(r.gateway())).isEqualTo("10.244.0.2");
                assertThat(r.blackhole()).isFalse();
            });
            assertThat(PolicyRouting.routes(true, 133)).singleElement().satisfies(r -> assertThat(r.oif()).isEqualTo(1));
        });
        assertThatThrownBy(() -> a.run(() -> PolicyRouting.replaceDefaultVia(false, 134, IpAddrs.parse("10.244.0.2"),
                "nosuchdev"))).hasMessageContaining("no interface nosuchdev");

        // a route ip route added, beside ours, goes too with the table; other tables stay
        TestNet.sh(a, "ip", "-4", "route", "add", "198.51.100.0/24", "dev", "vzt", "table", "134");
        inA(() -> {
            assertThat(PolicyRouting.flush(false, 134)).isEqualTo(2);
            assertThat(PolicyRouting.flush(true, 134)).isEqualTo(1);
            assertThat(PolicyRouting.flush(false, 134)).as("nothing left").isZero();
            assertThat(PolicyRouting.routes(false, 134)).isEmpty();
        });
        TestNet.sh(ref, "ip", "-4", "route", "flush", "table", "134");
        TestNet.sh(ref, "ip", "-6", "route", "flush", "table", "134");
        assertThat(show("ip", "-4", "route", "show", "table", "134")).isEmpty();
        assertThat(show("ip", "-4", "route", "show", "table", "133")).hasSize(1);
        sameAsIproute2("133", "134");
    }
}
