/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What a verdict leaves besides its counter: the sequence distance of a judged RST in a log2
 * histogram, and, while 'rstguard capture' runs, a sampled copy of dropped packets in a ring
 * buffer. Included after the cfg_* load-time settings, which it reads. */
#ifndef RG_CAPTURE_H
#define RG_CAPTURE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "rstguard.h"
#include "maps.h"
#include "parse.h"
#include "flow_state.h"

#define RG_NS_PER_S 1000000000ull

/*
 * The distance arithmetic below has no data-dependent branch. Under a flood of random sequence
 * numbers every comparison on the distance is a coin toss, and each mispredicted branch costs
 * more than the whole computation: comparisons are made into masks by hand (RG_OPAQUE).
 */

/* 1 when a > b, for values below 2^32. */
static __always_inline __u64 gt_bit(__u64 a, __u64 b)
{
	__u64 d = b - a;

	RG_OPAQUE(d);
	return d >> 63;
}

/* How far apart two sequence numbers are, the shorter way round the circle: at most 2^31. */
static __always_inline __u32 seq_gap(__u32 a, __u32 b)
{
	__u64 d = (__u64)(__s64)(__s32)(a - b), s = (__u64)((__s64)d >> 63);

	RG_OPAQUE(s);
	return (__u32)((d ^ s) - s);
}

/* The smaller of two values below 2^32. */
static __always_inline __u32 min32(__u32 a, __u32 b)
{
	__u64 m = 0 - gt_bit(a, b);

	return (__u32)(a ^ ((a ^ b) & m));
}

/* fls of a byte, by table. */
#define RG_R2(n) n, n
#define RG_R4(n) RG_R2(n), RG_R2(n)
#define RG_R8(n) RG_R4(n), RG_R4(n)
#define RG_R16(n) RG_R8(n), RG_R8(n)
#define RG_R32(n) RG_R16(n), RG_R16(n)
#define RG_R64(n) RG_R32(n), RG_R32(n)
#define RG_R128(n) RG_R64(n), RG_R64(n)
static const __u8 rg_fls8[256] = {
	0, 1, RG_R2(2), RG_R4(3), RG_R8(4), RG_R16(5), RG_R32(6), RG_R64(7), RG_R128(8),
};

/* Position of the highest set bit, counting from 1; 0 for 0. A blind flood's distances are
 * nearly all past 2^24 (its sequence numbers are spread over the whole space), so that case,
 * predicted well, takes one table read instead of the chain below. */
static __always_inline __u32 fls32(__u32 v)
{
	__u64 x = v, r, b;

	if (v >> 24)
		return 24 + rg_fls8[v >> 24];

	r = gt_bit(x, 0xffff) << 4;
	x >>= r;
	b = gt_bit(x, 0xff) << 3;
	x >>= b;
	r += b;
	b = gt_bit(x, 0xf) << 2;
	x >>= b;
	r += b;
	b = gt_bit(x, 0x3) << 1;
	x >>= b;
	r += b;
	b = gt_bit(x, 0x1);
	x >>= b;
	return (__u32)(r + b + x);
}

/* Bucket 0 holds 0; bucket k > 0 holds (2^(k-2), 2^(k-1)], i.e. its upper bound is 2^(k-1).
 * d - 1 wraps to all ones for 0, whose fls is 32: the mask puts 0 back in bucket 0. */
static __always_inline __u32 dist_bucket(__u32 d)
{
	return (1 + fls32(d - 1)) & (__u32)(0 - gt_bit(d, 0));
}

/* Bytes from seq to the reference [lo, hi]: 0 inside, else to the nearer edge. */
static __always_inline __u32 ref_dist(__u32 seq, __u32 lo, __u32 hi)
{
	/* An inverted band holds lo alone, as seq_in() reads it. */
	if (seq_before(hi, lo))
		hi = lo;
	if (seq - lo <= hi - lo)
		return 0;
	return min32(seq_gap(seq, lo), seq_gap(seq, hi));
}

/*
 * Counts an RST in the histogram by its distance from the reference it was judged against. A
 * blind flood spreads over the high buckets, a sweep fills them at its stride, and a forger who
 * knows the numbers shows up near zero. Returns the distance. A global function: verified
 * once, not on every path to the exit.
 */
__noinline __u32 rg_dist_note(__u32 seq, __u32 lo, __u32 hi)
{
	__u32 d = ref_dist(seq, lo, hi), idx;
	struct rg_dist *b;

	idx = (cfg_slot % RG_MAX_IFACES) * RG_DIST_BUCKETS + dist_bucket(d);
	b = bpf_map_lookup_elem(&rg_dist, &idx);
	if (b) {
		b->count++;
		b->sum += d;
	}
	return d;
}

enum cap_taken { CAP_SKIP, CAP_BURST, CAP_SAMPLED };

/*
 * Sampling, per CPU: every packet while this CPU has taken fewer than cfg->burst in the current
 * second, then one in cfg->sample. A flood thus costs one clock read and a few increments per
 * packet; only the packets taken pay for a record.
 */
