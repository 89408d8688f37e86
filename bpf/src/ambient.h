/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ambientctl: the layouts shared by the eBPF programs and the Java code that fills the maps
 * (io.ambientctl.redirect.ebpf.Maps mirrors every struct here; keep both in step).
 * All multi-byte fields are host byte order unless the name says "_be".
 */
#ifndef AMBIENT_H
#define AMBIENT_H

#include <linux/types.h>

/* The layout of the maps below (and of what lives in the kernel): 1 = v0.1.0, 2 = this one.
 * io.ambientctl.redirect.ebpf.Maps.LAYOUT mirrors it. */
#define AMBIENT_LAYOUT          2

#define AMBIENT_MAX_WORKLOADS   65536
#define AMBIENT_MAX_NODE_ADDRS  256

/* Capture ports of ztunnel (fixed for compatibility). */
#define ZTUNNEL_OUTBOUND_PORT   15001
#define ZTUNNEL_INBOUND_PORT    15006
#define ZTUNNEL_HBONE_PORT      15008
#define ZTUNNEL_DNS_PORT        15053

/* skb->mark values. 0x111/0xfff is the mark that routes locally in ztunnel's netns
 * (ip rule fwmark 0x111/0xfff lookup 133; table 133: local 0.0.0.0/0 dev lo), as Istio uses. It is
 * written with its mask: the bits outside 0xfff (other agents') are kept. The node's netns needs no mark:
 * ambient_pod_egress recognises ztunnel's packets by skb->ingress_ifindex. */
#define AMBIENT_MARK_TPROXY     0x111
#define AMBIENT_MARK_MASK       0xfff
#define AMBIENT_ROUTE_TABLE     133

/* An IP address: IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), so one map serves both families. */
struct ip_key {
	__u8 addr[16];
};

/* workload map value: one entry per address of an enrolled workload. */
struct workload_info {
	__u32 ifindex;      /* host-side veth of the workload (node netns) */
	__u32 id;           /* workload id: key of the counters map */
	__u8  mac[6];       /* MAC of the workload's interface (eth0 inside its netns) */
	__u16 flags;        /* WORKLOAD_F_* */
};
#define WORKLOAD_F_ENROLLED     0x1
#define WORKLOAD_F_NO_DNS_CAPTURE 0x2 /* opted out of DNS capture: its port-53 traffic passes */

/* ztunnel map: one entry (key 0). ifindex 0 means "no ztunnel set". */
struct ztunnel_info {
	__u32 ifindex;      /* ztunnel's host-side veth (node netns) */
	__u8  mac[6];       /* MAC of ztunnel's eth0 (inside its netns) */
	__u16 flags;        /* ZTUNNEL_F_* */
};
#define ZTUNNEL_F_DNS_CAPTURE   0x1
#define ZTUNNEL_F_FAIL_OPEN     0x2

/* node-address map value: the node's own IPs bypass the mesh (kubelet probes). */
struct node_addr_info {
	__u32 flags;
};

/* Why a packet was dropped (index of workload_counters.drops; cb[2] and the event's reason on a drop).
 * io.ambientctl.redirect.DropReason mirrors this table (a test compares them). */
#define AMBIENT_DROP_NONE           0
#define AMBIENT_DROP_NO_ZTUNNEL     1 /* fail closed: no ztunnel set */
#define AMBIENT_DROP_NO_LISTENER    2 /* ztunnel is not listening on the port */
#define AMBIENT_DROP_ASSIGN_FAILED  3 /* bpf_sk_assign failed (errno in cb[3] and the event) */
#define AMBIENT_DROP_REWRITE_FAILED 4 /* bpf_skb_store_bytes (MAC rewrite) failed */
#define AMBIENT_DROP_REASONS        8 /* 5..7 reserved */

/* Why a packet was passed (cb[2] and the event's reason on a pass).
 * io.ambientctl.observe.PassReason mirrors this table. */
