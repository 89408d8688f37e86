package io.ambientctl.redirect;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;

import io.ambientctl.net.NetNs;
import io.ambientctl.testing.Kernel;

class NodeConfigTest {
    @Test
    void anEmptyOrRelativeDirectoryIsAUsageError() {
        Path bpffs = Path.of("/sys/fs/bpf/ambientctl-nodeconfig-test");
        assertThatThrownBy(() -> new NodeConfig(bpffs, Path.of(""), NetNs.self()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--state-dir is empty");
        assertThatThrownBy(() -> new NodeConfig(bpffs, Path.of("var/lib/x"), NetNs.self()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("relative path");
        assertThatThrownBy(() -> new NodeConfig(Path.of("ambientctl"), Path.of("/var/lib/x"), NetNs.self()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--bpffs ambientctl is a relative");
    }

    @Test
    void aPinDirectoryOffBpffsOrThroughALinkIsRefusedBeforeAnythingIsCreated() throws Exception {
        Path tmp = Files.createTempDirectory("nodeconfig");
        try {
            assertThatThrownBy(() -> NodeConfig.requireBpffs(tmp.resolve("x/y")))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("not bpffs");
            Path target = Files.createDirectories(tmp.resolve("target"));
            Files.createSymbolicLink(tmp.resolve("link"), target);
            assertThatThrownBy(() -> NodeConfig.requireBpffs(tmp.resolve("link/x")))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("symbolic link");
            assertThatThrownBy(() -> NodeConfig.requireNoLinks("--bpffs", tmp.resolve("link/x/y")))
                    .hasMessageContaining(tmp.resolve("link") + " is " + target);
            org.assertj.core.api.Assertions.assertThat(target).isEmptyDirectory();
        } finally {
            Kernel.removeTree(tmp);
        }
    }
}
