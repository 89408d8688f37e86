package io.ambientctl.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import io.ambientctl.lab.Lab;
import io.ambientctl.testing.Kernel;
import io.ambientctl.testing.LabFixture;
import io.ambientctl.util.ExitCodeException;

/** A Pod's network namespace from its IPs: by the host route to its veth, else by asking every namespace. */
class PodNetnsKernelTest {
    static LabFixture f;

    @BeforeAll
    static void up() throws Exception {
        Kernel.require();
        f = new LabFixture(2, null);
    }

    @AfterAll
    static void down() {
        if (f != null) {
            f.close();
        }
    }

    @Test
    void theHostRouteNamesTheVethAndItsPeersNamespace() {
        Lab.Pod p = f.pod(1);
        PodNetns.Located at = PodNetns.of(f.lab.node()).find("t/p1", List.of(p.ipv6(), p.ipv4()));
        assertThat(at.netns()).isEqualTo(p.netns());
        assertThat(at.hostInterface()).isEqualTo(p.hostInterface());
        assertThat(at.hostIfindex()).isPositive();
    }

    @Test
    void withoutAHostRouteEveryNamespaceIsAsked() {
        Lab.Pod p = f.pod(2);
        f.lab.node().exec("ip", "route", "del", p.ipv4() + "/32").check();
        f.lab.node().exec("ip", "route", "del", p.ipv6() + "/128").check();
        PodNetns.Located at = PodNetns.of(f.lab.node()).find("t/p2", List.of(p.ipv4(), p.ipv6()));
        assertThat(at.netns()).isEqualTo(p.netns());
        assertThat(at.hostInterface()).isEqualTo(p.hostInterface());
    }

    @Test
    void ipsNoNamespaceHoldsAreNotFound() {
        assertThatThrownBy(() -> PodNetns.of(f.lab.node()).find("t/ghost", List.of("10.77.0.250")))
                .isInstanceOfSatisfying(ExitCodeException.class, e -> assertThat(e.exitCode()).isEqualTo(4))
                .hasMessageContaining("no network namespace on this node holds 10.77.0.250");
        // one IP here and one not: not this Pod
        assertThatThrownBy(() -> PodNetns.of(f.lab.node()).find("t/half", List.of(f.pod(1).ipv4(), "fd77::fe")))
                .isInstanceOf(ExitCodeException.class);
    }
}
