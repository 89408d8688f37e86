package io.ambientctl.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.TestNet;
import io.ambientctl.util.Exec;

/**
 * ipset sets asked, listed and destroyed over NETLINK_NETFILTER in a namespace of the test's own: the same answers
 * as {@code ipset list -n}, the members {@code ipset list NAME} prints, and no process started.
 */
class IpSetsKernelTest {
    private TestNet net;
    private NetNs ns;

    @BeforeEach
    void setUp() {
        Kernel.require();
        Kernel.requireThat("the ipset tool (apt-get install ipset)", commandRuns("ipset", "version"));
        net = new TestNet("actest-ipset");
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

    private boolean exists(String name) {
        return ns.call(() -> IpSets.existsHere(name));
    }

    /** What the ipset tool lists in the namespace. */
    private List<String> listed() {
        return TestNet.run(ns, "ipset", "list", "-n").check().stdout().lines().filter(l -> !l.isBlank()).toList();
    }

    @Test
    void aSetIsThereFromItsCreationToItsDestructionAsIpsetListsIt() {
        String name = "actest-set-" + Kernel.unique();
        String other = name + "-x";
        assertThat(exists(name)).isFalse();
        assertThat(listed()).doesNotContain(name);

        TestNet.sh(ns, "ipset", "create", name, "hash:ip");
        assertThat(exists(name)).isTrue();
        assertThat(listed()).contains(name);
        assertThat(exists(other)).as("another name").isFalse();
        assertThat(listed()).doesNotContain(other);
        assertThat(exists(name.substring(0, name.length() - 1))).as("a prefix of the name").isFalse();
        assertThat(ns.call(() -> IpSets.anyHere(List.of(other, name)))).isTrue();
        assertThat(ns.call(() -> IpSets.anyHere(List.of(other)))).isFalse();
        // an IPv6 set and a set of another type answer alike
        TestNet.sh(ns, "ipset", "create", other, "hash:net", "family", "inet6");
        assertThat(exists(other)).isTrue();
        assertThat(listed()).contains(name, other);

        // only this namespace's sets: the test's own namespace (where the set is not) says no
        assertThat(IpSets.existsHere(name)).isFalse();
        assertThat(net.netns("b").call(() -> IpSets.existsHere(name))).isFalse();

        TestNet.sh(ns, "ipset", "destroy", name);
        assertThat(exists(name)).isFalse();
        assertThat(listed()).doesNotContain(name).contains(other);
        TestNet.sh(ns, "ipset", "destroy", other);
        assertThat(exists(other)).isFalse();
        assertThat(listed()).isEmpty();
    }

    @Test
    void askingRunsNoProcessAndRefusesWhatCannotBeASetName() {
        TestNet.sh(ns, "ipset", "create", "ambient-pods-v4", "hash:ip");
        long before = Exec.started();
        assertThat(exists("ambient-pods-v4")).isTrue();
        assertThat(exists("ambient-pods-v6")).isFalse();
        assertThat(Exec.started()).as("processes started").isEqualTo(before);
        assertThatThrownBy(() -> exists("x".repeat(32))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("31 bytes");
        assertThatThrownBy(() -> exists("")).isInstanceOf(IllegalArgumentException.class);
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
