// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The eBPF redirection datapath (see docs/datapath.md):
 *
 *   ambient_pod_ingress      TC ingress of a pod's host veth: traffic leaving the pod -> ztunnel (outbound)
 *   ambient_pod_egress       TC egress of a pod's host veth: traffic entering the pod -> ztunnel (inbound)
 *   ambient_ztunnel_ingress  TC ingress of ztunnel's host veth: traffic from ztunnel to a pod, straight to its veth
 *   ambient_ztunnel_capture  TC ingress of eth0 inside ztunnel's netns: bpf_sk_assign to the socket or the
 *                            transparent listener (15001 / 15006 / 15008 / 15053), mark for local delivery
 *
 * Every program records its decision in skb->cb[0] (AMBIENT_CB_*), the redirect target in cb[1], the
 * reason (AMBIENT_PASS_* / AMBIENT_DROP_*) in cb[2] and a failed helper's errno in cb[3]: BPF_PROG_TEST_RUN
 * returns them, so tests and `ambientctl explain` see where a packet would have gone and why. An input with
 * cb[4] == AMBIENT_EXPLAIN_MAGIC moves no counter and emits no event.
 *
 * Built twice: with the monitor (default; ambient_monitor lease + ambient_events ring buffer, kernels >= 5.8)
 * and with -DAMBIENT_NO_MONITOR (redirect-nomonitor.bpf.o) for kernels without ring buffers.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "ambient.h"

#ifndef AMBIENT_NO_MONITOR
#define AMBIENT_MONITOR 1
#endif

#define DNS_PORT 53

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIENT_MAX_WORKLOADS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ip_key);
	__type(value, struct workload_info);
} ambient_workloads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ztunnel_info);
} ambient_ztunnel SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIENT_MAX_NODE_ADDRS);
	__type(key, struct ip_key);
	__type(value, struct node_addr_info);
} ambient_node_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, AMBIENT_MAX_WORKLOADS);
	__type(key, __u32);
	__type(value, struct workload_counters);
} ambient_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings);
} ambient_settings SEC(".maps");

#ifdef AMBIENT_MONITOR
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct monitor_lease);
} ambient_monitor SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct monitor_cpu);
} ambient_mon_cpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} ambient_events SEC(".maps");
#endif

struct pkt {
	struct ip_key src;
	struct ip_key dst;
	__u32 l4_off;
	__be16 sport;
	__be16 dport;
	__u8 family;
	__u8 proto;
};

/* 1: IPv4/IPv6 parsed; 0: not IP, or not parseable (left alone). */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return 0;
		p->family = 4;
		p->proto = ip->protocol;
		p->src.addr[10] = 0xff;
		p->src.addr[11] = 0xff;
		__builtin_memcpy(&p->src.addr[12], &ip->saddr, 4);
		p->dst.addr[10] = 0xff;
		p->dst.addr[11] = 0xff;
		__builtin_memcpy(&p->dst.addr[12], &ip->daddr, 4);
		p->l4_off = sizeof(*eth) + ip->ihl * 4;
		if (ip->frag_off & bpf_htons(0x1fff))
			p->proto = 0; /* a non-first fragment carries no ports */
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return 0;
		p->family = 6;
		p->proto = ip6->nexthdr;
		__builtin_memcpy(p->src.addr, &ip6->saddr, 16);
		__builtin_memcpy(p->dst.addr, &ip6->daddr, 16);
		p->l4_off = sizeof(*eth) + sizeof(*ip6);
	} else {
		return 0;
	}
	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) {
		__be16 ports[2];
		if (bpf_skb_load_bytes(skb, p->l4_off, ports, sizeof(ports)) < 0)
			return 0;
		p->sport = ports[0];
		p->dport = ports[1];
	}
	return 1;
}

static __always_inline int is_l4(struct pkt *p)
{
	return p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP;
}

static __always_inline struct ztunnel_info *ztunnel(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&ambient_ztunnel, &zero);
}

static __always_inline int dns_captured(struct ztunnel_info *zt)
{
	return zt && (zt->flags & ZTUNNEL_F_DNS_CAPTURE);
}

/* Port-53 traffic of this workload passes: DNS capture off node-wide, or the workload opted out. */
static __always_inline int dns_passes(struct ztunnel_info *zt, struct workload_info *w)
{
	return !dns_captured(zt) || (w->flags & WORKLOAD_F_NO_DNS_CAPTURE);
}

/* An explain run (BPF_PROG_TEST_RUN with the marker): decide, but count nothing and report nothing. */
static __always_inline int explaining(struct __sk_buff *skb)
{
	return skb->cb[4] == AMBIENT_EXPLAIN_MAGIC;
}

static __always_inline struct workload_counters *counters(struct __sk_buff *skb, __u32 id)
{
	if (explaining(skb))
		return 0;
	return bpf_map_lookup_elem(&ambient_counters, &id);
}

