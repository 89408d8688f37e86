package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn;
import io.ambientctl.net.NetNs;
import io.ambientctl.testing.LabFixture;

/**
 * Layout 2 writes ztunnel's 0x111 under its mask 0xfff: a mark bit another agent set before our capture
 * program (here a tc matchall filter ahead of ours on ztunnel's eth0) survives, and local delivery still works.
 */
class CaptureMarkKernelTest {
    LabFixture f;
    java.nio.file.Path otherPins;
    io.ambientctl.bpf.BpfObject other;

    @BeforeEach
    void setUp() throws Exception {
        f = new LabFixture(2, AttachKind.TC);
        otherPins = io.ambientctl.testing.Kernel.bpffsDir("actest-mark");
        other = io.ambientctl.bpf.BpfObject.openResource("selftest.bpf.o").load();
    }

    @AfterEach
    void tearDown() {
        if (other != null) {
            other.close();
        }
        if (f != null) {
            f.close();
        }
        if (otherPins != null) {
            io.ambientctl.testing.Kernel.removeTree(otherPins);
        }
    }

    @Test
    void anotherAgentsMarkBitSurvivesTheCaptureMark() {
        Lab.Pod a = f.pod(1);
        Lab.Pod b = f.pod(2);
        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        f.node.enroll(List.of(a.netns()), false);
        NetNs zt = f.lab.ztunnel();
        String eth = f.node.recorded().ztunnel.podInterface();
        // another agent's filter, before ours (pref 1 < 0xa3): sets bit 0x10000 and lets the next filter run
        other.program("selftest_mark").pin(otherPins.resolve("mark"));
        zt.exec("tc", "filter", "add", "dev", eth, "ingress", "pref", "1", "bpf", "da", "object-pinned",
                otherPins.resolve("mark").toString()).check();
        // count, in ztunnel's namespace, what arrives with both marks (after the TC hook, before routing)
        zt.exec("nft", "add table ip actestmark").check();
        zt.exec("nft", "add chain ip actestmark pre { type filter hook prerouting priority -300 ; }").check();
        zt.exec("nft", "add rule ip actestmark pre meta mark 0x10111 counter").check();
        zt.exec("nft", "add rule ip actestmark pre meta mark 0x111 counter").check();

        Traffic.Result r = Traffic.tcp(a.netns(), null, b.ipv4(), 8080, "hello", LabFixture.SHORT);
        assertThat(r.answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).extracting(ZtunnelStandIn.Capture::port).containsExactly(15001);

        String rules = zt.exec("nft", "list chain ip actestmark pre").check().stdout();
        assertThat(packets(rules, "0x00010111")).as(rules).isPositive();
        assertThat(packets(rules, "0x00000111")).as(rules).isZero();
        zt.exec("nft", "delete table ip actestmark").check();
    }

    private static long packets(String rules, String mark) {
        for (String l : rules.lines().toList()) {
            if (l.contains("meta mark " + mark)) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("packets (\\d+)").matcher(l);
                if (m.find()) {
                    return Long.parseLong(m.group(1));
                }
            }
        }
        throw new AssertionError("no rule for mark " + mark + " in " + rules);
    }
}
