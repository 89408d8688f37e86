package io.ambientctl.observe;

/**
 * One figure of {@code ambientctl bench --program-cost}: the kernel's mean time per run of a datapath program
 * ({@code program}) of one build ({@code variant}) in round {@code round}. The eBPF mode measures it (its objects,
 * maps and programs are its own); bench asks through {@code io.ambientctl.redirect.ModeProbes#programCost}.
 */
public record ProgramCost(int round, String variant, String program, double nsPerPacket) {
}
