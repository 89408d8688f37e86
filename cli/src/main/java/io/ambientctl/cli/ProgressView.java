package io.ambientctl.cli;

import java.io.PrintStream;
import java.time.Duration;

import io.ambientctl.redirect.Progress;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Renders core's {@link Progress} as a progress bar on stderr (me.tongfei:progressbar, on jline), one
 * bar per phase. Only for people at a terminal with table output, and only for work that takes more
 * than a moment: a bar appears once a phase has run for {@link #DELAY}. Closing it finishes the bar.
 */
final class ProgressView implements Progress, AutoCloseable {
    static final Duration DELAY = Duration.ofMillis(400);

    private final PrintStream stream;
    private final long delayNanos;
    private String phase;
    private long phaseStart;
    private ProgressBar bar;

    ProgressView(PrintStream stream, Duration delay) {
        this.stream = stream;
        this.delayNanos = delay.toNanos();
    }

    /** Whether a bar may be shown at all: a terminal, table output, not --quiet. */
    static boolean wanted(boolean terminal, GlobalOptions g) {
        return terminal && g.output() == GlobalOptions.Format.table && !g.quiet;
    }

    /** The listener for a command: a view on stderr when {@link #wanted}, else one that does nothing. */
    static ProgressView forCommand(boolean terminal, GlobalOptions g) {
        return wanted(terminal, g) ? new ProgressView(System.err, DELAY) : null;
    }

    @Override
    public synchronized void update(String phase, int done, int total) {
        if (!phase.equals(this.phase)) {
            finishBar();
            this.phase = phase;
            this.phaseStart = System.nanoTime();
        }
        if (bar == null && done < total && System.nanoTime() - phaseStart >= delayNanos) {
            bar = new ProgressBarBuilder().setTaskName(phase).setInitialMax(total)
                    .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(100).continuousUpdate()
                    .setConsumer(new ConsoleProgressBarConsumer(stream)).clearDisplayOnFinish().build();
        }
        if (bar != null) {
            bar.stepTo(done);
            if (done >= total) {
                finishBar();
            }
        }
    }

    /** Whether a bar is on screen now (for tests). */
    synchronized boolean showing() {
        return bar != null;
    }

    private void finishBar() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }

    @Override
    public synchronized void close() {
        finishBar();
    }
}