/* What one decision is about: the hook, the parsed packet, the workload (id 0: none), the direction. */
struct where {
	struct pkt *p;
	__u32 wid;
	__u8 hook;
	__u8 dir;
};

#ifdef AMBIENT_MONITOR
/* Writes the event (only called while the lease holds, past the default selection). */
static __noinline int emit(struct __sk_buff *skb, struct where *at, __u32 how, __u8 tcp_flags)
{
	struct ambient_event *e = bpf_ringbuf_reserve(&ambient_events, sizeof(*e), 0);
	if (!e) {
		__u32 zero = 0;
		struct monitor_cpu *mc = bpf_map_lookup_elem(&ambient_mon_cpu, &zero);
		if (mc)
			mc->lost++;
		return 0;
	}
	struct pkt *p = at->p;
	e->ts_ns = bpf_ktime_get_ns();
	__builtin_memcpy(e->src, p->src.addr, 16);
	__builtin_memcpy(e->dst, p->dst.addr, 16);
	e->workload_id = at->wid;
	e->ifindex = skb->ifindex;
	e->target = skb->cb[1];
	e->err = skb->cb[3];
	e->len = skb->len;
	e->sport = bpf_ntohs(p->sport);
	e->dport = bpf_ntohs(p->dport);
	e->hook = at->hook;
	e->decision = how;
	e->reason = skb->cb[2];
	e->proto = p->proto;
	e->family = p->family;
	e->tcp_flags = tcp_flags;
	e->direction = at->dir;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

#define TCP_FLAG_SYN 0x02

/*
 * Reports the decision when a monitor holds the lease. Monitor off, the cost is one array lookup and a
 * compare (plus bpf_ktime_get_ns once a monitor has ever run). By default only TCP SYNs, UDP datagrams
 * (at most udp_per_sec per CPU and second) and every drop are reported; MONITOR_F_EVERY_PACKET: all.
 */
static __always_inline void report(struct __sk_buff *skb, struct where *at, __u32 how)
{
	__u32 zero = 0;
	struct monitor_lease *l = bpf_map_lookup_elem(&ambient_monitor, &zero);
	if (!l || !l->until_ns || explaining(skb))
		return;
	__u64 now = bpf_ktime_get_ns();
	if (now >= l->until_ns)
		return;
	__u8 tcp_flags = 0;
	struct pkt *p = at->p;
	if (p->proto == IPPROTO_TCP && p->l4_off)
		bpf_skb_load_bytes(skb, p->l4_off + 13, &tcp_flags, 1);
	if (!(l->flags & MONITOR_F_EVERY_PACKET) && how != AMBIENT_CB_DROP) {
		if (p->proto == IPPROTO_TCP) {
			if (!(tcp_flags & TCP_FLAG_SYN))
				return;
		} else if (p->proto == IPPROTO_UDP) {
			struct monitor_cpu *mc = bpf_map_lookup_elem(&ambient_mon_cpu, &zero);
			if (!mc)
				return;
			if (now - mc->window_ns >= 1000000000ULL) {
				mc->window_ns = now;
				mc->udp_count = 0;
			}
			if (mc->udp_count >= l->udp_per_sec) {
				mc->rate_limited++;
				return;
			}
			mc->udp_count++;
		} else {
			return;
		}
	}
	emit(skb, at, how, tcp_flags);
}
#else
static __always_inline void report(struct __sk_buff *skb, struct where *at, __u32 how)
{
}
#endif

static __always_inline int decide(struct __sk_buff *skb, struct where *at, __u32 how, __u32 target, __u32 reason)
{
	skb->cb[0] = how;
	skb->cb[1] = target;
	skb->cb[2] = reason;
	report(skb, at, how);
	/* "pass" is TC_ACT_UNSPEC: no verdict, so other agents' programs after ours still run */
	if (how == AMBIENT_CB_DROP)
		return TC_ACT_SHOT;
	return how == AMBIENT_CB_PASS ? TC_ACT_UNSPEC : TC_ACT_OK;
}

static __always_inline int pass(struct __sk_buff *skb, struct where *at, __u32 reason)
{
	return decide(skb, at, AMBIENT_CB_PASS, 0, reason);
}

/* Drops and counts the drop on the workload (cb[3] holds the errno, 0 if none). */
static __always_inline int drop(struct __sk_buff *skb, struct where *at, __u32 target, __u32 reason, __u32 err)
{
	skb->cb[3] = err;
	struct workload_counters *c = counters(skb, at->wid);
	if (c && reason < AMBIENT_DROP_REASONS)
		c->drops[reason]++;
	return decide(skb, at, AMBIENT_CB_DROP, target, reason);
}

/* No ztunnel: drop (fail closed) unless fail-open was chosen. */
static __always_inline int no_ztunnel(struct __sk_buff *skb, struct where *at, struct ztunnel_info *zt)
{
	if (zt && (zt->flags & ZTUNNEL_F_FAIL_OPEN))
		return pass(skb, at, AMBIENT_PASS_FAIL_OPEN);
	return drop(skb, at, 0, AMBIENT_DROP_NO_ZTUNNEL, 0);
}

static __always_inline int to_ztunnel(struct __sk_buff *skb, struct where *at, struct ztunnel_info *zt, __u32 how)
{
	long err = bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), zt->mac, ETH_ALEN, 0);
	if (err < 0)
		return drop(skb, at, zt->ifindex, AMBIENT_DROP_REWRITE_FAILED, (__u32)-err);
	struct workload_counters *c = counters(skb, at->wid);
	if (c) {
		if (how == AMBIENT_CB_OUTBOUND) {
			c->out_packets++;
			c->out_bytes += skb->len;
		} else {
			c->in_packets++;
			c->in_bytes += skb->len;
		}
	}
	decide(skb, at, how, zt->ifindex, AMBIENT_PASS_NONE);
	return bpf_redirect(zt->ifindex, 0);
}

