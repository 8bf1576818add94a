// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* rstguard: for every TCP RST decide whether its receiver would act on it; drop the rest. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "rstguard.h"
#include "maps.h"
#include "parse.h"
#include "flow.h"
#include "verdict.h"
#include "challenge.h"

/* Set per attached interface through the skeleton before load; the verifier prunes on them. */
const volatile __u32 cfg_role = RG_ROLE_BOTH;
const volatile __u32 cfg_slot = 0;
const volatile __u32 cfg_l3 = 0;

/* The distance histogram and the capture read the settings above. */
#include "capture.h"

static __always_inline void count(__u32 reason, __u32 act, __u64 bytes)
{
	__u32 idx = (cfg_slot % RG_MAX_IFACES) * RG_R_MAX + reason;
	struct rg_counter *c = bpf_map_lookup_elem(&rg_stats, &idx);

	if (c && act < RG_ACT_MAX) {
		c->packets[act]++;
		c->bytes[act] += bytes;
	}
}

/* The receiver's side of a tracked flow, as the challenge ACK in its name needs it: SND.NXT is
 * the highest sequence end it sent, RCV.NXT its last ACK (the lower edge of the band judge_flow
 * checks). The window is the largest it advertised, in its own units: the last one is not kept
 * (the entry has no room for it). */
static __always_inline void challenge_of_flow(const struct rg_flow *f, int s,
					      struct rg_challenge *c)
{
	int r = !s;
	__u32 win = f->d[r].max_win >> flow_wscale(f, r);

	c->seq = f->d[r].seq_end;
	c->ack = (f->dflags[r] & RG_D_ACK) ? f->d[r].ack : f->d[s].isn + 1;
	c->win = win > 0xffff ? 0xffff : win;
}

/* Who can answer an inexact RST with a challenge ACK (policy inexact=challenge). */
enum { BY_NONE, BY_KERNEL, BY_US };

struct inexact_src {
	int by;                /* BY_KERNEL: a full local socket; BY_US: a tracked flow */
	struct rg_challenge c; /* BY_US: the ACK in the receiver's name */
};

static __always_inline int judge_rst(struct xdp_md *ctx, struct pkt *p,
				     const struct rg_policy *pol, struct inexact_src *src)
{
	struct rg_rst_note n = {};
	struct bpf_sock *sk;
	int listener, r, view = RG_HV_FORWARDED;

	if ((p->flags & (TCPF_SYN | TCPF_FIN)))
		return RG_R_BAD_FLAGS;
	if (cfg_role == RG_ROLE_GATEWAY)
		goto gateway;
	sk = host_lookup(ctx, p, &listener);
	if (sk) {
		/* Request and FIN-WAIT-2 timewait sockets take any in-window RST (tcp_check_req,
		 * tcp_timewait_state_process): only full sockets apply RFC 5961. */
		int full = sk->state != RG_TCP_TIME_WAIT && sk->state != RG_TCP_NEW_SYN_RECV;

		r = judge_host_sock(sk, p);
		if (r == RG_R_INEXACT && full)
			src->by = BY_KERNEL;
		return r;
	}
	/* A missing socket is conclusive only for a frame this device's own stack alone receives,
	 * addressed to this machine: a forwarded RST, or one an upper device (container, VLAN,
	 * VRF, bridge) may take, is never dropped for lacking a socket the lookup cannot see. */
	view = rg_host_view(ctx, p, cfg_l3);
	if (view == RG_HV_LOCAL)
		return RG_R_NO_FLOW;
	if (cfg_role == RG_ROLE_HOST)
		return RG_R_UNVERIFIED;
gateway:
	r = judge_flow(p, pol, &n);
	if (r == RG_R_INEXACT && n.f) {
		challenge_of_flow(n.f, n.dir, &src->c);
		src->by = BY_US;
	}
	/* An accepted reset closes the entry, so it ages out on the short CLOSED timeout. */
	flow_rst_apply(&n, r, pol);
	return upper_flow_verdict(view, r);
}

/*
 * Policy inexact=challenge, for an inexact RST the policy drops. At a full local socket the RST
 * is handed to the kernel, which judges it against its own state when it gets there and answers
 * with its own challenge ACK, limited per socket (act becomes pass). Against a tracked flow the
 * RST is dropped and answered from here. Returns the XDP action.
 */
