package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Predicate;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The rules of the house (README "Layout") checked on the sources of core and cli: who may use the raw
 * native binding, jnr-ffi and fabric8, and where the process may exit. Each rule lists the files that break it.
 */
class LayeringTest {
    static final Path CORE = Path.of("../core/src/main/java/io/ambientctl");
    static final Path CLI = Path.of("src/main/java/io/ambientctl/cli");

    record Source(Path path, String text) {
        boolean in(String pkgDir) {
            return path.toString().replace('\\', '/').contains("/io/ambientctl/" + pkgDir + "/");
        }

        List<String> imports() {
            return text.lines().filter(l -> l.startsWith("import ")).toList();
        }
    }

    static List<Source> sources() {
        try (Stream<Path> core = Files.walk(CORE); Stream<Path> cli = Files.walk(CLI)) {
            return Stream.concat(core, cli).filter(p -> p.toString().endsWith(".java")).map(p -> {
                try {
                    return new Source(p, Files.readString(p));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<Path> breaking(Predicate<Source> where, Predicate<String> importLine) {
        return sources().stream().filter(where).filter(s -> s.imports().stream().anyMatch(importLine))
                .map(Source::path).toList();
    }

    @Test
    void theSourcesAreWhereTheTestLooks() {
        assertThat(sources()).hasSizeGreaterThan(80)
                .anyMatch(s -> s.in("bpf/sys")).anyMatch(s -> s.in("kube")).anyMatch(s -> s.in("cli"));
    }

    @Test
    void onlyBpfAndNetUseTheRawBindingOthersMayOnlyNameItsException() {
        assertThat(breaking(s -> !s.in("bpf") && !s.in("net"),
                l -> l.startsWith("import io.ambientctl.bpf.sys.") && !l.contains(".NativeLibraryException;")))
                .as("files outside bpf and net importing bpf.sys").isEmpty();
    }

    @Test
    void onlyTheBpfPackagesAndTheLibnftablesBindingImportJnrFfi() {
        assertThat(breaking(s -> !s.in("bpf") && !s.in("redirect/nftables"),
                l -> l.startsWith("import jnr.") || l.startsWith("import com.kenai.")))
                .as("files outside bpf and redirect/nftables importing jnr-ffi").isEmpty();
    }

    @Test
    void onlyKubeImportsFabric8() {
        assertThat(breaking(s -> !s.in("kube"), l -> l.startsWith("import io.fabric8.")))
                .as("files outside kube importing fabric8").isEmpty();
    }

    /**
     * A mode's kernel bookkeeping is its own: cli, lab, bench, inspect and kube go through Node and the
     * mode-neutral Redirector (Redirectors opens one), never into redirect.ebpf / redirect.iptables /
     * redirect.nftables, by import or by a qualified name.
     */
    @Test
    void noReachInsIntoAMode() {
        Predicate<Source> outside = s -> s.in("cli") || s.in("lab") || s.in("bench") || s.in("inspect") || s.in("kube");
        List<Path> reaching = sources().stream().filter(outside)
                .filter(s -> s.text().matches("(?s).*io\\.ambientctl\\.redirect\\.(ebpf|iptables|nftables)\\..*"))
                .map(Source::path).toList();
        assertThat(reaching).as("files reaching into a mode's package").isEmpty();
    }

    @Test
    void onlyTheCliMainExits() {
        assertThat(sources().stream().filter(s -> s.text().contains("System.exit("))
                .map(s -> s.path().getFileName().toString())).containsExactly("Main.java");
    }
}
