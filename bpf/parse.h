/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Packet parsing with a cursor: one function per header, each with its own bounds checks. */
#ifndef RG_PARSE_H
#define RG_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "rstguard.h"

/* Tags followed before giving up. Two is QinQ, but the kernel strips priority tags (VLAN id 0)
 * one after another with no VLAN device configured, so an RST under a stack of them still
 * reaches TCP; a deeper stack is judged by policy unparsed, never passed unseen. */
#define RG_MAX_VLAN 8

/* Masks v where clang cannot fold the mask away (it drops one it proved redundant, and the
 * verifier only learns bounds on the register it sees masked). Plain C for user-space builds. */
#ifdef __bpf__
#define RG_BOUND(v, m) asm volatile("%0 &= " #m : "+r"(v))
#else
#define RG_BOUND(v, m) ((v) &= (m))
#endif
/* Extension headers followed before giving up; a longer chain is judged by policy unparsed. */
#define RG_MAX_EXT 6

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

enum parse_res {
	P_TCP = 0,
	P_NOT_TCP,        /* not TCP/IP at all: passed uncounted, the fast path */
	P_MALFORMED,
	P_FRAGMENT,       /* non-first fragment */
	P_SHORT_FRAGMENT, /* first fragment without the TCP flags */
	P_DEEP_CHAIN,     /* IPv6 extension chain too long to follow */
};

struct cursor {
	void *pos;
	void *end;
};

/* What the verdict needs from a TCP/IP packet. Addresses and ports stay in network order (they
 * only feed lookups); sequence numbers are converted once because all arithmetic is on them. */
struct pkt {
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 seq;
	__u32 ack;
	__u32 payload;   /* TCP payload bytes */
	__u16 sport;
	__u16 dport;
	__u16 win;       /* unscaled */
	__u8 flags;      /* TCP flags byte */
	__u8 v6;
	__u8 wscale;     /* shift from a SYN's window-scale option, RG_D_WS_NONE if absent */
	__u8 partial;    /* first fragment: length unknown, may lack the window */
	__u16 ip_len;    /* IP datagram length as the header claims it, for fib lookups */
	__u8 has_ref;    /* a judge compared seq with [ref_lo, ref_hi] (pkt_ref) */
	__u32 ref_lo;
	__u32 ref_hi;
};

/* The judges note the sequence reference they compared an RST with: the receiver's RCV.NXT, or
 * the tracked band. capture.h turns it into the distance histogram. The judges see the packet
 * read-only; these three fields are the only ones they write, and only through here. */
static __always_inline void pkt_ref(const struct pkt *p, __u32 lo, __u32 hi)
{
	struct pkt *w = (struct pkt *)p;

	w->ref_lo = lo;
	w->ref_hi = hi;
	w->has_ref = 1;
}

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

struct ip6_ext {
	__u8 nexthdr;
	__u8 len;
};

struct ip6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

/* Returns the ethertype after at most RG_MAX_VLAN tags (802.1Q or 802.1ad), 0 if truncated;
 * still a VLAN ethertype when the stack is deeper. */
static __always_inline __u16 parse_ethhdr(struct cursor *c)
{
	struct ethhdr *eth = c->pos;
	__u16 proto;

	if ((void *)(eth + 1) > c->end)
		return 0;
	c->pos = eth + 1;
	proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < RG_MAX_VLAN; i++) {
		struct vlan_tag *v = c->pos;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(v + 1) > c->end)
			return 0;
		c->pos = v + 1;
		proto = v->proto;
	}
	return proto;
}

