package io.ambientctl.cli;

import java.time.Duration;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;

/** --wait DURATION for commands that take the node lock. */
class WaitOption {
    @Option(names = "--wait", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Wait up to DURATION (e.g. 30s, 2m, 500ms) for another ambientctl to release the node "
                    + "lock; without it a held lock is exit code 5.")
    Duration wait = Duration.ZERO;

    /** 500ms, 30s, 2m, 1h, or ISO-8601 (PT30S). */
    static class DurationConverter implements ITypeConverter<Duration> {
        @Override
        public Duration convert(String s) {
            return parse(s);
        }

        static Duration parse(String s) {
            Duration d = parseAny(s);
            if (d.isNegative() || d.compareTo(Duration.ofHours(24)) > 0) {
                throw new picocli.CommandLine.TypeConversionException("'" + s + "': a wait between 0 and 24h");
            }
            return d;
        }

        static Duration parseAny(String s) {
            String v = s.strip().toLowerCase();
            try {
                if (v.startsWith("pt")) {
                    return Duration.parse(v.toUpperCase());
                }
                if (v.endsWith("ms")) {
                    return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
                }
                long n = Long.parseLong(v.substring(0, v.length() - 1));
                return switch (v.charAt(v.length() - 1)) {
                    case 's' -> Duration.ofSeconds(n);
                    case 'm' -> Duration.ofMinutes(n);
                    case 'h' -> Duration.ofHours(n);
                    default -> throw new IllegalArgumentException();
                };
            } catch (RuntimeException e) {
                throw new picocli.CommandLine.TypeConversionException("'" + s
                        + "' is not a duration: use e.g. 500ms, 30s, 2m or 1h");
            }
        }
    }
}
