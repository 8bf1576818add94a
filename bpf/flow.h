/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Window tracking of forwarded TCP flows (gateway role): canonical flow keys, the state machine
 * that follows each flow's segments, and every write to a flow entry. */
#ifndef RG_FLOW_H
#define RG_FLOW_H

#include "parse.h"
#include "maps.h"
#include "flow_state.h"

/*
 * Glossary. The flag values live in rstguard.h (the control plane reads them too).
 *
 * dflags[dir]: one byte per direction, written only by that direction's segments.
 *   RG_D_SYN         the side sent a SYN; d[dir].isn is its ISN
 *   RG_D_ACK         the side sent a segment with ACK; d[dir].ack is its highest ACK
 *   RG_D_FIN         the side sent a FIN
 *   RG_D_RST         a reset the side sent was accepted: the entry is closed
 *   high nibble      the window shift its SYN offered; RG_D_WS_NONE for none, or no SYN seen
 * fflags: the entry's history, written when it is created, re-opened or contested.
 *   RG_F_MIDSTREAM   mid-stream (below)
 *   RG_F_WS_UNKNOWN  the SYNs' window-scale options are not known: windows read with shift 14
 *   RG_F_CONTESTED   contested (below)
 *   RG_F_RESTARTED   restarted (below)
 * pending: a new handshake seen on a live (verified) 4-tuple; the one byte both directions write.
 *   RG_PEND_DIR0/1   that direction sent a SYN on the live entry; its d[].isn holds the ISN
 *   RG_PEND_SYNACK   the other side answered with a SYN-ACK: the entry is uncertain (below);
 *                    its d[].isn holds the SYN-ACK's ISN
 *
 * verified    Both sides seen and one acknowledged the other: the first round trip, which a
 *             blind forger cannot join (flow_verified). From then on a segment moves the state
 *             only when plausible: its ACK acknowledges data the other side sent, and it starts
 *             inside the other side's window (seg_plausible).
 * unverified  Not verified yet: one side seen, or two SYNs. Nothing tells the real endpoint from
 *             a blind forger in its name, so one-sided state is held to itself: a later segment
 *             of that side must continue it (seg_continues) and the other side's first one must
 *             acknowledge it.
 * contested   Unverified state that a segment contradicted. It may be a forger's, so the entry
 *             follows the newest segment and its RSTs pass as `unverified` (the endpoint judges,
 *             as without a filter) until the real endpoints' next exchange verifies it.
 * restarted   A contest replaced the entry by its newest segment: whatever went before, FINs
 *             included, is lost. Until the real endpoints' next exchange verifies the entry
 *             again, a SYN there starts a new handshake rather than a re-open.
 * mid-stream  Picked up from a segment other than a SYN (a flow older than its entry, or a
 *             restarted one): ISNs and window scale unknown, a FIN may have gone by unseen.
 * uncertain   A verified entry on whose 4-tuple a new handshake went by (a SYN, and a SYN-ACK
 *             from the other side): its endpoints may have lost the connection and opened a new
 *             one, or a forger who knows the 4-tuple sent both. Nothing tells which, so the entry
 *             keeps the state it has (a re-open never replaces it) and passes RSTs that are not
 *             exact for that state as `unverified`. A segment of the live connection itself,
 *             whose ACK a blind forger cannot place (seg_ack_current), ends the doubt; otherwise
 *             it lasts until the old state's timeout, counted from the live connection's last
 *             segment.
 *
 * Decision table of flow_update: what a non-RST segment does to its live entry. The first row
 * whose segment and entry match decides (flow_classify); its handler alone runs (flow_update).
 *
 *   ROW_SYN_REUSE          SYN on a finished entry (reset, or both FINs acked):
 *                            a new handshake replaces it (port reuse)
 *   ROW_SYN_FRESH          SYN on an unverified entry with no SYN, a restarted one, or a closing
 *                          one picked up mid-stream (its FINs may be lost):
 *                            a new handshake replaces it, contested until its SYN-ACK
 *   ROW_SYN_AGAIN          SYN from a side whose SYN is unanswered (not mid-stream):
 *                            a retransmission; another ISN contests
 *   ROW_SYN_CROSSED        SYN from a silent side, the other sent only a SYN:
 *                            kept beside it, contested
 *   ROW_SYN_REOPEN         SYN on an entry with both sides synchronized:
 *                            remembered (pending)
 *   ROW_SYN_CONTRADICTS    SYN on any other unverified entry:
 *                            contests it
 *   ROW_SYNACK_ANSWER      SYN-ACK acking the SYN held, from a side not synchronized:
 *                            starts the responder; verifies the entry
 *   ROW_SYNACK_REOPEN      SYN-ACK from the other side of a SYN remembered on a live entry:
 *                            the entry is uncertain
 *   ROW_SYNACK_UNVERIFIED  SYN-ACK on any other unverified entry:
 *                            continues it (a retransmission it was picked up from) or contests it
 *   ROW_ACK_PENDING        ACK on a verified entry a new handshake went by:
 *                            moves it only if its ACK is current, and then ends the doubt
 *   ROW_ACK_VERIFIED       ACK on a verified entry:
 *                            moves it if plausible, else nothing
 *   ROW_ACK_ONE_SIDED      ACK on an entry only its sender's side speaks for:
 *                            moves it if it continues that side, else contests it
 *   ROW_ACK_SYNS_ONLY      ACK on an entry both sides sent only SYNs to:
 *                            verifies and moves it if plausible, else contests it
 *   ROW_ACK_SECOND_SIDE    ACK, the sender's first segment, the other side seen:
 *                            picks the side up if plausible, else contests the entry
 *   ROW_IGNORE             anything else (neither SYN nor ACK, an ACK in a short first
 *                          fragment, a verified entry's SYN or SYN-ACK no row above takes):
 *                            nothing
 */
