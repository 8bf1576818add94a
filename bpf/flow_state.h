/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Sequence arithmetic and the derived flow state: plain C shared by the XDP program and the
 * control plane, so both read a flow entry the same way. */
#ifndef RG_FLOW_STATE_H
#define RG_FLOW_STATE_H

#include "rstguard.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Keeps the compiler from seeing through a value: a mask computed from a comparison stays
 * arithmetic instead of becoming a branch again. BPF has no conditional move, so where the
 * outcome is a coin toss per packet (random sequence numbers, random 4-tuples in a flood) a
 * branch is mispredicted half the time, which costs more than the arithmetic. */
#ifdef __bpf__
#define RG_OPAQUE(v) asm volatile("" : "+r"(v))
#else
#define RG_OPAQUE(v) ((void)0)
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
 * filter, 64 bits so that the block index (low half) and the bits in the block (high half) are
 * independent: taken from one 32-bit value, they were correlated, and a full table said
 * "present" for 1.9% of unseen 4-tuples instead of 0.4%. User space computes the same bits
 * when it writes flows itself (the bench). */
static __always_inline __u64 rg_key_hash(const __u32 *w, int n)
{
	__u64 h = 0x2545f4914f6cdd1dull;

	/* Each word (tagged with its position) is multiplied on its own, so the products run in
	 * parallel rather than as one chain; the finalizer then mixes every bit into both halves. */
	for (int i = 0; i < n; i++)
		h ^= ((__u64)w[i] | (__u64)i << 32) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

/* The block a key hash lives in: the low bits, masked to the filter's size (a power of two). */
static __always_inline __u32 rg_presence_index(__u64 h, __u32 mask)
{
	return (__u32)h & mask;
}

/* The key's four bits in its block, from the high half of the hash, seven bits each. */
static __always_inline void rg_presence_bits(__u64 h, struct rg_presence_blk *b)
{
	__u32 g = h >> 32;

	b->w[0] = 0;
	b->w[1] = 0;
	/* Without branches: which word a bit falls in is a coin toss per key (see RG_OPAQUE). */
	for (int i = 0; i < 4; i++) {
		__u32 bit = (g >> (7 * i)) & 127;
		__u64 m = 1ull << (bit & 63), hi = 0 - (__u64)(bit >> 6);

		RG_OPAQUE(hi);
		b->w[1] |= m & hi;
		b->w[0] |= m & ~hi;
	}
}

/* Blocks in the presence map for a table of `flows` entries: a power of two. */
static inline __u32 rg_presence_blocks(__u32 flows)
{
	__u64 bits = (__u64)flows * RG_PRESENCE_BITS_PER_FLOW, n = 1;

	while (n * RG_PRESENCE_BLOCK_BITS < bits)
		n <<= 1;
	return (__u32)n;
}

#endif
