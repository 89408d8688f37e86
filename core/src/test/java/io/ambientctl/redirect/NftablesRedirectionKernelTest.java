package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.nftables.NftRules;
import io.ambientctl.redirect.nftables.Nftables;
import io.ambientctl.redirect.nftables.NftablesRedirector;
import io.ambientctl.testing.Kernel;
import io.ambientctl.util.Exec;
import io.ambientctl.util.Json;

/**
 * The redirection suite in nftables mode (one {@code inet ambientctl} table per namespace through libnftables:
 * sets, mark + policy routing, tproxy in ztunnel's netns), and what is particular to it: enrolling adds set
 * elements and changes no rule, another owner's nftables table and iptables-nft rules keep working and stay
 * as they were, and the {@code nft} command sees the same table.
 */
class NftablesRedirectionKernelTest extends RedirectionSuite {
    @BeforeAll
    static void libnftables() {
        Kernel.requireThat("libnftables.so.1 (apt-get install libnftables1)", Nftables.available());
    }

    @Override
    AttachKind kind() {
        return null;
    }

    @Override
    RedirectMode mode() {
        return RedirectMode.nftables;
    }

    @Override
    boolean redirectedInKernel(String ip) {
        NftablesRedirector.Listing l = f.lab.node().call(NftablesRedirector::readHere);
        return l != null && l.has(ip);
    }

    private static JsonNode nftJson(NetNs ns, String... args) {
        List<String> cmd = new java.util.ArrayList<>(List.of("nft", "-j"));
        cmd.addAll(List.of(args));
        Exec.Result r = ns.exec(cmd);
        assertThat(r.ok()).as(r.stderr()).isTrue();
        return Json.parse(r.stdout());
    }

    private static List<Long> ruleHandles(NetNs ns) {
        return Nftables.objects(nftJson(ns, "-a", "list", "table", "inet", NftRules.TABLE), "rule").stream()
                .map(r -> r.path("handle").asLong()).toList();
    }

    @Test
    void enrollingAddsSetElementsAndChangesNoRule() {
        ztunnel();
        List<Long> node = ruleHandles(f.lab.node());
        List<Long> zt = ruleHandles(f.lab.ztunnel());
        assertThat(node).hasSize(NftRules.nodeRules(f.node.recorded().ztunnel, DatapathOptions.DEFAULT).size()
                + NftRules.notrackRules(f.node.recorded().ztunnel, DatapathOptions.DEFAULT).size());
        enroll(a, b);
        f.node.unenroll(List.of(a.netns()), false, false);
        assertThat(ruleHandles(f.lab.node())).isEqualTo(node);
        assertThat(ruleHandles(f.lab.ztunnel())).isEqualTo(zt);
        // the nft command sees our sets as libnftables wrote them
        JsonNode sets = nftJson(f.lab.ztunnel(), "list", "set", "inet", NftRules.TABLE, NftRules.SET6);
        assertThat(Nftables.objects(sets, "set").get(0).path("elem").toString()).contains(b.ipv6())
                .doesNotContain(a.ipv6());
        assertThat(tcp(a, b.ipv4(), 8080).answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).extracting(c -> c.port()).containsExactly(15006);
    }