enum rg_row {
	ROW_IGNORE,
	ROW_SYN_REUSE,
	ROW_SYN_FRESH,
	ROW_SYN_AGAIN,
	ROW_SYN_CROSSED,
	ROW_SYN_REOPEN,
	ROW_SYN_CONTRADICTS,
	ROW_SYNACK_ANSWER,
	ROW_SYNACK_REOPEN,
	ROW_SYNACK_UNVERIFIED,
	ROW_ACK_PENDING,
	ROW_ACK_VERIFIED,
	ROW_ACK_ONE_SIDED,
	ROW_ACK_SYNS_ONLY,
	ROW_ACK_SECOND_SIDE,
};

/* Added to the kernel clock: lets tests move time; always 0 in production. */
__s64 rg_clock_offset = 0;

/* Seconds. The coarse clock is enough for timeouts and costs no clock-source read. */
static __always_inline __u32 rg_now(void)
{
	return (bpf_ktime_get_coarse_ns() + rg_clock_offset) / 1000000000ull;
}

/* Mask of rg_presence block indexes (its size minus one), set with the map size before load. */
const volatile __u32 cfg_presence_mask =
	RG_DEFAULT_FLOWS * RG_PRESENCE_BITS_PER_FLOW / RG_PRESENCE_BLOCK_BITS - 1;

/* Largest ack lag accepted when the sender's window is still small (as nf_conntrack's). */
#define RG_MIN_ACK_WINDOW 66000

static __always_inline __u32 seg_end(const struct pkt *p)
{
	return p->seq + p->payload + !!(p->flags & TCPF_SYN) + !!(p->flags & TCPF_FIN);
}

/* Writes both ports of a key with one 32-bit store. The key is read back at once as 32-bit
 * words (our hash, the map's hash and compare): a word load spanning two recent 16-bit stores
 * cannot be forwarded from the store buffer and stalls until they reach the cache. */
static __always_inline void key_ports(__u16 *port, __u16 a, __u16 b)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__u32 w = (__u32)a | (__u32)b << 16;
#else
	__u32 w = (__u32)a << 16 | b;
