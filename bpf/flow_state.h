/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Sequence arithmetic and the derived flow state: plain C shared by the XDP program and the
 * control plane, so both read a flow entry the same way. */
#ifndef RG_FLOW_STATE_H
#define RG_FLOW_STATE_H

#include "rstguard.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* RFC 9293 sequence comparisons, modulo 2^32. */
static __always_inline int seq_before(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}
#define seq_after(a, b) seq_before(b, a)

/* s in [lo, hi] modulo 2^32. An inverted band (hi before lo) holds lo alone, never the whole
 * sequence space. */
static __always_inline int seq_in(__u32 s, __u32 lo, __u32 hi)
{
	if (seq_before(hi, lo))
		return s == lo;
	return s - lo <= hi - lo;
}

static __always_inline int dir_seen(__u8 df)
{
	return df & (RG_D_SYN | RG_D_ACK);
}

static __always_inline int fin_acked(const struct rg_flow *f, int dir)
{
	return (f->dflags[dir] & RG_D_FIN) && (f->dflags[!dir] & RG_D_ACK) &&
	       !seq_before(f->d[!dir].ack, f->d[dir].seq_end);
}

/* Both sides seen and one acknowledged the other: the first round trip, which a blind forger
 * cannot join (see flow_contest in flow.h). */
static __always_inline int flow_verified(const struct rg_flow *f)
{
	return dir_seen(f->dflags[0]) && dir_seen(f->dflags[1]) &&
	       ((f->dflags[0] | f->dflags[1]) & RG_D_ACK);
}

/* The state is derived from per-direction flags rather than stored, so that no field is written
 * by both directions (see flow_track). */
static __always_inline int flow_state(const struct rg_flow *f)
{
	__u8 a = f->dflags[0], b = f->dflags[1];

	if ((a | b) & RG_D_RST)
		return RG_ST_CLOSED;
	if ((a & b & RG_D_FIN) && fin_acked(f, 0) && fin_acked(f, 1))
		return RG_ST_TIME_WAIT;
	if ((a | b) & RG_D_FIN)
		return RG_ST_FIN_WAIT;
	if (f->fflags & RG_F_MIDSTREAM)
		return dir_seen(a) && dir_seen(b) ? RG_ST_ESTABLISHED : RG_ST_ONE_WAY;
	/* A SYN whose answer never came our way but whose sender goes on with ACKs: the return
	 * path bypasses us (asymmetric routing), the handshake is long over. */
	if (!dir_seen(a) || !dir_seen(b))
		return ((a | b) & RG_D_ACK) ? RG_ST_ONE_WAY : RG_ST_SYN_SENT;
	if (a & b & RG_D_ACK)
		return RG_ST_ESTABLISHED;
	if (a & b & RG_D_SYN)
		return RG_ST_SYN_RECV;
	return RG_ST_SYN_SENT;
}

/* The connection is finished (reset, or both FINs acknowledged): a SYN there starts a new one. */
static __always_inline int state_over(int st)
{
	return st == RG_ST_CLOSED || st == RG_ST_TIME_WAIT;
}

/* Hash of a canonical flow key (struct rg_flow_key4/6 as 32-bit words) for the presence
 * filter; user space computes the same bits when it writes flows itself. */
static __always_inline __u32 rg_key_hash(const __u32 *w, int n)
{
	__u32 h = 0x2545f491;

	for (int i = 0; i < n; i++) {
		h ^= w[i];
		h *= 0x9e3779b1;
		h ^= h >> 15;
	}
	return h;
}

/* Where a key hash lives in the presence filter: three bits of one 64-bit word, so a probe
 * stays one cache line while false positives at a full table fall from ~6% to under 1%. The
 * bits come from a remix of the hash, the word from its low bits. */
static __always_inline __u32 rg_presence_index(__u32 h, __u32 mask)
{
	return h & mask;
}

static __always_inline __u64 rg_presence_bits(__u32 h)
{
	__u32 g = h * 0x85ebca6b;

	g ^= g >> 13;
	return (1ull << (g & 63)) | (1ull << ((g >> 6) & 63)) | (1ull << ((g >> 12) & 63));
}

/* Words in the presence map for a table of `flows` entries: a power of two. */
static inline __u32 rg_presence_words(__u32 flows)
{
	__u64 bits = (__u64)flows * RG_PRESENCE_BITS_PER_FLOW, w = 1;

	while (w * 64 < bits)
		w <<= 1;
	return (__u32)w;
}

#endif
