/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Challenge ACKs (RFC 5961 3.2) sent from XDP in the name of an RST's receiver, at most one per
 * flow and direction per interval. The entry point is rg_challenge(). */
#ifndef RG_CHALLENGE_H
#define RG_CHALLENGE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parse.h"
#include "maps.h"
#include "flow.h"

#ifndef AF_INET
#define AF_INET 2
#define AF_INET6 10
#endif

/* What the receiver would put in its challenge ACK: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. */
struct rg_challenge {
	__u32 seq;          /* the receiver's SND.NXT */
	__u32 ack;          /* the receiver's RCV.NXT */
	__u32 interval_ms;  /* at most one challenge per flow and direction this often; 0: default */
	__u16 win;          /* the receiver's window as it writes it on the wire (unscaled) */
	__u8 l3;            /* the device has no link layer: nothing can be sent back on it */
	__u8 pad;
};

/* The headers of a challenge ACK in wire order. Plain fields rather than the kernel's bitfields,
 * so every byte is written explicitly and the checksums sum what goes out. */
struct chal_tcp {
	__be16 sport;
	__be16 dport;
	__be32 seq;
	__be32 ack;
	__be16 off_flags;   /* data offset 5 (no options), flags */
	__be16 win;
	__u16 check;
	__be16 urg;
};

struct chal_ip4 {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 proto;
	__u16 check;
	__be32 saddr;
	__be32 daddr;
};

struct chal_ip6 {
	__be32 ver_tc_flow;
	__be16 plen;
	__u8 nexthdr;
	__u8 hop_limit;
	__be32 saddr[4];
	__be32 daddr[4];
};

struct chal_v4 {
	struct chal_ip4 ip;
	struct chal_tcp tcp;
};

struct chal_v6 {
	struct chal_ip6 ip;
	struct chal_tcp tcp;
};

#define RG_CHAL_TTL 64

/* Milliseconds on the rstguard clock (flow.h), which tests move. The coarse clock ticks once a
 * jiffy, fine enough for intervals of hundreds of milliseconds. */
static __always_inline __u32 chal_now_ms(void)
{
	return (bpf_ktime_get_coarse_ns() + rg_clock_offset) / 1000000ull;
}

/* The hash key: random, drawn on first use, kept in a pinned map so that every interface and
 * every program replacement picks the same slots. */
static __always_inline __u64 chal_key(void)
{
	__u32 zero = 0;
	__u64 *k = bpf_map_lookup_elem(&rg_chal_key, &zero);

	if (!k)
		return 0;
	/* Two CPUs may draw at once: the later key stays, and a challenge recorded under the other
	 * is only forgotten, never wrongly limited. */
	if (!*k)
		*k = ((__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32()) | 1;
	return *k;
}

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	int same = 1;

#pragma unroll
	for (int i = 0; i < 6; i++)
		same &= a[i] == b[i];
	return same;
}

static __always_inline __u64 chal_mix(__u64 h, __u64 v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 32);
}

/*
 * Keyed hash of the RST's addresses and ports in the RST's own order, so the two directions of a
 * flow have separate limits. Without the key an attacker could pick a connection of its own
 * whose slot is a victim's and watch its own challenges for the victim's; with it, it cannot
 * tell which of its connections share a slot with whom (see README, "Challenge ACKs").
 */
static __always_inline __u64 chal_hash(const struct pkt *p, __u64 key)
{
	__u64 h = key;

#pragma unroll
	for (int i = 0; i < 4; i++)
		h = chal_mix(h, (__u64)p->saddr[i] << 32 | p->daddr[i]);
	h = chal_mix(h, (__u64)p->sport << 32 | (__u64)p->dport << 16 | p->v6);
	/* murmur3's 64-bit finaliser: every output bit depends on every input bit. */
	h ^= key;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

/* Bytes of Ethernet header and VLAN tags before the IP header, walked as parse_ethhdr walked
 * them; 0 for a frame too short to hold them. */
static __always_inline __u32 chal_l2_len(void *data, void *end)
{
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth);
	__u16 proto;

	if ((void *)(eth + 1) > end)
		return 0;
	proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < RG_MAX_VLAN; i++) {
		struct vlan_tag *v = data + off;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(v + 1) > end)
			return 0;
		proto = v->proto;
		off += sizeof(*v);
	}
	return off;
}