#endif

	__builtin_memcpy(port, &w, sizeof(w));
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
		key_ports(k->port, p->dport, p->sport);
	} else {
		k->addr[0] = p->saddr[0];
		k->addr[1] = p->daddr[0];
		key_ports(k->port, p->sport, p->dport);
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
		key_ports(k->port, p->dport, p->sport);
	} else {
		__builtin_memcpy(k->addr[0], p->saddr, 16);
		__builtin_memcpy(k->addr[1], p->daddr, 16);
		key_ports(k->port, p->sport, p->dport);
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
 * acknowledges data the other side really sent, and it starts inside the other side's window:
 * not past its right edge, nor more than a window below the other side's ACK. A sender has at
 * most a window unacknowledged, so even its retransmissions start no lower (a keepalive or a
 * window probe one lower still); a blind forger's sequence number lands there with odds of
 * two windows in 2^32 rather than one in two, which matters where windows are read with shift
 * 14 (mid-stream). A blind forger fails this and leaves no trace. */
static __always_inline int seg_plausible(const struct rg_flow *f, int s, const struct pkt *p)
{
	const struct rg_dir *ds = &f->d[s], *dr = &f->d[!s];
	__u8 rf = f->dflags[!s];
	__u32 ackwin = ds->max_win > RG_MIN_ACK_WINDOW ? ds->max_win : RG_MIN_ACK_WINDOW;

	if (seq_after(p->ack, dr->seq_end) || seq_before(p->ack, dr->seq_end - ackwin))
		return 0;
	if ((rf & RG_D_ACK) && !seq_in(p->seq, dr->ack - dr->max_win - 1, dr->ack + dr->max_win))
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
static __always_inline void flow_contest(struct rg_flow *f, int s, const struct pkt *p, __u32 now)
{
	struct rg_flow nf0 = {};

	if (((f->dflags[s] & (RG_D_SYN | RG_D_ACK)) == RG_D_SYN && !dir_seen(f->dflags[!s])) ||
	    !flow_new(&nf0, s, p, now)) {
		f->fflags |= RG_F_CONTESTED;
		f->last_seen = now;
		return;
	}
	nf0.fflags |= RG_F_CONTESTED | RG_F_RESTARTED;
	*f = nf0;
}

/* ---- predicates of the decision table ------------------------------------------------------ */

static __always_inline int is_syn(const struct pkt *p)
{
	return (p->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN;
}

/* A SYN here may open a new connection on a 4-tuple whose old one looks alive but may be over:
 * a contest restart keeps only the newest segment, and an entry picked up mid-stream may have
 * missed the FIN of the side that looks open. There the SYN starts a new handshake, tracked at
 * once, rather than leave the entry uncertain on the old state's long timeout. A restarted entry
 * the real endpoints have verified again is not one: the exchange shows the connection alive. */
static __always_inline int fins_may_be_lost(const struct rg_flow *f, int st)
{
	return (f->fflags & RG_F_RESTARTED) || ((f->fflags & RG_F_MIDSTREAM) && st == RG_ST_FIN_WAIT);
}

/* The sender's SYN is still unanswered: its peer has not spoken (and the entry has a handshake). */
static __always_inline int syn_unanswered(const struct rg_flow *f, int s)
{
	return !dir_seen(f->dflags[!s]) && (f->dflags[s] & RG_D_SYN) && !(f->fflags & RG_F_MIDSTREAM);
}

/* The peer sent only a SYN and the sender nothing yet. */
static __always_inline int peer_sent_only_syn(const struct rg_flow *f, int s)
{
	return !dir_seen(f->dflags[s]) && (f->dflags[!s] & (RG_D_SYN | RG_D_ACK)) == RG_D_SYN;
}

static __always_inline int both_synchronized(const struct rg_flow *f)
{
	return f->dflags[0] & f->dflags[1] & RG_D_ACK;
}

/* A SYN-ACK answers the SYN the entry holds for the other side (its first ISN or its latest
 * retransmission), coming from a side not yet synchronized, on an entry that has a handshake:
 * unanswered, or contested (a forged ACK or SYN in either name may have come first). */
static __always_inline int synack_answers_held_syn(const struct rg_flow *f, int s,
						   const struct pkt *p)
{
	__u8 sf = f->dflags[s], rf = f->dflags[!s];

	return !(sf & RG_D_ACK) && (rf & RG_D_SYN) &&
	       (!(rf & RG_D_ACK) || (f->fflags & RG_F_CONTESTED)) &&
	       !(f->fflags & RG_F_MIDSTREAM) &&
	       (p->ack == f->d[!s].seq_end || p->ack == f->d[!s].isn + 1);
}

/* A SYN-ACK from the other side of a SYN seen on the live entry. Whatever ISN it acks: one slot
 * per side holds the latest SYN's ISN, and a forged SYN between the real SYN and its SYN-ACK must
 * not hide a real re-open (a forger knows its own ISNs, so matching them proves nothing). */
static __always_inline int synack_answers_pending(const struct rg_flow *f, int s)
{
	return f->pending & (s ? RG_PEND_DIR0 : RG_PEND_DIR1);
}

/* A segment of the live connection itself: its ACK lies between the last one its sender sent and
 * the end of what its peer sent. A sender's ACK field never goes back and never acknowledges
 * unsent data, so every real segment (a retransmission too) has one there; a blind forger's lands
 * there with odds of the bytes in flight towards the sender, plus one, in 2^32. Both sides are
 * synchronized wherever it is asked. */
static __always_inline int seg_ack_current(const struct rg_flow *f, int s, const struct pkt *p)
{
	return seq_in(p->ack, f->d[s].ack, f->d[!s].seq_end);
}

/* ---- classification ------------------------------------------------------------------------ */

static __always_inline int classify_syn(const struct rg_flow *f, int s, int verified)
{
	int st = flow_state(f);

	if (state_over(st))
		return ROW_SYN_REUSE;
	if ((!verified && !((f->dflags[0] | f->dflags[1]) & RG_D_SYN)) || fins_may_be_lost(f, st))
		return ROW_SYN_FRESH;
	if (syn_unanswered(f, s))
		return ROW_SYN_AGAIN;
	if (peer_sent_only_syn(f, s))
		return ROW_SYN_CROSSED;
	if (both_synchronized(f))
		return ROW_SYN_REOPEN;
	return verified ? ROW_IGNORE : ROW_SYN_CONTRADICTS;
}

static __always_inline int classify_synack(const struct rg_flow *f, int s, const struct pkt *p,
					   int verified)
{
	if (synack_answers_held_syn(f, s, p))
		return ROW_SYNACK_ANSWER;
	if (synack_answers_pending(f, s))
		return ROW_SYNACK_REOPEN;
	return verified ? ROW_IGNORE : ROW_SYNACK_UNVERIFIED;
}

static __always_inline int classify_ack(const struct rg_flow *f, int s, const struct pkt *p,
					int verified)
{
	if (!(p->flags & TCPF_ACK) || p->partial)
		return ROW_IGNORE;
	if (verified)
		return f->pending ? ROW_ACK_PENDING : ROW_ACK_VERIFIED;
	if (!dir_seen(f->dflags[!s]))
		return ROW_ACK_ONE_SIDED;
	if (dir_seen(f->dflags[s]))
		return ROW_ACK_SYNS_ONLY;
	return ROW_ACK_SECOND_SIDE;
}

/* The row of the decision table (top of this file) that a segment of direction s takes. */
static __always_inline int flow_classify(const struct rg_flow *f, int s, const struct pkt *p)
{
	int verified = flow_verified(f);

	if (is_syn(p))
		return classify_syn(f, s, verified);
	if (p->flags & TCPF_SYN)
		return classify_synack(f, s, p, verified);
	return classify_ack(f, s, p, verified);
}

/* ---- handlers, one per row --------------------------------------------------------------- */

/* ROW_SYN_REUSE, ROW_SYN_FRESH: a new handshake replaces the entry. Port reuse needs nothing
 * more. Elsewhere the refusal of this SYN must be recognised, and so must a reset of the old
 * side: contested until the SYN-ACK. A forger gets "no filter" for a few segments there, and
 * only on an entry it could contest anyway. */
static __always_inline void syn_new_handshake(struct rg_flow *f, int s, const struct pkt *p,
					      __u32 now, __u8 fflags)
{
	struct rg_flow nf0 = {};

	dir_init(&nf0, s, p, RG_D_SYN | (p->wscale << 4));
	nf0.fflags = fflags;
	nf0.last_seen = now;
	*f = nf0;
}

/* ROW_SYN_AGAIN: the initiator's SYN again, its peer unheard. A retransmission keeps the ISN; a
 * new ISN is a new attempt or a forgery. The first ISN and the latest end are both kept (the
 * verdict accepts the refusal of either) and the SYN-ACK settles which was real. An initiator
 * that went on with ACKs (its return path bypasses us) is not rewound. */
static __always_inline void syn_again(struct rg_flow *f, int s, const struct pkt *p)
{
	struct rg_dir *ds = &f->d[s];
	__u8 sf = f->dflags[s], nf;

	if (p->seq != ds->isn && seg_end(p) != ds->seq_end)
		f->fflags |= RG_F_CONTESTED;
	if (sf & RG_D_ACK)
		return;
	/* The latest SYN's window scale too: the SYN-ACK that acks its end reads it (see
	 * synack_answer for one that acks the first). */
	ds->seq_end = seg_end(p);
	nf = (sf & 0x0f) | (p->wscale << 4);
	if (nf != sf)
		f->dflags[s] = nf;
}

/* ROW_SYN_CROSSED: simultaneous open, or a SYN forged in either name. Kept, so that the refusal
 * of either is recognised, but contested: no band comes of two SYNs until one side acknowledges
 * the other. */
static __always_inline void syn_crossed(struct rg_flow *f, int s, const struct pkt *p)
{
	dir_init(f, s, p, RG_D_SYN | (p->wscale << 4));
	f->fflags |= RG_F_CONTESTED;
}

/* ROW_SYN_REOPEN: a SYN on a live flow, the peer lost its state and opens anew on the same
 * 4-tuple, or a forgery. Only remembered (d[s].isn is unused once synchronized); the old state
 * stays in force. Each direction keeps its own bit, so a SYN forged in the other's name does not
 * hide the refusal of this one. The pending byte is shared by both directions; a lost update
 * only delays recognition to the next retransmitted SYN. */
static __always_inline void syn_reopen(struct rg_flow *f, int s, const struct pkt *p)
{
	f->d[s].isn = p->seq;
	f->pending |= s ? RG_PEND_DIR1 : RG_PEND_DIR0;
}

/* ROW_SYNACK_ANSWER: the answer to the SYN held, also over a SYN claimed in the responder's name
 * (only the real responder knows the ISN it acks). It pins the initiator to that ISN, undoing
 * any forged SYN or ACK in the initiator's name meanwhile (the real initiator is silent until it
 * gets this answer), and so verifies a contested entry. */
static __always_inline void synack_answer(struct rg_flow *f, int s, const struct pkt *p, __u32 now)
{
	struct rg_dir di = { .isn = p->ack - 1, .seq_end = p->ack, .max_win = f->d[!s].max_win };
	/* It answers the first of two SYNs with other ISNs: the window scale kept is the later
	 * one's, so the largest legal shift is assumed instead. */
	int first = (f->fflags & RG_F_CONTESTED) && p->ack != f->d[!s].seq_end;

	/* An ACK claimed in its name went before the answer it needed: not its. */
	dir_set(f, !s, &di, f->dflags[!s] & ~RG_D_ACK);
	dir_init(f, s, p, RG_D_SYN | RG_D_ACK | (p->wscale << 4));
	f->fflags = (f->fflags & ~(RG_F_CONTESTED | RG_F_RESTARTED)) | (first ? RG_F_WS_UNKNOWN : 0);
	f->last_seen = now;
}

/* ROW_SYNACK_REOPEN: a new handshake went by on the live 4-tuple. A forger who knows it can send
 * one (SYN, SYN-ACK, ACK) and so can endpoints that lost the old connection: the entry becomes
 * uncertain, its old state still in force, and never takes the new numbers. Were it to, a forger
 * would make the real connection's segments implausible for good and its resets dropped; kept
 * as it is, the new connection's resets pass as `unverified` until the old state times out, and
 * the real connection's next segment ends the doubt. */
static __always_inline void synack_reopen(struct rg_flow *f, int s, const struct pkt *p)
{
	f->d[s].isn = p->seq;
	f->pending |= RG_PEND_SYNACK;
}

/* ROW_SYNACK_UNVERIFIED: a retransmission of the SYN-ACK an entry was picked up from continues
 * it (its data starts after the SYN); anything else contradicts. */
static __always_inline void synack_unverified(struct rg_flow *f, int s, const struct pkt *p)
{
	__u8 sf = f->dflags[s], rf = f->dflags[!s];
	struct pkt q = *p;

	q.seq++;
	if (!(dir_seen(sf) && !dir_seen(rf) && seg_continues(&f->d[s], sf, &q)) &&
	    !(!dir_seen(sf) && (f->fflags & RG_F_MIDSTREAM) && seg_plausible(f, s, &q)))
		f->fflags |= RG_F_CONTESTED;
}

/* A plausible segment moves its side forward: highest end, highest ACK, largest window, flags. */
static __always_inline void seg_advance(struct rg_flow *f, int s, const struct pkt *p, __u32 now)
{
	struct rg_dir *ds = &f->d[s];
	__u8 sf = f->dflags[s], nf;
	__u32 end = seg_end(p), win = (__u32)p->win << flow_wscale(f, s);

	if (seq_after(end, ds->seq_end))
		ds->seq_end = end;
	if (!(sf & RG_D_ACK) || seq_after(p->ack, ds->ack))
		ds->ack = p->ack;
	if (win > ds->max_win)
		ds->max_win = win;
	nf = sf | RG_D_ACK | ((p->flags & TCPF_FIN) ? RG_D_FIN : 0);
	if (nf != sf)
		f->dflags[s] = nf;
	if (f->last_seen != now)
		f->last_seen = now;
}

/* A segment that would widen its sender's side (it ends past the highest end seen) while
 * acknowledging less than that sender already did. A sender's ACK field never goes back, and its
 * newest data goes out after everything it sent before, so it is not the sender's: a blind
 * forger's ACK lands in the few values a real one may take with odds of the data in flight in
 * 2^32. Without this, a plausible forgery (one in ~150,000 tries at Linux's 64 KiB windows read
 * with shift 14, mid-stream) would move the band's upper edge by up to a window. */
static __always_inline int seg_widens_behind_own_ack(const struct rg_flow *f, int s,
						     const struct pkt *p)
{
	return (f->dflags[s] & RG_D_ACK) && seq_after(seg_end(p), f->d[s].seq_end) &&
	       seq_before(p->ack, f->d[s].ack);
}

/* ROW_ACK_VERIFIED: a blind forger's segment is implausible and leaves no trace. */
static __always_inline void ack_verified(struct rg_flow *f, int s, const struct pkt *p, __u32 now)
{
	if (seg_plausible(f, s, p) && !seg_widens_behind_own_ack(f, s, p))
		seg_advance(f, s, p, now);
}

/* ROW_ACK_PENDING: a SYN (and maybe its SYN-ACK) went by on the live 4-tuple. Only a segment of
 * the live connection itself (plausible, its ACK current) moves the entry, and it shows the old
 * connection alive: the re-open was stale or forged, the doubt is over. Plausible alone is not
 * enough: on an entry picked up mid-stream (windows read with shift 14) a blind forger sends one
 * in a few tries, and ending the doubt would leave a real new connection's resets judged against
 * the old state. Nor does any other segment refresh the entry: an uncertain entry ages on its
 * old state's clock, so once the old connection would have timed out the new one is picked up
 * afresh. */
static __always_inline void ack_pending(struct rg_flow *f, int s, const struct pkt *p, __u32 now)
{
	if (!seg_plausible(f, s, p) || !seg_ack_current(f, s, p))
		return;
	f->pending = 0;
	seg_advance(f, s, p, now);
}

/* ROW_ACK_ONE_SIDED: only this side seen so far: the segment must continue it. */
static __always_inline void ack_one_sided(struct rg_flow *f, int s, const struct pkt *p, __u32 now)
{
	if (seg_continues(&f->d[s], f->dflags[s], p))
		seg_advance(f, s, p, now);
	else
		flow_contest(f, s, p, now);
}

/* ROW_ACK_SYNS_ONLY: both sides sent only SYNs (simultaneous open, or one of them forged): this
 * one must acknowledge the other's, which makes the first round trip. */
static __always_inline void ack_syns_only(struct rg_flow *f, int s, const struct pkt *p, __u32 now)
{
	if (!seg_plausible(f, s, p)) {
		flow_contest(f, s, p, now);
		return;
	}
	f->fflags &= ~(RG_F_CONTESTED | RG_F_RESTARTED);
	seg_advance(f, s, p, now);
}

/* ROW_ACK_SECOND_SIDE: a flow picked up mid-stream, or one whose SYN-ACK went another way while
 * its initiator went on with ACKs (asymmetric return path). In a true SYN-SENT (the other side
 * sent only its SYN) an ACK without SYN-ACK is bogus. */
static __always_inline void ack_second_side(struct rg_flow *f, int s, const struct pkt *p,
					    __u32 now)
{
	if ((!(f->fflags & RG_F_MIDSTREAM) && !(f->dflags[!s] & RG_D_ACK)) ||
	    !seg_plausible(f, s, p)) {
		flow_contest(f, s, p, now);
		return;
	}
	f->fflags = (f->fflags & ~(RG_F_CONTESTED | RG_F_RESTARTED)) |
		    ((f->fflags & RG_F_MIDSTREAM) ? 0 : RG_F_WS_UNKNOWN);
	dir_init(f, s, p, RG_D_ACK | (RG_D_WS_NONE << 4) | ((p->flags & TCPF_FIN) ? RG_D_FIN : 0));
	if (s)
		f->d[1].max_win = (__u32)p->win << 14;
	else
		f->d[0].max_win = (__u32)p->win << 14;
	f->last_seen = now;
}

/*
 * Follows one non-RST segment of direction s on a live entry: classify, then dispatch.
 *
 * Concurrency: the two directions of a flow may run on two CPUs at once (one per interface).
 * Each direction writes only its own d[dir] and dflags[dir]; every field is a naturally aligned
 * word or byte written with one store, so a reader never sees a torn value, and all of them only
 * move forward. The RST check reads the receiver's ack and the sender's seq_end: a stale ack only
 * lowers the lower bound of the band, never hides the exact value. The writes of both halves
 * (a new handshake on a finished or unverified entry, the SYN-ACK pinning a silent initiator, a
 * contested entry restarting) happen when the other side is over, silent or unverified.
 * last_seen is last-writer-wins; either value is recent.
 */
static __always_inline void flow_update(struct rg_flow *f, int s, const struct pkt *p, __u32 now)
{
	switch (flow_classify(f, s, p)) {
	case ROW_SYN_REUSE:
		syn_new_handshake(f, s, p, now, 0);
		break;
	case ROW_SYN_FRESH:
		syn_new_handshake(f, s, p, now, RG_F_CONTESTED);
		break;
	case ROW_SYN_AGAIN:
		syn_again(f, s, p);
		break;
	case ROW_SYN_CROSSED:
		syn_crossed(f, s, p);
		break;
	case ROW_SYN_REOPEN:
		syn_reopen(f, s, p);
		break;
	case ROW_SYN_CONTRADICTS:
		f->fflags |= RG_F_CONTESTED;
		break;
	case ROW_SYNACK_UNVERIFIED:
		synack_unverified(f, s, p);
		break;
	case ROW_SYNACK_ANSWER:
		synack_answer(f, s, p, now);
		break;
	case ROW_SYNACK_REOPEN:
		synack_reopen(f, s, p);
		break;
	case ROW_ACK_PENDING:
		ack_pending(f, s, p, now);
		break;
	case ROW_ACK_VERIFIED:
		ack_verified(f, s, p, now);
		break;
	case ROW_ACK_ONE_SIDED:
		ack_one_sided(f, s, p, now);
		break;
	case ROW_ACK_SYNS_ONLY:
		ack_syns_only(f, s, p, now);
		break;
	case ROW_ACK_SECOND_SIDE:
		ack_second_side(f, s, p, now);
		break;
	default:
		break;
	}
}

/* ---- what an RST does to its entry ----------------------------------------------------------- */

/* verdict.h judges an RST against the entry; what follows for the entry is written here. */
enum rg_rst_fx {
	RG_FX_NONE,        /* nothing to write */
	RG_FX_CLOSE,       /* an accepted reset closes the entry, unless only monitored */
};

struct rg_rst_note {
	struct rg_flow *f; /* the entry judged against; NULL: none, or timed out */
	__u32 now;
	int dir;           /* the RST's direction */
	int fx;            /* enum rg_rst_fx */
};

static __always_inline void flow_rst_apply(const struct rg_rst_note *n, int reason,
					   const struct rg_policy *pol)
{
	struct rg_flow *f = n->f;

	if (!f || n->fx != RG_FX_CLOSE || (pol->bits & RG_P_MONITOR))
		return;
	if (reason != RG_R_VALID && !(reason == RG_R_TIMEWAIT && !(pol->bits & RG_P_TIMEWAIT_DROP)))
		return;
	if (f->dflags[n->dir] & RG_D_RST)
		return;
	f->dflags[n->dir] |= RG_D_RST;
	/* The CLOSED timeout runs from the reset, not from the last data. */
	f->last_seen = n->now;
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

static __always_inline struct rg_presence_blk *presence_block(__u64 h,
								struct rg_presence_blk *bits)
{
	__u32 idx = rg_presence_index(h, cfg_presence_mask);

	rg_presence_bits(h, bits);
	return bpf_map_lookup_elem(&rg_presence, &idx);
}

/* All of the key's bits set: the key (or one sharing its bits) was inserted once. A missing
 * block (cannot happen: an array) says present, so the flow table decides. */
static __always_inline int presence_has(const struct rg_presence_blk *b,
					const struct rg_presence_blk *bits)
{
	return !b || ((b->w[0] & bits->w[0]) == bits->w[0] && (b->w[1] & bits->w[1]) == bits->w[1]);
}

/*
 * The flow of an RST: the key is built and hashed once, and the presence filter answers "none"
 * for most blind RSTs without touching the cache-cold flow table. The filter's bits are never
 * cleared, so it is also the table's memory: *seen tells that the 4-tuple (or one sharing its
 * bits) had an entry once, which the LRU may since have evicted.
 */
static __always_inline struct rg_flow *flow_find_rst(const struct pkt *p, int *dir, int *seen)
{
	struct rg_presence_blk bits, *b;

	*seen = 0;
	if (p->v6) {
		struct rg_flow_key6 k = {};

		*dir = flow_key6(p, &k);
		b = presence_block(rg_key_hash((const __u32 *)&k, sizeof(k) / 4), &bits);
		if (!presence_has(b, &bits))
			return NULL;
		*seen = 1;
		return bpf_map_lookup_elem(&rg_flows6, &k);
	} else {
		struct rg_flow_key4 k = {};

		*dir = flow_key4(p, &k);
		b = presence_block(rg_key_hash((const __u32 *)&k, sizeof(k) / 4), &bits);
		if (!presence_has(b, &bits))
			return NULL;
		*seen = 1;
		return bpf_map_lookup_elem(&rg_flows4, &k);
	}
}

/* Inserts the entry and, only then, sets its presence bits: a reader that sees the bits finds
 * the entry. Returns the key's hash through *h. */
static __always_inline long flow_insert(const struct pkt *p, const struct rg_flow *f, __u64 *h)
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
	struct rg_presence_blk bits, *b;
	struct rg_flow *f, nf = {};
	__u64 h;
	int dir;

	f = flow_find(p, &dir);
	if (f && !flow_expired(f, pol, now)) {
		flow_update(f, dir, p, now);
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
	b = presence_block(h, &bits);
	/* Atomic: another CPU may be setting other bits of the same block. */
	if (b && (b->w[0] & bits.w[0]) != bits.w[0])
		__sync_fetch_and_or(&b->w[0], bits.w[0]);
	if (b && (b->w[1] & bits.w[1]) != bits.w[1])
		__sync_fetch_and_or(&b->w[1], bits.w[1]);
	return RG_R_FLOW_CREATED;
}

#endif
