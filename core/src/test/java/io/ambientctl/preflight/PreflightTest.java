package io.ambientctl.preflight;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.net.NetNs;
import io.ambientctl.preflight.CheckResult.Status;
import io.ambientctl.redirect.RedirectMode;
import io.ambientctl.testing.Kernel;

/** Preflight on simulated hosts (a fake /proc, /sys, /boot and PATH; fake probes) and on this machine. */
class PreflightTest {
    private Path root;

    @BeforeEach
    void setUp() throws Exception {
        root = Files.createTempDirectory("fakehost");
    }

    @AfterEach
    void tearDown() {
        Kernel.removeTree(root);
    }

    /** Fake probes: everything works unless named in {@code broken}. */
    static Probes probes(List<String> broken) {
        return new FakeProbes(broken);
    }

    /** Fake probes: everything works unless named in {@code broken}; the node holds no rules. */
    static class FakeProbes implements Probes {
        private final List<String> broken;

        FakeProbes(List<String> broken) {
            this.broken = broken;
        }

        Answer a(String what) {
            return broken.contains(what) ? Answer.no(what + " failed") : Answer.yes(what + " works");
        }

        @Override
        public Answer schedClsLoads() {
            return a("sched_cls");
        }

        @Override
        public Answer helper(String name) {
            return a(name);
        }

        @Override
        public Answer tcx() {
            return a("tcx");
        }

        @Override
        public Answer clsact() {
            return a("clsact");
        }

        @Override
        public Answer tproxy(boolean v6) {
            return a(v6 ? "tproxy6" : "tproxy");
        }

        @Override
        public Answer ipsetMatch() {
            return a("ipset");
        }

        @Override
        public Answer nftablesLibrary() {
            return a("libnftables");
        }

        @Override
        public Answer nftables(String feature) {
            return a("nft-" + feature);
        }

        @Override
        public Answer policyRouting() {
            return a("routing");
        }

        @Override
        public int[] iptablesRules() {
            return new int[] {3, 0};
        }

        @Override
        public List<String> otherPrograms() {
            return broken.contains("others") ? List.of("veth1 ingress tc prio 1: id 7 cil_from_container")
                    : List.of();
        }
    }

    private void file(String rel, String content) throws Exception {
        Path p = root.resolve(rel);
        Files.createDirectories(p.getParent());
        Files.writeString(p, content);
    }

    private void tool(String name) throws Exception {
        file("bin/" + name, "#!/bin/sh\n");
        root.resolve("bin/" + name).toFile().setExecutable(true);
    }

    /** A healthy 6.8 host with every tool and root's capabilities. */
    private void healthy() throws Exception {
        file("proc/sys/kernel/osrelease", "6.8.0-test");
        file("proc/sys/net/core/bpf_jit_enable", "1");
        file("sys/kernel/btf/vmlinux", "btf");
        file("proc/mounts", "sysfs /sys sysfs rw 0 0\nbpf /sys/fs/bpf bpf rw 0 0\n");
        file("proc/self/status", "Name: x\nCapEff:\t000001ffffffffff\n");
        file("proc/self/limits", "Max locked memory         8388608              8388608              bytes\n");
        StringBuilder cfg = new StringBuilder();
        Preflight.CONFIG.keySet().forEach(k -> cfg.append(k).append("=y\n"));
        file("boot/config-6.8.0-test", cfg.toString());
        for (String t : List.of("iptables", "ip6tables", "iptables-restore", "ip6tables-restore", "ipset")) {
            tool(t);
        }
    }

    private Map<String, CheckResult> run(RedirectMode mode, List<String> broken) {
        Preflight.Report r = new Preflight(Host.fake(root, probes(broken)), Path.of("/sys/fs/bpf/ambientctl"), mode)
                .run();
        return r.checks().stream().collect(Collectors.toMap(CheckResult::id, Function.identity()));
    }

    private boolean ok(RedirectMode mode, List<String> broken) {
        return new Preflight(Host.fake(root, probes(broken)), Path.of("/sys/fs/bpf/ambientctl"), mode).run().ok();
    }

    @Test
    void aHealthyHostPassesBothModes() throws Exception {
        healthy();
        for (RedirectMode m : List.of(RedirectMode.ebpf, RedirectMode.iptables)) {
            assertThat(run(m, List.of()).values()).allSatisfy(c -> assertThat(c.status()).isEqualTo(Status.pass));
            assertThat(ok(m, List.of())).isTrue();
        }
        assertThat(run(RedirectMode.ebpf, List.of())).doesNotContainKey("iptables.tproxy");
        assertThat(run(RedirectMode.iptables, List.of())).doesNotContainKey("bpf.helper.bpf_sk_assign");
    }

