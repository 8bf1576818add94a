/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Sequence arithmetic, canonical flow keys and the window-tracking state machine (gateway role). */
#ifndef RG_FLOW_H
#define RG_FLOW_H

#include "parse.h"
#include "maps.h"
#include "flow_state.h"

/* Added to the kernel clock: lets tests move time; always 0 in production. */
__s64 rg_clock_offset = 0;

/* Seconds. The coarse clock is enough for timeouts and costs no clock-source read. */
static __always_inline __u32 rg_now(void)
{
	return (bpf_ktime_get_coarse_ns() + rg_clock_offset) / 1000000000ull;
}

/* Mask of rg_presence word indexes (its size minus one), set with the map size before load. */
const volatile __u32 cfg_presence_mask = RG_DEFAULT_FLOWS * RG_PRESENCE_BITS_PER_FLOW / 64 - 1;

/* Largest ack lag accepted when the sender's window is still small (as nf_conntrack's). */
#define RG_MIN_ACK_WINDOW 66000

static __always_inline __u32 seg_end(const struct pkt *p)
{
	return p->seq + p->payload + !!(p->flags & TCPF_SYN) + !!(p->flags & TCPF_FIN);
}

/* Direction 0 runs from the endpoint that sorts lower to the one that sorts higher. */
static __always_inline int flow_key4(const struct pkt *p, struct rg_flow_key4 *k)
{
	__u32 s = bpf_ntohl(p->saddr[0]), d = bpf_ntohl(p->daddr[0]);
	int dir = s > d || (s == d && bpf_ntohs(p->sport) > bpf_ntohs(p->dport));

	/* Branches, not k->addr[dir]: clang turns a variable stack index into pointer arithmetic
	 * the verifier rejects. */
	if (dir) {
		k->addr[0] = p->daddr[0];
		k->addr[1] = p->saddr[0];
		k->port[0] = p->dport;
		k->port[1] = p->sport;
	} else {
		k->addr[0] = p->saddr[0];
		k->addr[1] = p->daddr[0];
		k->port[0] = p->sport;
		k->port[1] = p->dport;
	}
	return dir;
}

static __always_inline int flow_key6(const struct pkt *p, struct rg_flow_key6 *k)
{
	int dir = 0, decided = 0;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u32 s = bpf_ntohl(p->saddr[i]), d = bpf_ntohl(p->daddr[i]);

		if (!decided && s != d) {
			dir = s > d;
			decided = 1;
		}
	}
	if (!decided)
		dir = bpf_ntohs(p->sport) > bpf_ntohs(p->dport);
	if (dir) {
		__builtin_memcpy(k->addr[0], p->daddr, 16);
		__builtin_memcpy(k->addr[1], p->saddr, 16);
		k->port[0] = p->dport;
		k->port[1] = p->sport;
	} else {
		__builtin_memcpy(k->addr[0], p->saddr, 16);
		__builtin_memcpy(k->addr[1], p->daddr, 16);
		k->port[0] = p->sport;
		k->port[1] = p->dport;
	}
	return dir;
}

/* Shift applied to a direction's windows: only when both SYNs carried the option; unknown for
 * flows picked up mid-stream, where the largest legal shift keeps legitimate segments plausible. */
static __always_inline __u32 flow_wscale(const struct rg_flow *f, int dir)
{
	__u8 mine = f->dflags[dir] >> 4, theirs = f->dflags[!dir] >> 4;

	if (f->fflags & (RG_F_MIDSTREAM | RG_F_WS_UNKNOWN))
		return 14;
	if (mine == RG_D_WS_NONE || theirs == RG_D_WS_NONE)
		return 0;
	return mine;
}

/* A zero timeout means "default", so a freshly created (all-zero) policy map is usable. */
const volatile __u32 rg_default_timeouts[RG_ST_MAX] = RG_TIMEOUTS_DEFAULT;

static __always_inline __u32 state_timeout(const struct rg_policy *pol, __u32 st)
{
	__u32 t;

	if (st >= RG_ST_MAX)
		return 0;
	t = pol->timeout[st];
	return t ? t : rg_default_timeouts[st];
}

