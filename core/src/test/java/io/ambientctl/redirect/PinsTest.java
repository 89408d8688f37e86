package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.ambientctl.bpf.AttachKind;
import io.ambientctl.bpf.TcAttachment;
import io.ambientctl.bpf.TcDirection;
import io.ambientctl.testing.Kernel;

/** What the state file names is checked to lie under our bpffs directory before it is touched. */
class PinsTest {
    private Path root;
    private Path bpffs;
    private Path links;
    private Path victim;

    @BeforeEach
    void setUp() throws Exception {
        root = Files.createTempDirectory("pins");
        bpffs = Files.createDirectories(root.resolve("bpffs"));
        links = Files.createDirectories(bpffs.resolve("links"));
        victim = Files.writeString(root.resolve("victim"), "precious");
    }

    @AfterEach
    void tearDown() {
        Kernel.removeTree(root);
    }

    @Test
    void onlyPinsUnderOurDirectoryPass() throws Exception {
        Path own = Files.writeString(links.resolve("pod_in"), "");
        assertThat(Pins.requireUnder(bpffs, own.toString())).isEqualTo(own);
        assertThat(Pins.requireUnder(bpffs, links.resolve("not-yet").toString())).isEqualTo(links.resolve("not-yet"));
        Files.createSymbolicLink(links.resolve("evil"), victim);
        Files.createSymbolicLink(bpffs.resolve("out"), root);
        for (String bad : List.of(victim.toString(), "/etc/passwd", bpffs + "/links/../../victim", "links/pod_in", "",
                links.resolve("evil").toString(), bpffs.resolve("out/victim").toString(), bpffs.toString(),
                bpffs + "-other/links/x", links + "/./pod_in")) {
            assertThat(Pins.isUnder(bpffs, bad)).as(bad).isFalse();
            assertThatThrownBy(() -> Pins.requireUnder(bpffs, bad)).as(bad)
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("outside BPFFS")
                    .hasMessageContaining("refusing to touch it; run 'ambientctl repair'");
        }
    }

    private static Hook hook(String pin) {
        return new Hook("pod-a", new TcAttachment(AttachKind.TCX, 7, TcDirection.INGRESS, 1, 2, pin, 0, 0, false));
    }

    @Test
    void repairRepointsARecordToOurPinOfTheSameNameElseForgetsIt() throws Exception {
        Path own = Files.writeString(links.resolve("pod_in"), "");
        Map<String, List<Hook>> att = new LinkedHashMap<>();
        att.put("pod-a", new ArrayList<>(List.of(hook(root.resolve("pod_in").toString()), hook(victim.toString()),
                hook(own.toString()))));
        Map<String, List<Hook>> before = new LinkedHashMap<>(att);

        List<String> dry = Pins.fixOutside(bpffs, links, att, true);
        assertThat(dry).hasSize(2);
        assertThat(att).isEqualTo(before);

        List<String> done = Pins.fixOutside(bpffs, links, att, false);
        assertThat(done).containsExactlyElementsOf(dry);
        assertThat(done.get(0)).startsWith("re-point").contains(own.toString());
        assertThat(done.get(1)).startsWith("forget").contains(victim.toString());
        assertThat(att.get("pod-a")).extracting(h -> h.tc().linkPin()).containsExactly(own.toString(), own.toString());
        assertThat(Files.readString(victim)).isEqualTo("precious");
    }
}
