// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The capture path of the data plane through BPF_PROG_TEST_RUN: records only while the flag is
 * up and the lease holds, only for dropped and would-drop packets, filtered by reason and slot,
 * sampled (burst, then one in N), each carrying the frame and its verdict. */
#define _GNU_SOURCE
#include "harness.h"
#include "rstguard.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#define MAX_RECS 64

static struct rg_cap_rec recs[MAX_RECS];
static int nrecs;

static int on_rec(void *ctx, void *data, size_t size)
{
	if (size == sizeof(struct rg_cap_rec) && nrecs < MAX_RECS)
		memcpy(&recs[nrecs], data, size);
	nrecs++;
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

struct cap {
	struct rg_env *e;
	struct ring_buffer *rb;
};

static void cfg_set(struct cap *c, uint32_t active, uint32_t burst, uint32_t sample,
		    uint64_t reasons, uint64_t slots, int64_t lease_s)
{
	struct rg_cap_cfg cfg = { .active = active, .burst = burst, .sample = sample,
				  .reasons = reasons, .slots = slots, .pid = 1,
				  .until_ns = mono_ns() + lease_s * 1000000000ll };
	uint32_t k = 0;
	struct rg_cap_stat *zero = calloc((size_t)c->e->ncpu, sizeof(*zero));

	bpf_map_update_elem(bpf_map__fd(c->e->skel->maps.rg_capcfg), &k, &cfg, BPF_ANY);
	/* A fresh sampling window and fresh counters on every CPU. */
	if (zero)
		bpf_map_update_elem(bpf_map__fd(c->e->skel->maps.rg_capstat), &k, zero, BPF_ANY);
	free(zero);
	ring_buffer__consume(c->rb);
	nrecs = 0;
}

static struct rg_cap_stat stat_sum(struct cap *c)
{
	struct rg_cap_stat s = {}, *v = calloc((size_t)c->e->ncpu, sizeof(*v));
	uint32_t k = 0;

	if (v && !bpf_map_lookup_elem(bpf_map__fd(c->e->skel->maps.rg_capstat), &k, v))
		for (int i = 0; i < c->e->ncpu; i++) {
			s.matched += v[i].matched;
			s.records += v[i].records;
			s.lost += v[i].lost;
		}
	free(v);
	return s;
}

/* Runs n copies of s and returns the records they left. */
static int run_n(struct cap *c, const struct pktspec *s, int n)
{
	nrecs = 0;
	for (int i = 0; i < n; i++)
		env_run_spec(c->e, s);
	ring_buffer__consume(c->rb);
	return nrecs;
}

static const struct pktspec noflow = { .src = "198.18.0.9", .dst = "198.18.0.2", .sport = 1234,
				       .dport = 179, .seq = 77, .flags = TF_RST };

static void handshake(struct rg_env *e)
{
	struct pktspec syn = { .seq = 1000, .flags = TF_SYN };
	struct pktspec synack = { .src = "198.18.0.2", .dst = "198.18.0.1", .sport = 179,
				  .dport = 40000, .seq = 5000, .ack = 1001, .flags = TF_SYN | TF_ACK };
	struct pktspec ack = { .seq = 1001, .ack = 5001, .flags = TF_ACK };

	env_run_spec(e, &syn);
	env_run_spec(e, &synack);
	env_run_spec(e, &ack);
}

static void record_contents(struct cap *c)
{
	uint8_t frame[1024];
	size_t n = pkt_build(frame, sizeof(frame), &noflow);
	struct pktspec big = noflow;
	const struct rg_cap_rec *r = &recs[0];
	uint64_t t0 = mono_ns();

	cfg_set(c, 1, 0, 1, 0, 0, 10);
	nrecs = 0;
	env_run(c->e, frame, n);
	ring_buffer__consume(c->rb);
	CHECK(nrecs == 1, "a dropped RST leaves one record (%d)", nrecs);
	CHECK(r->reason == RG_R_NO_FLOW && r->action == RG_ACT_DROP, "record: no_flow, drop (%u, %u)",
	      r->reason, r->action);
	CHECK(r->len == n && r->caplen == n && !memcmp(r->data, frame, n),
	      "record: the whole %zu-byte frame (len %u caplen %u)", n, r->len, r->caplen);
	CHECK(r->ifindex == 1 && r->slot == 0 && r->l3 == 0 && r->dist == RG_DIST_NONE,
	      "record: ingress lo, slot 0, Ethernet, no distance (%u %u %u %u)", r->ifindex, r->slot,
	      r->l3, r->dist);
	CHECK(r->ts_ns >= t0 - 1000000 && r->ts_ns <= mono_ns(), "record: a CLOCK_MONOTONIC stamp");

	big.payload = 400;
	n = pkt_build(frame, sizeof(frame), &big);
	CHECK(run_n(c, &big, 1) == 1 && r->len == n && r->caplen == RG_CAP_SNAPLEN &&
	      !memcmp(r->data, frame, RG_CAP_SNAPLEN),
	      "a %zu-byte frame is cut at %d bytes, its length kept (len %u caplen %u)", n,
	      RG_CAP_SNAPLEN, r->len, r->caplen);
}

static void gating(struct cap *c)
{
	struct pktspec valid = { .src = "198.18.0.2", .dst = "198.18.0.1", .sport = 179,
				 .dport = 40000, .seq = 5001, .flags = TF_RST };
	struct pktspec oow = valid, data = { .seq = 1001, .ack = 5001, .flags = TF_ACK };
	struct rg_cap_stat s;

	oow.seq = 5001 + 0x40000000;
	cfg_set(c, 0, 0, 1, 0, 0, 10);
	CHECK(run_n(c, &noflow, 3) == 0 && stat_sum(c).matched == 0,
	      "flag down: no record, nothing even matched");
	cfg_set(c, 1, 0, 1, 0, 0, -1);
	CHECK(run_n(c, &noflow, 3) == 0 && stat_sum(c).matched == 0,
	      "lease run out: no record, nothing matched");
	cfg_set(c, 1, 0, 1, 0, 0, 10);
	CHECK(run_n(c, &data, 2) == 0, "non-RST segments that pass: no record");
	CHECK(run_n(c, &oow, 1) == 1 && recs[0].reason == RG_R_OUT_OF_WINDOW &&
	      recs[0].dist == 0x40000000, "an out-of-window RST: recorded with its distance (%u)",
	      recs[0].dist);
	env_policy(c->e, RG_P_MONITOR, 0);
	CHECK(run_n(c, &noflow, 1) == 1 && recs[0].action == RG_ACT_MONITOR,
	      "mode=monitor: recorded as would_drop");
	CHECK(run_n(c, &valid, 1) == 0, "an exact RST that passes: no record");
	env_policy(c->e, 0, RG_P_MONITOR);
	cfg_set(c, 1, 0, 1, 1ull << RG_R_OUT_OF_WINDOW, 0, 10);
	CHECK(run_n(c, &noflow, 2) == 0 && run_n(c, &oow, 2) == 2,
	      "reason filter out_of_window: no_flow left out, out_of_window taken");
	s = stat_sum(c);
	CHECK(s.matched == 2 && s.records == 2, "... matched counts the filtered only (%llu, %llu)",
	      (unsigned long long)s.matched, (unsigned long long)s.records);
	cfg_set(c, 1, 0, 1, 0, 1ull << 1, 10);
	CHECK(run_n(c, &noflow, 2) == 0, "slot filter on slot 1 only: the slot 0 program takes none");
	cfg_set(c, 1, 0, 1, 0, 1ull << 0, 10);
	CHECK(run_n(c, &noflow, 2) == 2, "slot filter on slot 0: taken");
}

static void sampling(struct cap *c)
{
	struct rg_cap_stat s;
	int got;

	cfg_set(c, 1, 3, 4, 0, 0, 10);
	got = run_n(c, &noflow, 15);
	s = stat_sum(c);
	CHECK(got == 6 && s.matched == 15 && s.records == 6 && s.lost == 0,
	      "burst 3 then 1 in 4: 15 drops give 3 + 3 records (%d; matched %llu records %llu)", got,
	      (unsigned long long)s.matched, (unsigned long long)s.records);
	cfg_set(c, 1, 0, 5, 0, 0, 10);
	got = run_n(c, &noflow, 10);
	CHECK(got == 2, "no burst, 1 in 5: 10 drops give 2 records (%d)", got);
	cfg_set(c, 1, RG_CAP_BURST_DEFAULT, RG_CAP_SAMPLE_DEFAULT, 0, 0, 10);
	got = run_n(c, &noflow, 50);
	CHECK(got == 50, "default sampling at a low rate takes everything (%d of 50)", got);
}

/* Whether the reader has been woken: epoll lists the ring only after a wakeup. */
static int woken(struct cap *c)
{
	struct epoll_event ev;

	return epoll_wait(ring_buffer__epoll_fd(c->rb), &ev, 1, 0) > 0;
}

/* Burst records wake the reader at once; sampled ones (a flood) wait for its poll unless the
 * ring fills to a quarter, and none is lost either way. */
static void wakeups(struct cap *c)
{
	int per = (int)(sizeof(struct rg_cap_rec) + 8), quarter = RG_CAP_RING_BYTES / 4 / per + 1;
	int got;

	cfg_set(c, 1, 0, 1, 0, 0, 10);
	CHECK(!woken(c), "an empty ring does not wake the reader");
	got = run_n(c, &noflow, 10);
	CHECK(got == 10, "ten sampled records are all read (%d)", got);
	cfg_set(c, 1, 0, 1, 0, 0, 10);
	nrecs = 0;
	for (int i = 0; i < 10; i++)
		env_run_spec(c->e, &noflow);
	CHECK(!woken(c), "sampled records wait for the reader's poll");
	ring_buffer__consume(c->rb);
	CHECK(nrecs == 10, "and are there when it polls (%d)", nrecs);
	cfg_set(c, 1, 0, 1, 0, 0, 10);
	nrecs = 0;
	for (int i = 0; i < quarter; i++)
		env_run_spec(c->e, &noflow);
	CHECK(woken(c), "a ring a quarter full wakes the reader (%d records)", quarter);
	ring_buffer__consume(c->rb);
	CHECK(nrecs == quarter, "every record of the quarter is read (%d of %d)", nrecs, quarter);
	cfg_set(c, 1, 5, 1000, 0, 0, 10);
	CHECK(!woken(c), "drained: no wakeup pending");
	env_run_spec(c->e, &noflow);
	CHECK(woken(c), "a burst record wakes the reader at once");
	ring_buffer__consume(c->rb);
	CHECK(nrecs == 1, "and is read (%d)", nrecs);
}

static void l3_device(void)
{
	struct pktspec s = noflow;
	struct rg_env e;
	struct cap c = { .e = &e };
	uint8_t frame[1024];
	size_t n;

	if (env_open(&e, RG_ROLE_GATEWAY, 1, 1024)) {
		CHECK(0, "gateway role on an L3 device loads");
		return;
	}
	c.rb = ring_buffer__new(bpf_map__fd(e.skel->maps.rg_capring), on_rec, NULL, NULL);
	s.l3 = 1;
	n = pkt_build(frame, sizeof(frame), &s);
	cfg_set(&c, 1, 0, 1, 0, 0, 10);
	CHECK(c.rb && run_n(&c, &s, 1) == 1 && recs[0].l3 == 1 && recs[0].caplen == n &&
	      !memcmp(recs[0].data, frame, n) && (recs[0].data[0] >> 4) == 4,
	      "L3 device: the record starts at the IP header and says so");
	ring_buffer__free(c.rb);
	env_close(&e);
}

int main(void)
{
	struct rg_env e;
	struct cap c = { .e = &e };
	cpu_set_t cpus;
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Sampling state is per CPU, and a test run executes on the caller's CPU. */
	CPU_ZERO(&cpus);
	CPU_SET(sched_getcpu(), &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	err = env_open(&e, RG_ROLE_GATEWAY, 0, 1024);
	CHECK(err == 0, "gateway role loads: %s", strerror(-err));
	if (err)
		return t_summary("capture");
	c.rb = ring_buffer__new(bpf_map__fd(e.skel->maps.rg_capring), on_rec, NULL, NULL);
	CHECK(c.rb != NULL, "the ring buffer maps");
	if (!c.rb)
		return t_summary("capture");
	handshake(&e);
	record_contents(&c);
	gating(&c);
	sampling(&c);
	wakeups(&c);
	ring_buffer__free(c.rb);
	env_close(&e);
	l3_device();
	return t_summary("capture");
}