static __always_inline int flow_expired(const struct rg_flow *f, const struct rg_policy *pol,
					__u32 now)
{
	return now - f->last_seen > state_timeout(pol, flow_state(f));
}

static __always_inline void dir_set(struct rg_flow *f, int dir, const struct rg_dir *d, __u8 df)
{
	/* Branches, not f->d[dir]: f may live on the stack, where clang turns a variable index
	 * into pointer arithmetic the verifier rejects. */
	if (dir) {
		f->d[1] = *d;
		f->dflags[1] = df;
	} else {
		f->d[0] = *d;
		f->dflags[0] = df;
	}
}

static __always_inline void dir_init(struct rg_flow *f, int dir, const struct pkt *p, __u8 df)
{
	struct rg_dir d = {
		.isn = (p->flags & TCPF_SYN) ? p->seq : 0,
		.seq_end = seg_end(p),
		.ack = (p->flags & TCPF_ACK) ? p->ack : 0,
		.max_win = p->win,
	};

	dir_set(f, dir, &d, df);
}

/* How far an unverified side may move between two of its segments before the state counts as
 * contested (see flow_contest): beyond any real burst lost ahead of us or stretch ACK (16 MiB),
 * while a blind value lands inside with odds of 1 in 256 per field. */
#define RG_UNVERIFIED_WIN (1u << 24)

static __always_inline int seq_near(__u32 v, __u32 ref)
{
	return v - ref + RG_UNVERIFIED_WIN <= 2 * RG_UNVERIFIED_WIN;
}

/* A segment may move the state only if it is plausible for this connection (van Rooij): its ACK
 * acknowledges data the other side really sent, and it starts inside the other side's window.
 * A blind forger fails this and leaves no trace. */
static __always_inline int seg_plausible(const struct rg_flow *f, int s, const struct pkt *p)
{
	const struct rg_dir *ds = &f->d[s], *dr = &f->d[!s];
	__u8 rf = f->dflags[!s];
	__u32 ackwin = ds->max_win > RG_MIN_ACK_WINDOW ? ds->max_win : RG_MIN_ACK_WINDOW;

	if (seq_after(p->ack, dr->seq_end) || seq_before(p->ack, dr->seq_end - ackwin))
		return 0;
	if ((rf & RG_D_ACK) && seq_after(p->seq, dr->ack + dr->max_win))
		return 0;
	return 1;
}