#define AMBIENT_PASS_NONE           0
#define AMBIENT_PASS_NOT_L4         1 /* not IP, or not TCP/UDP */
#define AMBIENT_PASS_NOT_ENROLLED   2
#define AMBIENT_PASS_NODE_ADDR      3 /* to or from a node address (kubelet probes) */
#define AMBIENT_PASS_DNS            4 /* DNS not captured: node-wide off or the workload opted out */
#define AMBIENT_PASS_FROM_ZTUNNEL   5
#define AMBIENT_PASS_FAIL_OPEN      6 /* no ztunnel set, fail open */
#define AMBIENT_PASS_ZTUNNEL_OWN    7 /* ztunnel's own traffic (nobody enrolled at either end) */

/* The decision every program leaves in skb->cb[0]; cb[1] is the redirect target (ifindex, or the
 * listener port in ztunnel's netns), cb[2] the reason, cb[3] the errno of a failed helper. */
#define AMBIENT_CB_PASS      0
#define AMBIENT_CB_OUTBOUND  1
#define AMBIENT_CB_INBOUND   2
#define AMBIENT_CB_BYPASS    3
#define AMBIENT_CB_ASSIGNED  4
#define AMBIENT_CB_DROP      5

/* A BPF_PROG_TEST_RUN input with cb[4] == this (ASCII "EXPL") is `ambientctl explain`'s: the programs
 * decide as usual (cb[0..3]) but count nothing and emit no event. */
#define AMBIENT_EXPLAIN_MAGIC 0x4558504c

/* per-workload counters (per-CPU): redirected packets and bytes in each direction, drops by reason. */
struct workload_counters {
	__u64 out_packets;
	__u64 out_bytes;
	__u64 in_packets;
	__u64 in_bytes;
	__u64 drops[AMBIENT_DROP_REASONS];
};

/* The hooks (event.hook). */
#define AMBIENT_HOOK_POD_INGRESS     1
#define AMBIENT_HOOK_POD_EGRESS      2
#define AMBIENT_HOOK_ZTUNNEL_INGRESS 3
#define AMBIENT_HOOK_ZTUNNEL_CAPTURE 4

/* Directions (event.direction). */
#define AMBIENT_DIR_UNKNOWN  0
#define AMBIENT_DIR_OUTBOUND 1 /* leaving a workload */
#define AMBIENT_DIR_INBOUND  2 /* entering a workload */

/* Monitor lease: ambient_monitor, one entry (key 0). The programs emit events only while
 * bpf_ktime_get_ns() < until_ns; running monitors push it forward (no lock). */
struct monitor_lease {
	__u64 until_ns;
	__u32 flags;        /* MONITOR_F_* */
	__u32 udp_per_sec;  /* UDP datagrams reported per CPU and second (drops always are) */
};
#define MONITOR_F_EVERY_PACKET 0x1

/* Per-CPU monitor bookkeeping: ambient_mon_cpu, one entry. */
struct monitor_cpu {
	__u64 window_ns;    /* start of the current UDP rate window */
	__u32 udp_count;    /* UDP events in it */
	__u32 pad;
	__u64 rate_limited; /* UDP datagrams not reported (rate limit) */
	__u64 lost;         /* events lost: ring buffer full */
};

/* One decision, in the ambient_events ring buffer. */
struct ambient_event {
	__u64 ts_ns;        /* bpf_ktime_get_ns() */
	__u8  src[16];      /* IPv4-mapped for IPv4 */
	__u8  dst[16];
	__u32 workload_id;  /* 0: none */
	__u32 ifindex;      /* skb->ifindex: the device of the hook */
	__u32 target;       /* cb[1] */
	__u32 err;          /* cb[3] (errno) */
	__u32 len;          /* skb->len */
	__u16 sport;        /* host order */
	__u16 dport;
	__u8  hook;         /* AMBIENT_HOOK_* */
	__u8  decision;     /* AMBIENT_CB_* */
	__u8  reason;       /* AMBIENT_PASS_* or AMBIENT_DROP_* */
	__u8  proto;        /* IPPROTO_*, 0 when not parsed */
	__u8  family;       /* 4, 6, 0 */
	__u8  tcp_flags;
	__u8  direction;    /* AMBIENT_DIR_* */
	__u8  pad;
};

/* settings map: one entry (key 0). */
struct settings {
	__u32 log_level;    /* 0 off; 1 bpf_printk decisions */
	__u32 flags;
};

#endif
