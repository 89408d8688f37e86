// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * selftest: a small TC program used by the foundation tests and by `preflight`: it counts the
 * packets it sees per IP protocol, drops the protocol named in its config map, and can rewrite the
 * destination MAC. It passes with TC_ACT_UNSPEC ("no verdict"), so the programs after it still run. Exercises maps, pins, TC attach and BPF_PROG_TEST_RUN without the datapath.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct selftest_config {
	__u32 drop_proto;    /* IP protocol to drop; 0: none */
	__u8  set_dst_mac;   /* 1: rewrite dst MAC with new_dst_mac */
	__u8  new_dst_mac[6];
	__u8  pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);    /* IP protocol, or 0x10000 | ethertype for non-IP */
	__type(value, __u64);  /* packets */
} selftest_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct selftest_config);
} selftest_config SEC(".maps");

SEC("tc")
int selftest_count(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 key, zero = 0;
	__u64 one = 1, *cnt;

	if ((void *)(eth + 1) > data_end)
		return TC_ACT_UNSPEC;
	key = 0x10000 | bpf_ntohs(eth->h_proto);
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return TC_ACT_UNSPEC;
		key = ip->protocol;
	}
	cnt = bpf_map_lookup_elem(&selftest_stats, &key);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	else
		bpf_map_update_elem(&selftest_stats, &key, &one, BPF_NOEXIST);

	struct selftest_config *cfg = bpf_map_lookup_elem(&selftest_config, &zero);
	if (!cfg)
		return TC_ACT_UNSPEC;
	if (cfg->drop_proto && key == cfg->drop_proto)
		return TC_ACT_SHOT;
	if (cfg->set_dst_mac)
		__builtin_memcpy(eth->h_dest, cfg->new_dst_mac, ETH_ALEN);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Another agent's mark bit: sets 0x10000 and lets the next program run (CaptureMarkKernelTest). */
SEC("tc")
int selftest_mark(struct __sk_buff *skb)
{
	skb->mark |= 0x10000;
	return TC_ACT_UNSPEC;
}
