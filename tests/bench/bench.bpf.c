// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Bench-only XDP programs: the live-frame generator and the baselines rstguard is compared with. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "rstguard.h"
#include "bench_flows.h"

/* ---- generator ---------------------------------------------------------------------------
 * Runs under BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES in the generator namespace and
 * redirects every frame into the veth. Live frames keep their bytes between repetitions (only
 * the pointers are reset), so each run rewrites the fields it varies and patches the checksums
 * incrementally: the frames stay valid for the stack baselines. Set from user space (.bss)
 * between runs; one generator thread at a time, so plain globals suffice. */
__u32 gen_ifindex;
__u32 gen_mode;      /* enum gen_mode bits */
__u32 gen_nflows;    /* GEN_FLOW: index range [0, gen_nflows) */
__u32 gen_nconn;     /* GEN_CONN: source ports gen_conn_port .. + gen_nconn - 1 */
__u32 gen_conn_port;

/* RFC 1624 incremental update, on 16-bit words as they sit in the frame (byte order does not
 * matter to a one's complement sum as long as both sides agree). */
static __always_inline void csum_replace2(__u16 *sum, __u16 from, __u16 to)
{
	__u32 s = (__u16)~*sum;

	s += (__u16)~from;
	s += to;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	*sum = ~(__u16)s;
}

static __always_inline void csum_replace4(__u16 *sum, __u32 from, __u32 to)
{
	csum_replace2(sum, (__u16)from, (__u16)to);
	csum_replace2(sum, (__u16)(from >> 16), (__u16)(to >> 16));
}

/* Uniform index in [0, n) without a division. */
static __always_inline __u32 pick(__u32 n)
{
	return (__u32)(((__u64)bpf_get_prandom_u32() * n) >> 32);
}

SEC("xdp")
int gen_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *th = (void *)(ip + 1);
	__u32 mode = gen_mode;

	/* Templates are IPv4 without options; anything else goes out unchanged. */
	if (!mode || (void *)(th + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_TCP)
		goto out;
	if (mode & (GEN_SEQ | GEN_INEXACT)) {
		/* Network byte order; a random one needs no conversion. */
		__u32 seq = (mode & GEN_INEXACT) ? bpf_htonl(BF_CLIENT_NXT + 1 + pick(BF_INEXACT_SPAN))
						 : bpf_get_prandom_u32();

		csum_replace4(&th->check, th->seq, seq);
		th->seq = seq;
	}
	if (mode & (GEN_FLOW | GEN_TUPLE | GEN_CONN)) {
		__u32 saddr = ip->saddr;
		__u16 sport = th->source;

		if (mode & GEN_FLOW) {
			__u32 i = pick(gen_nflows);

			saddr = bpf_htonl(BF_CLIENT_ADDR(i));
			sport = bpf_htons(BF_CLIENT_PORT(i));
		} else if (mode & GEN_TUPLE) {
			saddr = bpf_htonl(BF_RANDOM_NET | (bpf_get_prandom_u32() & BF_RANDOM_MASK));
			sport = bpf_htons(1024 + pick(64000));
		} else {
			sport = bpf_htons(gen_conn_port + pick(gen_nconn));
		}
		/* The source address is in the IP header and in the TCP pseudo-header. */
		csum_replace4(&ip->check, ip->saddr, saddr);
		csum_replace4(&th->check, ip->saddr, saddr);
		csum_replace2(&th->check, th->source, sport);
		ip->saddr = saddr;
		th->source = sport;
	}
out:
	return bpf_redirect(gen_ifindex, 0);
}

/* ---- baselines --------------------------------------------------------------------------- */

SEC("xdp")
int base_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int base_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* Same type, key and value size as rg_flows4, sized and filled like it by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct rg_flow_key4);
	__type(value, struct rg_flow);
} bl_flows SEC(".maps");

/* The memory-latency limit: parse to the ports, build the canonical key as rstguard does, do one
 * lookup and touch the value (a hit must read its line, as rstguard's verdict does). */
static __always_inline int lookup_only(struct xdp_md *ctx, int verdict)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *th = (void *)(ip + 1);
	struct rg_flow_key4 k = {};
	struct rg_flow *f;

	if ((void *)(th + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return verdict;
	if (bpf_ntohl(ip->saddr) < bpf_ntohl(ip->daddr)) {
		k.addr[0] = ip->saddr;
		k.addr[1] = ip->daddr;
		k.port[0] = th->source;
		k.port[1] = th->dest;
	} else {
		k.addr[0] = ip->daddr;
		k.addr[1] = ip->saddr;
		k.port[0] = th->dest;
		k.port[1] = th->source;
	}
	f = bpf_map_lookup_elem(&bl_flows, &k);
	if (f && f->last_seen == 0xffffffff)
		return XDP_ABORTED; /* never: keeps the value read from being optimised away */
	return verdict;
}

SEC("xdp")
int base_lookup_drop(struct xdp_md *ctx)
{
	return lookup_only(ctx, XDP_DROP);
}

SEC("xdp")
int base_lookup_pass(struct xdp_md *ctx)
{
	return lookup_only(ctx, XDP_PASS);
}

/* The floor of answering "no such flow" from a filter of rg_presence's size: one random 8-byte
 * read per packet, indexed by a hash of the canonical 4-tuple as rstguard's. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bl_probe SEC(".maps");

__u32 probe_mask; /* entries of bl_probe minus one, a power of two minus one */

SEC("xdp")
int base_probe_drop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *th = (void *)(ip + 1);
	__u32 w[3], h = 0x2545f491, idx;
	__u64 *v;

	if ((void *)(th + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_DROP;
	if (bpf_ntohl(ip->saddr) < bpf_ntohl(ip->daddr)) {
		w[0] = ip->saddr;
		w[1] = ip->daddr;
		w[2] = th->source | (__u32)th->dest << 16;
	} else {
		w[0] = ip->daddr;
		w[1] = ip->saddr;
		w[2] = th->dest | (__u32)th->source << 16;
	}
#pragma unroll
	for (int i = 0; i < 3; i++) {
		h ^= w[i];
		h *= 0x9e3779b1;
		h ^= h >> 15;
	}
	idx = (h >> 6) & probe_mask;
	v = bpf_map_lookup_elem(&bl_probe, &idx);
	if (v && *v == ~0ull)
		return XDP_ABORTED; /* never: keeps the read */
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