    @Test
    void anotherOwnersTableAndIptablesRulesKeepWorkingAndStayUnchanged() {
        String other = "other" + Kernel.unique();
        String otherTable = "table inet " + other + " {\n chain pre {\n  type filter hook prerouting priority -300; "
                + "policy accept;\n  meta l4proto tcp counter\n }\n}\n";
        for (NetNs ns : List.of(f.lab.node(), f.lab.ztunnel())) {
            assertThat(ns.call(() -> Exec.run(List.of("nft", "-f", "-"), otherTable)).ok()).isTrue();
            assertThat(ns.exec("iptables-nft", "-t", "mangle", "-A", "PREROUTING", "-p", "tcp", "-m", "comment",
                    "--comment", other).ok()).isTrue();
        }
        String before = f.lab.node().exec("nft", "-s", "list", "table", "inet", other).stdout();
        String ztBefore = f.lab.ztunnel().exec("nft", "-s", "list", "table", "inet", other).stdout();

        ztunnel();
        enroll(a);
        assertThat(tcp(a, b.ipv4(), 8080).answer()).isEqualTo(b.name() + " hello");
        assertThat(tcp(a, b.ipv6(), 8080).answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).hasSize(2);
        f.node.modeSet(RedirectMode.iptables, false);
        f.node.modeSet(RedirectMode.ebpf, false);
        f.node.modeSet(RedirectMode.nftables, false);
        assertThat(tcp(a, b.ipv4(), 8080).answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).hasSize(3);
        f.node.unenroll(List.of(a.netns()), false, false);
        f.node.ztunnelUnset(false);

        assertThat(f.lab.node().exec("nft", "-s", "list", "table", "inet", other).stdout()).isEqualTo(before);
        assertThat(f.lab.ztunnel().exec("nft", "-s", "list", "table", "inet", other).stdout()).isEqualTo(ztBefore);
        // the other owner's counter saw the traffic: its hook ran beside ours
        JsonNode counted = nftJson(f.lab.node(), "list", "table", "inet", other);
        long packets = Nftables.objects(counted, "rule").get(0).findValue("packets").asLong();
        assertThat(packets).isPositive();
        for (NetNs ns : List.of(f.lab.node(), f.lab.ztunnel())) {
            assertThat(ns.exec("iptables-nft", "-t", "mangle", "-S", "PREROUTING").stdout()).contains(other);
        }
        assertThat(tcp(a, b.ipv4(), 8080).answer()).isEqualTo(b.name() + " hello");
    }

    /** ztunnel sees the Service VIP in every mode: a switch among them changes nothing of what it sees. */
    @Test
    void aModeSwitchDoesNotChangeTheDestinationZtunnelSeesForServiceTraffic() {
        io.ambientctl.testing.CrowdedNode.kubeProxyIptables(f.lab.node(), b.ipv4());
        ztunnel();
        enroll(a);
        for (RedirectMode m : List.of(RedirectMode.ebpf, RedirectMode.iptables, RedirectMode.nftables)) {
            f.node.modeSet(m, false);
            f.standIn.clear();
            assertThat(tcp(a, io.ambientctl.testing.CrowdedNode.VIP, 80).answer()).as(m.name())
                    .isEqualTo(b.name() + " hello");
            assertThat(f.standIn.captures()).as(m.name()).singleElement().satisfies(cap -> {
                assertThat(cap.port()).isEqualTo(15001);
                assertThat(cap.originalDestination()).isEqualTo(io.ambientctl.testing.CrowdedNode.VIP + ":80");
                assertThat(cap.source()).startsWith(a.ipv4() + ":");
            });
        }
    }

