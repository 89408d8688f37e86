package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.lab.Lab;
import io.ambientctl.lab.Traffic;
import io.ambientctl.lab.ZtunnelStandIn.Capture;
import io.ambientctl.testing.LabFixture;

class EbpfRedirectionKernelTest {
    private LabFixture f;

    @BeforeEach
    void setUp() throws Exception {
        f = new LabFixture(3, null);
    }

    @AfterEach
    void tearDown() {
        if (f != null) {
            f.close();
        }
    }

    @Test
    void outboundTcpIsCapturedOn15001WithTheOriginalDestination() {
        Lab.Pod a = f.pod(1);
        Lab.Pod b = f.pod(2);
        var direct = Traffic.tcp(a.netns(), null, b.ipv4(), 8080, "hello", LabFixture.SHORT);
        assertThat(direct.answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).isEmpty();

        f.node.ztunnelSet(f.lab.ztunnel(), null, null, false);
        f.node.enroll(List.of(a.netns()), false);
        var r = Traffic.tcp(a.netns(), null, b.ipv4(), 8080, "hello", LabFixture.SHORT);
        assertThat(r.error()).isNull();
        assertThat(r.answer()).isEqualTo(b.name() + " hello");
        assertThat(f.standIn.captures()).singleElement().satisfies(c -> {
            assertThat(c.port()).isEqualTo(15001);
            assertThat(c.originalDestination()).isEqualTo(b.ipv4() + ":8080");
            assertThat(c.source()).startsWith(a.ipv4() + ":");
        });
    }
}
