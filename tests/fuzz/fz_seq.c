// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Target "seq": a legitimate TCP connection (handshake or mid-stream, data, FINs, resets, port
 * reuse) interleaved with forged segments and resets, against the gateway's flow table or a
 * local socket that follows the connection. The oracle:
 *   clean input (no forged non-RST segment yet): every reason is predicted exactly by a gateway
 *     view fed the legitimate segments only, or by SPEC 2 against the socket (host role);
 *   blind forgeries (forged segments whose ACK lands nowhere near the real sequence space):
 *     a legitimate reset the view calls valid must stay valid, and a forged one must not be
 *     valid unless the legitimate view says so (SPEC 3's band) or a documented exception holds;
 *   informed forgeries (the forger hit the window): the per-packet invariants only. */
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "input.h"
#include "pkt.h"

enum { CLEAN, BLIND, UNSURE };
#define FZ_MAX_SYNS 128
static const char *const mode_name[] = { "clean", "blind", "unsure" };

/* Kernel TCP states used for the seeded local socket. */
enum { K_ESTABLISHED = 1, K_SYN_SENT, K_SYN_RECV, K_FIN_WAIT1, K_FIN_WAIT2, K_TIME_WAIT, K_CLOSE,
       K_CLOSE_WAIT, K_LAST_ACK, K_LISTEN, K_CLOSING, K_NEW_SYN_RECV };

/* One real endpoint: the ground truth the forger does not know. */
struct ep {
	__u32 iss, snd_nxt, rcv_nxt;
	__u32 last_ack;         /* ACK field of its last segment */
	__u16 win;              /* window field it advertises */
	__u8 ws;                /* window-scale option of its SYN, M_WS_NONE when none */
	int last_syn;           /* its last segment was a SYN: that window is not scaled */
	int fin, fin_first;     /* sent a FIN; before receiving the peer's */
	int got_fin;            /* received the peer's FIN */
};

/* The gateway's view of the flow, fed legitimate segments only (SPEC 3: per direction the ISN,
 * highest sequence end, last ACK, largest window, window scale). Indexed by canonical direction. */
struct gdir {
	int syn, ack, fin, rst;
	__u32 isn, end, ackv, maxwin;
	__u8 ws;
};
struct gview {
	int exists, midstream, wsunk;
	int gone;               /* table pressure evicted the entry: tracked before, none now */
	__u32 last_seen;
	struct gdir d[2];
};

struct seq {
	__u32 role, l3;
	int v6, vlans;
	int host;               /* RSTs judged against the local socket */
	int local;              /* index of the local endpoint (host semantics) */
	struct ep e[2];         /* 0 = initiator A, 1 = responder B */
	int phase;              /* 0 idle, 1 SYN sent, 2 SYN-ACK sent, 3 established, 4 over */
	int cdir[2];            /* canonical direction of frames endpoint X sends */
	const char *addr[2];
	__u16 port[2];
	struct gview g;
	int mode;
	__u32 syn_seq[2][FZ_MAX_SYNS]; /* SYN sequence numbers (and ends) per canonical direction */
	int nsyn[2];
	__u32 last_fseq, last_fack;
	__u32 fend[2][16];      /* sequence ends of forged segments, per canonical direction */
	__u32 fack[2][16];      /* and their ACK fields */
	int nfend[2];
	int restarted;          /* a contest restarted the entry at some point (its FINs may be lost) */
	/* host role */
	int stack_synced;       /* the stack has consumed everything XDP passed */
	__u32 stack_rcv;        /* local socket's rcv_nxt as the stack has it */
	__u32 stack_wup;
	int stack_rfin;         /* the stack consumed the remote FIN */
	int sock_gone;          /* reset or fully closed */
	int have_recent;        /* recent-data entry: 0 none, 1 anchored, 2 unanchored */
	__u32 recent;
};

static const __u32 timeouts[RG_ST_MAX] = RG_TIMEOUTS_DEFAULT;

static __u32 now_s(void)
{
	return (__u32)(shim.now_ns / 1000000000ull);
}

static void set_mode(struct seq *s, int mode, const char *why)
{
	if (mode > s->mode) {
		if (fz_verbose)
			printf("  packet %d: %s -> %s (%s)\n", fz.step, mode_name[s->mode],
			       mode_name[mode], why);
		s->mode = mode;
	}
}

static int pend_syn_has(const struct seq *s, int dir, __u32 v)
{
	for (int i = 0; i < s->nsyn[dir]; i++)
		if (s->syn_seq[dir][i] == v)
			return 1;
	return 0;
}

/* Every SYN counts, the first as much as the latest (the gateway keeps the first ISN), so none
 * is overwritten; past the table's end the oracle can no longer say which refusals are real
 * (K42: a SYN went unrecorded and its refusal was taken for a forgery). */
static void note_syn(struct seq *s, int dir, __u32 seq)
{
	if (pend_syn_has(s, dir, seq))
		return;
	if (s->nsyn[dir] == FZ_MAX_SYNS) {
		set_mode(s, UNSURE, "more SYN numbers than the oracle records");
		return;
	}
	s->syn_seq[dir][s->nsyn[dir]++] = seq;
}

/* The forger's own edges: where its segments in a direction's name ended (the newest 16). */
static void note_fend(struct seq *s, int dir, __u32 end, __u32 ack)
{
	s->fack[dir][s->nfend[dir] % 16] = ack;
	s->fend[dir][s->nfend[dir]++ % 16] = end;
}

/* An RST in direction dir at an edge the forger supplied: the end of its own segment in that
 * name, or the ACK of one in the other name (the one-way rules' two edges). */
static int forged_edge(const struct seq *s, int dir, __u32 seq)
{
	for (int i = 0; i < s->nfend[dir] && i < 16; i++)
		if (s->fend[dir][i] == seq)
			return 1;
	for (int i = 0; i < s->nfend[!dir] && i < 16; i++)
		if (s->fack[!dir][i] == seq)
			return 1;
	return 0;
}

/* Does an ACK land on the forger's own data in direction dir (at or below one of its ends)? */
static int fend_acked(const struct seq *s, int dir, __u32 ack)
{
	for (int i = 0; i < s->nfend[dir] && i < 16; i++)
		if (m_in(ack, s->fend[dir][i] - (65535u << 14) - 66000, s->fend[dir][i]))
			return 1;
	return 0;
}

/* The data plane's entry for the 4-tuple of a parsed frame: 1 found. */
static int dp_entry(const struct mpkt *mp, struct rg_flow *f)
{
	if (mp->v6) {
		struct rg_flow_key6 k;

		fz_key6(mp, &k);
		return dp_flow6(&k, f) == 0;
	} else {
		struct rg_flow_key4 k;

		fz_key4(mp, &k);
		return dp_flow4(&k, f) == 0;
	}
}

static int dp_seen(__u8 df)
{
	return df & (RG_D_SYN | RG_D_ACK);
}

/* Both sides seen and one of them acknowledged the other: the gateway takes it as verified. */
static int dp_round_trip(int found, const struct rg_flow *f)
{
	return found && dp_seen(f->dflags[0]) && dp_seen(f->dflags[1]) &&
	       ((f->dflags[0] | f->dflags[1]) & RG_D_ACK);
}

/* May the gateway pass an RST as `unverified` here (bpf/flow.h, glossary)? Where the entry is
 * contested short of its first round trip, or only a SYN speaks for one side with the other
 * silent (it cannot show that no older connection holds the 4-tuple), or a new handshake went by
 * on a verified entry (uncertain). Without an entry it is the business of whatever remembers
 * flows the table lost. */
static int dp_may_be_unverified(int found, const struct rg_flow *f)
{
	int rt = dp_round_trip(found, f);

	if (!found)
		return 1;
	if (!rt && (f->fflags & RG_F_CONTESTED))
		return 1;
	for (int d = 0; d < 2; d++)
		if ((f->dflags[d] & (RG_D_SYN | RG_D_ACK)) == RG_D_SYN && !dp_seen(f->dflags[!d]))
			return 1;
	return rt && (f->pending & RG_PEND_SYNACK);
}

/* ---- the gateway view ---------------------------------------------------------------------- */

static int g_seen(const struct gdir *d)
{
	return d->syn || d->ack;
}

static int g_fin_acked(const struct gview *g, int d)
{
	return g->d[d].fin && g->d[!d].ack && !m_before(g->d[!d].ackv, g->d[d].end);
}

static int g_state(const struct gview *g)
{
	const struct gdir *a = &g->d[0], *b = &g->d[1];

	if (a->rst || b->rst)
		return RG_ST_CLOSED;
	if (a->fin && b->fin && g_fin_acked(g, 0) && g_fin_acked(g, 1))
		return RG_ST_TIME_WAIT;
	if (a->fin || b->fin)
		return RG_ST_FIN_WAIT;
	if (g->midstream)
		return g_seen(a) && g_seen(b) ? RG_ST_ESTABLISHED : RG_ST_ONE_WAY;
	/* A SYN whose sender goes on with ACKs while its answers never come by: asymmetric. */
	if (!g_seen(a) || !g_seen(b))
		return (a->ack || b->ack) ? RG_ST_ONE_WAY : RG_ST_SYN_SENT;
	if (a->ack && b->ack)
		return RG_ST_ESTABLISHED;
	if (a->syn && b->syn)
		return RG_ST_SYN_RECV;
	return RG_ST_SYN_SENT;
}

static int g_live(const struct gview *g)
{
	return g->exists && !g->gone && !(now_s() - g->last_seen > timeouts[g_state(g)]);
}

/* Shift of a direction's windows: both SYNs must carry the option; unknown means the largest. */
static __u32 g_scale(const struct gview *g, int d)
{
	if (g->midstream || g->wsunk)
		return 14;
	if (g->d[d].ws == M_WS_NONE || g->d[!d].ws == M_WS_NONE)
		return 0;
	return g->d[d].ws;
}

static __u32 seg_end(const struct mpkt *p)
{
	return p->seq + p->payload + !!(p->flags & M_SYN) + !!(p->flags & M_FIN);
}

/* A first segment seen mid-stream (no handshake): window scale unknown, so the largest. */
static void g_pickup(struct gdir *d, const struct mpkt *p)
{
	memset(d, 0, sizeof(*d));
	d->ack = 1;
	d->fin = !!(p->flags & M_FIN);
	d->end = seg_end(p);
	d->ackv = p->ack;
	d->maxwin = (__u32)p->win << 14;
	d->ws = M_WS_NONE;
}

/* Follows one legitimate non-RST segment in canonical direction s; returns 1 when the entry
 * was created (the data plane counts flow_created then). */
static int g_track(struct gview *g, int s, const struct mpkt *p)
{
	struct gdir *me = &g->d[s], *peer = &g->d[!s];
	int live = g_live(g), st = live ? g_state(g) : RG_ST_NONE;
	__u32 ackwin, win, end;

	if (p->partial)
		return 0;
	if ((p->flags & (M_SYN | M_ACK)) == M_SYN) {
		if (!live || st == RG_ST_CLOSED || st == RG_ST_TIME_WAIT ||
		    ((!g_seen(me) || !g_seen(peer)) && !me->syn && !peer->syn)) {
			/* A new connection, or a new one on a finished 4-tuple (port reuse), or a
			 * real handshake on an entry only one unverified direction spoke for. */
			memset(g, 0, sizeof(*g));
			g->exists = 1;
			g->last_seen = now_s();
			me->syn = 1;
			me->isn = p->seq;
			me->end = seg_end(p);
			me->maxwin = p->win;
			me->ws = p->wscale;
			g->d[!s].ws = 0;
			return !live;
		}
		/* A retransmitted SYN moves the end but not the ISN (both are acceptable acks). */
		if (!g_seen(peer) && me->syn && !g->midstream) {
			me->end = seg_end(p);
			return 0;
		}
		/* Simultaneous open (or a SYN forged in the peer's name first): kept beside it. */
		if (!g_seen(me) && peer->syn && !peer->ack) {
			memset(me, 0, sizeof(*me));
			me->syn = 1;
			me->isn = p->seq;
			me->end = seg_end(p);
			me->maxwin = p->win;
			me->ws = p->wscale;
		}
		return 0;
	}
	if (!live) {
		if (!(p->flags & M_ACK))
			return 0;
		/* Mid-stream pickup: a SYN-ACK counts as its data, its options unknown. */
		memset(g, 0, sizeof(*g));
		g->exists = 1;
		g->midstream = 1;
		g->last_seen = now_s();
		{
			struct mpkt q = *p;

			q.seq += !!(p->flags & M_SYN);
			q.flags &= (__u8)~M_SYN;
			g_pickup(me, &q);
		}
		g->d[!s].ws = 0;
		return 1;
	}
	if (p->flags & M_SYN) {
		/* SYN-ACK: starts the responder's side if it answers the SYN seen. */
		if (!me->ack && peer->syn && !peer->ack && !g->midstream &&
		    (p->ack == peer->end || p->ack == peer->isn + 1)) {
			peer->isn = p->ack - 1;
			peer->end = p->ack;
			memset(me, 0, sizeof(*me));
			me->syn = me->ack = 1;
			me->isn = p->seq;
			me->end = seg_end(p);
			me->ackv = p->ack;
			me->maxwin = p->win;
			me->ws = p->wscale;
			g->last_seen = now_s();
		}
		return 0;
	}
	if (!(p->flags & M_ACK))
		return 0;
	/* Plausible only if it acknowledges what the peer really sent and starts in its window. */
	ackwin = me->maxwin > 66000 ? me->maxwin : 66000;
	if (g_seen(peer)) {
		if (m_after(p->ack, peer->end) || m_before(p->ack, peer->end - ackwin))
			return 0;
		/* ... and starts inside it: not past its right edge, nor more than a window
		 * below its ACK (the sender has at most a window unacknowledged). */
		if (peer->ack && !m_in(p->seq, peer->ackv - peer->maxwin - 1,
				       peer->ackv + peer->maxwin))
			return 0;
	}
	if (!g_seen(me)) {
		/* The silent side is learned mid-stream, or once the other side has ACKed (its
		 * SYN-ACK took another path); never in a true SYN-SENT. */
		if (!g->midstream && !peer->ack)
			return 0;
		if (!g->midstream)
			g->wsunk = 1;
		g_pickup(me, p);
		g->last_seen = now_s();
		return 0;
	}
	end = seg_end(p);
	/* New data never carries an ACK below one its sender already sent. */
	if (me->ack && m_after(end, me->end) && m_before(p->ack, me->ackv))
		return 0;
	win = (__u32)p->win << g_scale(g, s);
	if (m_after(end, me->end))
		me->end = end;
	if (!me->ack || m_after(p->ack, me->ackv))
		me->ackv = p->ack;
	if (win > me->maxwin)
		me->maxwin = win;
	me->ack = 1;
	if (p->flags & M_FIN)
		me->fin = 1;
	g->last_seen = now_s();
	return 0;
}

/* SPEC 3: the receiver's RCV.NXT lies in [its last ACK, the sender's highest end]. */
static int g_judge(const struct gview *g, int s, const struct mpkt *p)
{
	const struct gdir *snd = &g->d[s], *rcv = &g->d[!s];
	__u32 lo, hi;
	int st;

	/* A 4-tuple the table held once (expired, or evicted) is untracked: the endpoint judges. */
	if (!g_live(g))
		return g->exists ? RG_R_UNTRACKED : RG_R_NO_FLOW;
	if (rcv->syn && !snd->ack) {
		/* Receiver in SYN-SENT (the sender acknowledged nothing): only the ACK is checked;
		 * if the receiver went on with ACKs, or the sender sent a SYN of its own
		 * (simultaneous open), the rules below apply too. */
		if ((p->flags & M_ACK) && (p->ack == rcv->end || p->ack == rcv->isn + 1))
			return RG_R_VALID;
		/* Only a SYN known: it cannot show that no older connection holds the 4-tuple (one
		 * the table lost), whose resets these may be. */
		if (!g_seen(snd) && !rcv->ack)
			return RG_R_UNVERIFIED;
	}
	/* One direction known: only its exact edge identifies a real reset. */
	if (!g_seen(rcv)) {
		if (p->seq == snd->end)
			return RG_R_VALID;
		return snd->syn && !snd->ack ? RG_R_UNVERIFIED : RG_R_ONE_WAY;
	}
	if (!g_seen(snd))
		return rcv->ack && p->seq == rcv->ackv ? RG_R_VALID : RG_R_ONE_WAY;
	if (rcv->ack)
		lo = rcv->ackv;
	else if (snd->syn)
		lo = snd->isn + 1;
	else
		return RG_R_ONE_WAY;
	hi = snd->end;
	st = g_state(g);
	/* After the sender's FIN, RCV.NXT-1 too; mid-stream that FIN may have gone by unseen. */
	if (m_in(p->seq, (snd->fin || g->midstream) ? lo - 1 : lo, hi))
		return st == RG_ST_TIME_WAIT ? RG_R_TIMEWAIT : RG_R_VALID;
	if (st != RG_ST_TIME_WAIT && m_in(p->seq, lo, hi + rcv->maxwin))
		return RG_R_INEXACT;
	return RG_R_OUT_OF_WINDOW;
}

/* A contest restart keeps only the newest segment, so a FIN the view saw may be missing from the
 * entry, which then ages on its state's timeout rather than FIN_WAIT's (K39). Where that is all
 * that ended the view, it is judged as if still live (the real connection may well be): is the
 * reset exact there? */
static int g_exact_if_fin_lost(const struct gview *g, int s, const struct mpkt *p,
			       const struct rg_flow *af, int restarted)
{
	struct gview live = *g;
	int lost = 0, r;

	if (!g->exists || !restarted)
		return 0;
	for (int d = 0; d < 2; d++)
		lost |= g->d[d].fin && !(af->dflags[d] & RG_D_FIN);
	if (!lost)
		return 0;
	live.last_seen = now_s();
	r = g_judge(&live, s, p);
	return r == RG_R_VALID || r == RG_R_TIMEWAIT;
}

/* The entry the view predicts, in the data plane's layout (rstguard.h), for comparison. */
static void g_entry(const struct gview *g, struct rg_flow *f)
{
	memset(f, 0, sizeof(*f));
	for (int d = 0; d < 2; d++) {
		const struct gdir *v = &g->d[d];

		f->d[d].isn = v->isn;
		f->d[d].seq_end = v->end;
		f->d[d].ack = v->ackv;
		f->d[d].max_win = v->maxwin;
		f->dflags[d] = (__u8)((v->syn ? RG_D_SYN : 0) | (v->ack ? RG_D_ACK : 0) |
				      (v->fin ? RG_D_FIN : 0) | (v->rst ? RG_D_RST : 0) | v->ws << 4);
	}
	f->last_seen = g->last_seen;
	f->fflags = (__u8)((g->midstream ? RG_F_MIDSTREAM : 0) | (g->wsunk ? RG_F_WS_UNKNOWN : 0));
}

/* Clean inputs: the data plane's entry is the view's, field by field. */
static void g_compare(const struct gview *g, const struct mpkt *mp)
{
	struct rg_flow want, got;
	int found;

	if (mp->v6) {
		struct rg_flow_key6 k;

		fz_key6(mp, &k);
		found = dp_flow6(&k, &got) == 0;
	} else {
		struct rg_flow_key4 k;

		fz_key4(mp, &k);
		found = dp_flow4(&k, &got) == 0;
	}
	if (!g->exists || g->gone) {
		if (found)
			fz_fail("gateway: an entry exists that no legitimate segment created");
		return;
	}
	g_entry(g, &want);
	if (!found || memcmp(&want, &got, sizeof(want))) {
		fz_fail("gateway: flow entry differs from the view");
		for (int i = 0; i < 2; i++) {
			const struct rg_flow *f = i ? &got : &want;

			printf("    %s: d0{isn %u end %u ack %u win %u fl 0x%02x} d1{isn %u end %u "
			       "ack %u win %u fl 0x%02x} seen %u ff 0x%x pend 0x%x\n",
			       i ? (found ? "data plane" : "data plane (none)") : "view", f->d[0].isn,
			       f->d[0].seq_end, f->d[0].ack, f->d[0].max_win, f->dflags[0], f->d[1].isn,
			       f->d[1].seq_end, f->d[1].ack, f->d[1].max_win, f->dflags[1],
			       f->last_seen, f->fflags, f->pending);
		}
	}
}

/* ---- frames ---------------------------------------------------------------------------- */

static size_t frame(const struct seq *s, int from, __u32 seq, __u32 ack, __u8 flags, __u16 win,
		    __u32 payload, __u8 ws, __u8 *buf, size_t cap)
{
	struct pktspec ps;

	memset(&ps, 0, sizeof(ps));
	ps.v6 = s->v6;
	ps.l3 = (int)s->l3;
	ps.vlans = s->vlans;
	ps.src = s->addr[from];
	ps.dst = s->addr[!from];
	ps.sport = s->port[from];
	ps.dport = s->port[!from];
	ps.seq = seq;
	ps.ack = ack;
	ps.flags = flags;
	ps.win = win ? win : 1;
	ps.payload = payload > 1400 ? 1400 : payload;
	if ((flags & M_SYN) && ws != M_WS_NONE) {
		ps.has_wscale = 1;
		ps.wscale = ws;
	}
	return pkt_build(buf, cap, &ps);
}

/* What bpf_fib_lookup answers: the destination is this machine, or nothing is forwarded. */
static int fib_local(void)
{
	return shim.fib_ret == BPF_FIB_LKUP_RET_NOT_FWDED || shim.fib_ret == BPF_FIB_LKUP_RET_FWD_DISABLED;
}

/* The recent-data cache (bpf/verdict.h, recent_note) for the one 4-tuple whose segments reach
 * the host: a segment continuing the entry moves it; otherwise one starting at most 64 KiB past
 * the socket's rcv_nxt anchors it, one without a connection socket leaves an unanchored entry
 * where no anchored one is, and anything else changes nothing. */
static void recent_model(struct seq *s, const struct mpkt *mp)
{
	const struct shim_sock *k = shim.nsocks ? &shim.socks[0] : NULL;
	int sock = k && m_sock_matches(k, mp) && k->state != K_LISTEN && k->state != K_CLOSE;
	__u32 nxt;

	if (s->have_recent && s->recent == mp->seq) {
		s->recent = seg_end(mp);
		return;
	}
	if (sock) {
		if (k->state == K_NEW_SYN_RECV)
			return;
		nxt = k->state == K_TIME_WAIT ? k->tw_rcv_nxt : k->rcv_nxt;
		if ((__u32)(mp->seq - nxt) > 65536)
			return;
		s->have_recent = 1;
	} else {
		if (s->have_recent == 1)
			return;
		s->have_recent = 2;
	}
	s->recent = seg_end(mp);
}

/* ---- the local socket (host role) ------------------------------------------------------ */

static void host_sync(struct seq *s)
{
	const struct ep *l = &s->e[s->local];

	s->stack_rcv = l->rcv_nxt;
	s->stack_wup = l->rcv_nxt;
	s->stack_rfin = l->got_fin;
	s->stack_synced = 1;
}

/* The socket the lookup finds, from the local endpoint's state as its stack has it. */
static void host_seed(struct seq *s)
{
	const struct ep *l = &s->e[s->local], *r = &s->e[!s->local];
	struct shim_sock *k = &shim.socks[0];
	__u32 scale = (l->ws != M_WS_NONE && r->ws != M_WS_NONE) ? l->ws : 0;
	int lfin_acked = l->fin && !m_before(r->last_ack, l->snd_nxt);

	shim.nsocks = 0;
	if (s->sock_gone || s->phase == 0)
		return;
	memset(k, 0, sizeof(*k));
	k->v6 = s->v6;
	inet_pton(s->v6 ? AF_INET6 : AF_INET, s->addr[!s->local], k->saddr);
	inet_pton(s->v6 ? AF_INET6 : AF_INET, s->addr[s->local], k->daddr);
	k->sport = htons(s->port[!s->local]);
	k->dport = htons(s->port[s->local]);
	k->snd_una = r->last_ack;
	k->snd_nxt = l->snd_nxt;
	k->rcv_nxt = s->stack_rcv;
	k->rcv_wup = s->stack_wup;
	k->rcv_wnd = l->last_syn ? l->win : (__u32)l->win << scale;
	if (s->local == 0 && s->phase <= 2) {
		/* The SYN-ACK is consumed only when the ACK answering it leaves (phase 3). */
		k->state = K_SYN_SENT;
		k->snd_una = l->iss;
	} else if (s->local == 1 && s->phase <= 2) {
		k->state = K_NEW_SYN_RECV;
		k->req_rcv_nxt = r->iss + 1;
		k->req_rcv_wnd = l->win;
	} else if (!s->stack_rfin && !l->fin) {
		k->state = K_ESTABLISHED;
	} else if (s->stack_rfin && !l->fin) {
		k->state = K_CLOSE_WAIT;
	} else if (!s->stack_rfin && l->fin) {
		k->state = lfin_acked ? K_FIN_WAIT2 : K_FIN_WAIT1;
	} else if (l->fin_first) {
		if (lfin_acked) {
			k->state = K_TIME_WAIT;
			k->tw_substate = K_TIME_WAIT;
			k->tw_rcv_nxt = s->stack_rcv;
			k->tw_rcv_wnd = k->rcv_wnd;
		} else {
			k->state = K_CLOSING;
		}
	} else if (!lfin_acked) {
		k->state = K_LAST_ACK;
	} else {
		return; /* fully closed: no socket */
	}
	shim.nsocks = 1;
}

/* ---- one packet ------------------------------------------------------------------------ */

/* RG_UNVERIFIED_WIN (bpf/flow.h) plus the smallest ack window: how far a one-sided entry lets a
 * segment of the side it has seen move. */
#define W_UNVERIFIED ((1u << 24) + 66000)

static int near_w(__u32 v, __u32 ref)
{
	return m_in(v, ref - W_UNVERIFIED, ref + W_UNVERIFIED);
}

/* After a forged segment (gateway role), given the entry before it: did the forger hit a window
 * the gateway must allow, or complete a round trip of its own? Then the oracle cannot tell. */
/* Has the data plane's entry timed out (so the next segment replaces it)? Read with the view's
 * rules: the entry's flags as a view. */
static int dp_expired(const struct rg_flow *f)
{
	struct gview g;

	memset(&g, 0, sizeof(g));
	g.exists = 1;
	g.midstream = !!(f->fflags & RG_F_MIDSTREAM);
	g.last_seen = f->last_seen;
	for (int d = 0; d < 2; d++) {
		g.d[d].syn = !!(f->dflags[d] & RG_D_SYN);
		g.d[d].ack = !!(f->dflags[d] & RG_D_ACK);
		g.d[d].fin = !!(f->dflags[d] & RG_D_FIN);
		g.d[d].rst = !!(f->dflags[d] & RG_D_RST);
		g.d[d].end = f->d[d].seq_end;
		g.d[d].ackv = f->d[d].ack;
	}
	return !g_live(&g);
}

static void forged_segment(struct seq *s, int from, int dir, const struct mpkt *mp, int bfound,
			   const struct rg_flow *bf)
{
	struct rg_flow af;
	int afound = dp_entry(mp, &af);
	/* After it too: a SYN may restart an entry whose FINs may be lost (flow.h, K35). */
	int two_sided = dp_round_trip(bfound, bf) && !dp_expired(bf) && dp_round_trip(afound, &af);
	const struct ep *me = &s->e[from], *peer = &s->e[!from];

	if (!(mp->flags & (M_SYN | M_ACK)))
		return;
	/* One-sided (or no) state: a segment continuing it may move by RG_UNVERIFIED_WIN. */
	if (!two_sided && (near_w(mp->seq, me->snd_nxt) || near_w(mp->seq, me->iss + 1) ||
			   ((mp->flags & M_ACK) && (near_w(mp->ack, peer->snd_nxt) ||
						    near_w(mp->ack, peer->iss + 1)))))
		set_mode(s, UNSURE, "forged segment within the window an unverified side may move");
	/* The forger's segments acknowledge each other and the gateway took them as its first
	 * round trip on the 4-tuple: nothing tells that from a real connection (swap which one
	 * is real and the same packets must be judged the other way). */
	if (dp_round_trip(afound, &af) && !dp_round_trip(bfound, bf) && (mp->flags & M_ACK) &&
	    fend_acked(s, !dir, mp->ack))
		set_mode(s, UNSURE, "forged segments built a round trip of their own");
	note_fend(s, dir, seg_end(mp), (mp->flags & M_ACK) ? mp->ack : seg_end(mp));
}

enum { LEGIT, FORGED };

/* Sends a frame from endpoint `from` (claimed, when forged) and checks its verdict. Returns the
 * XDP action, -1 when nothing was sent. */
static int emit(struct seq *s, int from, int kind, int variant, __u32 seq, __u32 ack, __u8 flags,
		__u16 win, __u32 payload, __u8 ws)
{
	__u8 buf[2048];
	size_t n;
	struct mpkt mp;
	struct fz_obs o;
	struct rg_flow bf, af;
	int dir, judged, expect = -1, bfound = 0, afound;

	if (s->host && from == s->local)
		return -1; /* XDP sees ingress only: the local end's segments are not judged */
	n = frame(s, from, seq, ack, flags, win, payload, ws, buf, sizeof(buf));
	if (!n)
		return -1;
	if (s->host) {
		host_seed(s);
	} else {
		m_parse(buf, n, (int)s->l3, &mp);
		bfound = mp.cls == M_TCP && dp_entry(&mp, &bf);
	}
	fz.step++;
	if (fz_verbose)
		printf("  [%s from %d]\n", kind == LEGIT ? "legit" : "forged", from);
	judged = fz_step(buf, n, &mp, &o);
	if (fz.failed)
		return o.xdp;
	if (mp.cls != M_TCP) {
		fz_fail("the frame builder's segment parsed as class %d", mp.cls);
		return o.xdp;
	}
	dir = mp.v6 ? ({ struct rg_flow_key6 k; fz_key6(&mp, &k); }) :
		      ({ struct rg_flow_key4 k; fz_key4(&mp, &k); });
	if (!s->host) {
		struct rg_flow nf;

		if (dp_entry(&mp, &nf) && (nf.fflags & RG_F_RESTARTED))
			s->restarted = 1;
	}

	if (!(mp.flags & M_RST)) {
		int created = 0;

		/* SYN-ACKs too: an RST acking one knows its ISN exactly. A refusal acks the whole
		 * segment (RFC 9293 3.10.7.1: SEG.SEQ + SEG.LEN, its data and FIN included). */
		if (mp.flags & M_SYN) {
			note_syn(s, dir, mp.seq);
			note_syn(s, dir, seg_end(&mp) - 1);
		}
		if (s->host) {
			if (mp.payload || (mp.flags & M_FIN)) {
				int was = s->have_recent;
				__u32 old = s->recent;

				recent_model(s, &mp);
				/* Only a forger who knows where the sender is can move the entry. */
				if (kind == FORGED && s->have_recent == 1 && (was != 1 || old != s->recent))
					set_mode(s, BLIND, "forged data segment at the sender's sequence");
			}
			return o.xdp;
		}
		if (kind == LEGIT)
			created = g_track(&s->g, dir, &mp);
		if (kind == FORGED)
			forged_segment(s, from, dir, &mp, bfound, &bf);
		if (s->mode == CLEAN) {
			int ev = created ? RG_R_FLOW_CREATED : -1;

			if (o.event != ev)
				fz_fail("flow event: expected %s, got %s", ev < 0 ? "none" :
					fz_reason_name[ev], o.event < 0 ? "none" : fz_reason_name[o.event]);
			g_compare(&s->g, &mp);
		}
		return o.xdp;
	}
	if (!judged)
		return o.xdp;

	if (s->host) {
		const struct shim_sock *k = shim.nsocks ? &shim.socks[0] : NULL;

		if (s->mode == UNSURE)
			return o.xdp;
		if (k && m_sock_matches(k, &mp) && k->state != K_LISTEN && k->state != K_CLOSE)
			expect = m_host_judge(k, &mp, s->have_recent == 1, s->recent);
		else
			expect = fib_local() ? RG_R_NO_FLOW : RG_R_UNVERIFIED;
		fz_expect(&o, expect, kind == LEGIT ? "host: legitimate reset" : "host: forged reset");
		/* SPEC: the exact reset of a live connection passes, lagging stack or not. */
		if (kind == LEGIT && variant == 0 && s->mode == CLEAN && k && o.reason != RG_R_VALID &&
		    o.reason != RG_R_TIMEWAIT)
			fz_fail("SPEC: host: the exact reset of a live connection was judged %s",
				fz_reason_name[o.reason]);
		return o.xdp;
	}

	/* Gateway role. `unverified` only ever comes from an entry that cannot tell (above). */
	afound = dp_entry(&mp, &af);
	if (o.reason == RG_R_UNVERIFIED && !dp_may_be_unverified(afound, &af))
		fz_fail("gateway: unverified verdict on an entry that is verified and certain, or "
			"one-sided and neither contested nor holding a lone SYN");
	expect = g_judge(&s->g, dir, &mp);
	if (s->mode == CLEAN) {
		fz_expect(&o, expect, kind == LEGIT ? "gateway: legitimate reset" :
			  "gateway: forged reset");
	} else if (s->mode == BLIND) {
		/* The invariant: no legitimate reset is dropped, whatever blind segments preceded it
		 * (forged handshakes on the live 4-tuple included) and whatever the table lost.
		 * Where the view passes it, so must the data plane (below); where the view leaves it
		 * to policy (no entry, one way), the data plane may too, but it never drops it for a
		 * reason the view does not give: out of window, inexact, a SYN-SENT's bad ack. */
		if (kind == LEGIT && o.reason != expect && m_drops(o.reason, fz.bits) &&
		    (o.reason == RG_R_OUT_OF_WINDOW || o.reason == RG_R_INEXACT ||
		     o.reason == RG_R_SYN_SENT_BAD_ACK))
			fz_fail("gateway: legitimate reset dropped as %s after blind forgeries (view: %s)",
				fz_reason_name[o.reason], fz_reason_name[expect]);
		/* A legitimate reset stays valid, or passes as unverified where forgeries
		 * contested the one-sided state it would be judged by; one hitting TIME-WAIT may
		 * pass as valid where the contest hid a FIN, and one the view calls valid may be
		 * timewait where the entry saw both FINs (a contested entry outlives the view's
		 * one-way timeout, K29). */
		if (kind == LEGIT && (expect == RG_R_VALID || expect == RG_R_TIMEWAIT) &&
		    o.reason != RG_R_UNVERIFIED && !(expect == RG_R_TIMEWAIT && o.reason == RG_R_VALID) &&
		    !(o.reason == RG_R_TIMEWAIT && afound && (af.dflags[0] & af.dflags[1] & RG_D_FIN)))
			fz_expect(&o, expect, "gateway: legitimate reset after blind forgeries");
		/* A forged reset is not valid unless the view says so (or calls it an exact
		 * TIME-WAIT reset, and the policy passes those or the entry was picked up or
		 * restarted mid-stream, where a FIN may have gone by unseen: K28, K33), it refuses
		 * a SYN seen on the 4-tuple (the documented SYN-SENT and re-open refusals), or it
		 * sits at an edge the forger's own segments supplied: the state it resets may be
		 * the forger's, and the endpoint judges it as without a filter. RCV.NXT-1 on an
		 * entry (re)started mid-stream is taken by design: a forger there knows RCV.NXT;
		 * the entry's RCV.NXT is the receiver's last ACK, which lags the view's while data
		 * is unacknowledged (K41: one value below a band already wider than the lag).
		 * So is an exact reset past the view's FIN_WAIT timeout where a contest lost that
		 * FIN (K39): the connection was half-closed, not over. */
		if (kind == FORGED && o.reason == RG_R_VALID && expect != RG_R_VALID &&
		    !(expect == RG_R_TIMEWAIT &&
		      (!m_drops(expect, fz.bits) || (af.fflags & RG_F_MIDSTREAM))) &&
		    !((af.fflags & RG_F_MIDSTREAM) &&
		      (mp.seq + 1 == s->e[!from].rcv_nxt ||
		       ((af.dflags[!dir] & RG_D_ACK) && mp.seq + 1 == af.d[!dir].ack))) &&
		    !((mp.flags & M_ACK) && pend_syn_has(s, !dir, mp.ack - 1)) &&
		    !forged_edge(s, dir, mp.seq) &&
		    !((expect == RG_R_NO_FLOW || expect == RG_R_UNTRACKED) && afound &&
		      g_exact_if_fin_lost(&s->g, dir, &mp, &af, s->restarted)))
			fz_fail("gateway: blind forged reset seq %u ack %u judged valid (view: %s)",
				mp.seq, mp.ack, fz_reason_name[expect]);
		/* A divergence leaves the entry where the view cannot follow it, except a pass as
		 * unverified where the view would not close the entry either. */
		if (o.reason != expect && !(o.reason == RG_R_UNVERIFIED && expect != RG_R_VALID &&
					    expect != RG_R_TIMEWAIT))
			set_mode(s, UNSURE, "verdict diverged from the view after blind forgeries");
	}
	/* An accepted reset closes the entry (CLOSED timeout from now), unless monitoring. */
	if (s->mode != UNSURE && s->g.exists && g_live(&s->g) &&
	    (expect == RG_R_VALID || (expect == RG_R_TIMEWAIT && !m_drops(expect, fz.bits))) &&
	    !s->g.d[dir].rst && !(fz.bits & RG_P_MONITOR)) {
		s->g.d[dir].rst = 1;
		s->g.last_seen = now_s();
	}
	if (s->mode == CLEAN)
		g_compare(&s->g, &mp);
	/* SPEC: with the handshake seen, both sides synchronized and no FIN or reset yet, the
	 * sender's SND.NXT is in the band: a legitimate exact reset must be valid. */
	if (s->mode == CLEAN && kind == LEGIT && variant == 0 && expect != RG_R_VALID &&
	    s->phase == 3 && !s->g.midstream && g_live(&s->g) && s->g.d[0].ack && s->g.d[1].ack &&
	    !s->g.d[0].fin && !s->g.d[1].fin && !s->g.d[0].rst && !s->g.d[1].rst)
		fz_fail("SPEC: gateway: the exact reset of a synchronized connection judged %s",
			fz_reason_name[expect]);
	return o.xdp;
}

/* ---- the legitimate connection ---------------------------------------------------------- */

static __u32 ep_scale(const struct seq *s, int x)
{
	return (s->e[0].ws != M_WS_NONE && s->e[1].ws != M_WS_NONE) ? s->e[x].ws : 0;
}

/* Room the receiver's last advertised window leaves the sender. */
static __u32 room(const struct seq *s, int x)
{
	const struct ep *y = &s->e[!x];
	__u32 wnd = y->last_syn ? y->win : (__u32)y->win << ep_scale(s, !x);
	__s32 r = (__s32)(y->last_ack + wnd - s->e[x].snd_nxt);

	return r > 0 ? (__u32)r : 0;
}

/* A segment from x carrying len bytes (and FIN): the peer receives it at once. */
static void legit_segment(struct seq *s, int x, __u32 len, int fin, __u32 retrans)
{
	struct ep *me = &s->e[x], *peer = &s->e[!x];
	__u32 seq = me->snd_nxt - retrans;

	if (s->host && x == s->local)
		host_sync(s); /* the local stack answers only after consuming what came in */
	me->last_ack = me->rcv_nxt;
	me->last_syn = 0;
	emit(s, x, LEGIT, 0, seq, me->rcv_nxt, (__u8)(M_ACK | (fin ? M_FIN : 0) | (len ? 0x08 : 0)),
	     me->win, retrans ? retrans : len, M_WS_NONE);
	if (!retrans) {
		me->snd_nxt += len + !!fin;
		peer->rcv_nxt += len + !!fin;
		if (fin) {
			me->fin = 1;
			me->fin_first = !me->got_fin;
			peer->got_fin = 1;
		}
	}
}

static void new_connection(struct seq *s, __u32 bump)
{
	for (int x = 0; x < 2; x++) {
		struct ep *e = &s->e[x];

		e->iss += bump * (x ? 7919u : 104729u);
		e->snd_nxt = e->rcv_nxt = e->last_ack = 0;
		e->fin = e->fin_first = e->got_fin = 0;
		e->last_syn = 0;
	}
	s->phase = 0;
	s->sock_gone = 0;
	s->stack_rfin = 0;
	s->restarted = 0;
}

static void handshake(struct seq *s, int retransmit)
{
	struct ep *a = &s->e[0], *b = &s->e[1];

	switch (s->phase) {
	case 0:
		a->snd_nxt = a->iss + 1;
		a->last_syn = 1;
		s->phase = 1;
		emit(s, 0, LEGIT, 0, a->iss, 0, M_SYN, a->win, 0, a->ws);
		break;
	case 1:
		if (retransmit) {
			emit(s, 0, LEGIT, 0, a->iss, 0, M_SYN, a->win, 0, a->ws);
			break;
		}
		b->snd_nxt = b->iss + 1;
		b->rcv_nxt = a->iss + 1;
		b->last_ack = b->rcv_nxt;
		b->last_syn = 1;
		s->phase = 2;
		if (s->host && s->local == 1)
			host_sync(s);
		emit(s, 1, LEGIT, 0, b->iss, b->rcv_nxt, M_SYN | M_ACK, b->win, 0, b->ws);
		break;
	case 2:
		if (retransmit) {
			emit(s, 1, LEGIT, 0, b->iss, b->rcv_nxt, M_SYN | M_ACK, b->win, 0, b->ws);
			break;
		}
		a->rcv_nxt = b->iss + 1;
		a->last_ack = a->rcv_nxt;
		a->last_syn = 0;
		s->phase = 3;
		if (s->host && s->local == 0)
			host_sync(s); /* the SYN-ACK was consumed: the socket is established */
		emit(s, 0, LEGIT, 0, a->snd_nxt, a->rcv_nxt, M_ACK, a->win, 0, M_WS_NONE);
		if (s->host)
			host_sync(s);
		break;
	}
}

/* A new connection may start once the old one is over and the gateway would let a SYN open it. */
static int may_reopen(const struct seq *s)
{
	int st = g_live(&s->g) ? g_state(&s->g) : RG_ST_NONE;

	if (s->phase != 4 && !(s->e[0].fin && s->e[1].fin && s->e[0].got_fin && s->e[1].got_fin))
		return 0;
	if (s->host)
		return 1;
	return st == RG_ST_NONE || st == RG_ST_CLOSED || st == RG_ST_TIME_WAIT;
}

static void op_legit(struct seq *s, struct in *in, __u8 sub)
{
	int x = sub & 1, what = (sub >> 1) & 3;
	__u8 arg = in_u8(in);

	if (may_reopen(s)) {
		new_connection(s, (__u32)arg + 1);
		handshake(s, 0);
		return;
	}
	if (s->phase == 4)
		return;
	if (s->phase < 3) {
		handshake(s, what == 3);
		return;
	}
	if (s->e[x].fin && what != 1)
		what = 1; /* after its FIN an endpoint only acknowledges */
	switch (what) {
	case 0: {
		/* pkt_build carries at most 1400 bytes; the truth must not run ahead of it. */
		__u32 len = (__u32)arg * 6 > 1400 ? 1400 : (__u32)arg * 6, r = room(s, x);

		legit_segment(s, x, len < r ? len : r, 0, 0);
		break;
	}
	case 1:
		if (sub & 0x10)
			s->e[x].win = (__u16)(arg << 8 | in_u8(in));
		legit_segment(s, x, 0, 0, 0);
		break;
	case 2:
		/* A FIN takes a sequence number: Linux sends it only inside the window. */
		legit_segment(s, x, 0, room(s, x) > 0, 0);
		break;
	default: {
		/* Retransmission of data already sent (never before the first data byte), from
		 * no lower than a window below what the peer acknowledged: a sender never has more
		 * than the peer's window unacknowledged, and retransmits only that (it may not
		 * have had the peer's latest ACK yet). */
		const struct ep *y = &s->e[!x];
		__u32 sent = s->e[x].snd_nxt - s->e[x].iss - 1 - !!s->e[x].fin;
		__u32 wnd = y->last_syn ? y->win : (__u32)y->win << ep_scale(s, !x);
		__u32 back = s->e[x].snd_nxt - y->last_ack + wnd;
		__u32 k = arg > sent ? sent : arg;

		if (k > back)
			k = back;

		legit_segment(s, x, 0, 0, k);
		break;
	}
	}
}

static void op_legit_rst(struct seq *s, __u8 sub)
{
	int x = sub & 1, variant = (sub >> 1) & 3, act;
	struct ep *me, *peer;
	__u32 seq;
	__u8 flags = M_RST | M_ACK;

	if (s->host)
		x = !s->local;
	me = &s->e[x];
	peer = &s->e[!x];
	if (s->phase == 4 || s->phase == 0)
		return;
	if (s->phase == 1) {
		/* Refusal (L1): RST+ACK, seq 0, ack = SYN.seq + 1, from the responder. */
		if (s->host && s->local == 1)
			return;
		act = emit(s, 1, LEGIT, 0, 0, s->e[0].iss + 1, M_RST | M_ACK, 0, 0, M_WS_NONE);
		if (act == XDP_PASS)
			s->phase = 4;
		return;
	}
	if (s->phase == 2)
		return; /* a half-open handshake is not reset by the filter's business here */
	seq = me->snd_nxt;
	if (variant == 1)
		flags = M_RST;
	if (variant == 2 && me->fin)
		seq = me->snd_nxt - 1; /* FIN slack: RCV.NXT-1 after a FIN was received */
	if (variant == 2 && !me->fin)
		variant = 0;
	act = emit(s, x, LEGIT, variant, seq, me->rcv_nxt, flags, 0, 0, M_WS_NONE);
	/* The receiver acts on it only if it got through. */
	if (act == XDP_PASS) {
		s->phase = 4;
		s->sock_gone = 1;
	}
	(void)peer;
}

static __u32 forged_value(struct seq *s, __u8 sel, __u32 raw)
{
	__u32 base;

	switch (sel & 7) {
	case 1: base = s->e[0].snd_nxt; break;
	case 2: base = s->e[1].snd_nxt; break;
	case 3: base = s->e[0].iss; break;
	case 4: base = s->e[1].iss; break;
	case 5: base = s->last_fseq; break;
	case 6: base = s->last_fack + 1; break;
	case 7: base = s->last_fseq + 1; break;
	default: base = 0;
	}
	switch ((sel >> 3) & 3) {
	case 0: return base;
	case 1: return base + (__u32)(__s32)(__s8)raw;
	case 2: return base + (__u32)(__s32)(__s16)raw;
	default: return base + raw;
	}
}

/* Would a forged ACK carrying `ack` to endpoint y be plausible were the forger lucky? Then the
 * forger hit the window, as it could against the endpoint itself: no longer blind. */
static int informed_ack(const struct seq *s, int y, __u32 ack)
{
	__u32 w = 66000;

	for (int d = 0; d < 2; d++)
		if (s->g.d[d].maxwin > w)
			w = s->g.d[d].maxwin;
	if (s->g.midstream || s->g.wsunk)
		w = 65535u << 14;
	w += 2;
	return m_in(ack, s->e[y].snd_nxt - w, s->e[y].snd_nxt + w) ||
	       m_in(ack, s->e[y].iss - w, s->e[y].iss + w) ||
	       m_in(ack, s->e[y].last_ack - w, s->e[y].last_ack + w);
}

static void op_forge(struct seq *s, struct in *in, __u8 sub, int rst)
{
	int x = sub & 1;
	__u8 fl = in_u8(in), seqsel = in_u8(in), acksel = in_u8(in);
	__u32 seqraw = in_u32(in), ackraw = in_u32(in), seq, ack;
	__u16 win = in_u16(in);
	__u8 len = in_u8(in), ws = in_u8(in);

	if (s->host)
		x = !s->local;
	seq = forged_value(s, seqsel, seqraw);
	ack = forged_value(s, acksel, ackraw);
	s->last_fseq = seq;
	s->last_fack = ack;
	if (rst) {
		fl = (__u8)(M_RST | (fl & (M_ACK | M_SYN | M_FIN | 0x08 | 0x20)));
		emit(s, x, FORGED, 0, seq, ack, fl, win, 0, M_WS_NONE);
		return;
	}
	fl &= (__u8)~M_RST;
	if (s->host) {
		/* The host role judges against the socket: forged segments only feed the recent
		 * data cache, which the host model follows exactly (recent_model); emit() stands
		 * the SPEC check down only when a forged segment could move its anchored entry. */
		emit(s, x, FORGED, 0, seq, ack, fl, win, len, ws % 16 == 15 ? M_WS_NONE : ws % 16);
		return;
	}
	/* A SYN on a TIME-WAIT or CLOSED entry opens a new connection (port reuse, as conntrack):
	 * by design, and what it costs the old connection (an RST hitting TIME-WAIT judged
	 * against the new entry) only lets TIME-WAIT run its course. The view cannot follow. */
	if ((fl & (M_SYN | M_ACK)) == M_SYN && g_live(&s->g) &&
	    (g_state(&s->g) == RG_ST_TIME_WAIT || g_state(&s->g) == RG_ST_CLOSED))
		set_mode(s, UNSURE, "forged SYN re-opens a finished entry (port reuse)");
	if (!g_live(&s->g) && (fl & (M_SYN | M_ACK))) {
		/* No live entry: the forged segment creates one, which only the legitimate
		 * traffic that follows can correct. */
		set_mode(s, BLIND, "blind forged segment on an untracked 4-tuple");
	} else if ((fl & M_ACK) && informed_ack(s, !x, ack)) {
		set_mode(s, UNSURE, "forged segment acknowledges real data");
	} else if (fl & (M_ACK | M_SYN)) {
		set_mode(s, BLIND, "blind forged segment");
	}
	emit(s, x, FORGED, 0, seq, ack, fl, win, len, ws % 16 == 15 ? M_WS_NONE : ws % 16);
}

/* Table pressure (a flood of SYNs for other 4-tuples) evicts the connection's entry. The view
 * forgets it too: fed the legitimate segments alone, the gateway would pick the flow up afresh. */
static void op_evict(struct seq *s)
{
	__u8 buf[256];
	size_t n = frame(s, 0, 0, 0, M_ACK, 1, 0, M_WS_NONE, buf, sizeof(buf));
	struct mpkt mp;

	if (!n)
		return;
	m_parse(buf, n, (int)s->l3, &mp);
	if (mp.cls != M_TCP)
		return;
	if (fz_verbose)
		printf("  [table pressure evicts the entry]\n");
	fz_evict(&mp);
	/* To the view the entry is gone, its 4-tuple tracked before (untracked, as if expired). */
	if (s->g.exists)
		s->g.gone = 1;
}

static void op_raw(struct seq *s, struct in *in)
{
	__u8 buf[512];
	size_t n = in_u8(in) % sizeof(buf);
	struct mpkt mp;
	struct fz_obs o;

	for (size_t i = 0; i < n; i++)
		buf[i] = in_u8(in);
	if (s->host)
		host_seed(s);
	fz.step++;
	fz_step(buf, n, &mp, &o);
	/* Anything TCP may touch the flow or the recent cache: the model no longer knows. */
	if (mp.cls == M_TCP)
		set_mode(s, UNSURE, "raw TCP frame");
}

int fz_seq_run(const __u8 *data, size_t size)
{
	struct in in = { data, size, 0 };
	__u8 cfg = in_u8(&in), pol = in_u8(&in), start;
	struct seq *s = calloc(1, sizeof(*s));
	__u32 role = (cfg & 3) == 1 ? RG_ROLE_HOST : (cfg & 3) == 3 ? RG_ROLE_BOTH : RG_ROLE_GATEWAY;
	__u32 bits = (pol & 0x1f) | (__u32)((pol >> 5) & 7) << 8;
	int local_fib = (cfg >> 3) & 1, ops = 0;

	if (!s)
		abort();
	s->role = role;
	s->l3 = (cfg >> 2) & 1;
	s->v6 = (cfg >> 4) & 1;
	s->vlans = ((cfg >> 5) & 3) % 3;
	if (s->l3)
		s->vlans = 0;
	s->e[0].iss = in_u32(&in);
	s->e[1].iss = in_u32(&in);
	for (int x = 0; x < 2; x++) {
		__u8 w = in_u8(&in);

		s->e[x].ws = (w & 0x80) ? M_WS_NONE : (w & 15) > 14 ? 14 : (w & 15);
	}
	for (int x = 0; x < 2; x++) {
		s->e[x].win = in_u16(&in);
		if (!s->e[x].win)
			s->e[x].win = 1;
	}
	start = in_u8(&in);
	/* Addresses: A is the lower or the higher endpoint, so both canonical directions occur. */
	s->addr[0] = s->v6 ? ((start & 2) ? "fd00::2" : "fd00::1") : ((start & 2) ? "198.18.0.2" : "198.18.0.1");
	s->addr[1] = s->v6 ? ((start & 2) ? "fd00::1" : "fd00::2") : ((start & 2) ? "198.18.0.1" : "198.18.0.2");
	s->port[0] = 40000;
	s->port[1] = 179;
	{
		/* Canonical direction of each endpoint's frames: the lower address sends dir 0. */
		__u8 a[16] = { 0 }, b[16] = { 0 };

		inet_pton(s->v6 ? AF_INET6 : AF_INET, s->addr[0], a);
		inet_pton(s->v6 ? AF_INET6 : AF_INET, s->addr[1], b);
		s->cdir[0] = memcmp(a, b, 16) > 0;
		s->cdir[1] = !s->cdir[0];
	}
	/* Both role: with a local FIB answer everything is judged against sockets, else against
	 * the flow table (no socket is seeded then). */
	s->host = role == RG_ROLE_HOST || (role == RG_ROLE_BOTH && local_fib);
	s->local = (start >> 2) & 1;
	fz_begin("seq", role, s->l3, bits);
	shim.fib_ret = local_fib ? BPF_FIB_LKUP_RET_NOT_FWDED : BPF_FIB_LKUP_RET_SUCCESS;
	shim.now_ns = 1000500000000ull;
	if (start & 1) {
		/* Established before the filter came: the gateway picks it up mid-stream. */
		__u32 off = in_u16(&in);

		for (int x = 0; x < 2; x++) {
			s->e[x].snd_nxt = s->e[x].iss + 1 + off * (x ? 3u : 5u);
		}
		for (int x = 0; x < 2; x++) {
			s->e[x].rcv_nxt = s->e[!x].snd_nxt;
			s->e[x].last_ack = s->e[x].rcv_nxt;
		}
		s->phase = 3;
		if (s->host)
			host_sync(s);
	}

	while (in_left(&in) && ops++ < 64 && !fz.failed) {
		__u8 op = in_u8(&in), sub = op >> 3;

		switch (op & 7) {
		case 0:
		case 1:
			op_legit(s, &in, sub);
			break;
		case 2:
			op_legit_rst(s, sub);
			break;
		case 3:
			op_forge(s, &in, sub, 0);
			break;
		case 4:
			op_forge(s, &in, sub, 1);
			break;
		case 5: {
			/* Time passes; the local stack catches up meanwhile. */
			__u64 secs = sub < 16 ? sub : sub < 31 ? (__u64)in_u8(&in) * 4 : 500000;

			shim.now_ns += secs * 1000000000ull;
			if (s->host && s->phase >= 3)
				host_sync(s);
			break;
		}
		case 6:
			if (sub & 1) {
				__u8 p = in_u8(&in);

				fz_set_policy((p & 0x1f) | (__u32)((p >> 5) & 7) << 8);
			} else if (sub == 2 && !s->host) {
				op_evict(s);
			} else if (s->host && s->phase >= 3) {
				host_sync(s);
			}
			break;
		default:
			op_raw(s, &in);
		}
	}
	free(s);
	return 0;
}