SEC("tc")
int ambient_pod_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct where at = {.p = &p, .hook = AMBIENT_HOOK_POD_INGRESS, .dir = AMBIENT_DIR_OUTBOUND};

	skb->cb[3] = 0;
	if (!parse(skb, &p) || !is_l4(&p))
		return pass(skb, &at, AMBIENT_PASS_NOT_L4);
	struct workload_info *w = bpf_map_lookup_elem(&ambient_workloads, &p.src);
	if (!w)
		return pass(skb, &at, AMBIENT_PASS_NOT_ENROLLED);
	at.wid = w->id;
	if (bpf_map_lookup_elem(&ambient_node_addrs, &p.dst))
		return pass(skb, &at, AMBIENT_PASS_NODE_ADDR); /* to the node itself */
	struct ztunnel_info *zt = ztunnel();
	if (p.dport == bpf_htons(DNS_PORT) && dns_passes(zt, w))
		return pass(skb, &at, AMBIENT_PASS_DNS);
	if (!zt || !zt->ifindex)
		return no_ztunnel(skb, &at, zt);
	return to_ztunnel(skb, &at, zt, AMBIENT_CB_OUTBOUND);
}

SEC("tc")
int ambient_pod_egress(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct where at = {.p = &p, .hook = AMBIENT_HOOK_POD_EGRESS, .dir = AMBIENT_DIR_INBOUND};

	skb->cb[3] = 0;
	if (!parse(skb, &p) || !is_l4(&p))
		return pass(skb, &at, AMBIENT_PASS_NOT_L4);
	struct ztunnel_info *zt = ztunnel();
	/* ztunnel's packets to a pod: ambient_ztunnel_ingress redirected them here (or the node routed them);
	 * either way they entered the node through ztunnel's veth. No mark is needed to tell them apart. */
	if (zt && zt->ifindex && skb->ingress_ifindex == zt->ifindex)
		return pass(skb, &at, AMBIENT_PASS_FROM_ZTUNNEL);
	struct workload_info *w = bpf_map_lookup_elem(&ambient_workloads, &p.dst);
	if (!w)
		return pass(skb, &at, AMBIENT_PASS_NOT_ENROLLED);
	at.wid = w->id;
	if (bpf_map_lookup_elem(&ambient_node_addrs, &p.src))
		return pass(skb, &at, AMBIENT_PASS_NODE_ADDR); /* kubelet probes and the node's own traffic */
	if (p.sport == bpf_htons(DNS_PORT) && dns_passes(zt, w))
		return pass(skb, &at, AMBIENT_PASS_DNS); /* answers to the pod's own, uncaptured DNS */
	if (!zt || !zt->ifindex)
		return no_ztunnel(skb, &at, zt);
	return to_ztunnel(skb, &at, zt, AMBIENT_CB_INBOUND);
}

SEC("tc")
int ambient_ztunnel_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct where at = {.p = &p, .hook = AMBIENT_HOOK_ZTUNNEL_INGRESS, .dir = AMBIENT_DIR_INBOUND};

	skb->cb[3] = 0;
	if (!parse(skb, &p))
		return pass(skb, &at, AMBIENT_PASS_NOT_L4);
	struct workload_info *w = bpf_map_lookup_elem(&ambient_workloads, &p.dst);
	if (!w)
		return pass(skb, &at, AMBIENT_PASS_NOT_ENROLLED);
	at.wid = w->id;
	long err = bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), w->mac, ETH_ALEN, 0);
	if (err < 0)
		return drop(skb, &at, w->ifindex, AMBIENT_DROP_REWRITE_FAILED, (__u32)-err);
	decide(skb, &at, AMBIENT_CB_BYPASS, w->ifindex, AMBIENT_PASS_NONE);
	return bpf_redirect(w->ifindex, 0);
}