    @Test
    void anOldKernelWarnsByReleaseAndFailsByProbe() throws Exception {
        healthy();
        file("proc/sys/kernel/osrelease", "4.19.0-old");
        Files.move(root.resolve("boot/config-6.8.0-test"), root.resolve("boot/config-4.19.0-old"));
        var checks = run(RedirectMode.ebpf, List.of("bpf_sk_assign", "bpf_skc_lookup_tcp", "tcx"));
        assertThat(checks.get("kernel.release").status()).isEqualTo(Status.warn);
        assertThat(checks.get("kernel.release").required()).isFalse();
        assertThat(checks.get("kernel.release").detail()).contains("no bpf_sk_assign").contains("before 6.6");
        assertThat(checks.get("kernel.release").fix()).contains("iptables mode");
        CheckResult sk = checks.get("bpf.helper.bpf_sk_assign");
        assertThat(sk.status()).isEqualTo(Status.fail);
        assertThat(sk.required()).isTrue();
        assertThat(sk.fix()).contains("5.7").contains("iptables mode");
        assertThat(checks.get("tc.tcx").status()).isEqualTo(Status.warn);
        assertThat(checks.get("tc.clsact").required()).isTrue(); // without TCX the qdisc is needed
        // memlock matters before 5.11: 8 MiB is too little
        assertThat(checks.get("memlock").status()).isEqualTo(Status.fail);
        assertThat(checks.get("memlock").fix()).contains("ulimit -l unlimited");
        assertThat(ok(RedirectMode.ebpf, List.of("bpf_sk_assign"))).isFalse();
        // the same kernel is fine for iptables mode
        assertThat(ok(RedirectMode.iptables, List.of("bpf_sk_assign", "bpf_skc_lookup_tcp", "tcx"))).isTrue();
    }

    @Test
    void noBtfOnlyWarns() throws Exception {
        healthy();
        Files.delete(root.resolve("sys/kernel/btf/vmlinux"));
        CheckResult btf = run(RedirectMode.ebpf, List.of()).get("btf.vmlinux");
        assertThat(btf.status()).isEqualTo(Status.warn);
        assertThat(btf.required()).isFalse();
        assertThat(btf.fix()).contains("CONFIG_DEBUG_INFO_BTF");
        assertThat(ok(RedirectMode.ebpf, List.of())).isTrue();
    }

    @Test
    void bpffsNotMountedFailsTheEbpfMode() throws Exception {
        healthy();
        file("proc/mounts", "sysfs /sys sysfs rw 0 0\n");
        CheckResult c = run(RedirectMode.ebpf, List.of()).get("bpffs");
        assertThat(c.status()).isEqualTo(Status.fail);
        assertThat(c.required()).isTrue();
        assertThat(c.fix()).contains("mount -t bpf bpf /sys/fs/bpf");
        assertThat(ok(RedirectMode.ebpf, List.of())).isFalse();
        assertThat(ok(RedirectMode.iptables, List.of())).isTrue();
    }

    @Test
    void aMissingCapabilityIsNamed() throws Exception {
        healthy();
        // CAP_NET_ADMIN only: no CAP_SYS_ADMIN, no CAP_BPF, no CAP_PERFMON
        file("proc/self/status", "CapEff:\t" + Long.toHexString(1L << Preflight.CAP_NET_ADMIN) + "\n");
        CheckResult c = run(RedirectMode.ebpf, List.of()).get("capabilities");
        assertThat(c.status()).isEqualTo(Status.fail);
        assertThat(c.required()).isTrue();
        assertThat(c.detail()).contains("CAP_BPF").contains("CAP_PERFMON").doesNotContain("CAP_NET_ADMIN,");
        assertThat(c.fix()).contains("grant CAP_BPF + CAP_PERFMON");
        CheckResult i = run(RedirectMode.iptables, List.of()).get("capabilities");
        assertThat(i.status()).isEqualTo(Status.fail);
        assertThat(i.detail()).contains("CAP_NET_RAW").contains("CAP_SYS_ADMIN").doesNotContain("CAP_BPF");
    }

