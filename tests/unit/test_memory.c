// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Gateway role, the table's memory: a flow evicted by table pressure or timed out is untracked
 * (passed, the endpoint judges), never "no flow"; a 4-tuple never tracked is no_flow, except in
 * the learning period after the table was created, when it is learning (passed). */
#include "harness.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <string.h>
#include <time.h>

#include "rstguard.skel.h"

#define FLOWS 1024

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* A 4-tuple nobody used: 198.19.x.y:port -> 198.18.200.z:port, drawn at random. */
static struct pktspec random_tuple(char *src, char *dst, uint8_t flags)
{
	uint32_t r = rnd();

	snprintf(src, 16, "198.19.%u.%u", (r >> 8) & 0xff, r & 0xff);
	snprintf(dst, 16, "198.18.200.%u", (r >> 16) & 0xff);
	return (struct pktspec){ .src = src, .dst = dst, .sport = 1024 + (rnd() % 60000),
				 .dport = 1 + (rnd() % 1000), .seq = rnd(), .ack = rnd(),
				 .flags = flags };
}

/* Client 198.18.0.1:40000 <-> server 198.18.0.2:179, both SYNs with window scale 7. */
static void handshake(struct rg_env *e, uint32_t cisn, uint32_t sisn)
{
	struct pktspec syn = { .seq = cisn, .flags = TF_SYN, .has_wscale = 1, .wscale = 7 };
	struct pktspec synack = { .src = "198.18.0.2", .dst = "198.18.0.1", .sport = 179,
				  .dport = 40000, .seq = sisn, .ack = cisn + 1,
				  .flags = TF_SYN | TF_ACK, .has_wscale = 1, .wscale = 7 };
	struct pktspec ack = { .seq = cisn + 1, .ack = sisn + 1, .flags = TF_ACK, .win = 512 };

	env_run_spec(e, &syn);
	env_run_spec(e, &synack);
	env_run_spec(e, &ack);
}

static struct pktspec server_rst(uint32_t seq)
{
	return (struct pktspec){ .src = "198.18.0.2", .dst = "198.18.0.1", .sport = 179,
				 .dport = 40000, .seq = seq, .flags = TF_RST };
}

static void expect(struct rg_env *e, const struct pktspec *s, int xdp, int reason, int act,
		   const char *what)
{
	struct rg_snap b;
	int r;

	env_snap(e, &b);
	r = env_run_spec(e, s);
	CHECK(r == xdp, "%s: XDP %d, want %d", what, r, xdp);
	CHECK(env_delta(e, &b, reason, act) == 1 && env_delta_all(e, &b) == 1,
	      "%s: want only %s/%s counted", what, rg_reason_names[reason], rg_action_names[act]);
}

/* The program's clock in seconds, as rg_now() reads it with the test's offset. */
static uint32_t prog_now(int64_t offset)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)(ts.tv_sec + offset);
}

static int set_learning(struct rg_env *e, uint32_t learning, uint32_t born)
{
	int fd = bpf_map__fd(e->skel->maps.rg_policy);
	struct rg_policy p;
	uint32_t k = 0;

	if (bpf_map_lookup_elem(fd, &k, &p))
		return -1;
	p.learning = learning;
	p.born = born;
	return bpf_map_update_elem(fd, &k, &p, BPF_ANY);
}

