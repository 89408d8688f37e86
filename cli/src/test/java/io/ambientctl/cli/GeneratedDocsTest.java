package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The committed completions/ and man/ are what the command model generates now: the build writes
 * them (GeneratedDocs, phase process-test-classes) into cli/target/generated-docs; this compares.
 */
class GeneratedDocsTest {
    static final Path REPO = Path.of("..").toAbsolutePath().normalize();
    static final Path GENERATED = Path.of("target/generated-docs").toAbsolutePath();
    static final String UPDATE = "regenerate them: mvn -q -DskipTests package -Ddocs.dir=$PWD (from the repository "
            + "root), and commit completions/ and man/";

    @Test
    void completionScriptsAreUpToDate() throws IOException {
        for (var e : GeneratedDocs.completions().entrySet()) {
            Path committed = REPO.resolve("completions").resolve(e.getKey());
            assertThat(committed).as("completions/%s is missing: %s", e.getKey(), UPDATE).exists();
            assertThat(Files.readString(committed)).as("completions/%s is out of date: %s", e.getKey(), UPDATE)
                    .isEqualTo(e.getValue());
        }
    }

    @Test
    void completionCommandPrintsTheCommittedScripts() throws IOException {
        assertThat(MainTest.run("completion", "bash").out())
                .isEqualTo(Files.readString(REPO.resolve("completions").resolve(GeneratedDocs.BASH)));
        assertThat(MainTest.run("completion", "zsh").out())
                .isEqualTo(Files.readString(REPO.resolve("completions").resolve(GeneratedDocs.ZSH)))
                .startsWith("#compdef ambientctl");
        assertThat(MainTest.run("completion", "fish").code()).isEqualTo(ExitCode.USAGE);
    }

    @Test
    void manPagesAreUpToDate() throws IOException {
        Path generated = GENERATED.resolve("man");
        assertThat(generated).as("the build generates the man pages first (mvn verify, not surefire alone)")
                .isDirectory();
        List<String> expected = names(generated);
        assertThat(names(REPO.resolve("man"))).as("man/ holds a page per command: %s", UPDATE)
                .containsExactlyElementsOf(expected);
        for (String page : expected) {
            assertThat(Files.mismatch(generated.resolve(page), REPO.resolve("man").resolve(page)))
                    .as("man/%s is out of date: %s", page, UPDATE).isEqualTo(-1L);
        }
        // one per visible command, picked up from the tree
        assertThat(expected).contains("ambientctl.1", "ambientctl-enroll.1", "ambientctl-mode-set.1",
                "ambientctl-shell.1", "ambientctl-completion.1").doesNotContain("ambientctl-lab-serve.1");
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".1")).sorted().toList();
        }
    }
}
