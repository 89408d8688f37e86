package io.ambientctl.redirect.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.net.NetNs;
import io.ambientctl.redirect.NodeConfig;
import io.ambientctl.redirect.State;
import io.ambientctl.redirect.Ztunnel;
import io.ambientctl.redirect.nftables.Nftables;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.TestNet;
import io.ambientctl.util.Exec;

/**
 * The iptables mode's leftovers check ({@code present()}, what {@code status} asks in the other modes) in a node's
 * and a ztunnel's namespace of the test's own: each kind of object alone makes it true, none (or only objects that
 * are not ours) false, and with iptables-nft's chains and no legacy table it starts no process.
 */
class IptablesPresenceKernelTest {
    private TestNet net;
    private NetNs node;
    private NetNs zt;
    private IptablesRedirector ipt;

    @BeforeEach
    void setUp() {
        Kernel.require();
        Kernel.requireThat("iptables-nft and ipset (apt-get install iptables ipset)", runs("iptables-nft", "-V")
                && runs("ipset", "version"));
        Kernel.requireThat("libnftables (apt-get install libnftables1)", Nftables.available());
        net = new TestNet("actest-iptp");
        node = net.netns("node");
        zt = net.netns("zt");
        // the paths are never created: present() reads only the kernel
        NodeConfig cfg = new NodeConfig(Path.of("/sys/fs/bpf/" + net.prefix()), Path.of("/tmp/" + net.prefix()), node);
        State state = new State();
        state.ztunnel = new Ztunnel("ztunnel", "istio-system", zt.name(), List.of("10.244.0.2"), "eth0", 2, null,
                "zt0", 3, null);
        ipt = new IptablesRedirector(cfg, state, true);
    }

    @AfterEach
    void tearDown() {
        if (ipt != null) {
            ipt.close();
        }
        if (net != null) {
            net.close(); // chains, tables and sets go with the namespaces
        }
    }

    private static boolean runs(String... cmd) {
        try {
            return Exec.run(List.of(cmd)).ok();
        } catch (Exec.ExecException e) {
            return false;
        }
    }

    /**
     * present(), asserting it started no process, and that the chain check of each namespace says what the save
     * tools (the check before, and still the one without libnftables) say.
     */
    private boolean presentWithoutProcess() {
        long before = Exec.started();
        boolean p = ipt.present();
        assertThat(Exec.started() - before).as("processes started by present()").isZero();
        for (NetNs ns : List.of(node, zt)) {
            assertThat(ns.call(IptablesRedirector::nftChainHere)).as("the chain in " + ns.display() + " as listed")
                    .isEqualTo(ns.call(() -> IptablesRedirector.chainsHereSaved(Backend.NFT)));
        }
        return p;
    }

    @Test
    void nothingIsNotPresentAndStartsNoProcess() {
        assertThat(presentWithoutProcess()).isFalse();
        assertThat(ipt.chainsPresent()).isFalse();
    }

    @Test
    void ourChainAloneIsPresent() {
        TestNet.sh(node, "iptables-nft", "-t", "mangle", "-N", Rules.CHAIN);
        assertThat(presentWithoutProcess()).isTrue();
        assertThat(ipt.chainsPresent()).as("what the nftables mode asks before removing the shared routing").isTrue();
    }

    @Test
    void aJumpToOurChainIsPresent() {
        // in nf_tables a jump needs its chain: the IPv6 raw table's chain and PREROUTING's jump to it
        TestNet.sh(node, "ip6tables-nft", "-t", "raw", "-N", Rules.CHAIN);
        TestNet.sh(node, "ip6tables-nft", "-t", "raw", "-A", "PREROUTING", "-j", Rules.CHAIN);
        assertThat(TestNet.run(node, "ip6tables-nft-save").stdout()).contains("-j " + Rules.CHAIN);
        assertThat(presentWithoutProcess()).isTrue();
        assertThat(ipt.chainsPresent()).isTrue();
    }

    @Test
    void ourSetAloneIsPresent() {
        TestNet.sh(node, "ipset", "create", Rules.SET6, "hash:ip", "family", "inet6");
        assertThat(presentWithoutProcess()).isTrue();
        assertThat(ipt.chainsPresent()).as("a set is not a chain").isFalse();
    }

    @Test
    void onlyInZtunnelsNamespaceIsPresent() {
        TestNet.sh(zt, "ipset", "create", Rules.SET4, "hash:ip");
        assertThat(presentWithoutProcess()).isTrue();
        TestNet.sh(zt, "ipset", "destroy", Rules.SET4);
        assertThat(presentWithoutProcess()).isFalse();
        TestNet.sh(zt, "iptables-nft", "-t", "mangle", "-N", Rules.CHAIN);
        assertThat(presentWithoutProcess()).isTrue();
        assertThat(ipt.chainsPresent()).as("the node's namespace only").isFalse();
    }

    @Test
    void objectsThatAreNotOursAreNotPresent() {
        TestNet.sh(node, "iptables-nft", "-t", "mangle", "-N", Rules.CHAIN + "-X");
        TestNet.sh(node, "iptables-nft", "-t", "mangle", "-A", "PREROUTING", "-j", Rules.CHAIN + "-X");
        TestNet.sh(node, "ipset", "create", Rules.SET4 + "-x", "hash:ip");
        TestNet.sh(node, "ipset", "create", Rules.NODNS4, "hash:ip");
        // a chain of our name in an nft table of another owner (not one of iptables' tables), and in inet
        TestNet.sh(node, "nft", "add", "table", "ip", "other");
        TestNet.sh(node, "nft", "add", "chain", "ip", "other", Rules.CHAIN);
        TestNet.sh(node, "nft", "add", "table", "inet", "mangle");
        TestNet.sh(node, "nft", "add", "chain", "inet", "mangle", Rules.CHAIN);
        // which is what iptables' own listing says
        String saved = TestNet.run(node, "iptables-nft-save").stdout() + TestNet.run(node, "ip6tables-nft-save").stdout();
        assertThat(saved).contains(Rules.CHAIN + "-X").doesNotContain(":" + Rules.CHAIN + " ");
        assertThat(presentWithoutProcess()).isFalse();
        assertThat(ipt.chainsPresent()).isFalse();
    }

    @Test
    void aLegacyTablesChainIsFoundWithTheLegacyTool() {
        Kernel.requireThat("iptables-legacy and the ip_tables module", runs("iptables-legacy", "-V")
                && TestNet.run(node, "iptables-legacy", "-t", "mangle", "-S").ok());
        assertThat(ipt.present()).as("legacy tables without our chain").isFalse();
        TestNet.sh(node, "iptables-legacy", "-t", "mangle", "-N", Rules.CHAIN);
        long before = Exec.started();
        assertThat(ipt.present()).isTrue();
        assertThat(Exec.started() - before).as("the legacy save tool ran").isPositive();
        assertThat(ipt.chainsPresent()).isTrue();
    }
}
