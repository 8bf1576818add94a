// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* rstguard: for every TCP RST decide whether its receiver would act on it; drop the rest. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "rstguard.h"
#include "maps.h"
#include "parse.h"
#include "flow.h"
#include "verdict.h"

/* Set per attached interface through the skeleton before load; the verifier prunes on them. */
const volatile __u32 cfg_role = RG_ROLE_BOTH;
const volatile __u32 cfg_slot = 0;
const volatile __u32 cfg_l3 = 0;

static __always_inline void count(__u32 reason, __u32 act, __u64 bytes)
{
	__u32 idx = (cfg_slot % RG_MAX_IFACES) * RG_R_MAX + reason;
	struct rg_counter *c = bpf_map_lookup_elem(&rg_stats, &idx);

	if (c && act < RG_ACT_MAX) {
		c->packets[act]++;
		c->bytes[act] += bytes;
	}
}

static __always_inline int judge_rst(struct xdp_md *ctx, const struct pkt *p,
				     const struct rg_policy *pol)
{
	struct rg_rst_note n = {};
	struct bpf_sock *sk;
	int listener, r;

	if ((p->flags & (TCPF_SYN | TCPF_FIN)))
		return RG_R_BAD_FLAGS;
	if (cfg_role == RG_ROLE_GATEWAY)
		goto gateway;
	sk = host_lookup(ctx, p, &listener);
	if (sk)
		return judge_host_sock(sk, p);
	/* Only an address of ours makes a missing socket conclusive: a forwarded RST is never
	 * dropped for lacking a local socket. */
	if (cfg_role == RG_ROLE_HOST || is_local(ctx, p))
		return RG_R_NO_FLOW;
gateway:
	r = judge_flow(p, pol, &n);
	/* An accepted reset closes the entry, so it ages out on the short CLOSED timeout. */
	flow_rst_apply(&n, r, pol);
	return r;
}

/* Everything after parsing works on struct pkt alone. Being a global function, the verifier
 * checks it once, not once for every header layout the parser can walk through. */
__noinline int rg_decide(struct xdp_md *ctx, struct pkt *p, int res, __u32 bytes)
{
	struct rg_policy *pol;
	__u32 key = 0, bits = 0, act = RG_ACT_PASS;
	int reason, ev;

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
			recent_note(p);
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
		reason = judge_rst(ctx, p, pol);

out:
	if (reason_drops(reason, bits))
		act = (bits & RG_P_MONITOR) ? RG_ACT_MONITOR : RG_ACT_DROP;
	count(reason, act, bytes);
	return act == RG_ACT_DROP ? XDP_DROP : XDP_PASS;
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
