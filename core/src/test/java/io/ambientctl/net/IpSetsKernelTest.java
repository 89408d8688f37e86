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

/** ipset sets asked over NETLINK_NETFILTER in a namespace of the test's own: the same answers as ipset list -n. */
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
}
