package io.ambientctl.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.TestNet;
import io.ambientctl.util.Exec;

/**
 * ipset sets listed and destroyed over NETLINK_NETFILTER in a namespace of the test's own: the members are what
 * {@code ipset list NAME} prints, a destroyed set is gone from {@code ipset list -n}, and neither starts a process.
 */
class IpSetsMembersKernelTest {
    private TestNet net;
    private NetNs ns;

    @BeforeEach
    void setUp() {
        Kernel.require();
        Kernel.requireThat("the ipset tool (apt-get install ipset)", commandRuns("ipset", "version"));
        net = new TestNet("actest-ipsm");
        ns = net.netns("a");
    }

    @AfterEach
    void tearDown() {
        if (net != null) {
            net.close(); // the namespace's sets go with it
        }
    }

    private static boolean commandRuns(String... cmd) {
        try {
            return Exec.run(List.of(cmd)).ok();
        } catch (Exec.ExecException e) {
            return false;
        }
    }

    /** The members ipset lists for {@code set}, normalized. */
    private List<String> listed(String set) {
        List<String> out = new ArrayList<>();
        boolean members = false;
        for (String l : TestNet.run(ns, "ipset", "list", set).check().stdout().lines().toList()) {
            if (l.startsWith("Members:")) {
                members = true;
            } else if (members && !l.isBlank()) {
                out.add(IpAddrs.format(IpAddrs.parse(l.strip())));
            }
        }
        return out;
    }

    private List<String> members(String set) {
        long before = Exec.started();
        List<String> m = ns.call(() -> IpSets.membersHere(set)).stream().map(IpAddrs::format).toList();
        assertThat(Exec.started()).as("processes started by membersHere").isEqualTo(before);
        return m;
    }

    private List<String> names() {
        return TestNet.run(ns, "ipset", "list", "-n").check().stdout().lines().filter(l -> !l.isBlank()).toList();
    }

    @Test
    void membersOfBothFamiliesAreWhatIpsetListsEvenManyOfThem() {
        String v4 = "actest-m4-" + Kernel.unique();
        String v6 = "actest-m6-" + Kernel.unique();
        TestNet.sh(ns, "ipset", "create", v4, "hash:ip");
        TestNet.sh(ns, "ipset", "create", v6, "hash:ip", "family", "inet6");
        assertThat(members(v4)).isEmpty();
        assertThat(members(v6)).isEmpty();
        // enough entries that the dump takes more than one message
        StringBuilder in = new StringBuilder();
        for (int i = 0; i < 3000; i++) {
            in.append("add ").append(v4).append(" 10.").append(i / 250).append('.').append(i % 250).append(".1\n");
            in.append("add ").append(v6).append(" fd00::").append(Integer.toHexString(i)).append(":1\n");
        }
        ns.run(() -> Exec.run(List.of("ipset", "restore"), in.toString()).check());
        List<String> m4 = members(v4);
        List<String> m6 = members(v6);
        assertThat(m4).hasSize(3000).containsExactlyInAnyOrderElementsOf(listed(v4)).contains("10.0.7.1");
        assertThat(m6).hasSize(3000).containsExactlyInAnyOrderElementsOf(listed(v6)).contains("fd00::7:1");
        assertThat(members("actest-none-" + Kernel.unique())).as("a set that is not there").isEmpty();
        assertThat(IpSets.membersHere(v4)).as("another namespace's set of that name: none").isEmpty();
    }

    @Test
    void destroyingRemovesTheSetsThatAreThereAndLeavesTheOthers() {
        String a = "actest-d1-" + Kernel.unique();
        String b = "actest-d2-" + Kernel.unique();
        String kept = "actest-d3-" + Kernel.unique();
        TestNet.sh(ns, "ipset", "create", a, "hash:ip");
        TestNet.sh(ns, "ipset", "create", b, "hash:ip", "family", "inet6");
        TestNet.sh(ns, "ipset", "create", kept, "hash:ip");
        TestNet.sh(ns, "ipset", "add", a, "192.0.2.1");
        long before = Exec.started();
        java.util.Map<String, String> refused = ns.call(() -> IpSets.destroyHere(List.of(a, "actest-absent", b)));
        assertThat(Exec.started()).as("processes started by destroyHere").isEqualTo(before);
        assertThat(refused).isEmpty();
        assertThat(names()).containsExactly(kept);
        // again: nothing there to destroy, no complaint
        assertThat(ns.call(() -> IpSets.destroyHere(List.of(a, b)))).isEmpty();
        assertThat(names()).containsExactly(kept);
    }

    @Test
    void aSetARuleStillUsesIsKeptAndSaidSo() {
        Kernel.requireThat("iptables-nft", commandRuns("iptables-nft", "-V"));
        String used = "actest-u-" + Kernel.unique();
        TestNet.sh(ns, "ipset", "create", used, "hash:ip");
        TestNet.sh(ns, "iptables-nft", "-t", "mangle", "-A", "PREROUTING", "-m", "set", "--match-set", used, "src",
                "-j", "ACCEPT");
        java.util.Map<String, String> refused = ns.call(() -> IpSets.destroyHere(List.of(used)));
        assertThat(refused).containsOnlyKeys(used);
        assertThat(names()).containsExactly(used);
        TestNet.sh(ns, "iptables-nft", "-t", "mangle", "-F", "PREROUTING");
        assertThat(ns.call(() -> IpSets.destroyHere(List.of(used)))).isEmpty();
        assertThat(names()).isEmpty();
    }
}
