package io.ambientctl.util;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TraceTest {
    @Test
    void theProcessStartedBeforeTheJvmDidAndNotLongBefore() {
        long jvm = java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime();
        long process = Trace.sinceStart();
        long jvmAfter = java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime();
        // the process's clock ticks are 10 ms: it started at most a tick after the JVM's own start was taken
        assertThat(process).isGreaterThanOrEqualTo(jvm - 20);
        // and before it, by what the launcher and the JVM's creation took, not by the boot time's rounding
        assertThat(process).isLessThanOrEqualTo(jvmAfter + 500);
    }
}