/*
 * Link-layer addresses of the challenge: those the receiver's own ACK would get. The route back
 * to the RST's source must leave by the interface the RST came in on, and the frame goes to that
 * route's next hop. Simply swapping the RST's addresses would hand the receiver's sequence
 * numbers to whichever host sent the frame: on a shared segment, one forging a neighbour's
 * address. A VLAN-tagged RST is routed through a VLAN device, never the device XDP runs on:
 * there it must have come from that next hop itself. mac holds the RST's destination and source
 * addresses on entry, the challenge's on success (0).
 */
static __always_inline int chal_route(struct xdp_md *ctx, const struct pkt *p, int tagged,
				      __u8 mac[12])
{
	struct bpf_fib_lookup fib = {};

	fib.ifindex = ctx->ingress_ifindex;
	fib.l4_protocol = IPPROTO_TCP;
	fib.sport = p->dport;
	fib.dport = p->sport;
	if (p->v6) {
		fib.family = AF_INET6;
		fib.tot_len = sizeof(struct chal_v6);
		__builtin_memcpy(fib.ipv6_src, p->daddr, 16);
		__builtin_memcpy(fib.ipv6_dst, p->saddr, 16);
	} else {
		fib.family = AF_INET;
		fib.tot_len = sizeof(struct chal_v4);
		fib.ipv4_src = p->daddr[0];
		fib.ipv4_dst = p->saddr[0];
	}
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return -1;
	if (fib.ifindex == ctx->ingress_ifindex) {
		__builtin_memcpy(mac, fib.dmac, 6);
		__builtin_memcpy(mac + 6, fib.smac, 6);
		return 0;
	}
	if (!tagged || !mac_eq(fib.dmac, mac + 6))
		return -1;
	/* Swapped: back to the next hop, from the address it sent the RST to. */
	__builtin_memcpy(mac + 6, mac, 6);
	__builtin_memcpy(mac, fib.dmac, 6);
	return 0;
}

/* One's complement sum of n 16-bit words (RFC 1071). Byte order needs no care: the sum of
 * words as they lie in memory, stored back the same way, is the right checksum. */
static __always_inline __u32 csum_add(const void *buf, int n, __u32 sum)
{
	const __u16 *w = buf;

#pragma unroll
	for (int i = 0; i < n; i++)
		sum += w[i];
	return sum;
}

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* pseudo: the checksum of the pseudo-header, addresses, protocol and TCP length. */
static __always_inline void chal_tcp_fill(struct chal_tcp *t, const struct pkt *p,
					  const struct rg_challenge *c, __u32 pseudo)
{
	t->sport = p->dport;
	t->dport = p->sport;
	t->seq = bpf_htonl(c->seq);
	t->ack = bpf_htonl(c->ack);
	t->off_flags = bpf_htons(5 << 12 | TCPF_ACK);
	t->win = bpf_htons(c->win);
	t->check = 0;
	t->urg = 0;
	t->check = csum_fold(csum_add(t, sizeof(*t) / 2, pseudo));
}

/* The IP and TCP headers of the challenge, written at offset l2 of the (already resized)
 * frame. Returns 0 or a helper's error. */
