package io.ambientctl.net;

/**
 * A tc filter as the kernel reports it in an RTM_NEWTFILTER answer ({@code tc filter show}): where it is
 * (interface and parent, e.g. {@link TcFilters#INGRESS}),
 * its priority ("pref"), protocol (host order, e.g. 0x0003 for ETH_P_ALL), handle, chain and kind; for a
 * {@code bpf} filter also the program's id, the name given at attach time (TCA_BPF_NAME: tc's "bpf_name",
 * libbpf's "NAME:[ID]", not the program's own name), its tag in hex and whether it is direct-action.
 * {@code progId} is 0 for other kinds (and for a classic-BPF filter).
 */
public record TcFilter(int ifindex, int parent, int priority, int protocol, int handle, int chain, String kind,
                       int progId, String bpfName, String tag, boolean directAction) {
}
