package io.ambientctl.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.TestNet;

class NetNsKernelTest {
    private TestNet net;

    @BeforeEach
    void setUp() {
        Kernel.require();
        net = new TestNet("actest-ns");
    }

    @AfterEach
    void tearDown() {
        net.close();
    }

    @Test
    void runsInsideAndTheCallerStaysWhereItWas() {
        NetNs a = net.netns("a");
        NetNs b = net.netns("b");
        net.veth(a, "x0", b, "y0");
        TestNet.sh(b, "ip", "addr", "add", "198.51.100.7/24", "dev", "y0");
        long mine = NetNs.self().inode();

        List<Link> inA = Links.in(a);
        List<Link> inB = Links.in(b);
        assertThat(inA).extracting(Link::name).containsExactlyInAnyOrder("lo", "x0");
        Link y0 = Links.byName(inB, "y0").orElseThrow();
        Link x0 = Links.byName(inA, "x0").orElseThrow();
        assertThat(y0.veth()).isTrue();
        assertThat(y0.peerIfindex()).isEqualTo(x0.ifindex());
        assertThat(x0.peerIfindex()).isEqualTo(y0.ifindex());
        assertThat(y0.globalIps()).extracting(IpAddrs::format).containsExactly("198.51.100.7");
        assertThat(y0.mac()).isNotNull();
        // the names by ifindex through libc agree with iproute2's, namespace by namespace
        assertThat(Links.names(a)).containsExactlyInAnyOrderEntriesOf(
                java.util.Map.of(Links.byName(inA, "lo").orElseThrow().ifindex(), "lo", x0.ifindex(), "x0"));
        assertThat(Links.names(b)).containsEntry(y0.ifindex(), "y0").doesNotContainValue("x0");

        // the namespace the task ran in is a's; the caller is unchanged
        long seen = a.call(() -> NetNs.path(java.nio.file.Path.of("/proc/thread-self/ns/net")).inode());
        assertThat(seen).isEqualTo(a.inode()).isNotEqualTo(mine);
        assertThat(NetNs.self().inode()).isEqualTo(mine);
        assertThat(Links.here()).extracting(Link::name).doesNotContain("x0");
    }

    @Test
    void aNetlinkSocketOpenedWhileAnotherIsOpenOnTheSameThreadReadsIntoABufferOfItsOwn() {
        NetNs a = net.netns("a");
        NetNs b = net.netns("b");
        net.veth(a, "x0", b, "y0");
        TestNet.sh(a, "ip", "addr", "add", "198.51.100.8/24", "dev", "x0");
        List<String> problems = a.call(() -> {
            List<String> out = new java.util.ArrayList<>();
            for (int round = 0; round < 3; round++) { // a thread's buffer is handed from socket to socket
                try (Netlink.Socket outer = Netlink.Socket.open()) {
                    outer.dump(Netlink.RTM_GETLINK, new byte[16], m -> {
                        byte[] before = new byte[m.remaining()];
                        m.duplicate().get(before);
                        // another socket of this thread reads an address dump meanwhile (other bytes, same offsets)
                        try (Netlink.Socket inner = Netlink.Socket.open()) {
                            inner.dump(Netlink.RTM_GETADDR, new byte[8], x -> { });
                        }
                        byte[] after = new byte[m.remaining()];
                        m.duplicate().get(after);
                        if (!java.util.Arrays.equals(before, after)) {
                            out.add("a link message changed under a nested read");
                        }
                    });
                }
            }
            return out;
        });
        assertThat(problems).isEmpty();
        assertThat(a.call(Links::here)).extracting(Link::name).containsExactlyInAnyOrder("lo", "x0");
    }

    @Test
    void namespaceIdsAreWhatTheVethsReportManyToAWriteAndLinksWithoutAddressesAreTheSameLinks() {
        NetNs node = net.netns("node");
        List<NetNs> pods = new java.util.ArrayList<>();
        for (int i = 0; i < 3; i++) {
            NetNs p = net.netns("pod" + i);
            net.veth(node, "v" + i, p, "eth0");
            pods.add(p);
        }
        NetNs alone = net.netns("alone"); // no veth to the node: no id
        // more files than one write carries (repeated), one that is no namespace file at all
        List<String> files = new java.util.ArrayList<>();
        for (int r = 0; r < 12; r++) {
            pods.forEach(p -> files.add(p.path().toString()));
            files.add(alone.path().toString());
        }
        files.add("/nonexistent/ns");
        java.util.Map<String, Integer> ids = node.call(() -> Links.nsidsHere(files));
        List<Link> links = Links.in(node);
        for (int i = 0; i < 3; i++) {
            Link v = Links.byName(links, "v" + i).orElseThrow();
            assertThat(ids.get(pods.get(i).path().toString())).as("v" + i).isEqualTo(v.peerNetnsId()).isNotNegative();
        }
        assertThat(ids.get(alone.path().toString())).isEqualTo(-1);
        assertThat(ids).doesNotContainKey("/nonexistent/ns");
        TestNet.sh(node, "ip", "addr", "add", "198.51.100.1/24", "dev", "v0");
        List<Link> lean = node.call(Links::hereWithoutAddresses);
        assertThat(lean).hasSameSizeAs(links);
        for (int i = 0; i < links.size(); i++) {
            Link full = Links.byIndex(node.call(Links::here), links.get(i).ifindex()).orElseThrow();
            Link l = lean.get(i);
            assertThat(l.addresses()).isEmpty();
            assertThat(l).usingRecursiveComparison().ignoringFields("addresses").isEqualTo(full);
        }
    }