static __always_inline int cap_take(const struct rg_cap_cfg *cfg, struct rg_cap_stat *st,
				    __u64 now)
{
	if (now - st->win_ns >= RG_NS_PER_S) {
		st->win_ns = now;
		st->taken = 0;
	}
	if (st->taken < cfg->burst) {
		st->taken++;
		return CAP_BURST;
	}
	if (++st->skipped < cfg->sample)
		return CAP_SKIP;
	st->skipped = 0;
	return CAP_SAMPLED;
}

/*
 * Whether a record wakes the reader. A wakeup is an interrupt on this CPU (in a VM, an exit to
 * the hypervisor), and a reader that keeps up asks for one on every record. The burst's records
 * (a few hundred a second at most) wake it at once, so a quiet capture shows each packet as it
 * comes. Sampled ones come only under a flood: they wait for the reader's next poll, at most
 * 100 ms away, unless the ring is already a quarter full; then the reader is woken with three
 * quarters of the ring still free, so a faster flood loses no more than it did.
 */
static __always_inline __u64 cap_wakeup(int taken)
{
	if (taken == CAP_BURST)
		return 0;
	return bpf_ringbuf_query(&rg_capring, BPF_RB_AVAIL_DATA) >= RG_CAP_RING_BYTES / 4 ?
		       BPF_RB_FORCE_WAKEUP :
		       BPF_RB_NO_WAKEUP;
}

/* Called only while a capture is active: filters, samples and writes one record. */
__noinline int rg_capture(struct xdp_md *ctx, __u32 reason, __u32 act, __u32 dist)
{
	__u32 key = 0, len;
	int taken;
	struct rg_cap_cfg *cfg;
	struct rg_cap_stat *st;
	struct rg_cap_rec *r;
	__u64 now, caplen; /* 64 bits: checked on the very register passed to the helper */

	cfg = bpf_map_lookup_elem(&rg_capcfg, &key);
	st = bpf_map_lookup_elem(&rg_capstat, &key);
	if (!ctx || !cfg || !st)
		return 0;
	if (cfg->reasons && !((cfg->reasons >> (reason & 63)) & 1))
		return 0;
	if (cfg->slots && !((cfg->slots >> (cfg_slot & 63)) & 1))
		return 0;
	/* A capture renews its deadline every second: past it, one killed without cleaning up
	 * takes nothing more. */
	now = bpf_ktime_get_coarse_ns();
	if (now > cfg->until_ns)
		return 0;
	st->matched++;
	taken = cap_take(cfg, st, now);
	if (taken == CAP_SKIP)
		return 0;
	r = bpf_ringbuf_reserve(&rg_capring, sizeof(*r), 0);
	if (!r) {
		st->lost++;
		return 0;
	}
	len = ctx->data_end - ctx->data;
	caplen = len < RG_CAP_SNAPLEN ? len : RG_CAP_SNAPLEN;
	/* The helper's length must be bounded on the register the verifier sees. */
	RG_BOUND(caplen, 0x1ff);
	if (caplen < 1 || caplen > RG_CAP_SNAPLEN ||
	    bpf_xdp_load_bytes(ctx, 0, r->data, caplen)) {
		bpf_ringbuf_discard(r, 0);
		st->lost++;
		return 0;
	}
	r->ts_ns = bpf_ktime_get_ns();
	r->ifindex = ctx->ingress_ifindex;
	r->len = len;
	r->dist = dist;
	r->caplen = caplen;
	r->slot = cfg_slot % RG_MAX_IFACES;
	r->reason = reason;
	r->action = act;
	r->l3 = !!cfg_l3;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	bpf_ringbuf_submit(r, cap_wakeup(taken));
	st->records++;
	return 1;
}

/* The distance of seq from the reference the judge noted, without counting it. */
static __always_inline __u32 pkt_dist(const struct pkt *p)
{
	return p->has_ref ? ref_dist(p->seq, p->ref_lo, p->ref_hi) : RG_DIST_NONE;
}

/* The capture of a dropped or would-drop packet. With no capture running, this flag is all the
 * packet pays. */
static __always_inline void capture(struct xdp_md *ctx, int reason, __u32 act, __u32 dist)
{
	struct rg_cap_cfg *cfg;
	__u32 key = 0;

	if (act == RG_ACT_PASS)
		return;
	cfg = bpf_map_lookup_elem(&rg_capcfg, &key);
	if (cfg && cfg->active)
		rg_capture(ctx, reason, act, dist);
}

/* The exit's hook, after the verdict: the histogram for every RST that had a reference, the
 * capture for dropped and would-drop packets (act pass: captured already, or passed). */
static __always_inline void observe(struct xdp_md *ctx, const struct pkt *p, int reason, __u32 act)
{
	__u32 dist = RG_DIST_NONE;

	if (p->has_ref)
		dist = rg_dist_note(p->seq, p->ref_lo, p->ref_hi);
	capture(ctx, reason, act, dist);
}

#endif
