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
 * Every program records its decision in skb->cb[0] (AMBIENT_CB_*) and the redirect target in cb[1]:
 * BPF_PROG_TEST_RUN returns both, so tests can assert where a packet would have gone.
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

#define AMBIENT_CB_PASS      0
#define AMBIENT_CB_OUTBOUND  1
#define AMBIENT_CB_INBOUND   2
#define AMBIENT_CB_BYPASS    3
#define AMBIENT_CB_ASSIGNED  4
#define AMBIENT_CB_DROP      5

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

static __always_inline struct workload_counters *counters(__u32 id)
{
	return bpf_map_lookup_elem(&ambient_counters, &id);
}

static __always_inline int decide(struct __sk_buff *skb, __u32 how, __u32 target)
{
	skb->cb[0] = how;
	skb->cb[1] = target;
	/* "pass" is TC_ACT_UNSPEC: no verdict, so other agents' programs after ours still run */
	if (how == AMBIENT_CB_DROP)
		return TC_ACT_SHOT;
	return how == AMBIENT_CB_PASS ? TC_ACT_UNSPEC : TC_ACT_OK;
}

/* No ztunnel: drop (fail closed) unless fail-open was chosen. */
static __always_inline int no_ztunnel(struct __sk_buff *skb, struct ztunnel_info *zt, struct workload_info *w)
{
	if (zt && (zt->flags & ZTUNNEL_F_FAIL_OPEN))
		return decide(skb, AMBIENT_CB_PASS, 0);
	struct workload_counters *c = counters(w->id);
	if (c)
		c->drops[AMBIENT_DROP_NO_ZTUNNEL]++;
	return decide(skb, AMBIENT_CB_DROP, 0);
}

static __always_inline int to_ztunnel(struct __sk_buff *skb, struct ztunnel_info *zt, struct workload_info *w,
				      __u32 how)
{
	if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), zt->mac, ETH_ALEN, 0) < 0)
		return decide(skb, AMBIENT_CB_DROP, 0);
	struct workload_counters *c = counters(w->id);
	if (c) {
		if (how == AMBIENT_CB_OUTBOUND) {
			c->out_packets++;
			c->out_bytes += skb->len;
		} else {
			c->in_packets++;
			c->in_bytes += skb->len;
		}
	}
	decide(skb, how, zt->ifindex);
	return bpf_redirect(zt->ifindex, 0);
}

SEC("tc")
int ambient_pod_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};

	if (!parse(skb, &p) || !is_l4(&p))
		return decide(skb, AMBIENT_CB_PASS, 0);
	struct workload_info *w = bpf_map_lookup_elem(&ambient_workloads, &p.src);
	if (!w)
		return decide(skb, AMBIENT_CB_PASS, 0);
	if (bpf_map_lookup_elem(&ambient_node_addrs, &p.dst))
		return decide(skb, AMBIENT_CB_PASS, 0); /* to the node itself */
	struct ztunnel_info *zt = ztunnel();
	if (p.dport == bpf_htons(DNS_PORT) && !dns_captured(zt))
		return decide(skb, AMBIENT_CB_PASS, 0);
	if (!zt || !zt->ifindex)
		return no_ztunnel(skb, zt, w);
	return to_ztunnel(skb, zt, w, AMBIENT_CB_OUTBOUND);
}

SEC("tc")
int ambient_pod_egress(struct __sk_buff *skb)
{
	struct pkt p = {};

	if (!parse(skb, &p) || !is_l4(&p))
		return decide(skb, AMBIENT_CB_PASS, 0);
	struct ztunnel_info *zt = ztunnel();
	if (zt && zt->ifindex && skb->ingress_ifindex == zt->ifindex)
		return decide(skb, AMBIENT_CB_PASS, 0); /* from ztunnel */
	if ((skb->mark & AMBIENT_MARK_MASK) == AMBIENT_MARK_BYPASS)
		return decide(skb, AMBIENT_CB_PASS, 0);
	struct workload_info *w = bpf_map_lookup_elem(&ambient_workloads, &p.dst);
	if (!w)
		return decide(skb, AMBIENT_CB_PASS, 0);
	if (bpf_map_lookup_elem(&ambient_node_addrs, &p.src))
		return decide(skb, AMBIENT_CB_PASS, 0); /* kubelet probes and the node's own traffic */
	if (p.sport == bpf_htons(DNS_PORT) && !dns_captured(zt))
		return decide(skb, AMBIENT_CB_PASS, 0); /* answers to the pod's own, uncaptured DNS */
	if (!zt || !zt->ifindex)
		return no_ztunnel(skb, zt, w);
	return to_ztunnel(skb, zt, w, AMBIENT_CB_INBOUND);
}

