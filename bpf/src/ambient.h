/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ambientctl: the layouts shared by the eBPF programs and the Java code that fills the maps
 * (io.ambientctl.redirect.ebpf.Maps mirrors every struct here; keep both in step).
 * All multi-byte fields are host byte order unless the name says "_be".
 */
#ifndef AMBIENT_H
#define AMBIENT_H

#include <linux/types.h>

/* The layout of the maps and pins: bumped whenever a map's layout changes (layout 1: release v0.1.0). */
#define AMBIENT_LAYOUT          2

#define AMBIENT_MAX_WORKLOADS   65536
#define AMBIENT_MAX_NODE_ADDRS  256

/* Capture ports of ztunnel (fixed for compatibility). */
#define ZTUNNEL_OUTBOUND_PORT   15001
#define ZTUNNEL_INBOUND_PORT    15006
#define ZTUNNEL_HBONE_PORT      15008
#define ZTUNNEL_DNS_PORT        15053

/* skb->mark values. 0x111/0xfff is the mark that routes locally in ztunnel's netns
 * (ip rule fwmark 0x111/0xfff lookup 133; table 133: local 0.0.0.0/0 dev lo), as Istio uses. */
#define AMBIENT_MARK_TPROXY     0x111
#define AMBIENT_MARK_MASK       0xfff
#define AMBIENT_MARK_BYPASS     0x222
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

/* Drop reasons: index of workload_counters.drops. */
#define AMBIENT_DROP_REASONS    8
#define AMBIENT_DROP_NO_ZTUNNEL 1   /* fail closed: no ztunnel set */

/* per-workload counters (per-CPU): redirected packets and bytes in each direction, drops by reason. */
struct workload_counters {
	__u64 out_packets;
	__u64 out_bytes;
	__u64 in_packets;
	__u64 in_bytes;
	__u64 drops[AMBIENT_DROP_REASONS];
};

/* settings map: one entry (key 0). */
struct settings {
	__u32 log_level;    /* 0 off; 1 bpf_printk decisions */
	__u32 flags;
};

#endif