static __always_inline long chal_write(struct xdp_md *ctx, const struct pkt *p,
				       const struct rg_challenge *c, __u32 l2)
{
	__u32 pseudo = bpf_htons(IPPROTO_TCP) + bpf_htons(sizeof(struct chal_tcp));

	if (p->v6) {
		struct chal_v6 h = {};

		h.ip.ver_tc_flow = bpf_htonl(6u << 28);
		h.ip.plen = bpf_htons(sizeof(h.tcp));
		h.ip.nexthdr = IPPROTO_TCP;
		h.ip.hop_limit = RG_CHAL_TTL;
		__builtin_memcpy(h.ip.saddr, p->daddr, 16);
		__builtin_memcpy(h.ip.daddr, p->saddr, 16);
		pseudo = csum_add(h.ip.saddr, 16, pseudo);
		chal_tcp_fill(&h.tcp, p, c, pseudo);
		return bpf_xdp_store_bytes(ctx, l2, &h, sizeof(h));
	} else {
		struct chal_v4 h = {};

		h.ip.ver_ihl = 0x45;
		h.ip.tot_len = bpf_htons(sizeof(h));
		/* Don't fragment, as TCP sends; an atomic datagram needs no ID (RFC 6864). */
		h.ip.frag_off = bpf_htons(0x4000);
		h.ip.ttl = RG_CHAL_TTL;
		h.ip.proto = IPPROTO_TCP;
		h.ip.saddr = p->daddr[0];
		h.ip.daddr = p->saddr[0];
		h.ip.check = csum_fold(csum_add(&h.ip, sizeof(h.ip) / 2, 0));
		pseudo = csum_add(&h.ip.saddr, 4, pseudo);
		chal_tcp_fill(&h.tcp, p, c, pseudo);
		return bpf_xdp_store_bytes(ctx, l2, &h, sizeof(h));
	}
}

/* Rewrites the RST in place into the challenge ACK: link-layer addresses from chal_route, VLAN
 * tags kept, the IP and TCP headers new, options and payload cut off. */
static __always_inline int chal_send(struct xdp_md *ctx, const struct pkt *p,
				     const struct rg_challenge *c)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 l2 = chal_l2_len(data, end), len;
	__u8 mac[12];

	if (!l2 || bpf_xdp_load_bytes(ctx, 0, mac, sizeof(mac)))
		return RG_R_CHALLENGE_FALLBACK;
	if (chal_route(ctx, p, l2 > sizeof(struct ethhdr), mac))
		return RG_R_CHALLENGE_UNROUTED;
	len = l2 + (p->v6 ? sizeof(struct chal_v6) : sizeof(struct chal_v4));
	if (len != (__u32)(end - data) && bpf_xdp_adjust_tail(ctx, (int)len - (int)(end - data)))
		return RG_R_CHALLENGE_FALLBACK;
	if (bpf_xdp_store_bytes(ctx, 0, mac, sizeof(mac)) || chal_write(ctx, p, c, l2))
		return RG_R_CHALLENGE_FALLBACK;
	return RG_R_CHALLENGE_SENT;
}

/*
 * The one entry point. ctx holds an RST, parsed into p, that the receiver should answer with the
 * challenge ACK c describes; it goes back to the RST's source unless that flow direction had one
 * within the interval. Returns RG_R_CHALLENGE_SENT when the frame now holds the ACK (return
 * XDP_TX), else RG_R_CHALLENGE_LIMITED, _FALLBACK or _UNROUTED with nothing sent (drop the
 * frame: it may be half rewritten). A global function: verified once, callable from anywhere.
 *
 * The limit: one 64-bit word per slot, the tag of the flow direction challenged there last and
 * when. A direction is limited only by its own last challenge; another that shares its slot
 * takes the slot over, so it may get a challenge sooner than the interval, never later.
 * Concurrent CPUs may both send for one direction in the same instant; both are correct ACKs.
 */
__noinline int rg_challenge(struct xdp_md *ctx, const struct pkt *p, const struct rg_challenge *c)
{
	__u32 idx, tag, now, interval;
	__u64 h, *slot, last;
	int r;

	if (!ctx || !p || !c || c->l3)
		return RG_R_CHALLENGE_FALLBACK;
	h = chal_hash(p, chal_key());
	idx = h & (RG_CHAL_SLOTS - 1);
	tag = (__u32)(h >> 32) | 1;
	slot = bpf_map_lookup_elem(&rg_chal, &idx);
	if (!slot)
		return RG_R_CHALLENGE_FALLBACK;
	interval = c->interval_ms ? c->interval_ms : RG_CHALLENGE_MS_DEFAULT;
	now = chal_now_ms();
	last = *slot;
	if ((__u32)(last >> 32) == tag && now - (__u32)last < interval)
		return RG_R_CHALLENGE_LIMITED;
	r = chal_send(ctx, p, c);
	if (r == RG_R_CHALLENGE_SENT)
		*slot = (__u64)tag << 32 | now;
	return r;
}

#endif
