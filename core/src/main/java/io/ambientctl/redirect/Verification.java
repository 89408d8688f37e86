package io.ambientctl.redirect;

import java.util.List;

/** Whether the kernel has a workload's redirection as the state says; {@code problems} says what is off. */
public record Verification(boolean verified, List<String> problems) {
    public static Verification of(List<String> problems) {
        return new Verification(problems.isEmpty(), List.copyOf(problems));
    }
}
