package io.ambientctl.preflight;

/**
 * The checks that need the kernel itself: loading tiny programs, creating objects in a throw-away
 * network namespace. {@link KernelProbes} does them for real; tests substitute answers.
 */
public interface Probes {
    /** The answer of one probe: supported or not, and what was seen (an errno, a message). */
    record Answer(boolean ok, String detail) {
        public static Answer yes(String detail) {
            return new Answer(true, detail);
        }

        public static Answer no(String detail) {
            return new Answer(false, detail);
        }
    }

    /** bpf(2) usable: a sched_cls program loads. */
    Answer schedClsLoads();

    /** A BPF helper by name (bpf_redirect, bpf_redirect_peer, bpf_skc_lookup_tcp, bpf_sk_assign) in sched_cls. */
    Answer helper(String name);

    /** TCX links can be created (kernel 6.6+). */
    Answer tcx();

    /**
     * BPF ring buffers (5.8+): the datapath is loaded with the monitor (ambientctl monitor); without them the
     * build without the monitor is loaded. Tests' substitutes answer "yes" unless they say otherwise.
     */
    default Answer ringbuf() {
        return Answer.yes("BPF_MAP_TYPE_RINGBUF (assumed)");
    }

    /** A clsact qdisc can be created (in a throw-away namespace). */
    Answer clsact();

    /** iptables (v6: ip6tables) mangle table and the TPROXY target work (in a throw-away namespace). */
    Answer tproxy(boolean v6);

    /** ipset hash:ip and the set match work (in a throw-away namespace). */
    Answer ipsetMatch();

    /** libnftables loads and answers in JSON (the nftables mode reads its tables back that way). */
    Answer nftablesLibrary();

    /**
     * One nftables feature of the nftables mode works (in a throw-away namespace): "sets" (an inet table with
     * ipv4_addr and ipv6_addr sets matched by a prerouting chain), "socket" (socket transparent), "tproxy"
     * (tproxy ip and ip6).
     */
    Answer nftables(String feature);

    /** Policy routing (ip rule fwmark) works (in a throw-away namespace). */
    Answer policyRouting();

    /** iptables rules per backend: "nft=N legacy=M" (-1: tools missing). */
    int[] iptablesRules();

    /** TC programs of others on the node's veths: "ifname direction id name" lines. */
    java.util.List<String> otherPrograms();

    /**
     * The node's rules as text (iptables-save of both families in the backend in use, nft list ruleset, ip rule
     * show of both families), for the coexistence checks; empty where a tool is missing.
     */
    default Coexistence.NodeRules nodeRules() {
        return Coexistence.NodeRules.EMPTY;
    }

    /** Removes what the probes made (the throw-away namespace). */
    default void close() {
    }
}
