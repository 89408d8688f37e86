package io.ambientctl.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Completion candidates of --netns: the names under /var/run/netns, listed when asked (the shell
 * completes the namespaces there at that moment). The completion scripts are generated once, so
 * there they are a placeholder that {@link Completions} turns into the same listing done by the shell.
 */
public class NetnsNames implements Iterable<String> {
    static final Path DIR = Path.of("/var/run/netns");
    /** What a generated script holds instead of the names of the build machine. */
    static final String PLACEHOLDER = "@NETNS_NAMES@";

    private static final ThreadLocal<Boolean> GENERATING = ThreadLocal.withInitial(() -> false);

    /** Runs {@code body} with the placeholder in place of the names. */
    static <T> T generating(java.util.function.Supplier<T> body) {
        GENERATING.set(true);
        try {
            return body.get();
        } finally {
            GENERATING.set(false);
        }
    }

    static List<String> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    @Override
    public Iterator<String> iterator() {
        return (GENERATING.get() ? List.of(PLACEHOLDER) : list(DIR)).iterator();
    }
}