    @Test
    void withoutNetRawTheIpsetProbeBlamesTheCapabilityNotTheKernel() throws Exception {
        healthy();
        long all = 0x1ffffffffffL;
        file("proc/self/status", "CapEff:\t" + Long.toHexString(all & ~(1L << Preflight.CAP_NET_RAW)) + "\n");
        Map<String, CheckResult> r = run(RedirectMode.iptables, List.of("ipset"));
        assertThat(r.get("capabilities").status()).isEqualTo(Status.fail);
        assertThat(r.get("capabilities").fix()).contains("NET_RAW");
        assertThat(r.get("iptables.ipset").fix()).contains("CAP_NET_RAW").doesNotContain("CONFIG_IP_SET");
        // the eBPF mode does not need it
        assertThat(run(RedirectMode.ebpf, List.of()).get("capabilities").status()).isEqualTo(Status.pass);
    }

    @Test
    void noIptablesFailsTheIptablesModeWithThePackage() throws Exception {
        healthy();
        for (String t : List.of("iptables", "ip6tables", "iptables-restore", "ip6tables-restore")) {
            Files.delete(root.resolve("bin/" + t));
        }
        var checks = run(RedirectMode.iptables, List.of());
        assertThat(checks.get("tool.iptables").status()).isEqualTo(Status.fail);
        assertThat(checks.get("tool.iptables").required()).isTrue();
        assertThat(checks.get("tool.iptables").fix()).isEqualTo("apt-get install iptables");
        assertThat(checks.get("tool.ipset").status()).isEqualTo(Status.pass);
        assertThat(ok(RedirectMode.iptables, List.of())).isFalse();
        assertThat(ok(RedirectMode.ebpf, List.of())).isTrue();
    }

    @Test
    void unknownKernelConfigIsSkippedAndOthersProgramsAreShown() throws Exception {
        healthy();
        Files.delete(root.resolve("boot/config-6.8.0-test"));
        var checks = run(RedirectMode.ebpf, List.of("others"));
        assertThat(checks.get("kernel.config").status()).isEqualTo(Status.skip);
        assertThat(checks.get("kernel.config").detail()).startsWith("unknown");
        assertThat(checks.get("tc.others").status()).isEqualTo(Status.warn);
        assertThat(checks.get("tc.others").detail()).contains("cil_from_container");
        assertThat(checks.get("tc.others").required()).isFalse();
    }

    @Test
    void onThisMachineEveryCheckPassesOrSaysWhyNotAndNothingIsLeft() {
        Kernel.require();
        KernelProbes probes = new KernelProbes();
        Preflight.Report r;
        try {
            Host h = Host.real();
            r = new Preflight(new Host(h.proc(), h.sys(), h.boot(), h.path(), probes), Path.of("/sys/fs/bpf/x"), null,
                    RedirectMode.ebpf).run();
        } finally {
            probes.close();
        }
        assertThat(r.ok()).isTrue();
        assertThat(r.checks()).allSatisfy(c -> {
            assertThat(c.status()).as(c.id()).isNotEqualTo(Status.fail);
            if (c.status() == Status.warn) {
                assertThat(c.fix()).as(c.id()).isNotBlank();
            }
        });
        assertThat(r.checks()).extracting(CheckResult::id).contains("bpf.helper.bpf_sk_assign", "iptables.tproxy",
                "nftables.library", "nftables.socket", "nftables.tproxy",
                "routing.policy", "tc.clsact");
        assertThat(NetNs.named("ambientctl-preflight-" + ProcessHandle.current().pid()).exists()).isFalse();
    }

    @Test
    void nftablesModeRequiresLibnftablesAndTheSocketAndTproxyExpressions() throws Exception {
        healthy();
        var checks = run(RedirectMode.nftables, List.of());
        assertThat(checks).containsKeys("nftables.library", "nftables.sets", "nftables.socket", "nftables.tproxy",
                "config.CONFIG_NFT_TPROXY").doesNotContainKey("iptables.tproxy").doesNotContainKey("bpf.sched_cls");
        assertThat(checks.get("nftables.tproxy").required()).isTrue();
        assertThat(ok(RedirectMode.nftables, List.of())).isTrue();
        // a kernel without eBPF's helpers is fine for nftables mode; one without nft_tproxy is not
        assertThat(ok(RedirectMode.nftables, List.of("bpf_sk_assign", "tproxy"))).isTrue();
        assertThat(ok(RedirectMode.nftables, List.of("nft-tproxy"))).isFalse();
        assertThat(run(RedirectMode.nftables, List.of("nft-socket")).get("nftables.socket").fix())
                .contains("nft_socket");
        var noLib = run(RedirectMode.nftables, List.of("libnftables"));
        assertThat(noLib.get("nftables.library").fix()).contains("apt-get install libnftables1");
        assertThat(noLib).doesNotContainKey("nftables.tproxy");
        assertThat(run(RedirectMode.iptables, List.of())).doesNotContainKey("nftables.library");
    }
}