/* On P_TCP the cursor is at the TCP header and *l4len is the TCP length the IP header claims. */
static __always_inline int parse_iphdr(struct cursor *c, struct pkt *p, __u32 *l4len)
{
	struct iphdr *ip = c->pos;
	__u32 hl, tot;
	__u16 frag;

	if ((void *)(ip + 1) > c->end)
		return P_MALFORMED;
	if (ip->protocol != IPPROTO_TCP)
		return P_NOT_TCP;
	p->saddr[0] = ip->saddr;
	p->daddr[0] = ip->daddr;
	hl = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (ip->version != 4 || hl < sizeof(*ip) || tot < hl)
		return P_MALFORMED;
	/* A total length past the frame is a lie; shorter is Ethernet padding. */
	if (c->pos + tot > c->end || c->pos + hl > c->end)
		return P_MALFORMED;
	p->ip_len = tot;
	frag = bpf_ntohs(ip->frag_off);
	if (frag & 0x1fff)
		return P_FRAGMENT;
	if (frag & 0x2000)
		p->partial = 1;
	c->pos += hl;
	*l4len = tot - hl;
	return P_TCP;
}

static __always_inline int parse_ipv6hdr(struct cursor *c, struct pkt *p, __u32 *l4len)
{
	struct ipv6hdr *ip6 = c->pos;
	__u32 left;
	__u8 nh;

	if ((void *)(ip6 + 1) > c->end)
		return P_MALFORMED;
	nh = ip6->nexthdr;
	/* Most non-TCP traffic stops here, before any copying. */
	if (nh == IPPROTO_UDP || nh == IPPROTO_ICMPV6)
		return P_NOT_TCP;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	p->v6 = 1;
	if (ip6->version != 6)
		return P_MALFORMED;
	left = bpf_ntohs(ip6->payload_len);
	c->pos = ip6 + 1;
	if (c->pos + left > c->end)
		return P_MALFORMED;
	p->ip_len = left + sizeof(*ip6);

#pragma unroll
	for (int i = 0; i < RG_MAX_EXT; i++) {
		__u32 len;

		if (nh == IPPROTO_TCP) {
			*l4len = left;
			return P_TCP;
		}
		if (nh == IPPROTO_FRAGMENT) {
			struct ip6_frag *fh = c->pos;
			__u16 off;

			if ((void *)(fh + 1) > c->end || left < sizeof(*fh))
				return P_MALFORMED;
			off = bpf_ntohs(fh->frag_off);
			if (off & 0xfff8)
				return P_FRAGMENT;
			/* M set: the first of several fragments. M clear: an atomic fragment, which the
			 * stack delivers as is, so it is judged like any segment. */
			if (off & 1)
				p->partial = 1;
			nh = fh->nexthdr;
			len = sizeof(*fh);
		} else if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
			   nh == IPPROTO_AH) {
			struct ip6_ext *eh = c->pos;

			if ((void *)(eh + 1) > c->end)
				return P_MALFORMED;
			len = nh == IPPROTO_AH ? (eh->len + 2) * 4 : (eh->len + 1) * 8;
			nh = eh->nexthdr;
		} else {
			return P_NOT_TCP;
		}
		if (len > left || c->pos + len > c->end)
			return P_MALFORMED;
		c->pos += len;
		left -= len;
	}
	if (nh == IPPROTO_TCP) {
		*l4len = left;
		return P_TCP;
	}
	if (nh == IPPROTO_FRAGMENT || nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING ||
	    nh == IPPROTO_DSTOPTS || nh == IPPROTO_AH)
		return P_DEEP_CHAIN;
	return P_NOT_TCP;
}

struct opt_walk {
	__u8 opt[64];
	__u32 i;
	__u32 len;
	__u32 ws;
};

/* One option per call; indexes are bounded with RG_BOUND for the verifier. */
static long opt_step(__u64 n, void *data)
{
	struct opt_walk *w = data;
	__u32 i = w->i, k, l, v;
	__u8 kind, len;

	if (i >= w->len)
		return 1;
	k = i;
	RG_BOUND(k, 63);
	kind = w->opt[k];
	if (kind == 0)
		return 1;
	if (kind == 1) {
		w->i = i + 1;
		return 0;
	}
	l = i + 1;
	RG_BOUND(l, 63);
	len = w->opt[l];
	if (len < 2)
		return 1;
	if (kind == 3 && len == 3 && i + 2 < w->len) {
		v = i + 2;
		RG_BOUND(v, 63);
		w->ws = w->opt[v] > 14 ? 14 : w->opt[v]; /* RFC 7323: larger shifts mean 14 */
	}
	w->i = i + len;
	return 0;
}