/* An idle verified flow pushed out of the LRU by a flood of SYNs for random 4-tuples. */
static void test_evicted(void)
{
	struct rg_env e;
	struct rg_flow f;
	char src[16], dst[16];
	int evicted = 0, n, dropped = 0, untracked = 0;
	struct rg_snap b;

	if (env_open(&e, RG_ROLE_GATEWAY, 0, FLOWS))
		return;
	handshake(&e, 1000, 5000);
	CHECK(env_flow(&e, &(struct pktspec){0}, &f) == 0, "evicted: the flow is tracked");
	expect(&e, &(struct pktspec){ .src = "198.18.0.2", .dst = "198.18.0.1", .sport = 179,
				      .dport = 40000, .seq = 5001 + 1000, .flags = TF_RST },
	       XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "evicted: before, an inexact RST");
	/* Each SYN twice, as the attack does: the second use promotes it in the LRU. */
	for (n = 0; n < 64 * FLOWS && !evicted; n++) {
		struct pktspec syn = random_tuple(src, dst, TF_SYN);

		env_run_spec(&e, &syn);
		env_run_spec(&e, &syn);
		if (n % 64 == 0)
			evicted = env_flow(&e, &(struct pktspec){0}, &f) != 0;
	}
	CHECK(evicted, "evicted: %d random SYN pairs pushed the idle flow out", n);
	expect(&e, &(struct pktspec){ .src = "198.18.0.2", .dst = "198.18.0.1", .sport = 179,
				      .dport = 40000, .seq = 5001, .flags = TF_RST },
	       XDP_PASS, RG_R_UNTRACKED, RG_ACT_PASS, "evicted: the server's exact abort passes");
	expect(&e, &(struct pktspec){ .seq = 1001 + 12345, .flags = TF_RST | TF_ACK, .ack = 5001 },
	       XDP_PASS, RG_R_UNTRACKED, RG_ACT_PASS,
	       "evicted: an RST the filter cannot judge any more passes (the endpoint judges)");
	/* A blind flood at 4-tuples never seen is still dropped, almost all of it before the table:
	 * only presence-filter collisions (bits other flows set) pass, and as untracked. */
	env_snap(&e, &b);
	for (int i = 0; i < 2000; i++) {
		struct pktspec rst = random_tuple(src, dst, TF_RST);

		env_run_spec(&e, &rst);
	}
	dropped = (int)env_delta(&e, &b, RG_R_NO_FLOW, RG_ACT_DROP);
	untracked = (int)env_delta(&e, &b, RG_R_UNTRACKED, RG_ACT_PASS);
	CHECK(dropped + untracked == 2000, "evicted: random RSTs are no_flow or untracked (%d + %d)",
	      dropped, untracked);
	CHECK(dropped >= 1800, "evicted: random RSTs at unseen 4-tuples dropped: %d of 2000", dropped);
	env_close(&e);
}

/* The learning period: flows older than the table have not spoken yet. */
static void test_learning(void)
{
	struct rg_env e;
	char src[16], dst[16];
	struct pktspec rst;
	uint32_t born;

	if (env_open(&e, RG_ROLE_GATEWAY, 0, FLOWS))
		return;
	env_clock(&e, 0);
	born = prog_now(0);
	CHECK(set_learning(&e, 120, born) == 0, "learning: policy written");
	rst = random_tuple(src, dst, TF_RST | TF_ACK);
	expect(&e, &rst, XDP_PASS, RG_R_LEARNING, RG_ACT_PASS,
	       "learning: an RST of a flow not seen yet passes while the table is young");
	env_clock(&e, 100);
	expect(&e, &rst, XDP_PASS, RG_R_LEARNING, RG_ACT_PASS, "learning: still at 100 s of 120");
	env_clock(&e, 125);
	expect(&e, &rst, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP, "learning: over at 125 s");
	env_clock(&e, 0);
	CHECK(set_learning(&e, 0, born) == 0, "learning=0 written");
	expect(&e, &rst, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP, "learning=0: no learning period");

	/* Learning never loosens a flow the table holds: a blind RST at it is still judged. */
	CHECK(set_learning(&e, 120, born) == 0, "learning: policy written again");
	handshake(&e, 1000, 5000);
	rst = server_rst(5001 + 0x40000000);
	expect(&e, &rst, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP,
	       "learning: a blind RST at a tracked flow is still out of window");
	rst = server_rst(5001);
	expect(&e, &rst, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "learning: its exact RST is valid");
	env_close(&e);

	/* The host role judges by socket: no learning there. */
	if (env_open(&e, RG_ROLE_HOST, 0, FLOWS))
		return;
	CHECK(set_learning(&e, 120, prog_now(0)) == 0, "learning: host policy written");
	rst = random_tuple(src, dst, TF_RST | TF_ACK);
	expect(&e, &rst, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP,
	       "learning: the host role's missing socket is not softened");
	env_close(&e);
}

int main(void)
{
	test_evicted();
	test_learning();
	return t_summary("memory");
}