    /**
     * The node's mark is one bit, set and matched masked by itself; changing it (in either netfilter mode, and
     * across a switch) moves the rules and the policy routing to the new bit and leaves nothing of the old one.
     */
    @Test
    void changingTheMarkBitMovesRulesAndRoutesToTheNewBit() {
        ztunnel();
        enroll(a);
        String rules = f.lab.node().exec("ip", "rule", "show").stdout();
        assertThat(rules).contains("fwmark 0x1000/0x1000 lookup 134");
        f.node.modeSet(RedirectMode.nftables, 0x40, false);
        assertThat(f.node.recorded().markBit).isEqualTo(0x40);
        assertThat(f.lab.node().exec("ip", "rule", "show").stdout()).contains("fwmark 0x40/0x40 lookup 134")
                .doesNotContain("0x1000");
        assertThat(f.lab.node().exec("ip", "-6", "rule", "show").stdout()).contains("fwmark 0x40/0x40 lookup 134")
                .doesNotContain("0x1000");
        assertThat(f.lab.node().exec("nft", "list", "table", "inet", NftRules.TABLE).stdout())
                .contains("meta mark | 0x00000040").doesNotContain("0x00001000");
        assertThat(tcp(a, b.ipv4(), 8080).answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).hasSize(1);
        assertThat(f.node.status().verified()).isTrue();

        f.node.modeSet(RedirectMode.iptables, false);
        assertThat(f.lab.node().exec("iptables-nft-save", "-t", "mangle").stdout())
                .contains("--set-xmark 0x40/0x40").doesNotContain("0x1000");
        assertThat(f.lab.node().exec("ip", "rule", "show").stdout()).contains("fwmark 0x40/0x40 lookup 134");
        assertThat(tcp(a, b.ipv6(), 8080).answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).hasSize(2);
        f.node.modeSet(RedirectMode.iptables, 0x1000, false);
        assertThat(f.lab.node().exec("iptables-nft-save", "-t", "mangle").stdout())
                .contains("--set-xmark 0x1000/0x1000").doesNotContain("0x40/0x40");
        assertThat(f.lab.node().exec("ip", "rule", "show").stdout()).contains("fwmark 0x1000/0x1000 lookup 134")
                .doesNotContain("0x40/0x40");
        assertThat(tcp(a, b.ipv4(), 8080).answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).hasSize(3);
        assertThat(f.node.status().verified()).isTrue();
    }

    @Test
    void aRefusedTransactionChangesNothingAndSaysWhy() {
        ztunnel();
        enroll(a);
        String before = f.lab.node().exec("nft", "list", "table", "inet", NftRules.TABLE).stdout();
        // one good element and one the set cannot take: neither goes in
        Throwable t = org.assertj.core.api.Assertions.catchThrowable(() -> f.lab.node().run(() -> Nftables.run(
                "add element inet " + NftRules.TABLE + " " + NftRules.SET4 + " { 10.99.0.1 }\n"
                        + "add element inet " + NftRules.TABLE + " nosuchset { 10.99.0.2 }\n")));
        assertThat(t).isInstanceOf(Nftables.NftException.class).hasMessageContaining("No such file or directory")
                .hasMessageContaining("nothing of it was applied");
        assertThat(f.lab.node().exec("nft", "list", "table", "inet", NftRules.TABLE).stdout()).isEqualTo(before);
        assertThat(f.node.status().verified()).isTrue();
    }

    @Test
    void statusFindsAMissingElementAndRepairPutsItBack() {
        ztunnel();
        enroll(a, b);
        f.lab.ztunnel().run(() -> Nftables.run("delete element inet " + NftRules.TABLE + " " + NftRules.SET4 + " { "
                + a.ipv4() + " }"));
        Node.Status st = f.node.status();
        assertThat(st.verified()).isFalse();
        assertThat(st.workloads()).filteredOn(w -> !w.verification().verified()).singleElement()
                .satisfies(w -> assertThat(w.verification().problems()).anyMatch(p -> p.contains(a.ipv4())
                        && p.contains("ztunnel's set")));
        f.node.repair(false);
        assertThat(f.node.status().verified()).isTrue();
        assertThat(tcp(a, c.ipv4(), 8080).answer()).isEqualTo(c.name() + " hello");
    }

    @Test
    void inspectShowsOurTablesDecodedAndOneWorkloadsElements() {
        ztunnel();
        enroll(a);
        var in = new io.ambientctl.inspect.Inspector(f.config);
        assertThat(in.nftables()).extracting(io.ambientctl.redirect.RuleTable::role)
                .containsExactly("node", "ztunnel");
        assertThat(in.nftables().get(0).sets().get(NftRules.SET4)).containsExactly(a.ipv4());
        assertThat(in.nftables().get(1).rules()).anyMatch(r -> r.contains("tproxy ip6 to :15001"));
        assertThat(in.nftables().get(0).priority()).isEqualTo(-150);
        var doc = in.workload(a.netns().display());
        assertThat(doc.get("mode")).isEqualTo("nftables");
        assertThat((List<?>) doc.get("setEntries")).hasSize(4).noneMatch(e -> e.toString().contains("MISSING"));
    }
}