static __always_inline int inexact_challenge(struct xdp_md *ctx, const struct pkt *p,
					     const struct rg_policy *pol,
					     struct inexact_src *src, __u32 *act)
{
	int ev;

	if (src->by == BY_KERNEL) {
		*act = RG_ACT_PASS;
		return XDP_PASS;
	}
	if (src->by != BY_US)
		return XDP_DROP;
	/* A capture takes the RST before its frame becomes the challenge ACK. */
	capture(ctx, RG_R_INEXACT, *act, pkt_dist(p));
	src->c.interval_ms = pol->challenge_ms;
	src->c.l3 = cfg_l3;
	ev = rg_challenge(ctx, p, &src->c);
	count(ev, RG_ACT_PASS, ev == RG_R_CHALLENGE_SENT ? ctx->data_end - ctx->data : 0);
	return ev == RG_R_CHALLENGE_SENT ? XDP_TX : XDP_DROP;
}

/* Everything after parsing works on struct pkt alone. Being a global function, the verifier
 * checks it once, not once for every header layout the parser can walk through. */
__noinline int rg_decide(struct xdp_md *ctx, struct pkt *p, int res, __u32 bytes)
{
	struct inexact_src src = {};
	struct rg_policy *pol;
	__u32 key = 0, bits = 0, act = RG_ACT_PASS;
	int reason, ev, xdp, chal;

	if (!ctx || !p)
		return XDP_PASS;
	pol = bpf_map_lookup_elem(&rg_policy, &key);
	if (!pol) {
		reason = RG_R_MALFORMED; /* cannot happen: an array always has element 0 */
		goto out;
	}
	/* One load: a concurrent policy change is seen whole or not at all. */
	bits = *(volatile __u32 *)&pol->bits;

	switch (res) {
	case P_TCP:
		break;
	case P_FRAGMENT:
		reason = RG_R_FRAGMENT;
		goto out;
	case P_SHORT_FRAGMENT:
	case P_DEEP_CHAIN:
		reason = scope_check(p, bits, 0);
		if (reason == RG_R_MAX)
			reason = res == P_SHORT_FRAGMENT ? RG_R_SHORT_FRAGMENT : RG_R_DEEP_CHAIN;
		goto out;
	default:
		reason = RG_R_MALFORMED;
		goto out;
	}

	if (!(p->flags & TCPF_RST)) {
		if (cfg_role != RG_ROLE_GATEWAY)
			rg_recent_note(ctx, p);
		if (cfg_role != RG_ROLE_HOST) {
			ev = flow_track(p, pol, rg_now());
			if (ev != RG_R_MAX)
				count(ev, RG_ACT_PASS, 0);
		}
		reason = RG_R_NON_RST;
		goto out;
	}

	reason = scope_check(p, bits, 1);
	if (reason == RG_R_MAX)
		reason = judge_rst(ctx, p, pol, &src);

out:
	if (reason_drops(reason, bits))
		act = (bits & RG_P_MONITOR) ? RG_ACT_MONITOR : RG_ACT_DROP;
	xdp = act == RG_ACT_DROP ? XDP_DROP : XDP_PASS;
	chal = act == RG_ACT_DROP && reason == RG_R_INEXACT && (bits & RG_P_INEXACT_CHALLENGE) && pol;
	if (chal)
		xdp = inexact_challenge(ctx, p, pol, &src, &act);
	count(reason, act, bytes);
	/* An RST challenged from here was captured before the rewrite (inexact_challenge). */
	observe(ctx, p, reason, chal && src.by == BY_US ? RG_ACT_PASS : act);
	return xdp;
}

SEC("xdp")
int rstguard_xdp(struct xdp_md *ctx)
{
	struct cursor c = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	__u32 bytes = c.end - c.pos;
	struct pkt p = {};
	int res;

	res = parse_packet(ctx, &c, &p, cfg_l3);
	/* Non-TCP traffic is the common case and none of our business: no map is touched. */
	if (res == P_NOT_TCP)
		return XDP_PASS;
	return rg_decide(ctx, &p, res, bytes);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