static __always_inline void set_dport(struct pkt *p, struct bpf_sock_tuple *t, __u16 port)
{
	if (p->family == 4)
		t->ipv4.dport = bpf_htons(port);
	else
		t->ipv6.dport = bpf_htons(port);
}

static __always_inline int assign(struct __sk_buff *skb, struct where *at, struct bpf_sock *sk, __u16 port)
{
	long err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return drop(skb, at, port, AMBIENT_DROP_ASSIGN_FAILED, (__u32)-err);
	/* local delivery in ztunnel's netns (fwmark 0x111/0xfff -> table 133); other agents' bits kept */
	skb->mark = (skb->mark & ~AMBIENT_MARK_MASK) | AMBIENT_MARK_TPROXY;
	return decide(skb, at, AMBIENT_CB_ASSIGNED, port, AMBIENT_PASS_NONE);
}

/* TCP: the established socket first (the connection is already ztunnel's), else the listener. */
static __always_inline int assign_tcp(struct __sk_buff *skb, struct where *at, struct bpf_sock_tuple *t,
				      __u32 len, __u16 port)
{
	struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, t, len, BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		if (sk->state != BPF_TCP_LISTEN)
			return assign(skb, at, sk, port);
		bpf_sk_release(sk);
	}
	set_dport(at->p, t, port);
	sk = bpf_skc_lookup_tcp(skb, t, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return drop(skb, at, port, AMBIENT_DROP_NO_LISTENER, 0); /* ztunnel is not listening: fail closed */
	if (sk->state != BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		return drop(skb, at, port, AMBIENT_DROP_NO_LISTENER, 0);
	}
	return assign(skb, at, sk, port);
}

/* UDP: a connected socket of ztunnel's first, else the transparent socket of the port. */
static __always_inline int assign_udp(struct __sk_buff *skb, struct where *at, struct bpf_sock_tuple *t,
				      __u32 len, __u16 port)
{
	struct bpf_sock *sk = bpf_sk_lookup_udp(skb, t, len, BPF_F_CURRENT_NETNS, 0);
	if (sk)
		return assign(skb, at, sk, port);
	set_dport(at->p, t, port);
	sk = bpf_sk_lookup_udp(skb, t, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return drop(skb, at, port, AMBIENT_DROP_NO_LISTENER, 0);
	return assign(skb, at, sk, port);
}

SEC("tc")
int ambient_ztunnel_capture(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct where at = {.p = &p, .hook = AMBIENT_HOOK_ZTUNNEL_CAPTURE, .dir = AMBIENT_DIR_UNKNOWN};
	struct bpf_sock_tuple t = {};
	struct workload_info *w;
	__u32 len;
	__u16 port;

	skb->cb[3] = 0;
	if (!parse(skb, &p) || !is_l4(&p))
		return pass(skb, &at, AMBIENT_PASS_NOT_L4);
	if ((w = bpf_map_lookup_elem(&ambient_workloads, &p.src))) {
		at.wid = w->id;
		at.dir = AMBIENT_DIR_OUTBOUND;
		if (p.dport == bpf_htons(DNS_PORT)) {
			if (dns_passes(ztunnel(), w))
				return pass(skb, &at, AMBIENT_PASS_DNS);
			port = ZTUNNEL_DNS_PORT;
		} else {
			port = ZTUNNEL_OUTBOUND_PORT;
		}
	} else if ((w = bpf_map_lookup_elem(&ambient_workloads, &p.dst))) {
		at.wid = w->id;
		at.dir = AMBIENT_DIR_INBOUND;
		port = p.dport == bpf_htons(ZTUNNEL_HBONE_PORT) ? ZTUNNEL_HBONE_PORT : ZTUNNEL_INBOUND_PORT;
	} else {
		return pass(skb, &at, AMBIENT_PASS_ZTUNNEL_OWN); /* ztunnel's own traffic */
	}

	if (p.family == 4) {
		__builtin_memcpy(&t.ipv4.saddr, &p.src.addr[12], 4);
		__builtin_memcpy(&t.ipv4.daddr, &p.dst.addr[12], 4);
		t.ipv4.sport = p.sport;
		t.ipv4.dport = p.dport;
		len = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, p.src.addr, 16);
		__builtin_memcpy(t.ipv6.daddr, p.dst.addr, 16);
		t.ipv6.sport = p.sport;
		t.ipv6.dport = p.dport;
		len = sizeof(t.ipv6);
	}
	if (p.proto == IPPROTO_TCP)
		return assign_tcp(skb, &at, &t, len, port);
	return assign_udp(skb, &at, &t, len, port);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
