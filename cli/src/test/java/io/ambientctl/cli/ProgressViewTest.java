package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import org.junit.jupiter.api.Test;

class ProgressViewTest {
    @Test
    void onlyForAPersonAtATerminalWithTableOutput() {
        GlobalOptions g = new GlobalOptions();
        assertThat(ProgressView.wanted(true, g)).isTrue();
        assertThat(ProgressView.wanted(false, g)).as("stdout is not a terminal").isFalse();
        g.output = GlobalOptions.Format.json;
        assertThat(ProgressView.wanted(true, g)).as("-o json").isFalse();
        g.output = GlobalOptions.Format.table;
        g.quiet = true;
        assertThat(ProgressView.wanted(true, g)).as("--quiet").isFalse();
    }

    @Test
    void aPhaseGetsABarThatIsGoneWhenItsDone() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ProgressView v = new ProgressView(new PrintStream(bytes, true, StandardCharsets.UTF_8), Duration.ZERO)) {
            v.update("enrolling", 0, 40);
            assertThat(v.showing()).isTrue();
            v.update("enrolling", 20, 40);
            v.update("enrolling", 40, 40);
            assertThat(v.showing()).isFalse();
            v.update("verifying ebpf", 0, 40);
            assertThat(v.showing()).isTrue();
        }
        assertThat(bytes.toString(StandardCharsets.UTF_8)).contains("enrolling").contains("verifying ebpf");
    }

    @Test
    void workThatIsOverInAMomentShowsNoBar() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ProgressView v = new ProgressView(new PrintStream(bytes, true, StandardCharsets.UTF_8),
                Duration.ofHours(1))) {
            v.update("enrolling", 0, 2);
            v.update("enrolling", 1, 2);
            v.update("enrolling", 2, 2);
            assertThat(v.showing()).isFalse();
        }
        assertThat(bytes.size()).isZero();
    }
}