/* A new entry for a flow we have not seen: from its SYN, or mid-stream from any ACK segment. */
static __always_inline int flow_new(struct rg_flow *f, int s, const struct pkt *p, __u32 now)
{
	__u8 fl = p->flags;

	if (p->partial)
		return 0;
	if ((fl & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN) {
		dir_init(f, s, p, RG_D_SYN | (p->wscale << 4));
	} else if (fl & TCPF_ACK) {
		/* Without the handshake the window scale is unknown (also for a lone SYN-ACK). */
		struct pkt q = *p;

		q.flags &= ~TCPF_SYN;
		q.seq += !!(fl & TCPF_SYN);
		q.win = 0;
		dir_init(f, s, &q, RG_D_ACK | (RG_D_WS_NONE << 4) | ((fl & TCPF_FIN) ? RG_D_FIN : 0));
		/* Stored scaled by the largest legal shift: the real one is unknown. */
		if (s)
			f->d[1].max_win = (__u32)p->win << 14;
		else
			f->d[0].max_win = (__u32)p->win << 14;
		f->fflags = RG_F_MIDSTREAM;
	} else {
		return 0;
	}
	f->last_seen = now;
	return 1;
}

/*
 * Until both sides have been seen, nothing tells a real segment from a blind forgery in the same
 * name: whichever came first would shape the state the other is judged by, and a legitimate
 * reset would be dropped on a forger's numbers. So one-sided state is held to itself: a later
 * segment from the same side must continue it (seg_continues), and the first one from the other
 * side must acknowledge it (seg_plausible). When either fails, the entry is contested: its RSTs
 * pass as `unverified` (the endpoint judges, as without a filter), it follows the newest segment,
 * and the first plausible answer from the other side (or a SYN-ACK to its SYN) verifies it. Once
 * both sides are seen, blind segments are implausible and leave no trace.
 */
static __always_inline int seg_continues(const struct rg_dir *d, __u8 df, const struct pkt *p)
{
	if (!seq_near(p->seq, d->seq_end))
		return 0;
	return !(df & RG_D_ACK) || seq_near(p->ack, d->ack);
}

/* Marks the entry contested and restarts it from this segment: the real endpoints keep talking,
 * so the newest segment brings the entry back to them, and the first plausible answer from the
 * other side ends the contest. A SYN in this segment's name still awaiting its answer is kept
 * instead (only the real responder can ack it, and its SYN-ACK ends the contest at once), and
 * the entry stays alive while that side talks, so a SYN planted when it expires cannot pass for
 * the state of a live connection. fflags may race with the other direction clearing it: either
 * order is a state some interleaving of the two segments gives. */
static __always_inline int flow_contest(struct rg_flow *f, int s, const struct pkt *p, __u32 now)
{
	struct rg_flow nf0 = {};

	if (((f->dflags[s] & (RG_D_SYN | RG_D_ACK)) == RG_D_SYN && !dir_seen(f->dflags[!s])) ||
	    !flow_new(&nf0, s, p, now)) {
		f->fflags |= RG_F_CONTESTED;
		f->last_seen = now;
		return 1;
	}
	nf0.fflags |= RG_F_CONTESTED | RG_F_RESTARTED;
	*f = nf0;
	return 1;
}

/*
 * Concurrency: the two directions of a flow may run on two CPUs at once (one per interface).
 * Each direction writes only its own d[dir] and dflags[dir]; every field is a naturally aligned
 * word or byte written with one store, so a reader never sees a torn value, and all of them only
 * move forward. The RST check reads the receiver's ack and the sender's seq_end: a stale ack only
 * lowers the lower bound of the band, never hides the exact value. The writes of both halves
 * (re-initialising a closed flow on a new SYN, the SYN-ACK pinning a silent initiator, a
 * contested entry restarting) happen when the other side is over, silent or unverified.
 * last_seen is last-writer-wins; either value is recent.
 */
static __always_inline int flow_update(struct rg_flow *f, int s, const struct pkt *p,
				       const struct rg_policy *pol, __u32 now)
{
	__u8 sf = f->dflags[s], rf = f->dflags[!s];
	__u8 fl = p->flags;
	struct rg_dir *ds = &f->d[s];
	int verified = flow_verified(f);
	__u32 end, win;
	__u8 nf;

	if ((fl & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN) {
		int st = flow_state(f), over = state_over(st);

		/* Port reuse: a new connection on a finished 4-tuple. Or a handshake on an entry
		 * only one unverified side spoke for, which it contradicts; or on one whose FINs
		 * may have gone by unseen, so that it may really be over: a closing entry picked
		 * up mid-stream, or any entry a contest restarted (it kept only the newest
		 * segment). A re-open kept pending there could be spoiled by one forged segment
		 * and leave the new connection's resets judged against the old one. Then the
		 * refusal of this SYN must be recognised, and so must a reset of the old side:
		 * contested until the SYN-ACK. A forger gets "no filter" for a few segments,
		 * and only on a closing entry or one it contested before. */
		if (over || (!verified && !((sf | rf) & RG_D_SYN)) || (f->fflags & RG_F_RESTARTED) ||
		    ((f->fflags & RG_F_MIDSTREAM) && st == RG_ST_FIN_WAIT)) {
			struct rg_flow nf0 = {};

			dir_init(&nf0, s, p, RG_D_SYN | (p->wscale << 4));
			if (!over)
				nf0.fflags = RG_F_CONTESTED;
			nf0.last_seen = now;
			*f = nf0;
			return 1;
		}
		/* The initiator's SYN again, its peer unheard: a retransmission keeps the ISN; a new
		 * ISN is a new attempt or a forgery. The first ISN and the latest end are both kept
		 * (verdict accepts the refusal of either) and the SYN-ACK settles which was real. An
		 * initiator that went on with ACKs (its return path bypasses us) is not rewound. */
		if (!dir_seen(rf) && (sf & RG_D_SYN) && !(f->fflags & RG_F_MIDSTREAM)) {
			if (p->seq != ds->isn && seg_end(p) != ds->seq_end)
				f->fflags |= RG_F_CONTESTED;
			if (!(sf & RG_D_ACK)) {
				/* The latest SYN's window scale too: the SYN-ACK that acks its end
				 * reads it (see the SYN-ACK path for one that acks the first). */
				ds->seq_end = seg_end(p);
				nf = (sf & 0x0f) | (p->wscale << 4);
				if (nf != sf)
					f->dflags[s] = nf;
			}
			return 0;
		}
		/* The other side sent only a SYN and this one never spoke: simultaneous open, or a
		 * SYN forged in either name. Kept, so that the refusal of either is recognised, but
		 * contested: no band comes of two SYNs until one side acknowledges the other. */
		if (!dir_seen(sf) && (rf & (RG_D_SYN | RG_D_ACK)) == RG_D_SYN) {
			dir_init(f, s, p, RG_D_SYN | (p->wscale << 4));
			f->fflags |= RG_F_CONTESTED;
			return 1;
		}
		/* A SYN on a live flow: the peer lost its state and opens anew on the same 4-tuple,
		 * or a forgery. Only remembered (d[s].isn is unused once synchronized): the old
		 * state stays in force until the new handshake completes (below). Each direction
		 * keeps its own bit, so a SYN forged in the other's name does not hide the refusal
		 * of this one. The pending byte is shared by both directions; a lost update only
		 * delays recognition to the next retransmitted SYN. */
		if ((sf & RG_D_ACK) && (rf & RG_D_ACK)) {
			ds->isn = p->seq;
			f->pending |= s ? RG_PEND_DIR1 : RG_PEND_DIR0;
		} else if (!verified) {
			f->fflags |= RG_F_CONTESTED;
		}
		return 0;
	}
	if (fl & TCPF_SYN) {
		/* SYN-ACK: one that acknowledges the SYN we saw starts the responder side, also
		 * over a SYN claimed in the responder's name (only the real responder knows the ISN
		 * it acks). It pins the initiator to that ISN, undoing any forged SYN or ACK in the
		 * initiator's name meanwhile (the real initiator is silent until it gets this
		 * answer), and so verifies a contested entry. */
		if (!(sf & RG_D_ACK) && (rf & RG_D_SYN) &&
		    (!(rf & RG_D_ACK) || (f->fflags & RG_F_CONTESTED)) &&
		    !(f->fflags & RG_F_MIDSTREAM) &&
		    (p->ack == f->d[!s].seq_end || p->ack == f->d[!s].isn + 1)) {
			struct rg_dir di = { .isn = p->ack - 1, .seq_end = p->ack,
					     .max_win = f->d[!s].max_win };
			/* It answers the first of two SYNs with other ISNs: the window scale kept is
			 * the later one's, so the largest legal shift is assumed instead. */
			int first = (f->fflags & RG_F_CONTESTED) && p->ack != f->d[!s].seq_end;

			/* An ACK claimed in its name went before the answer it needed: not its. */
			dir_set(f, !s, &di, rf & ~RG_D_ACK);
			dir_init(f, s, p, RG_D_SYN | RG_D_ACK | (p->wscale << 4));
			f->fflags = (f->fflags & ~RG_F_CONTESTED) | (first ? RG_F_WS_UNKNOWN : 0);
			f->last_seen = now;
			return 1;
		}
		/* The answer to a SYN remembered on a live flow: remembered in turn. */
		if ((f->pending & (s ? RG_PEND_DIR0 : RG_PEND_DIR1)) && p->ack == f->d[!s].isn + 1) {
			ds->isn = p->seq;
			f->pending |= RG_PEND_SYNACK;
		} else if (!verified) {
			/* Unverified: a retransmission of the SYN-ACK an entry was picked up from
			 * continues it (its data starts after the SYN); anything else contradicts. */
			struct pkt q = *p;

			q.seq++;
			if (!(dir_seen(sf) && !dir_seen(rf) && seg_continues(ds, sf, &q)) &&
			    !(!dir_seen(sf) && (f->fflags & RG_F_MIDSTREAM) && seg_plausible(f, s, &q)))
				f->fflags |= RG_F_CONTESTED;
		}
		return 0;
	}
	if (!(fl & TCPF_ACK) || p->partial)
		return 0;
	/* The ACK that completes a remembered SYN / SYN-ACK pair: the old connection is gone on
	 * both ends and the 4-tuple carries a new one (nf_conntrack's re-open, one packet later,
	 * so that two forged packets are not enough; see the closing note on its limit). */
	if ((f->pending & RG_PEND_SYNACK) && (f->pending & (s ? RG_PEND_DIR1 : RG_PEND_DIR0)) &&
	    p->seq == ds->isn + 1 && p->ack == f->d[!s].isn + 1) {
		struct rg_flow nf0 = {};
		struct pkt syn = *p;

		syn.flags = TCPF_SYN;
		syn.payload = 0;
		syn.seq = ds->isn;
		dir_init(&nf0, s, &syn, RG_D_SYN | (RG_D_WS_NONE << 4));
		syn.seq = f->d[!s].isn;
		syn.ack = ds->isn + 1;
		syn.flags = TCPF_SYN | TCPF_ACK;
		syn.win = 0xffff;
		dir_init(&nf0, !s, &syn, RG_D_SYN | RG_D_ACK | (RG_D_WS_NONE << 4));
		/* The SYNs' options were not kept: windows are read with the largest shift. */
		nf0.fflags = RG_F_WS_UNKNOWN;
		nf0.d[0].max_win <<= 14;
		nf0.d[1].max_win <<= 14;
		nf0.last_seen = now;
		*f = nf0;
		sf = f->dflags[s];
		rf = f->dflags[!s];
		verified = 1;
	}
	if (verified) {
		if (!seg_plausible(f, s, p))
			return 0;
	} else if (!dir_seen(rf)) {
		/* Only this side seen so far: the segment must continue it. */
		if (!seg_continues(ds, sf, p))
			return flow_contest(f, s, p, now);
	} else if (dir_seen(sf)) {
		/* Both sides sent only SYNs (simultaneous open, or one of them forged): this one
		 * must acknowledge the other's, which makes the first round trip. */
		if (!seg_plausible(f, s, p))
			return flow_contest(f, s, p, now);
		f->fflags &= ~RG_F_CONTESTED;
	} else {
		/* The second side's first segment: a flow picked up mid-stream, or one whose
		 * SYN-ACK went another way while its initiator went on with ACKs (asymmetric
		 * return path). In a true SYN-SENT (the other side sent only its SYN) an ACK
		 * without SYN-ACK is bogus. */
		if ((!(f->fflags & RG_F_MIDSTREAM) && !(rf & RG_D_ACK)) || !seg_plausible(f, s, p))
			return flow_contest(f, s, p, now);
		f->fflags = (f->fflags & ~RG_F_CONTESTED) |
			    ((f->fflags & RG_F_MIDSTREAM) ? 0 : RG_F_WS_UNKNOWN);
		dir_init(f, s, p, RG_D_ACK | (RG_D_WS_NONE << 4) | ((fl & TCPF_FIN) ? RG_D_FIN : 0));
		ds->max_win = (__u32)p->win << 14;
		f->last_seen = now;
		return 1;
	}
	/* The old connection is alive: whatever SYN was remembered was stale or forged. */
	if (f->pending)
		f->pending = 0;
	end = seg_end(p);
	win = (__u32)p->win << flow_wscale(f, s);
	if (seq_after(end, ds->seq_end))
		ds->seq_end = end;
	if (!(sf & RG_D_ACK) || seq_after(p->ack, ds->ack))
		ds->ack = p->ack;
	if (win > ds->max_win)
		ds->max_win = win;
	nf = sf | RG_D_ACK | ((fl & TCPF_FIN) ? RG_D_FIN : 0);
	if (nf != sf)
		f->dflags[s] = nf;
	if (f->last_seen != now)
		f->last_seen = now;
	return 1;
}

/* Looks the packet's flow up in the table of its family; *dir is the packet's direction. */
static __always_inline struct rg_flow *flow_find(const struct pkt *p, int *dir)
{
	if (p->v6) {
		struct rg_flow_key6 k = {};

		*dir = flow_key6(p, &k);
		return bpf_map_lookup_elem(&rg_flows6, &k);
	} else {
		struct rg_flow_key4 k = {};

		*dir = flow_key4(p, &k);
		return bpf_map_lookup_elem(&rg_flows4, &k);
	}
}

static __always_inline __u64 *presence_word(__u32 h, __u64 *bits)
{
	__u32 idx = rg_presence_index(h, cfg_presence_mask);

	*bits = rg_presence_bits(h);
	return bpf_map_lookup_elem(&rg_presence, &idx);
}

/*
 * The flow of an RST: the key is built and hashed once, and the presence filter answers "none"
 * for most blind RSTs without touching the cache-cold flow table. The filter's bits are never
 * cleared, so it is also the table's memory: *seen tells that the 4-tuple (or one sharing its
 * bits) had an entry once, which the LRU may since have evicted.
 */
static __always_inline struct rg_flow *flow_find_rst(const struct pkt *p, int *dir, int *seen)
{
	__u64 bits, *w;

	*seen = 0;
	if (p->v6) {
		struct rg_flow_key6 k = {};

		*dir = flow_key6(p, &k);
		w = presence_word(rg_key_hash((const __u32 *)&k, sizeof(k) / 4), &bits);
		if (w && (*w & bits) != bits)
			return NULL;
		*seen = 1;
		return bpf_map_lookup_elem(&rg_flows6, &k);
	} else {
		struct rg_flow_key4 k = {};

		*dir = flow_key4(p, &k);
		w = presence_word(rg_key_hash((const __u32 *)&k, sizeof(k) / 4), &bits);
		if (w && (*w & bits) != bits)
			return NULL;
		*seen = 1;
		return bpf_map_lookup_elem(&rg_flows4, &k);
	}
}

/* Inserts the entry and, only then, sets its presence bits: a reader that sees the bits finds
 * the entry. Returns the key's hash through *h. */
static __always_inline long flow_insert(const struct pkt *p, const struct rg_flow *f, __u32 *h)
{
	if (p->v6) {
		struct rg_flow_key6 k = {};

		flow_key6(p, &k);
		*h = rg_key_hash((const __u32 *)&k, sizeof(k) / 4);
		return bpf_map_update_elem(&rg_flows6, &k, f, BPF_ANY);
	} else {
		struct rg_flow_key4 k = {};

		flow_key4(p, &k);
		*h = rg_key_hash((const __u32 *)&k, sizeof(k) / 4);
		return bpf_map_update_elem(&rg_flows4, &k, f, BPF_ANY);
	}
}

/* Follows one non-RST segment. Returns the event to count: RG_R_FLOW_CREATED,
 * RG_R_FLOW_INSERT_FAIL, or RG_R_MAX for none. */
static __always_inline int flow_track(const struct pkt *p, const struct rg_policy *pol, __u32 now)
{
	struct rg_flow *f, nf = {};
	__u64 bits, *w;
	__u32 h;
	int dir;

	f = flow_find(p, &dir);
	if (f && !flow_expired(f, pol, now)) {
		flow_update(f, dir, p, pol, now);
		return RG_R_MAX;
	}
	/* A contested entry does not time out into a fresh one: its real connection may just be
	 * idle, and a SYN planted then would pass for its state. It restarts from this segment,
	 * still contested, rather than carry its stale state (a FIN of long ago would give the
	 * verified entry a short timeout). The LRU still reclaims it. One that is over (a refused
	 * SYN) has no connection left to wait for: the next one starts afresh (K40). */
	if (f && (f->fflags & RG_F_CONTESTED) && !state_over(flow_state(f))) {
		flow_contest(f, dir, p, now);
		return RG_R_MAX;
	}
	/* Absent or expired: an expired entry is overwritten as if new. */
	if (!flow_new(&nf, dir, p, now))
		return RG_R_MAX;
	if (flow_insert(p, &nf, &h))
		return RG_R_FLOW_INSERT_FAIL;
	w = presence_word(h, &bits);
	/* Atomic: another CPU may be setting other bits of the same word. */
	if (w && (*w & bits) != bits)
		__sync_fetch_and_or(w, bits);
	return RG_R_FLOW_CREATED;
}

#endif
