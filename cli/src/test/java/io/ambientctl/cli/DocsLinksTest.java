package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The repository's documents stand on their own (issue 13): every relative link of README.md,
 * packaging/README.md and docs/*.md points at a file inside the repository (and, for a link into a
 * Markdown file with #anchor, at one of its headings), and no document refers to design notes that
 * live outside it.
 */
class DocsLinksTest {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    /** [text](target) and ![alt](target), with an optional "title". */
    static final Pattern LINK = Pattern.compile("!?\\[[^\\]]*\\]\\(\\s*<?([^)\\s>]+)>?(?:\\s+\"[^\"]*\")?\\s*\\)");
    /** Reference definitions: [label]: target */
    static final Pattern REFERENCE = Pattern.compile("(?m)^ {0,3}\\[[^\\]]+\\]:\\s*<?(\\S+?)>?(?:\\s+.*)?$");
    static final Pattern FENCE = Pattern.compile("(?ms)^ {0,3}(```|~~~).*?^ {0,3}\\1[^\\n]*$");
    static final Pattern CODE_SPAN = Pattern.compile("(`+)(?:(?!\\1).)+?\\1", Pattern.DOTALL);
    static final Pattern HEADING = Pattern.compile("(?m)^ {0,3}#{1,6}\\s+(.+?)\\s*#*\\s*$");

    static List<Path> documents() {
        List<Path> docs = new ArrayList<>(List.of(ROOT.resolve("README.md"), ROOT.resolve("packaging/README.md")));
        Path dir = ROOT.resolve("docs");
        if (Files.isDirectory(dir)) {
            try (Stream<Path> s = Files.walk(dir)) {
                s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(docs::add);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return docs;
    }

    static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The text without fenced code blocks and code spans: a [x](y) there is not a link. */
    static String prose(String markdown) {
        return CODE_SPAN.matcher(FENCE.matcher(markdown).replaceAll("")).replaceAll("");
    }

    static List<String> links(String markdown) {
        String text = prose(markdown);
        List<String> out = new ArrayList<>();
        for (Pattern p : List.of(LINK, REFERENCE)) {
            Matcher m = p.matcher(text);
            while (m.find()) {
                out.add(m.group(1));
            }
        }
        return out;
    }

    static boolean external(String target) {
        return target.matches("(?i)[a-z][a-z0-9+.-]*:.*"); // https:, mailto:, ...
    }

    /** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
    static String slug(String heading) {
        String plain = heading.replaceAll("`", "").replaceAll("\\[([^\\]]*)\\]\\([^)]*\\)", "$1");
        return plain.toLowerCase(Locale.ROOT).replaceAll("[^\\p{L}\\p{N} _-]", "").replace(' ', '-');
    }

    static Set<String> anchors(Path markdown) {
        Set<String> out = new HashSet<>();
        Matcher m = HEADING.matcher(FENCE.matcher(read(markdown)).replaceAll(""));
        while (m.find()) {
            String s = slug(m.group(1));
            for (int i = 1; !out.add(s); i++) {
                s = slug(m.group(1)) + "-" + i;
            }
        }
        return out;
    }

    @Test
    void everyRelativeLinkPointsInsideTheRepository() {
        List<String> broken = new ArrayList<>();
        int checked = 0;
        for (Path doc : documents()) {
            assertThat(doc).as("a document the repository must have").exists();
            for (String target : links(read(doc))) {
                if (external(target)) {
                    continue;
                }
                checked++;
                String where = ROOT.relativize(doc) + ": " + target;
                int hash = target.indexOf('#');
                String file = hash < 0 ? target : target.substring(0, hash);
                String anchor = hash < 0 ? null : target.substring(hash + 1);
                Path resolved = file.isEmpty() ? doc : doc.getParent().resolve(file).normalize();
                if (!resolved.startsWith(ROOT)) {
                    broken.add(where + " (outside the repository)");
                } else if (!Files.exists(resolved)) {
                    broken.add(where + " (no such file)");
                } else if (anchor != null && resolved.toString().endsWith(".md") && !anchors(resolved).contains(anchor)) {
                    broken.add(where + " (no heading with that anchor in " + ROOT.relativize(resolved) + ")");
                }
            }
        }
        assertThat(broken).as("links that a user of the repository cannot follow").isEmpty();
        assertThat(checked).as("relative links found (the scan works)").isGreaterThanOrEqualTo(2);
    }

    @Test
    void theReadmeLinksTheDocuments() {
        assertThat(links(read(ROOT.resolve("README.md")))).contains("docs/datapath.md", "docs/cli.md");
    }

    @Test
    void noDocumentRefersToDesignNotesOutsideTheRepository() {
        List<String> offending = new ArrayList<>();
        for (Path doc : documents()) {
            List<String> lines = read(doc).lines().toList();
            for (int i = 0; i < lines.size(); i++) {
                String l = lines.get(i);
                if (l.contains("shared/design") || l.contains("../shared/")) {
                    offending.add(ROOT.relativize(doc) + ":" + (i + 1) + ": " + l.strip());
                }
            }
        }
        assertThat(offending).as("references to the internal design notes").isEmpty();
    }

    @Test
    void theScannerFindsLinksAndSkipsCode() {
        String md = "See [a](docs/a.md#x) and ![img](p.png \"t\").\n\n```\n[not](a/link)\n```\n`[nor](this)`\n"
                + "[ref]: ../outside.md\n";
        assertThat(links(md)).containsExactlyInAnyOrder("docs/a.md#x", "p.png", "../outside.md");
        assertThat(slug("Attach kinds")).isEqualTo("attach-kinds");
        assertThat(slug("`status -o json`, `mode show -o json`")).isEqualTo("status--o-json-mode-show--o-json");
    }
}