    @Test
    void policyRulesReadOverNetlinkAsIpShowsThem() {
        NetNs a = net.netns("rules");
        TestNet.sh(a, "ip", "-4", "rule", "add", "fwmark", "0x111/0xfff", "lookup", "133", "pref", "32100");
        TestNet.sh(a, "ip", "-4", "rule", "add", "fwmark", "0x2000", "lookup", "134", "pref", "32099");
        TestNet.sh(a, "ip", "-4", "rule", "add", "from", "192.0.2.0/24", "lookup", "77", "pref", "500");
        TestNet.sh(a, "ip", "-6", "rule", "add", "fwmark", "0x1000/0x1000", "lookup", "134", "pref", "32099");
        for (boolean v6 : new boolean[] {false, true}) {
            List<IpRules.Rule> rules = a.call(() -> IpRules.here(v6));
            // iproute2's listing, rule by rule: "PREF:\t... [fwmark MARK[/MASK]] lookup TABLE"
            List<String> shown = a.exec("ip", v6 ? "-6" : "-4", "rule", "show").check().stdout().lines().toList();
            assertThat(rules).hasSameSizeAs(shown);
            for (int i = 0; i < shown.size(); i++) {
                String l = shown.get(i);
                IpRules.Rule r = rules.get(i);
                assertThat(r.priority()).as(l).isEqualTo(Integer.parseInt(l.substring(0, l.indexOf(':'))));
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("fwmark (0x[0-9a-f]+)(/0x[0-9a-f]+)?")
                        .matcher(l);
                assertThat(r.mark()).as(l).isEqualTo(m.find() ? m.group(1) + (m.group(2) == null ? "/0xffffffff"
                        : m.group(2)) : null);
                String table = l.replaceFirst(".* lookup (\\S+).*", "$1");
                assertThat(r.table()).as(l).isEqualTo(switch (table) {
                    case "local" -> 255;
                    case "main" -> 254;
                    case "default" -> 253;
                    default -> Integer.parseInt(table);
                });
            }
            assertThat(rules).contains(v6 ? new IpRules.Rule(32099, "0x1000/0x1000", 134)
                    : new IpRules.Rule(32100, "0x111/0xfff", 133));
        }
    }

    @Test
    void failuresInsideReachTheCaller() {
        NetNs a = net.netns("a");
        assertThatThrownBy(() -> a.run(() -> {
            throw new IllegalStateException("boom");
        })).isInstanceOf(IllegalStateException.class).hasMessage("boom");
    }

    @Test
    void aMissingNamespaceIsNotFound() {
        NetNs ghost = NetNs.named("actest-ghost-" + Kernel.unique());
        assertThat(ghost.exists()).isFalse();
        assertThatThrownBy(() -> ghost.run(() -> { }))
                .isInstanceOfSatisfying(NetNsException.class, e -> assertThat(e.notFound()).isTrue())
                .hasMessageContaining("not found");
    }

    @Test
    void netlinkSeesWhatIproute2Sees() {
        NetNs a = net.netns("a");
        NetNs b = net.netns("b");
        net.veth(a, "x0", b, "y0");
        net.veth(a, "x1", a, "x2"); // both ends here: no peer in another namespace
        TestNet.sh(b, "ip", "addr", "add", "198.51.100.7/24", "dev", "y0");
        TestNet.sh(b, "ip", "-6", "addr", "add", "2001:db8::7/64", "dev", "y0", "nodad");
        TestNet.sh(b, "ip", "link", "set", "y0", "up");
        TestNet.sh(a, "ip", "link", "set", "x1", "down");
        for (NetNs ns : List.of(a, b)) {
            List<Link> viaNetlink = Links.in(ns);
            List<Link> viaIp = Iproute.in(ns);
            assertThat(viaNetlink).extracting(Link::ifindex, Link::name, Link::kind, Link::peerIfindex,
                    Link::peerNetnsId, Link::up, Link::mac).containsExactlyElementsOf(viaIp.stream()
                    .map(l -> org.assertj.core.groups.Tuple.tuple(l.ifindex(), l.name(), l.kind(), l.peerIfindex(),
                            l.peerNetnsId(), l.up(), l.mac())).toList());
            for (Link l : viaIp) {
                assertThat(Links.byIndex(viaNetlink, l.ifindex()).orElseThrow().addresses()).as(l.name())
                        .containsExactlyInAnyOrderElementsOf(l.addresses());
            }
        }
        Link y0 = Links.byName(Links.in(b), "y0").orElseThrow();
        assertThat(y0.globalIps()).extracting(IpAddrs::format).containsExactly("198.51.100.7", "2001:db8::7");
        assertThat(y0.addresses()).anyMatch(x -> x.scope().equals("link")); // fe80::
    }
}
