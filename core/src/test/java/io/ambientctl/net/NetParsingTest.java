package io.ambientctl.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

class NetParsingTest {
    @Test
    void ipv4IsStoredMappedAndBack() {
        byte[] k = IpAddrs.toKey(IpAddrs.parse("10.1.2.3"));
        assertThat(k).hasSize(16);
        assertThat(k[10]).isEqualTo((byte) 0xff);
        assertThat(k[15]).isEqualTo((byte) 3);
        assertThat(IpAddrs.format(IpAddrs.fromKey(k))).isEqualTo("10.1.2.3");
        assertThat(IpAddrs.format(IpAddrs.fromKey(IpAddrs.toKey(IpAddrs.parse("fd00::7"))))).isEqualTo("fd00::7");
        assertThat(IpAddrs.format(IpAddrs.parse("::"))).isEqualTo("::");
        assertThat(IpAddrs.format(IpAddrs.parse("::1"))).isEqualTo("::1");
        assertThat(IpAddrs.format(IpAddrs.parse("fe80:0:0:1:0:0:0:1"))).isEqualTo("fe80:0:0:1::1");
        assertThat(IpAddrs.format(IpAddrs.parse("2001:db8:0:1:1:1:1:1"))).isEqualTo("2001:db8:0:1:1:1:1:1");
        assertThat(IpAddrs.format(IpAddrs.parse("1:0:0:2:0:0:0:3"))).isEqualTo("1:0:0:2::3");
    }

    @Test
    void literalsAreWhatFormatWritesAndNothingElse() {
        for (String ok : new String[] {"10.0.0.1", "0.0.0.0", "255.255.255.255", "fd77::11", "::1", "::ffff:10.0.0.1"}) {
            assertThat(IpAddrs.isLiteral(ok)).as(ok).isTrue();
            assertThat(IpAddrs.isLiteral(IpAddrs.format(IpAddrs.parse(ok)))).as("formatted " + ok).isTrue();
        }
        for (String bad : new String[] {"", "10.0.0", "10.0.0.1.", ".10.0.0.1", "10.0.0.256", "10.0.0.1000", "10..0.1",
            "10.0.0.x", "pod.example", "fd77::zz", "1:2:3:4:5:6:7:8:9", " 10.0.0.1"}) {
            assertThat(IpAddrs.isLiteral(bad)).as("'" + bad + "'").isFalse();
        }
        assertThat(IpAddrs.isLiteral(null)).isFalse();
    }

    @Test
    void hostNamesAreNotAddresses() {
        assertThatThrownBy(() -> IpAddrs.parse("example.com")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void netnsNamesAndPathsAreValidated() {
        assertThat(NetNs.parse("pod-a").path()).isEqualTo(Path.of("/var/run/netns/pod-a"));
        assertThat(NetNs.parse("/proc/123/ns/net").name()).isNull();
        assertThat(NetNs.parse("/run/netns/x").name()).isEqualTo("x");
        assertThatThrownBy(() -> NetNs.parse("../etc")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> NetNs.parse("/var/run/netns/../../etc/passwd"))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> NetNs.parse("/etc/passwd")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void parsesIproute2Json() {
        String json = """
            [{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"address":"00:00:00:00:00:00",
              "addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
             {"ifindex":2,"link_index":9,"ifname":"eth0","flags":["BROADCAST","UP"],"address":"ae:1f:00:00:00:01",
              "link_netnsid":0,"linkinfo":{"info_kind":"veth"},
              "addr_info":[{"family":"inet","local":"10.0.0.5","prefixlen":32,"scope":"global"},
                           {"family":"inet6","local":"fd00::5","prefixlen":128,"scope":"global"},
                           {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]}]
            """;
        List<Link> links = Iproute.parse(json);
        assertThat(links).hasSize(2);
        Link eth0 = links.get(1);
        assertThat(eth0.veth()).isTrue();
        assertThat(eth0.peerIfindex()).isEqualTo(9);
        assertThat(eth0.peerNetnsId()).isZero();
        assertThat(eth0.up()).isTrue();
        assertThat(eth0.mac()).isEqualTo(Mac.parse("ae:1f:00:00:00:01"));
        assertThat(eth0.globalIps()).extracting(IpAddrs::format).containsExactly("10.0.0.5", "fd00::5");
        assertThat(links.get(0).peerIfindex()).isEqualTo(-1);
    }
}
