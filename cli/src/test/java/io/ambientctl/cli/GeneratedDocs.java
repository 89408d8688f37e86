package io.ambientctl.cli;

import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import org.asciidoctor.Asciidoctor;
import org.asciidoctor.Attributes;
import org.asciidoctor.Options;
import org.asciidoctor.SafeMode;

import picocli.CommandLine;
import picocli.codegen.docgen.manpage.ManPageGenerator;

/**
 * Generates the completion scripts and the man pages from the command model; the build runs it
 * (cli/pom.xml, phase process-test-classes) into {@code cli/target/generated-docs}, and
 * {@link GeneratedDocsTest} fails when the committed {@code completions/} and {@code man/} differ.
 *
 * <p>Every command of the tree gets a man page (picocli's ManPageGenerator writes AsciiDoc,
 * asciidoctorj turns it into troff); commands added later are picked up without a change here.
 * Usage: {@code GeneratedDocs OUT_DIR}: writes OUT_DIR/completions and OUT_DIR/man.
 */
public final class GeneratedDocs {
    static final String BASH = "ambientctl.bash";
    static final String ZSH = "ambientctl.zsh";

    /** asciidoctor's attributes for the man pages: no date (the pages stay the same until the model changes). */
    static final Map<String, Object> ATTRIBUTES = new TreeMap<>(Map.of("reproducible", "",
            "mansource", "ambientctl " + VersionCommand.toolVersion(), "manmanual", "ambientctl Manual"));

    private GeneratedDocs() {
    }

    /** The command tree as the documentation sees it (the same as Main runs). */
    static CommandLine model() {
        return Main.commandLine(new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()));
    }

    /** File name -> content of the completion scripts. */
    static Map<String, String> completions() {
        Map<String, String> m = new TreeMap<>();
        m.put(BASH, Completions.script(Completions.Shell.bash, model()));
        m.put(ZSH, Completions.script(Completions.Shell.zsh, model()));
        return m;
    }

    /** Writes the AsciiDoc of every (visible) command into {@code dir}; returns their files. */
    static List<Path> asciiDoc(Path dir) throws IOException {
        Files.createDirectories(dir);
        try (Stream<Path> old = Files.list(dir)) {
            for (Path p : old.toList()) {
                Files.delete(p);
            }
        }
        int rc = ManPageGenerator.generateManPage(dir.toFile(), null, new boolean[0], true,
                model().getCommandSpec());
        if (rc != 0) {
            throw new IllegalStateException("ManPageGenerator exited " + rc);
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.toString().endsWith(".adoc")).sorted().toList();
        }
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            throw new IllegalArgumentException("usage: GeneratedDocs OUT_DIR");
        }
        Path out = Path.of(args[0]).toAbsolutePath();
        Path completions = out.resolve("completions");
        Files.createDirectories(completions);
        for (Map.Entry<String, String> e : completions().entrySet()) {
            writeIfChanged(completions.resolve(e.getKey()), e.getValue());
        }

        // AsciiDoc next to the build's other output; troff only for pages whose AsciiDoc changed
        // (asciidoctorj runs on JRuby, which takes seconds to start)
        Path work = Path.of(System.getProperty("ambientctl.docs.work", out.resolve("adoc").toString()));
        Path fresh = Files.createTempDirectory("ambientctl-adoc");
        Path man = out.resolve("man");
        Files.createDirectories(man);
        Files.createDirectories(work);
        // what the troff depends on besides the AsciiDoc: a change converts every page again
        Path settings = work.resolve("settings");
        String conversion = "backend=manpage " + ATTRIBUTES + " outDir=" + man;
        boolean sameSettings = Files.exists(settings) && Files.readString(settings).equals(conversion);
        List<File> toConvert = new ArrayList<>();
        List<String> pages = new ArrayList<>();
        try {
            for (Path adoc : asciiDoc(fresh)) {
                String name = adoc.getFileName().toString();
                String page = name.substring(0, name.length() - ".adoc".length()) + ".1";
                pages.add(page);
                Path known = work.resolve(name);
                boolean same = sameSettings && Files.exists(known) && Files.mismatch(known, adoc) == -1;
                Files.copy(adoc, known, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                if (!same || !Files.exists(man.resolve(page))) {
                    toConvert.add(known.toFile());
                }
            }
        } finally {
            try (Stream<Path> s = Files.list(fresh)) {
                for (Path p : s.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(fresh);
        }
        try (Stream<Path> s = Files.list(man)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (n.endsWith(".1") && !pages.contains(n)) {
                    Files.delete(p); // a command that is gone
                }
            }
        }
        if (!toConvert.isEmpty()) {
            try (Asciidoctor asciidoctor = Asciidoctor.Factory.create()) {
                for (File f : toConvert) {
                    asciidoctor.convertFile(f, Options.builder().backend("manpage").safe(SafeMode.UNSAFE)
                            .toDir(man.toFile()).mkDirs(true)
                            .attributes(Attributes.builder().attributes(ATTRIBUTES).build()).build());
                }
            }
        }
        Files.writeString(settings, conversion);
        System.out.println("ambientctl docs: " + completions().size() + " completion scripts, " + pages.size()
                + " man pages (" + toConvert.size() + " converted) in " + out);
    }

    private static void writeIfChanged(Path file, String content) throws IOException {
        if (Files.exists(file) && Files.readString(file, StandardCharsets.UTF_8).equals(content)) {
            return;
        }
        Files.writeString(file, content, StandardCharsets.UTF_8);
    }
}