SEC("tc")
int ambient_ztunnel_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};

	if (!parse(skb, &p))
		return decide(skb, AMBIENT_CB_PASS, 0);
	struct workload_info *w = bpf_map_lookup_elem(&ambient_workloads, &p.dst);
	if (!w)
		return decide(skb, AMBIENT_CB_PASS, 0);
	if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), w->mac, ETH_ALEN, 0) < 0)
		return decide(skb, AMBIENT_CB_DROP, 0);
	skb->mark = AMBIENT_MARK_BYPASS;
	decide(skb, AMBIENT_CB_BYPASS, w->ifindex);
	return bpf_redirect(w->ifindex, 0);
}

static __always_inline void set_dport(struct pkt *p, struct bpf_sock_tuple *t, __u16 port)
{
	if (p->family == 4)
		t->ipv4.dport = bpf_htons(port);
	else
		t->ipv6.dport = bpf_htons(port);
}

/* cb[2] says why ztunnel_capture dropped: no listener, or the assignment failed (cb[3] = -errno). */
#define AMBIENT_WHY_NO_LISTENER   1
#define AMBIENT_WHY_ASSIGN_FAILED 2

static __always_inline int assign(struct __sk_buff *skb, struct bpf_sock *sk, __u16 port)
{
	long err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (err) {
		skb->cb[2] = AMBIENT_WHY_ASSIGN_FAILED;
		skb->cb[3] = (__u32)-err;
		return decide(skb, AMBIENT_CB_DROP, port);
	}
	skb->mark = AMBIENT_MARK_TPROXY;
	return decide(skb, AMBIENT_CB_ASSIGNED, port);
}

/* TCP: the established socket first (the connection is already ztunnel's), else the listener. */
static __always_inline int assign_tcp(struct __sk_buff *skb, struct pkt *p, struct bpf_sock_tuple *t,
				      __u32 len, __u16 port)
{
	struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, t, len, BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		if (sk->state != BPF_TCP_LISTEN)
			return assign(skb, sk, port);
		bpf_sk_release(sk);
	}
	set_dport(p, t, port);
	sk = bpf_skc_lookup_tcp(skb, t, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk) {
		skb->cb[2] = AMBIENT_WHY_NO_LISTENER;
		return decide(skb, AMBIENT_CB_DROP, port); /* ztunnel is not listening: fail closed */
	}
	if (sk->state != BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		skb->cb[2] = AMBIENT_WHY_NO_LISTENER;
		return decide(skb, AMBIENT_CB_DROP, port);
	}
	return assign(skb, sk, port);
}

/* UDP: a connected socket of ztunnel's first, else the transparent socket of the port. */
static __always_inline int assign_udp(struct __sk_buff *skb, struct pkt *p, struct bpf_sock_tuple *t,
				      __u32 len, __u16 port)
{
	struct bpf_sock *sk = bpf_sk_lookup_udp(skb, t, len, BPF_F_CURRENT_NETNS, 0);
	if (sk)
		return assign(skb, sk, port);
	set_dport(p, t, port);
	sk = bpf_sk_lookup_udp(skb, t, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk) {
		skb->cb[2] = AMBIENT_WHY_NO_LISTENER;
		return decide(skb, AMBIENT_CB_DROP, port);
	}
	return assign(skb, sk, port);
}

SEC("tc")
int ambient_ztunnel_capture(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct bpf_sock_tuple t = {};
	__u32 len;
	__u16 port;

	if (!parse(skb, &p) || !is_l4(&p))
		return decide(skb, AMBIENT_CB_PASS, 0);
	if (bpf_map_lookup_elem(&ambient_workloads, &p.src)) {
		port = p.dport == bpf_htons(DNS_PORT) ? ZTUNNEL_DNS_PORT : ZTUNNEL_OUTBOUND_PORT;
	} else if (bpf_map_lookup_elem(&ambient_workloads, &p.dst)) {
		port = p.dport == bpf_htons(ZTUNNEL_HBONE_PORT) ? ZTUNNEL_HBONE_PORT : ZTUNNEL_INBOUND_PORT;
	} else {
		return decide(skb, AMBIENT_CB_PASS, 0); /* ztunnel's own traffic */
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
		return assign_tcp(skb, &p, &t, len, port);
	return assign_udp(skb, &p, &t, len, port);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
