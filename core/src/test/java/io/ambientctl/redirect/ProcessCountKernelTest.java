package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.net.NetNs;
import io.ambientctl.testing.LabFixture;
import io.ambientctl.util.Exec;

/**
 * No process per workload or per hook: in eBPF mode enroll, status, verify and unenroll start no process at all,
 * and a mode switch starts as many processes for 6 workloads as for 2 (a process per namespace and family, for
 * the tools that have no library: iptables-restore, ipset), counted by {@link Exec#started()}.
 */
class ProcessCountKernelTest {
    private LabFixture f;

    @BeforeEach
    void setUp() throws Exception {
        f = new LabFixture(6, null);
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
    }

    @AfterEach
    void tearDown() {
        if (f != null) {
            f.close();
        }
    }

    private List<NetNs> pods(int n) {
        return java.util.stream.IntStream.rangeClosed(1, n).mapToObj(i -> f.pod(i).netns()).toList();
    }

    private long processes(Runnable r) {
        long before = Exec.started();
        r.run();
        return Exec.started() - before;
    }

    @Test
    void theEbpfModeRunsNoProcessToEnrollReadOrUnenroll() {
        List<NetNs> all = pods(6);
        assertThat(processes(() -> f.node.enroll(all, false))).as("enroll").isZero();
        assertThat(processes(() -> assertThat(f.node.status().verified()).isTrue())).as("status").isZero();
        assertThat(processes(() -> f.node.unenroll(all.subList(0, 3), false, false))).as("unenroll").isZero();
        assertThat(processes(() -> f.node.unenroll(List.of(), true, false))).as("unenroll --all").isZero();
    }

    /** The processes of each step of a round trip through the other modes, with {@code n} workloads enrolled. */
    private Map<String, Long> roundTrip(int n) {
        List<NetNs> ws = pods(n);
        f.node.enroll(ws, false);
        Map<String, Long> out = new java.util.LinkedHashMap<>();
        out.put("ebpf -> iptables", processes(() -> f.node.modeSet(RedirectMode.iptables, false)));
        out.put("status (iptables)", processes(() -> assertThat(f.node.status().verified()).isTrue()));
        out.put("iptables -> nftables", processes(() -> f.node.modeSet(RedirectMode.nftables, false)));
        out.put("status (nftables)", processes(() -> assertThat(f.node.status().verified()).isTrue()));
        out.put("nftables -> ebpf", processes(() -> f.node.modeSet(RedirectMode.ebpf, false)));
        out.put("unenroll --all", processes(() -> f.node.unenroll(List.of(), true, false)));
        return out;
    }

    @Test
    void aModeSwitchStartsAsManyProcessesForSixWorkloadsAsForTwo() {
        Map<String, Long> two = roundTrip(2);
        Map<String, Long> six = roundTrip(6);
        assertThat(six).as("processes by step, 6 workloads vs 2").isEqualTo(two);
        // and there are some: the iptables mode's tools are processes (its rules are in the node's and ztunnel's
        // namespaces, the Pods' addresses in ipsets)
        assertThat(two.get("ebpf -> iptables")).isPositive();
        System.out.println("processes by step, for 2 and for 6 workloads: " + two);
    }
}