/* Only a SYN's window-scale option matters to the verdict; the rest is skipped by length.
 * Options are copied to the stack and walked with bpf_loop in a global function, so the
 * verifier checks the walk once instead of once per header layout and option sequence. */
__noinline __u32 rg_tcp_wscale(struct xdp_md *ctx, __u32 off, __u32 optlen)
{
	struct opt_walk w = {};

	if (!ctx || optlen == 0 || optlen > 40)
		return RG_D_WS_NONE;
	/* Re-bound to [1, 64] for the verifier (see RG_BOUND). */
	optlen -= 1;
	RG_BOUND(optlen, 63);
	optlen += 1;
	if (bpf_xdp_load_bytes(ctx, off, w.opt, optlen))
		return RG_D_WS_NONE;
	w.len = optlen;
	w.ws = RG_D_WS_NONE;
	bpf_loop(40, opt_step, &w, 0);
	return w.ws;
}

/* Bytes 0..13 of the TCP header: enough to judge an RST even in a first fragment. */
struct tcp_front {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res;
	__u8 flags;
};

static __always_inline int parse_tcphdr(struct xdp_md *ctx, struct cursor *c, struct pkt *p,
					__u32 l4len)
{
	struct tcp_front *tf = c->pos;
	struct tcphdr *th = c->pos;
	__u32 doff;

	if (p->partial) {
		/* Reassembly keeps a non-last fragment's data only up to a multiple of 8 bytes
		 * (ip_frag_queue trims, IPv6 discards the rest), so the flags at byte 13 are this
		 * fragment's own only when it carries 16 TCP bytes or more. */
		if ((l4len & ~7u) < 16 || (void *)(tf + 1) > c->end)
			return P_SHORT_FRAGMENT;
	} else if ((void *)(th + 1) > c->end || l4len < sizeof(*th)) {
		return P_MALFORMED;
	}
	p->sport = tf->source;
	p->dport = tf->dest;
	p->seq = bpf_ntohl(tf->seq);
	p->ack = bpf_ntohl(tf->ack_seq);
	p->flags = tf->flags;
	p->wscale = RG_D_WS_NONE;
	if (p->partial)
		return P_TCP;
	doff = th->doff * 4;
	if (doff < sizeof(*th) || doff > l4len)
		return P_MALFORMED;
	p->payload = l4len - doff;
	p->win = bpf_ntohs(th->window);
	if (p->flags & TCPF_SYN)
		p->wscale = rg_tcp_wscale(ctx, (void *)(th + 1) - (void *)(long)ctx->data,
					  doff - sizeof(*th));
	return P_TCP;
}

/* l3 devices (tun, IP tunnels) hand XDP the IP header directly. */
static __always_inline int parse_packet(struct xdp_md *ctx, struct cursor *c, struct pkt *p, int l3)
{
	__u32 l4len = 0;
	__u16 proto;
	int r;

	if (l3) {
		__u8 *v = c->pos;

		if ((void *)(v + 1) > c->end)
			return P_NOT_TCP;
		proto = (*v >> 4) == 4 ? bpf_htons(ETH_P_IP) :
			(*v >> 4) == 6 ? bpf_htons(ETH_P_IPV6) : 0;
	} else {
		__u64 off;

		proto = parse_ethhdr(c);
		/* Forget how many tags there were: one verifier state for every tag depth instead
		 * of one per depth multiplied through the rest of the parser. */
		off = c->pos - (void *)(long)ctx->data;
		RG_BOUND(off, 63);
		c->pos = (void *)(long)ctx->data + off;
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return P_DEEP_CHAIN;
	if (proto == bpf_htons(ETH_P_IP))
		r = parse_iphdr(c, p, &l4len);
	else if (proto == bpf_htons(ETH_P_IPV6))
		r = parse_ipv6hdr(c, p, &l4len);
	else
		return P_NOT_TCP;
	if (r != P_TCP)
		return r;
	return parse_tcphdr(ctx, c, p, l4len);
}

#endif
