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
                .anyMatch(s -> s.in("bpf/sys")).anyMatch(s -> s.in("kube")).anyMatch(s -> s.in("cli"))
                .anyMatch(s -> s.in("observe")).anyMatch(s -> s.in("preflight"))
                .anyMatch(s -> s.path().endsWith(Path.of("redirect/ModeProbes.java")));
        for (String mode : MODES) {
            assertThat(sources()).as(mode).anyMatch(s -> s.in(mode));
        }
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

    static final List<String> MODES = List.of("redirect/ebpf", "redirect/iptables", "redirect/nftables");

    /** The files outside the modes that may name them: they open a mode or hand a probe over to it. */
    static final List<Path> GATEWAYS = List.of(Path.of("redirect/Redirectors.java"), Path.of("redirect/ModeProbes.java"));

    private static final String ANY_MODE = "(?s).*io\\.ambientctl\\.redirect\\.(ebpf|iptables|nftables)\\..*";

    private static boolean inAMode(Source s) {
        return MODES.stream().anyMatch(s::in);
    }

    /**
     * A mode's kernel bookkeeping is its own: every package outside the modes (cli, lab, bench, inspect, kube,
     * observe, preflight, util, net, bpf, and redirect's mode-neutral classes) goes through Node and the
     * mode-neutral Redirector (Redirectors opens one) or asks through ModeProbes, never into redirect.ebpf /
     * redirect.iptables / redirect.nftables, by import or by a qualified name. Only the gateways name them.
     */
    @Test
    void noReachInsIntoAMode() {
        List<Path> reaching = sources().stream().filter(s -> !inAMode(s))
                .filter(s -> GATEWAYS.stream().noneMatch(s.path()::endsWith))
                .filter(s -> s.text().matches(ANY_MODE))
                .map(Source::path).toList();
        assertThat(reaching).as("files outside the modes reaching into a mode's package").isEmpty();
    }

    /**
     * Nor does one mode reach into another, with one exception: the iptables mode asks libnftables (the binding,
     * {@code redirect.nftables.Nftables}, which the nftables mode's package holds as the only jnr-ffi user besides
     * bpf) whether iptables-nft has its chain. That is the library, not the nftables mode's rules or state.
     */
    @Test
    void noModeReachesIntoAnother() {
        List<String> reaching = new java.util.ArrayList<>();
        for (String mode : MODES) {
            String others = MODES.stream().filter(m -> !m.equals(mode)).map(m -> m.substring("redirect/".length()))
                    .reduce((a, b) -> a + "|" + b).orElseThrow();
            java.util.regex.Pattern named = java.util.regex.Pattern.compile(
                    "io\\.ambientctl\\.redirect\\.(" + others + ")\\.(\\w+)");
            for (Source s : sources().stream().filter(s -> s.in(mode)).toList()) {
                java.util.regex.Matcher m = named.matcher(s.text());
                while (m.find()) {
                    boolean libnftables = mode.equals("redirect/iptables") && m.group(0).equals(
                            "io.ambientctl.redirect.nftables.Nftables");
                    if (!libnftables) {
                        reaching.add(s.path() + ": " + m.group(0));
                    }
                }
            }
        }
        assertThat(reaching).as("a mode reaching into another mode's package").isEmpty();
    }

    @Test
    void onlyTheCliMainExits() {
        assertThat(sources().stream().filter(s -> s.text().contains("System.exit("))
                .map(s -> s.path().getFileName().toString())).containsExactly("Main.java");
    }
}
