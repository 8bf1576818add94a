// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Gateway role: RST verdicts against the tracked flow table, on replayed connections, per framing. */
#include "harness.h"
#include "flow_state.h"
#include "rstguard.skel.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <string.h>
#include <time.h>

enum { CLI = 0, SRV = 1 };

/* Windows of every modelled connection: SYNs advertise SYNWIN (never scaled), later segments WIN
 * (scaled). SYNWIN > WIN so that "window taken from the SYN" and "scaled window" differ. */
#define SYNWIN 8192
#define WIN 1000

/* Framing variants: the verdict tables run in each, so parsing never hides a verdict difference. */
struct variant {
	const char *name;
	int v6, vlans, l3;
	int all_isns;              /* run every ISN set, else the wrapping one only */
	const char *caddr, *saddr; /* NULL: 198.18.0.1 -> 198.18.0.2 or fd00::1 -> fd00::2 */
	int ipopts, dstopts;       /* IPv4 options bytes; IPv6 Destination Options header */
};

/* The swapped ones put the client above the server in the key order, so the client is direction
 * 1 (with equal addresses the ports decide); their addresses differ in the top bit, which a signed
 * compare would order the other way. */
static const struct variant variants[] = {
	{ .name = "v4", .all_isns = 1 },
	{ .name = "v4/vlan", .vlans = 1 },
	{ .name = "v4/qinq", .vlans = 2 },
	{ .name = "v6", .v6 = 1, .all_isns = 1 },
	{ .name = "v6/vlan", .v6 = 1, .vlans = 1 },
	{ .name = "v6/qinq", .v6 = 1, .vlans = 2 },
	{ .name = "v4/l3", .l3 = 1 },
	{ .name = "v6/l3", .v6 = 1, .l3 = 1 },
	{ .name = "v4/swapped", .all_isns = 1, .caddr = "198.18.0.1", .saddr = "10.1.0.2" },
	{ .name = "v4/same-addr", .caddr = "198.18.0.1", .saddr = "198.18.0.1" },
	{ .name = "v6/swapped", .v6 = 1, .all_isns = 1, .caddr = "fd80::1", .saddr = "2001:db8::2" },
	{ .name = "v4/ipopts", .vlans = 1, .ipopts = 8 },
	{ .name = "v6/dstopts", .v6 = 1, .vlans = 1, .dstopts = 1 },
};
#define NVARIANTS (int)(sizeof(variants) / sizeof(variants[0]))

/* ISN pairs: ordinary; bands straddling 2^32 (client data and the server's band both wrap);
 * bands straddling the signed boundary, where an int32 compare instead of seq arithmetic breaks. */
static const struct {
	const char *name;
	uint32_t c, s;
} isns[] = {
	{ "isn-low", 1000, 5000 },
	{ "isn-wrap", 0xfffffa00u, 0xfffffd00u },
	{ "isn-sign", 0x7ffffa00u, 0x7ffffd00u },
};
#define NISNS (int)(sizeof(isns) / sizeof(isns[0]))

/* --- connection model ------------------------------------------------------------------- */

/* What the endpoints of one replayed connection know, kept independently of the program so the
 * expected band and window come from the spec, not from reading the flow entry back. */
struct conn {
	const struct variant *v;
	const char *addr[2];
	uint16_t port[2];
	uint32_t isn[2];
	uint32_t isn2;      /* the client's second SYN, when one was sent */
	uint32_t nxt[2];    /* next sequence number each side sends (its SND.NXT) */
	uint32_t acked[2];  /* last ACK each side sent */
	uint32_t maxwin[2]; /* largest window each side advertised, as its peer reads it */
	uint16_t synwin, win;
	int ws[2];          /* shift each side's SYN offers; -1: no window-scale option */
	int dir[2];         /* direction index of each side in the flow entry */
	int midstream;
	int tracked;        /* the program has (or should have) an entry: no flow_created expected */
	char name[200];
};

static void conn_init(struct conn *c, const struct variant *v, uint16_t cport, uint32_t cisn,
		      uint32_t sisn)
{
	memset(c, 0, sizeof(*c));
	c->v = v;
	c->addr[CLI] = v->caddr ? v->caddr : v->v6 ? "fd00::1" : "198.18.0.1";
	c->addr[SRV] = v->saddr ? v->saddr : v->v6 ? "fd00::2" : "198.18.0.2";
	c->port[CLI] = cport;
	c->port[SRV] = 179;
	/* The key order, computed here from the addresses as bytes: the lower endpoint is 0. */
	{
		uint8_t a[16] = {0}, b[16] = {0};
		int fam = v->v6 ? AF_INET6 : AF_INET, cmp;

		inet_pton(fam, c->addr[CLI], a);
		inet_pton(fam, c->addr[SRV], b);
		cmp = memcmp(a, b, v->v6 ? 16 : 4);
		c->dir[CLI] = cmp > 0 || (cmp == 0 && cport > 179);
		c->dir[SRV] = !c->dir[CLI];
	}
	c->isn[CLI] = c->nxt[CLI] = cisn;
	c->isn[SRV] = c->nxt[SRV] = sisn;
	c->synwin = SYNWIN;
	c->win = WIN;
	c->ws[CLI] = c->ws[SRV] = 7;
	snprintf(c->name, sizeof(c->name), "%s", v->name);
}

/* RFC 7323: the shift applies only when both SYNs carried the option, values above 14 mean 14;
 * a flow picked up mid-stream is read with the largest legal shift. */
static int conn_shift(const struct conn *c, int side)
{
	if (c->midstream)
		return 14;
	if (c->ws[CLI] < 0 || c->ws[SRV] < 0)
		return 0;
	return c->ws[side] > 14 ? 14 : c->ws[side];
}

static struct pktspec seg(const struct conn *c, int from, uint32_t seq, uint32_t ack, uint8_t flags,
			  uint32_t payload)
{
	struct pktspec s = {
		.v6 = c->v->v6,
		.l3 = c->v->l3,
		.vlans = c->v->vlans,
		.src = c->addr[from],
		.dst = c->addr[!from],
		.sport = c->port[from],
		.dport = c->port[!from],
		.seq = seq,
		.ack = ack,
		.flags = flags,
		.payload = payload,
		.win = (flags & TF_SYN) ? c->synwin : c->win,
		.has_wscale = c->ws[from] >= 0,
		.wscale = (uint8_t)(c->ws[from] < 0 ? 0 : c->ws[from]),
		.ipopts = c->v->v6 ? 0 : c->v->ipopts,
	};

	if (c->v->dstopts) {
		s.ext[0] = 60;
		s.next_ext = 1;
	}
	return s;
}

static const char *xdp_name(int r)
{
	return r == XDP_PASS ? "pass" : r == XDP_DROP ? "drop" : r < 0 ? "run failed" : "other";
}

/* Lists every counter that moved, for failure messages. */
static const char *moved(struct rg_env *e, const struct rg_snap *b)
{
	static char buf[512];
	struct rg_snap now;
	size_t o = 0;

	env_snap(e, &now);
	buf[0] = 0;
	for (int r = 0; r < RG_R_MAX; r++)
		for (int a = 0; a < RG_ACT_MAX; a++) {
			uint64_t d = now.pkts[r][a] - b->pkts[r][a];

			if (d && o < sizeof(buf))
				o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s/%s=%llu",
						      o ? " " : "", rg_reason_names[r],
						      rg_action_names[a], (unsigned long long)d);
		}
	return o ? buf : "nothing";
}

/* Sends one legitimate segment. Every non-RST segment must pass, be counted once as
 * non_rst_tcp, and create a flow only when it is the first SYN or ACK segment of an untracked
 * connection. */
static void send_seg(struct rg_env *e, struct conn *c, const struct pktspec *s)
{
	uint64_t want_created = !c->tracked && (s->flags & (TF_SYN | TF_ACK));
	struct rg_snap b;
	int r;

	env_snap(e, &b);
	r = env_run_spec(e, s);
	CHECK(r == XDP_PASS, "%s: segment %s:%u flags %#x: XDP %s, want pass", c->name, s->src,
	      s->sport, s->flags, xdp_name(r));
	CHECK(env_delta(e, &b, RG_R_NON_RST, RG_ACT_PASS) == 1 &&
		      env_delta(e, &b, RG_R_FLOW_CREATED, RG_ACT_PASS) == want_created &&
		      env_delta_all(e, &b) == 1 + want_created,
	      "%s: segment %s:%u flags %#x: counted %s, want non_rst_tcp/pass=1%s", c->name, s->src,
	      s->sport, s->flags, moved(e, &b), want_created ? " flow_created/pass=1" : "");
	if (s->flags & (TF_SYN | TF_ACK))
		c->tracked = 1;
}

/* Sends the next segment of the modelled connection and keeps the model in step. */
static void xmit(struct rg_env *e, struct conn *c, int from, uint8_t flags, uint32_t payload,
		 uint32_t ack)
{
	struct pktspec s = seg(c, from, c->nxt[from], ack, flags, payload);
	uint32_t w;

	send_seg(e, c, &s);
	c->nxt[from] = s.seq + payload + !!(flags & TF_SYN) + !!(flags & TF_FIN);
	if (flags & TF_ACK)
		c->acked[from] = ack;
	w = (flags & TF_SYN) ? c->synwin : (uint32_t)c->win << conn_shift(c, from);
	if (w > c->maxwin[from])
		c->maxwin[from] = w;
}

/* A segment that acknowledges everything the peer sent. */
static void xmit_all(struct rg_env *e, struct conn *c, int from, uint8_t flags, uint32_t payload)
{
	xmit(e, c, from, flags, payload, c->nxt[!from]);
}

static void handshake(struct rg_env *e, struct conn *c)
{
	xmit(e, c, CLI, TF_SYN, 0, 0);
	xmit_all(e, c, SRV, TF_SYN | TF_ACK, 0);
	xmit_all(e, c, CLI, TF_ACK, 0);
}

/* Runs one RST and checks the verdict and that exactly one counter moved, the expected one. */
static void expect_rst(struct rg_env *e, const struct pktspec *s, int xdp, int reason, int act,
		       const char *what)
{
	struct rg_snap b;
	int r;

	env_snap(e, &b);
	r = env_run_spec(e, s);
	CHECK(r == xdp, "%s: XDP %s, want %s (counted %s)", what, xdp_name(r), xdp_name(xdp),
	      moved(e, &b));
	CHECK(env_delta(e, &b, reason, act) == 1 && env_delta_all(e, &b) == 1,
	      "%s: counted %s, want only %s/%s=1", what, moved(e, &b), rg_reason_names[reason],
	      rg_action_names[act]);
}

/* A blind reset from `from` (its SND.NXT plus off) is dropped, then its exact one passes: the
 * entry is closed after, so this comes last. */
static void expect_blind_then_exact(struct rg_env *e, const struct conn *c, int from,
				    uint32_t off, const char *when)
{
	char what[320];
	struct pktspec r = seg(c, from, c->nxt[from] + off, 0, TF_RST, 0);

	snprintf(what, sizeof(what), "%s: blind RST (SND.NXT + %#x) %s", c->name, off, when);
	expect_rst(e, &r, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, what);
	r = seg(c, from, c->nxt[from], 0, TF_RST, 0);
	snprintf(what, sizeof(what), "%s: exact RST %s", c->name, when);
	expect_rst(e, &r, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
}

static int flow_of(struct rg_env *e, const struct conn *c, struct rg_flow *f)
{
	struct pktspec s = seg(c, CLI, 0, 0, 0, 0);

	return env_flow(e, &s, f);
}

static const char *state_name(int st)
{
	return st >= 0 && st < RG_ST_MAX ? rg_state_names[st] : "(no entry)";
}

/* The entry follows the modelled connection: established, uncontested, both ends exact. */
static void expect_tracked(struct rg_env *e, const struct conn *c, const char *when)
{
	struct rg_flow f;
	int have = flow_of(e, c, &f) == 0;

	CHECK(have && flow_state(&f) == RG_ST_ESTABLISHED && !(f.fflags & RG_F_CONTESTED) &&
		      f.d[c->dir[SRV]].seq_end == c->nxt[SRV] &&
		      f.d[c->dir[CLI]].seq_end == c->nxt[CLI],
	      "%s: %s: entry %s, fflags %#x, seq_end %#x/%#x, want established, %#x/%#x", c->name,
	      when, have ? state_name(flow_state(&f)) : "(none)", have ? f.fflags : 0,
	      have ? f.d[c->dir[CLI]].seq_end : 0, have ? f.d[c->dir[SRV]].seq_end : 0,
	      c->nxt[CLI], c->nxt[SRV]);
}

/* --- scenarios ---------------------------------------------------------------------------- */

enum scen {
	S_NONE,       /* nothing tracked */
	S_SYN_SENT,   /* client SYN only */
	S_SYN_RETX,   /* client SYN, then a second SYN with another ISN */
	S_SYN_RETX0,  /* client SYN retransmitted with the same ISN */
	S_SYN_RECV,   /* SYN, SYN-ACK */
	S_EST,        /* handshake with wscale 7 both ways, data both ways, client ACK lagging */
	S_EST_WSC,    /* as S_EST, window-scale option on the client's SYN only */
	S_EST_WSS,    /* ... on the server's SYN-ACK only */
	S_EST_NOWS,   /* ... on neither */
	S_EST_WS20,   /* ... shift 20 offered both ways: means 14 */
	S_EST_REORD,  /* as S_EST, then the client acks all and an older ACK arrives late */
	S_EST_RETX,   /* as S_EST, then the server retransmits its first data segment */
	S_FIN_WAIT,   /* server data and FIN, all acked by the client */
	S_TIME_WAIT,  /* client closes first, both FINs acked */
	S_ONE_WAY,    /* picked up mid-stream from one client data segment */
	S_MIDSTREAM,  /* picked up mid-stream, then the server's data */
	S_MID_FIN,    /* picked up mid-stream; the server's first segment is its FIN */
	S_ONE_WAY_CONT, /* S_ONE_WAY, then a blind ACK in the client's name: contested */
	S_FORGED_FIRST, /* a blind client ACK before the real mid-stream traffic, both ways */
	S_SYN_FORGED, /* client SYN, a blind SYN in the server's name, then the real handshake */
	S_MAX
};

/* Replays the scenario; returns the state the entry must be in, -1 for no entry. */
static int setup(struct rg_env *e, struct conn *c, int scen)
{
	switch (scen) {
	case S_NONE:
		return -1;
	case S_SYN_SENT:
		xmit(e, c, CLI, TF_SYN, 0, 0);
		return RG_ST_SYN_SENT;
	case S_SYN_RETX:
	case S_SYN_RETX0:
		xmit(e, c, CLI, TF_SYN, 0, 0);
		c->isn2 = c->isn[CLI] + (scen == S_SYN_RETX ? 77777 : 0);
		c->nxt[CLI] = c->isn2;
		xmit(e, c, CLI, TF_SYN, 0, 0);
		return RG_ST_SYN_SENT;
	case S_SYN_RECV:
		xmit(e, c, CLI, TF_SYN, 0, 0);
		xmit_all(e, c, SRV, TF_SYN | TF_ACK, 0);
		return RG_ST_SYN_RECV;
	case S_EST:
	case S_EST_WSC:
	case S_EST_WSS:
	case S_EST_NOWS:
	case S_EST_WS20:
	case S_EST_REORD:
	case S_EST_RETX:
		if (scen == S_EST_WSS || scen == S_EST_NOWS)
			c->ws[CLI] = -1;
		if (scen == S_EST_WSC || scen == S_EST_NOWS)
			c->ws[SRV] = -1;
		if (scen == S_EST_WS20)
			c->ws[CLI] = c->ws[SRV] = 20;
		handshake(e, c);
		for (int i = 0; i < 3; i++)
			xmit_all(e, c, CLI, TF_ACK | TF_PSH, 1000);
		xmit_all(e, c, SRV, TF_ACK, 0);
		xmit_all(e, c, SRV, TF_ACK | TF_PSH, 1000);
		xmit_all(e, c, SRV, TF_ACK | TF_PSH, 1000);
		/* The client has taken 500 of the 2000 bytes: its RCV.NXT is somewhere in the band
		 * [S+501, S+2001] as far as the gateway can tell. */
		xmit(e, c, CLI, TF_ACK, 0, c->nxt[SRV] - 1500);
		/* Reordering and retransmission are legitimate; neither moves what the endpoints
		 * know, so the model stays put while the program sees them. */
		if (scen == S_EST_REORD) {
			struct pktspec old;

			xmit_all(e, c, CLI, TF_ACK, 0);
			old = seg(c, CLI, c->nxt[CLI], c->nxt[SRV] - 1500, TF_ACK, 0);
			send_seg(e, c, &old);
		} else if (scen == S_EST_RETX) {
			struct pktspec old = seg(c, SRV, c->isn[SRV] + 1, c->nxt[CLI],
						 TF_ACK | TF_PSH, 1000);

			send_seg(e, c, &old);
		}
		return RG_ST_ESTABLISHED;
	case S_FIN_WAIT:
		handshake(e, c);
		xmit_all(e, c, SRV, TF_ACK | TF_PSH, 1000);
		xmit_all(e, c, CLI, TF_ACK, 0);
		xmit_all(e, c, SRV, TF_ACK | TF_FIN, 0);
		xmit_all(e, c, CLI, TF_ACK, 0);
		return RG_ST_FIN_WAIT;
	case S_TIME_WAIT:
		handshake(e, c);
		xmit_all(e, c, CLI, TF_ACK | TF_PSH, 100);
		xmit_all(e, c, SRV, TF_ACK, 0);
		xmit_all(e, c, CLI, TF_ACK | TF_FIN, 0);
		xmit_all(e, c, SRV, TF_ACK | TF_FIN, 0);
		xmit_all(e, c, CLI, TF_ACK, 0);
		return RG_ST_TIME_WAIT;
	case S_ONE_WAY:
	case S_MIDSTREAM:
	case S_MID_FIN:
		c->midstream = 1;
		xmit(e, c, CLI, TF_ACK | TF_PSH, 100, c->isn[SRV]);
		if (scen == S_ONE_WAY)
			return RG_ST_ONE_WAY;
		if (scen == S_MIDSTREAM) {
			xmit_all(e, c, SRV, TF_ACK | TF_PSH, 300);
			return RG_ST_ESTABLISHED;
		}
		xmit_all(e, c, SRV, TF_ACK | TF_FIN, 0);
		xmit_all(e, c, CLI, TF_ACK, 0);
		return RG_ST_FIN_WAIT;
	case S_ONE_WAY_CONT:
	case S_FORGED_FIRST: {
		/* Far from every real number: the forger is blind. */
		struct pktspec fs = seg(c, CLI, c->nxt[CLI] + 0x40000000, c->isn[SRV] + 0x40000000,
					TF_ACK, 0);

		c->midstream = 1;
		if (scen == S_FORGED_FIRST) {
			CHECK(env_run_spec(e, &fs) == XDP_PASS, "%s: forged ACK passes", c->name);
			c->tracked = 1;
		}
		xmit(e, c, CLI, TF_ACK | TF_PSH, 100, c->isn[SRV]);
		if (scen == S_ONE_WAY_CONT) {
			CHECK(env_run_spec(e, &fs) == XDP_PASS, "%s: forged ACK passes", c->name);
			return RG_ST_ONE_WAY;
		}
		/* The server's answer restarts the contested entry, the client's verifies it. */
		xmit_all(e, c, SRV, TF_ACK | TF_PSH, 300);
		xmit_all(e, c, CLI, TF_ACK, 0);
		return RG_ST_ESTABLISHED;
	}
	case S_SYN_FORGED: {
		struct pktspec fs;

		xmit(e, c, CLI, TF_SYN, 0, 0);
		fs = seg(c, SRV, c->isn[SRV] + 0x40000000, 0, TF_SYN, 0);
		CHECK(env_run_spec(e, &fs) == XDP_PASS, "%s: forged SYN passes", c->name);
		/* Only the real responder knows the ISN its SYN-ACK acks: it replaces the SYN. */
		xmit_all(e, c, SRV, TF_SYN | TF_ACK, 0);
		xmit_all(e, c, CLI, TF_ACK, 0);
		return RG_ST_ESTABLISHED;
	}
	}
	return -1;
}

/* --- the RST table -------------------------------------------------------------------------- */

enum anchor {
	A_ABS, /* seq = off */
	A_LO,  /* the receiver's last ACK: low edge of the band */
	A_HI,  /* the sender's highest sequence end: the exact value */
	A_WIN, /* A_HI plus the receiver's largest window: right edge of the window */
};
enum ackrel { AK_ZERO, AK_ISN1, AK_ISN2, AK_ALL };
enum after { AF_SAME, AF_CLOSED, AF_ANY };

struct rst_case {
	const char *desc;
	int scen;
	uint32_t pol;   /* policy bits set for this RST only */
	int from;       /* CLI or SRV sends the RST */
	int anchor;
	int64_t off;
	uint8_t flags;
	int ackrel;
	int32_t ackoff;
	int xdp, reason, act;
	int after;      /* the entry afterwards: byte-identical, CLOSED, or not checked */
	int only_isn;   /* 1-based index into isns: run with that set only; 0: all */
};

#define VALID .xdp = XDP_PASS, .reason = RG_R_VALID, .act = RG_ACT_PASS, .after = AF_CLOSED
#define DROP(r) .xdp = XDP_DROP, .reason = (r), .act = RG_ACT_DROP
#define WOULD(r) .xdp = XDP_PASS, .reason = (r), .act = RG_ACT_MONITOR
#define PASSED(r) .xdp = XDP_PASS, .reason = (r), .act = RG_ACT_PASS

static const struct rst_case cases[] = {
	/* The band [receiver's last ACK, sender's highest seq end], server -> client. */
	{ "exact: seq = sender's highest seq end", S_EST, 0, SRV, A_HI, 0, TF_RST, VALID },
	{ "exact RST+ACK", S_EST, 0, SRV, A_HI, 0, TF_RST | TF_ACK, AK_ALL, 0, VALID },
	{ "band low edge: receiver's last ACK", S_EST, 0, SRV, A_LO, 0, TF_RST | TF_ACK, AK_ALL, 0,
	  VALID },
	{ "inside the band", S_EST, 0, SRV, A_LO, 700, TF_RST, VALID },
	{ "one below the band", S_EST, 0, SRV, A_LO, -1, TF_RST, DROP(RG_R_OUT_OF_WINDOW) },
	{ "one above the band, in window", S_EST, 0, SRV, A_HI, 1, TF_RST, DROP(RG_R_INEXACT) },
	{ "in window", S_EST, 0, SRV, A_HI, 60000, TF_RST | TF_ACK, AK_ALL, 0, DROP(RG_R_INEXACT) },
	/* Linux's tcp_sequence() takes RCV.NXT + RCV.WND itself as in window. */
	{ "window right edge", S_EST, 0, SRV, A_WIN, 0, TF_RST, DROP(RG_R_INEXACT) },
	{ "just outside the window", S_EST, 0, SRV, A_WIN, 1, TF_RST, DROP(RG_R_OUT_OF_WINDOW) },
	{ "far outside the window", S_EST, 0, SRV, A_HI, 0x40000000, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "far behind the band", S_EST, 0, SRV, A_LO, -0x40000000, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "half the sequence space away", S_EST, 0, SRV, A_HI, 0x80000000, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "sequence 0 inside a band straddling 2^32", S_EST, 0, SRV, A_ABS, 0, TF_RST, VALID,
	  .only_isn = 2 },
	/* Client -> server: the server acked everything, so the band is one value. */
	{ "client: exact", S_EST, 0, CLI, A_HI, 0, TF_RST, VALID },
	{ "client: one below", S_EST, 0, CLI, A_LO, -1, TF_RST, DROP(RG_R_OUT_OF_WINDOW) },
	{ "client: one above", S_EST, 0, CLI, A_HI, 1, TF_RST, DROP(RG_R_INEXACT) },
	{ "client: just outside the window", S_EST, 0, CLI, A_WIN, 1, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "late old ACK does not lower the band", S_EST_REORD, 0, SRV, A_HI, -1500, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "late old ACK: exact", S_EST_REORD, 0, SRV, A_HI, 0, TF_RST, VALID },
	{ "retransmitted data does not lower the seq end: exact", S_EST_RETX, 0, SRV, A_HI, 0,
	  TF_RST, VALID },
	{ "retransmitted data: one above", S_EST_RETX, 0, SRV, A_HI, 1, TF_RST, DROP(RG_R_INEXACT) },
	{ "exact RST+PSH+ACK", S_EST, 0, SRV, A_HI, 0, TF_RST | TF_PSH | TF_ACK, AK_ALL, 0, VALID },
	/* L5: the peer lost its state and answers our data with seq = that data's ACK field. */
	{ "L5 half-open: RST seq = ACK of the offending segment", S_EST, 0, SRV, A_LO, 0, TF_RST,
	  VALID },

	/* Window scaling: only when both SYNs carry the option (client window 1000 << 7 = 128000,
	 * without scaling the largest window is the SYN's 8192). */
	{ "wscale 7 both: inside win<<7", S_EST, 0, SRV, A_HI, 100000, TF_RST, DROP(RG_R_INEXACT) },
	{ "wscale 7 both: win<<7 edge", S_EST, 0, SRV, A_HI, 128000, TF_RST, DROP(RG_R_INEXACT) },
	{ "wscale 7 both: beyond win<<7", S_EST, 0, SRV, A_HI, 128001, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "wscale on client SYN only: no scaling", S_EST_WSC, 0, SRV, A_HI, 100000, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "wscale on client SYN only: SYN window", S_EST_WSC, 0, SRV, A_HI, 8192, TF_RST,
	  DROP(RG_R_INEXACT) },
	{ "wscale on client SYN only: past SYN window", S_EST_WSC, 0, SRV, A_HI, 8193, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "wscale on server SYN only: no scaling", S_EST_WSS, 0, SRV, A_HI, 100000, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "wscale on server SYN only: client's no scaling", S_EST_WSS, 0, CLI, A_HI, 8193, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "no wscale: past SYN window", S_EST_NOWS, 0, SRV, A_HI, 8193, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "no wscale: exact", S_EST_NOWS, 0, SRV, A_HI, 0, TF_RST, VALID },
	{ "wscale 20 means 14: inside win<<14", S_EST_WS20, 0, SRV, A_HI, 1000 << 14, TF_RST,
	  DROP(RG_R_INEXACT) },
	{ "wscale 20 means 14: beyond win<<14", S_EST_WS20, 0, SRV, A_HI, (1000 << 14) + 1, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },

	/* FIN slack: Linux also resets on RCV.NXT-1 once it received the peer's FIN. */
	{ "after sender's FIN: exact", S_FIN_WAIT, 0, SRV, A_HI, 0, TF_RST, VALID },
	{ "after sender's FIN: FIN slack (one below)", S_FIN_WAIT, 0, SRV, A_HI, -1, TF_RST,
	  VALID },
	{ "after sender's FIN: two below", S_FIN_WAIT, 0, SRV, A_HI, -2, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "after sender's FIN: one above, in window", S_FIN_WAIT, 0, SRV, A_HI, 1, TF_RST,
	  DROP(RG_R_INEXACT) },
	{ "no FIN slack for the side that sent no FIN", S_FIN_WAIT, 0, CLI, A_HI, -1, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },

	/* SYN-RECEIVED: the responder's SND.NXT is its ISN+1. */
	{ "SYN-RECEIVED: server RST at its ISN+1", S_SYN_RECV, 0, SRV, A_HI, 0, TF_RST, VALID },
	{ "SYN-RECEIVED: client RST at its ISN+1", S_SYN_RECV, 0, CLI, A_HI, 0, TF_RST, VALID },
	{ "SYN-RECEIVED: server RST one below", S_SYN_RECV, 0, SRV, A_HI, -1, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },

	/* SYN-SENT: only the ACK counts (L1: connection refused). */
	{ "SYN-SENT: refusal RST+ACK, ack = ISN+1", S_SYN_SENT, 0, SRV, A_ABS, 0, TF_RST | TF_ACK,
	  AK_ISN1, 0, VALID },
	{ "SYN-SENT: refusal with any seq", S_SYN_SENT, 0, SRV, A_ABS, 0x12345678, TF_RST | TF_ACK,
	  AK_ISN1, 0, VALID },
	/* An entry a lone SYN created cannot show that no older connection holds the 4-tuple (after
	 * an eviction, one forged SYN makes such an entry): any other RST may be that connection's
	 * and passes for the endpoint to judge, whatever the policy; the entry stays as it is. */
	{ "SYN-SENT: ack = ISN+2", S_SYN_SENT, 0, SRV, A_ABS, 0, TF_RST | TF_ACK, AK_ISN1, 1,
	  PASSED(RG_R_UNVERIFIED) },
	{ "SYN-SENT: ack = ISN", S_SYN_SENT, 0, SRV, A_ABS, 0, TF_RST | TF_ACK, AK_ISN1, -1,
	  PASSED(RG_R_UNVERIFIED) },
	{ "SYN-SENT: right ack value, no ACK flag", S_SYN_SENT, 0, SRV, A_ABS, 0, TF_RST, AK_ISN1,
	  0, PASSED(RG_R_UNVERIFIED) },
	{ "SYN-SENT: an older connection's exact-looking RST+ACK", S_SYN_SENT, 0, SRV, A_ABS,
	  0x7a000000, TF_RST | TF_ACK, AK_ISN1, 0x10000000, PASSED(RG_R_UNVERIFIED) },
	{ "SYN-SENT: monitor, not the refusal", S_SYN_SENT, RG_P_MONITOR, SRV, A_ABS, 0,
	  TF_RST | TF_ACK, AK_ISN1, 1, PASSED(RG_R_UNVERIFIED) },
	{ "SYN-SENT: RST from the SYN's sender, not at its end", S_SYN_SENT, 0, CLI, A_HI, 0x2000,
	  TF_RST | TF_ACK, AK_ZERO, 0x1234, PASSED(RG_R_UNVERIFIED) },
	{ "SYN-SENT: RST from the SYN's sender at its end", S_SYN_SENT, 0, CLI, A_HI, 0, TF_RST,
	  VALID },
	{ "SYN retransmitted with the same ISN: refusal", S_SYN_RETX0, 0, SRV, A_ABS, 0,
	  TF_RST | TF_ACK, AK_ISN1, 0, VALID },
	{ "second SYN with another ISN: refusal of the first", S_SYN_RETX, 0, SRV, A_ABS, 0,
	  TF_RST | TF_ACK, AK_ISN1, 0, VALID },
	{ "second SYN with another ISN: refusal of the second", S_SYN_RETX, 0, SRV, A_ABS, 0,
	  TF_RST | TF_ACK, AK_ISN2, 0, VALID },
	/* Two ISNs in the initiator's name: either may be a forger's, so the entry is contested
	 * and other RSTs pass (the SYN-SENT stack checks the ACK itself). */
	{ "second SYN with another ISN: wrong ack", S_SYN_RETX, 0, SRV, A_ABS, 0, TF_RST | TF_ACK,
	  AK_ISN1, 1, PASSED(RG_R_UNVERIFIED) },

	/* TIME-WAIT (L4): exact RSTs are policy timewait, the rest out of window. */
	{ "TIME-WAIT: exact RST to the closer, accepted", S_TIME_WAIT, 0, SRV, A_HI, 0, TF_RST,
	  PASSED(RG_R_TIMEWAIT), .after = AF_CLOSED },
	{ "TIME-WAIT: exact RST from the closer, accepted", S_TIME_WAIT, 0, CLI, A_HI, 0, TF_RST,
	  PASSED(RG_R_TIMEWAIT), .after = AF_CLOSED },
	{ "TIME-WAIT: exact RST, timewait=drop", S_TIME_WAIT, RG_P_TIMEWAIT_DROP, SRV, A_HI, 0,
	  TF_RST, DROP(RG_R_TIMEWAIT) },
	{ "TIME-WAIT: exact RST+ACK from the closer, timewait=drop", S_TIME_WAIT,
	  RG_P_TIMEWAIT_DROP, CLI, A_HI, 0, TF_RST | TF_ACK, AK_ALL, 0, DROP(RG_R_TIMEWAIT) },
	{ "TIME-WAIT: non-exact above", S_TIME_WAIT, 0, SRV, A_HI, 10, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "TIME-WAIT: non-exact below", S_TIME_WAIT, 0, SRV, A_HI, -10, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "TIME-WAIT: non-exact, timewait=drop", S_TIME_WAIT, RG_P_TIMEWAIT_DROP, SRV, A_HI, 10,
	  TF_RST, DROP(RG_R_OUT_OF_WINDOW) },
	{ "TIME-WAIT: monitor + timewait=drop counts would_drop", S_TIME_WAIT,
	  RG_P_MONITOR | RG_P_TIMEWAIT_DROP, SRV, A_HI, 0, TF_RST, WOULD(RG_R_TIMEWAIT) },

	/* No tracked flow. */
	{ "untracked 4-tuple", S_NONE, 0, SRV, A_ABS, 0x11223344, TF_RST, DROP(RG_R_NO_FLOW) },
	{ "untracked 4-tuple, RST+ACK", S_NONE, 0, CLI, A_ABS, 0x11223344, TF_RST | TF_ACK, AK_ZERO,
	  0x55667788, DROP(RG_R_NO_FLOW) },
	{ "untracked 4-tuple, unknown=pass", S_NONE, RG_P_UNKNOWN_PASS, SRV, A_ABS, 0x11223344,
	  TF_RST, PASSED(RG_R_NO_FLOW) },
	{ "untracked 4-tuple, monitor", S_NONE, RG_P_MONITOR, SRV, A_ABS, 0x11223344, TF_RST,
	  WOULD(RG_R_NO_FLOW) },

	/* Mid-stream pickup, one direction seen: only the edges known exactly identify a reset
	 * (the seen sender's own SND.NXT, or the ACK the seen side sent); the rest is one_way. */
	{ "one way: RST from the unseen side, not at the known ACK", S_ONE_WAY, 0, SRV, A_LO, 1000,
	  TF_RST, DROP(RG_R_ONE_WAY) },
	{ "one way: RST from the seen side, not at its seq end", S_ONE_WAY, 0, CLI, A_HI, -1,
	  TF_RST, DROP(RG_R_ONE_WAY) },
	{ "one way: unknown=pass", S_ONE_WAY, RG_P_UNKNOWN_PASS, SRV, A_LO, 1000, TF_RST,
	  PASSED(RG_R_ONE_WAY) },
	{ "one way: monitor", S_ONE_WAY, RG_P_MONITOR, CLI, A_HI, 5, TF_RST, WOULD(RG_R_ONE_WAY) },
	{ "one way: RST from the unseen side at the seen side's ACK", S_ONE_WAY, 0, SRV, A_LO, 0,
	  TF_RST, VALID },
	{ "one way: RST from the seen side at its seq end", S_ONE_WAY, 0, CLI, A_HI, 0, TF_RST,
	  VALID },
	/* One-sided state contradicted by a blind segment decides nothing (flow.h, flow_contest):
	 * the legitimate reset passes, as does any other, whatever policy unknown says. */
	{ "one way, contested: RST from the seen side at its seq end", S_ONE_WAY_CONT, 0, CLI, A_HI,
	  0, TF_RST, PASSED(RG_R_UNVERIFIED) },
	{ "one way, contested: any RST from the unseen side", S_ONE_WAY_CONT, 0, SRV, A_LO, 12345,
	  TF_RST, PASSED(RG_R_UNVERIFIED) },
	{ "one way, contested: monitor", S_ONE_WAY_CONT, RG_P_MONITOR, SRV, A_LO, 12345, TF_RST,
	  PASSED(RG_R_UNVERIFIED) },
	/* A forger first on an untracked connection: the real traffic of both sides takes over. */
	{ "forged first, both real sides since: exact from server", S_FORGED_FIRST, 0, SRV, A_HI, 0,
	  TF_RST, VALID },
	{ "forged first, both real sides since: exact from client", S_FORGED_FIRST, 0, CLI, A_HI, 0,
	  TF_RST, VALID },
	{ "forged first, both real sides since: one above", S_FORGED_FIRST, 0, SRV, A_HI, 1, TF_RST,
	  DROP(RG_R_INEXACT) },
	{ "forged first, both real sides since: far", S_FORGED_FIRST, 0, SRV, A_HI, 0x40000000,
	  TF_RST, DROP(RG_R_OUT_OF_WINDOW) },
	{ "forged responder SYN, then the real handshake: exact", S_SYN_FORGED, 0, SRV, A_HI, 0,
	  TF_RST, VALID },
	{ "forged responder SYN, then the real handshake: at the forged ISN+1", S_SYN_FORGED, 0,
	  SRV, A_HI, 0x40000000, TF_RST, DROP(RG_R_OUT_OF_WINDOW) },
	/* Both directions seen: judged like a tracked flow, windows read with shift 14. */
	{ "mid-stream, both seen: exact from server", S_MIDSTREAM, 0, SRV, A_HI, 0, TF_RST, VALID },
	{ "mid-stream, both seen: exact from client", S_MIDSTREAM, 0, CLI, A_HI, 0, TF_RST, VALID },
	{ "mid-stream, both seen: inside the band", S_MIDSTREAM, 0, SRV, A_LO, 100, TF_RST, VALID },
	{ "mid-stream, both seen: in window", S_MIDSTREAM, 0, SRV, A_HI, 1000, TF_RST,
	  DROP(RG_R_INEXACT) },
	{ "mid-stream, both seen: just outside the window", S_MIDSTREAM, 0, SRV, A_WIN, 1, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	/* Picked up mid-stream, a FIN may have gone by unseen: RCV.NXT-1 passes, not one lower. */
	{ "mid-stream, both seen: one below the band", S_MIDSTREAM, 0, SRV, A_LO, -1, TF_RST,
	  VALID },
	{ "mid-stream, both seen: two below the band", S_MIDSTREAM, 0, SRV, A_LO, -2, TF_RST,
	  DROP(RG_R_OUT_OF_WINDOW) },
	{ "mid-stream, server's first segment is a FIN: exact", S_MID_FIN, 0, SRV, A_HI, 0, TF_RST,
	  VALID },
	{ "mid-stream, server's first segment is a FIN: FIN slack", S_MID_FIN, 0, SRV, A_HI, -1,
	  TF_RST, VALID },

	/* Policy inexact=pass. */
	{ "inexact=pass: in-window RST passes", S_EST, RG_P_INEXACT_PASS, SRV, A_HI, 1, TF_RST,
	  PASSED(RG_R_INEXACT) },
	{ "inexact=pass: out of window still dropped", S_EST, RG_P_INEXACT_PASS, SRV, A_WIN, 1,
	  TF_RST, DROP(RG_R_OUT_OF_WINDOW) },
	{ "inexact=pass: exact still valid", S_EST, RG_P_INEXACT_PASS, SRV, A_HI, 0, TF_RST, VALID },
	{ "unknown=pass: out of window still dropped", S_EST, RG_P_UNKNOWN_PASS, SRV, A_WIN, 1,
	  TF_RST, DROP(RG_R_OUT_OF_WINDOW) },

	/* Monitor: nothing dropped, would-drops counted under the same reason. */
	{ "monitor: out of window", S_EST, RG_P_MONITOR, SRV, A_WIN, 1, TF_RST,
	  WOULD(RG_R_OUT_OF_WINDOW) },
	{ "monitor: inexact", S_EST, RG_P_MONITOR, SRV, A_HI, 1, TF_RST, WOULD(RG_R_INEXACT) },
	{ "monitor: RST+SYN", S_EST, RG_P_MONITOR, SRV, A_HI, 0, TF_RST | TF_SYN,
	  WOULD(RG_R_BAD_FLAGS) },
	{ "monitor: exact passes as valid", S_EST, RG_P_MONITOR, SRV, A_HI, 0, TF_RST,
	  PASSED(RG_R_VALID), .after = AF_ANY },

	/* Illegal flag combinations, even at the exact sequence number. */
	{ "RST+SYN at the exact seq", S_EST, 0, SRV, A_HI, 0, TF_RST | TF_SYN,
	  DROP(RG_R_BAD_FLAGS) },
	{ "RST+FIN at the exact seq", S_EST, 0, SRV, A_HI, 0, TF_RST | TF_FIN,
	  DROP(RG_R_BAD_FLAGS) },
	{ "RST+FIN+ACK at the exact seq", S_EST, 0, CLI, A_HI, 0, TF_RST | TF_FIN | TF_ACK, AK_ALL,
	  0, DROP(RG_R_BAD_FLAGS) },
	{ "RST+SYN+ACK to SYN-SENT with the right ack", S_SYN_SENT, 0, SRV, A_ABS, 0,
	  TF_RST | TF_SYN | TF_ACK, AK_ISN1, 0, DROP(RG_R_BAD_FLAGS) },
	{ "RST+SYN for an untracked flow", S_NONE, 0, SRV, A_ABS, 0, TF_RST | TF_SYN,
	  DROP(RG_R_BAD_FLAGS) },
	{ "RST+SYN, unknown=pass and inexact=pass", S_EST, RG_P_UNKNOWN_PASS | RG_P_INEXACT_PASS,
	  SRV, A_HI, 0, TF_RST | TF_SYN, DROP(RG_R_BAD_FLAGS) },
};
#define NCASES (int)(sizeof(cases) / sizeof(cases[0]))

static uint32_t case_seq(const struct conn *c, const struct rst_case *rc)
{
	int from = rc->from;

	switch (rc->anchor) {
	case A_LO:
		return c->acked[!from] + (uint32_t)rc->off;
	case A_HI:
		return c->nxt[from] + (uint32_t)rc->off;
	case A_WIN:
		return c->nxt[from] + c->maxwin[!from] + (uint32_t)rc->off;
	default:
		return (uint32_t)rc->off;
	}
}

static uint32_t case_ack(const struct conn *c, const struct rst_case *rc)
{
	switch (rc->ackrel) {
	case AK_ISN1:
		return c->isn[CLI] + 1 + (uint32_t)rc->ackoff;
	case AK_ISN2:
		return c->isn2 + 1 + (uint32_t)rc->ackoff;
	case AK_ALL:
		return c->nxt[!rc->from] + (uint32_t)rc->ackoff;
	default:
		return (uint32_t)rc->ackoff;
	}
}

static void run_case(struct rg_env *e, const struct variant *v, int iset, int idx)
{
	const struct rst_case *rc = &cases[idx];
	struct rg_flow before, after;
	struct conn c;
	struct pktspec rst;
	int want_st, have, have2;

	/* A connection of its own per case: valid RSTs close it, and no case sees another's state. */
	conn_init(&c, v, (uint16_t)(10000 + iset * 1000 + idx), isns[iset].c, isns[iset].s);
	snprintf(c.name, sizeof(c.name), "%s %s: %s", v->name, isns[iset].name, rc->desc);
	want_st = setup(e, &c, rc->scen);
	have = flow_of(e, &c, &before) == 0;
	if (want_st < 0) {
		CHECK(!have, "%s: no entry before the RST", c.name);
	} else {
		CHECK(have && flow_state(&before) == want_st, "%s: state before the RST %s, want %s",
		      c.name, have ? state_name(flow_state(&before)) : "(no entry)",
		      state_name(want_st));
	}

	rst = seg(&c, rc->from, case_seq(&c, rc), case_ack(&c, rc), rc->flags, 0);
	if (rc->pol)
		CHECK(env_policy(e, rc->pol, 0) == 0, "%s: set policy", c.name);
	expect_rst(e, &rst, rc->xdp, rc->reason, rc->act, c.name);
	if (rc->pol)
		CHECK(env_policy(e, 0, rc->pol) == 0, "%s: clear policy", c.name);

	have2 = flow_of(e, &c, &after) == 0;
	if (rc->after == AF_CLOSED) {
		CHECK(have2 && flow_state(&after) == RG_ST_CLOSED,
		      "%s: state after an accepted RST %s, want closed", c.name,
		      have2 ? state_name(flow_state(&after)) : "(no entry)");
	} else if (rc->after == AF_SAME) {
		/* A rejected RST leaves no trace, not even on the entry's clock. */
		CHECK(have2 == have && (!have || !memcmp(&before, &after, sizeof(before))),
		      "%s: entry changed by a rejected RST (state %s -> %s)", c.name,
		      have ? state_name(flow_state(&before)) : "(no entry)",
		      have2 ? state_name(flow_state(&after)) : "(no entry)");
	}
}

/* --- forged segments ---------------------------------------------------------------------- */

static uint64_t rng = 0x2545f4914f6cdd1dull;

/* xorshift64*: fixed seed, so a failure reproduces exactly. */
static uint32_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

/* Runs a segment that is not part of the model (forged); checks only that it passes. */
static void forge(struct rg_env *e, const struct conn *c, int from, uint32_t seq, uint32_t ack,
		  uint8_t flags, uint32_t payload, const char *what)
{
	struct pktspec s = seg(c, from, seq, ack, flags, payload);
	int r = env_run_spec(e, &s);

	CHECK(r == XDP_PASS, "%s: forged %s: XDP %s, want pass", c->name, what, xdp_name(r));
}

static void check_same(struct rg_env *e, const struct conn *c, const struct rg_flow *before,
		       const char *what)
{
	struct rg_flow now;
	int have = flow_of(e, c, &now) == 0;

	CHECK(have && !memcmp(before, &now, sizeof(now)),
	      "%s: %s moved the entry: d0 seq_end %#x->%#x ack %#x->%#x win %u->%u, "
	      "d1 seq_end %#x->%#x ack %#x->%#x win %u->%u, dflags %#x/%#x->%#x/%#x",
	      c->name, what, before->d[0].seq_end, now.d[0].seq_end, before->d[0].ack, now.d[0].ack,
	      before->d[0].max_win, now.d[0].max_win, before->d[1].seq_end, now.d[1].seq_end,
	      before->d[1].ack, now.d[1].ack, before->d[1].max_win, now.d[1].max_win,
	      before->dflags[0], before->dflags[1], now.dflags[0], now.dflags[1]);
}

/* n RSTs from `from` at random sequence numbers; returns how many got the XDP action want. A
 * dropped one must count out_of_window or inexact, a passed one unverified: never valid. */
static int blind_rsts(struct rg_env *e, const struct conn *c, int from, int n, int want)
{
	struct rg_snap b;
	int got = 0;

	env_snap(e, &b);
	for (int i = 0; i < n; i++) {
		struct pktspec s = seg(c, from, rnd(), 0, TF_RST, 0);

		got += env_run_spec(e, &s) == want;
	}
	CHECK(env_delta(e, &b, RG_R_VALID, RG_ACT_PASS) == 0 &&
		      env_delta(e, &b, want == XDP_DROP ? RG_R_OUT_OF_WINDOW : RG_R_UNVERIFIED,
				want == XDP_DROP ? RG_ACT_DROP : RG_ACT_PASS) +
				      (want == XDP_DROP ? env_delta(e, &b, RG_R_INEXACT, RG_ACT_DROP) : 0) ==
			      (uint64_t)n,
	      "%s: %d blind RSTs counted %s", c->name, n, moved(e, &b));
	return got;
}

static int same_numbers(const struct rg_dir *a, const struct rg_dir *b)
{
	return a->seq_end == b->seq_end && a->ack == b->ack && a->max_win == b->max_win;
}

/* A new handshake went by on the live flow: the entry is uncertain and its old state untouched
 * (same numbers and flags as `was`). */
static void expect_uncertain(struct rg_env *e, const struct conn *c, const struct rg_flow *was,
			     const char *when)
{
	struct rg_flow f;
	int have = flow_of(e, c, &f) == 0;

	CHECK(have && (f.pending & RG_PEND_SYNACK) && same_numbers(&f.d[0], &was->d[0]) &&
		      same_numbers(&f.d[1], &was->d[1]) && f.dflags[0] == was->dflags[0] && f.dflags[1] == was->dflags[1] &&
		      f.fflags == was->fflags && f.last_seen == was->last_seen,
	      "%s: %s: pending %#x, d0 end %#x ack %#x, d1 end %#x ack %#x, want uncertain with "
	      "d0 end %#x ack %#x, d1 end %#x ack %#x", c->name, when, have ? f.pending : 0,
	      f.d[0].seq_end, f.d[0].ack, f.d[1].seq_end, f.d[1].ack, was->d[0].seq_end,
	      was->d[0].ack, was->d[1].seq_end, was->d[1].ack);
}

/* A blind attacker's segments (random seq and ack) must leave the entry exactly as it was, so
 * that neither its later blind RSTs pass nor the real exact RST is dropped. */
static void test_blind_data(struct rg_env *e, const struct variant *v, uint16_t port)
{
	const int n = 3000, nrst = 1000;
	struct rg_flow before;
	struct rg_snap b;
	struct conn c;
	int passed = 0;

	conn_init(&c, v, port, 0x3c000000, 0xc3000000);
	snprintf(c.name, sizeof(c.name), "%s: blind forged data", v->name);
	setup(e, &c, S_EST);
	CHECK(flow_of(e, &c, &before) == 0, "%s: tracked", c.name);

	env_snap(e, &b);
	for (int i = 0; i < n; i++) {
		uint8_t fl = TF_ACK | ((rnd() & 3) ? TF_PSH : 0) | ((rnd() & 7) ? 0 : TF_FIN);
		struct pktspec s = seg(&c, i & 1, rnd(), rnd(), fl, rnd() % 200);

		passed += env_run_spec(e, &s) == XDP_PASS;
	}
	CHECK(passed == n, "%s: %d of %d forged segments passed, want all", c.name, passed, n);
	CHECK(env_delta(e, &b, RG_R_NON_RST, RG_ACT_PASS) == (uint64_t)n &&
		      env_delta_all(e, &b) == (uint64_t)n,
	      "%s: counted %s, want only non_rst_tcp/pass=%d", c.name, moved(e, &b), n);
	check_same(e, &c, &before, "random seq/ack segments");

	/* Near misses, each rejected by one rule: an ACK of data never sent, an ACK far older than
	 * any window, data starting past the receiver's window; and segments without ACK. */
	forge(e, &c, SRV, c.nxt[SRV], c.nxt[CLI] + 1, TF_ACK | TF_PSH, 100, "ack of unsent data");
	forge(e, &c, SRV, c.nxt[SRV], c.nxt[CLI] - 0x01000000, TF_ACK | TF_PSH, 100, "stale ack");
	forge(e, &c, SRV, c.acked[CLI] + c.maxwin[CLI] + 0x100000, c.nxt[CLI], TF_ACK | TF_PSH, 100,
	      "data past the window");
	forge(e, &c, CLI, c.nxt[CLI] + 0x20000000, c.nxt[SRV] + 0x1000, TF_ACK | TF_FIN, 0,
	      "FIN acking unsent data");
	forge(e, &c, SRV, rnd(), 0, TF_PSH, 100, "data without ACK");
	forge(e, &c, CLI, rnd(), 0, TF_FIN, 0, "FIN without ACK");
	forge(e, &c, SRV, c.acked[CLI] - c.maxwin[CLI] - 2, c.nxt[CLI], TF_ACK | TF_PSH, 100,
	      "data starting more than a window below the ACK");
	check_same(e, &c, &before, "near-miss forgeries");

	/* Blind RSTs: none passes, and none moves the entry. */
	CHECK(blind_rsts(e, &c, SRV, nrst, XDP_DROP) == nrst, "%s: blind RSTs dropped", c.name);
	check_same(e, &c, &before, "blind RSTs");

	/* A SYN on a live flow is remembered (a peer re-opening the 4-tuple), and a SYN-ACK from the
	 * other side makes the entry uncertain: its state stays as it was, but RSTs not exact for
	 * it pass as unverified, since the new connection's may lie anywhere. */
	forge(e, &c, CLI, rnd(), 0, TF_SYN, 0, "SYN in ESTABLISHED");
	forge(e, &c, SRV, rnd(), c.nxt[CLI], TF_SYN | TF_ACK, 0, "SYN-ACK in ESTABLISHED");
	forge(e, &c, SRV, rnd(), rnd(), TF_SYN | TF_ACK, 0, "SYN-ACK, random ack, in ESTABLISHED");
	expect_uncertain(e, &c, &before, "after a forged SYN and SYN-ACK");
	CHECK(blind_rsts(e, &c, SRV, 100, XDP_PASS) == 100, "%s: blind RSTs pass while uncertain",
	      c.name);
	/* Neither more forgeries nor the blind RSTs moved the old state or ended the doubt. */
	forge(e, &c, CLI, c.nxt[CLI] + 0x30000000, c.nxt[SRV] + 0x30000000, TF_ACK, 0, "blind ACK");
	expect_uncertain(e, &c, &before, "after blind RSTs");

	/* The real endpoints' next exchange continues the old state exactly: the doubt is over. */
	xmit_all(e, &c, CLI, TF_ACK | TF_PSH, 100);
	xmit_all(e, &c, SRV, TF_ACK, 0);
	CHECK(flow_of(e, &c, &before) == 0 && flow_state(&before) == RG_ST_ESTABLISHED &&
		      !before.pending && !(before.fflags & RG_F_CONTESTED),
	      "%s: after the real exchange: state %s, pending %#x, fflags %#x, want established, "
	      "certain", c.name, state_name(flow_state(&before)), before.pending, before.fflags);
	CHECK(blind_rsts(e, &c, SRV, nrst, XDP_DROP) == nrst,
	      "%s: blind RSTs dropped after the real exchange", c.name);
	{
		struct pktspec above = seg(&c, SRV, c.nxt[SRV] + 1, 0, TF_RST, 0);
		struct pktspec below = seg(&c, SRV, c.acked[CLI] - 1, 0, TF_RST, 0);
		struct pktspec exact = seg(&c, SRV, c.nxt[SRV], 0, TF_RST, 0);
		char what[320];

		snprintf(what, sizeof(what), "%s: one above the band afterwards", c.name);
		expect_rst(e, &above, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, what);
		snprintf(what, sizeof(what), "%s: one below the band afterwards", c.name);
		expect_rst(e, &below, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, what);
		snprintf(what, sizeof(what), "%s: legitimate exact RST afterwards", c.name);
		expect_rst(e, &exact, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
	}
}

/* The lower edge of the sequence window: a sender never has more than the receiver's window
 * unacknowledged, so its segments (retransmissions included) start at most that far below the
 * receiver's ACK, one further for a keepalive. The lowest such segment still moves the entry (a
 * larger window it carries is taken); one lower does not. And new data never acknowledges less
 * than its sender did before: such a segment does not widen the band, the same one with the
 * sender's own ACK does. */
static void test_window_edges(struct rg_env *e, const struct variant *v, uint16_t port)
{
	struct rg_flow f;
	struct pktspec s;
	struct conn c;
	uint32_t low;

	conn_init(&c, v, port, 0x02100000, 0x02200000);
	snprintf(c.name, sizeof(c.name), "%s: window low edge", v->name);
	setup(e, &c, S_EST);
	low = c.acked[CLI] - c.maxwin[CLI] - 1;
	s = seg(&c, SRV, low - 1, c.nxt[CLI], TF_ACK, 0);
	s.win = 3000;
	send_seg(e, &c, &s);
	CHECK(flow_of(e, &c, &f) == 0 && f.d[c.dir[SRV]].max_win == c.maxwin[SRV],
	      "%s: a segment one below the edge moved the window to %u (was %u)", c.name,
	      f.d[c.dir[SRV]].max_win, c.maxwin[SRV]);
	s = seg(&c, SRV, low, c.nxt[CLI], TF_ACK, 0);
	s.win = 2000;
	send_seg(e, &c, &s);
	CHECK(flow_of(e, &c, &f) == 0 && f.d[c.dir[SRV]].max_win == 2000u << conn_shift(&c, SRV),
	      "%s: a segment at the edge left the window at %u, want %u", c.name,
	      f.d[c.dir[SRV]].max_win, 2000u << conn_shift(&c, SRV));
	s = seg(&c, SRV, c.nxt[SRV] + 500, c.acked[SRV] - 1, TF_ACK | TF_PSH, 100);
	send_seg(e, &c, &s);
	CHECK(flow_of(e, &c, &f) == 0 && f.d[c.dir[SRV]].seq_end == c.nxt[SRV],
	      "%s: new data acking less than before moved the end to %#x (was %#x)", c.name,
	      f.d[c.dir[SRV]].seq_end, c.nxt[SRV]);
	s = seg(&c, SRV, c.nxt[SRV] + 500, c.acked[SRV], TF_ACK | TF_PSH, 100);
	send_seg(e, &c, &s);
	c.nxt[SRV] += 600; /* the 500 bytes before it went another way */
	CHECK(flow_of(e, &c, &f) == 0 && f.d[c.dir[SRV]].seq_end == c.nxt[SRV],
	      "%s: new data after a gap left the end at %#x, want %#x", c.name,
	      f.d[c.dir[SRV]].seq_end, c.nxt[SRV]);
	expect_blind_then_exact(e, &c, SRV, 0x10000000, "after the edge segments");
}

/* Forged SYN-ACK with the wrong ack: must not start the responder side, so the real refusal
 * and the real handshake both still work. */
static void test_forged_synack(struct rg_env *e, const struct variant *v, uint16_t port)
{
	struct rg_flow f;
	struct conn c;
	char what[320];

	for (int refuse = 0; refuse < 2; refuse++) {
		conn_init(&c, v, (uint16_t)(port + refuse), 0x10203040, 0x50607080);
		snprintf(c.name, sizeof(c.name), "%s: forged SYN-ACK (%s)", v->name,
			 refuse ? "then refusal" : "then handshake");
		xmit(e, &c, CLI, TF_SYN, 0, 0);
		forge(e, &c, SRV, 0x0badcafe, c.nxt[CLI] + 4, TF_SYN | TF_ACK, 0, "SYN-ACK, ack ISN+5");
		forge(e, &c, SRV, 0x0badcafe, c.nxt[CLI] - 1, TF_SYN | TF_ACK, 0, "SYN-ACK, ack ISN");
		CHECK(flow_of(e, &c, &f) == 0 && f.dflags[c.dir[SRV]] == 0 &&
			      flow_state(&f) == RG_ST_SYN_SENT,
		      "%s: responder side started (dflags %#x, state %s)", c.name, f.dflags[c.dir[SRV]],
		      state_name(flow_state(&f)));
		if (refuse) {
			struct pktspec r = seg(&c, SRV, 0, c.isn[CLI] + 1, TF_RST | TF_ACK, 0);

			snprintf(what, sizeof(what), "%s: refusal with ack = ISN+1", c.name);
			expect_rst(e, &r, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
		} else {
			struct pktspec r;

			xmit_all(e, &c, SRV, TF_SYN | TF_ACK, 0);
			xmit_all(e, &c, CLI, TF_ACK, 0);
			CHECK(flow_of(e, &c, &f) == 0 && flow_state(&f) == RG_ST_ESTABLISHED,
			      "%s: real handshake establishes (state %s)", c.name,
			      state_name(flow_state(&f)));
			r = seg(&c, SRV, c.nxt[SRV], 0, TF_RST, 0);
			snprintf(what, sizeof(what), "%s: exact RST after the real handshake", c.name);
			expect_rst(e, &r, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
		}
	}
}

/* A forged SYN with another ISN during SYN-SENT may keep the refusal of either ISN working, but
 * once the SYN-ACK has said which ISN is real, the forged one must not widen the RST band. */
static void test_forged_syn(struct rg_env *e, const struct variant *v, uint16_t port)
{
	struct rg_flow f;
	struct conn c;

	conn_init(&c, v, port, 0x01000000, 0x02000000);
	snprintf(c.name, sizeof(c.name), "%s: forged SYN in SYN-SENT", v->name);
	xmit(e, &c, CLI, TF_SYN, 0, 0);
	forge(e, &c, CLI, c.isn[CLI] + 0x40000000, 0, TF_SYN, 0, "SYN with ISN + 2^30");
	xmit(e, &c, SRV, TF_SYN | TF_ACK, 0, c.isn[CLI] + 1);
	xmit_all(e, &c, CLI, TF_ACK, 0);
	xmit_all(e, &c, CLI, TF_ACK | TF_PSH, 100);
	xmit_all(e, &c, SRV, TF_ACK, 0);
	CHECK(flow_of(e, &c, &f) == 0 && f.d[c.dir[CLI]].seq_end == c.nxt[CLI],
	      "%s: client seq_end %#x, want its SND.NXT %#x", c.name, f.d[c.dir[CLI]].seq_end,
	      c.nxt[CLI]);
	/* The server acked everything, so its RCV.NXT is known: 2^28 above it is far outside. */
	expect_blind_then_exact(e, &c, CLI, 0x10000000, "from the client");
}

/*
 * A blind forger who knows the 4-tuple sends a SYN on a live flow, then as the other end either
 * the matching refusal (RST+ACK, seq 0, ack = its ISN+1) or a matching SYN-ACK. Both endpoints
 * shrug these off (a SYN or SYN-ACK on an established socket draws a challenge ACK, an RST with
 * seq 0 is far outside the window), so the connection lives on and the gateway must keep judging
 * it as live: a minute later (BGP keepalives are 60 s apart) the server's exact RST still passes.
 */
static void test_forged_reopen(struct rg_env *e, const struct variant *v, uint16_t port,
			       int64_t *clock)
{
	static const char *const how[] = { "refusal", "SYN-ACK" };

	for (int k = 0; k < 2; k++) {
		uint32_t x = 0x5eed0000;
		struct pktspec r;
		struct rg_flow f;
		struct conn c;

		conn_init(&c, v, (uint16_t)(port + k), 0x0c000000, 0x0d000000);
		snprintf(c.name, sizeof(c.name), "%s: forged re-open SYN and %s", v->name, how[k]);
		setup(e, &c, S_EST);
		forge(e, &c, CLI, x, 0, TF_SYN, 0, "SYN on the live flow");
		if (k == 0) {
			/* Its own verdict is not asserted: the client discards it either way. */
			r = seg(&c, SRV, 0, x + 1, TF_RST | TF_ACK, 0);
			env_run_spec(e, &r);
		} else {
			forge(e, &c, SRV, 0x7ead0000, x + 1, TF_SYN | TF_ACK, 0, "SYN-ACK to it");
		}
		xmit_all(e, &c, CLI, TF_ACK | TF_PSH, 100);
		xmit_all(e, &c, SRV, TF_ACK | TF_PSH, 100);
		CHECK(flow_of(e, &c, &f) == 0 && flow_state(&f) == RG_ST_ESTABLISHED &&
			      f.d[c.dir[SRV]].seq_end == c.nxt[SRV],
		      "%s: live connection's entry %s, server seq_end %#x, want established, %#x",
		      c.name, state_name(flow_state(&f)), f.d[c.dir[SRV]].seq_end, c.nxt[SRV]);
		*clock += 60;
		env_clock(e, *clock);
		expect_blind_then_exact(e, &c, SRV, 0x10000000, "a minute later");
	}
}

/* A 4-tuple used again after the gateway saw its connection end: after an accepted RST and after
 * TIME-WAIT. The new connection's exact RST must pass (L2) and a blind one must not. (On an entry
 * still live, see test_reopen_live.) */
static void test_port_reuse(struct rg_env *e, const struct variant *v, uint16_t port)
{
	static const char *const how[] = { "after an accepted RST", "after TIME-WAIT" };

	for (int k = 0; k < 2; k++) {
		struct conn c;
		struct pktspec r;
		char what[320];

		conn_init(&c, v, (uint16_t)(port + k), 0x00a00000, 0x00b00000);
		snprintf(c.name, sizeof(c.name), "%s: port reuse %s", v->name, how[k]);
		setup(e, &c, k == 1 ? S_TIME_WAIT : S_EST);
		if (k == 0) {
			r = seg(&c, SRV, c.nxt[SRV], 0, TF_RST, 0);
			snprintf(what, sizeof(what), "%s: first connection's exact RST", c.name);
			expect_rst(e, &r, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
		}
		/* Same 4-tuple, new ISNs well after the old ones, as Linux picks them. */
		c.isn[CLI] = c.nxt[CLI] = c.nxt[CLI] + 0x01000000;
		c.isn[SRV] = c.nxt[SRV] = c.nxt[SRV] + 0x30000000;
		c.acked[CLI] = c.acked[SRV] = 0;
		c.maxwin[CLI] = c.maxwin[SRV] = 0;
		handshake(e, &c);
		xmit_all(e, &c, CLI, TF_ACK | TF_PSH, 200);
		xmit_all(e, &c, SRV, TF_ACK | TF_PSH, 300);
		xmit_all(e, &c, CLI, TF_ACK, 0);
		expect_tracked(e, &c, "new connection");
		r = seg(&c, SRV, c.nxt[SRV] + 0x08000000, 0, TF_RST, 0);
		snprintf(what, sizeof(what), "%s: blind RST on the new connection", c.name);
		expect_rst(e, &r, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, what);
		/* After a close the gateway saw, the new handshake is tracked as any first one, its
		 * window scale included. */
		r = seg(&c, SRV, c.nxt[SRV] + c.maxwin[CLI] + 1, 0, TF_RST, 0);
		snprintf(what, sizeof(what), "%s: just outside the new window", c.name);
		expect_rst(e, &r, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, what);
		r = seg(&c, SRV, c.nxt[SRV], 0, TF_RST, 0);
		snprintf(what, sizeof(what), "%s: new connection's exact RST", c.name);
		expect_rst(e, &r, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
	}
}

/* A SYN forged in the client's name first, without the window-scale option: the real SYN's
 * option is the one the SYN-ACK answers (K37). Read unscaled, the client's window (1000 << 7)
 * would be 1000 bytes, the server's data would look out of window and be ignored, and the
 * server's exact RST would be dropped as inexact. */
static void test_forged_syn_first(struct rg_env *e, const struct variant *v, uint16_t port)
{
	struct conn c;
	struct pktspec fs;

	conn_init(&c, v, port, 0x03000000, 0x04000000);
	snprintf(c.name, sizeof(c.name), "%s: SYN forged without window scale first", v->name);
	fs = seg(&c, CLI, c.isn[CLI] + 0x40000000, 0, TF_SYN, 0);
	fs.has_wscale = 0;
	CHECK(env_run_spec(e, &fs) == XDP_PASS, "%s: forged SYN passes", c.name);
	c.tracked = 1;
	handshake(e, &c);
	/* More than the SYN's own window (8192), which also bounds the unscaled reading. */
	for (int i = 0; i < 10; i++)
		xmit_all(e, &c, SRV, TF_ACK | TF_PSH, 1000);
	xmit_all(e, &c, CLI, TF_ACK | TF_PSH, 100);
	xmit_all(e, &c, SRV, TF_ACK, 0);
	expect_tracked(e, &c, "after the real handshake");
	expect_blind_then_exact(e, &c, SRV, 0x10000000, "after the real handshake");
}

/*
 * A flow picked up mid-stream whose client FIN went by unseen (before attach, or lost while the
 * entry was contested): the gateway sees FIN_WAIT where both ends are done, and the client opens
 * the 4-tuple again. The handshake is taken as a new connection (contested until the SYN-ACK),
 * tracked at once: neither a segment in the old connection's window nor a second SYN after the
 * SYN-ACK keeps the new connection's resets from being judged against it (fuzz finding K27).
 */
static void test_midstream_reuse(struct rg_env *e, const struct variant *v, uint16_t port)
{
	static const char *const how[] = { "an old-window ACK", "a SYN after the SYN-ACK",
					   "an old RST before the SYN-ACK" };

	for (int k = 0; k < 3; k++) {
		struct conn c;
		struct pktspec r;
		struct rg_flow f;
		char what[320];
		uint32_t old_cli, old_srv;

		conn_init(&c, v, (uint16_t)(port + k), 0x00c00000, 0x00d00000);
		snprintf(c.name, sizeof(c.name), "%s: reuse after a mid-stream close, %s", v->name,
			 how[k]);
		CHECK(setup(e, &c, S_MID_FIN) == RG_ST_FIN_WAIT && flow_of(e, &c, &f) == 0 &&
			      flow_state(&f) == RG_ST_FIN_WAIT,
		      "%s: set-up entry %s, want fin_wait", c.name, state_name(flow_state(&f)));
		old_cli = c.nxt[CLI];
		old_srv = c.nxt[SRV];
		c.midstream = 0;
		c.isn[CLI] = c.nxt[CLI] = old_cli + 0x02000000;
		c.isn[SRV] = c.nxt[SRV] = old_srv + 0x50000000;
		c.acked[CLI] = c.acked[SRV] = 0;
		c.maxwin[CLI] = c.maxwin[SRV] = 0;
		xmit(e, &c, CLI, TF_SYN, 0, 0);
		/* Before the answer a reset that is not the SYN's refusal decides nothing, and
		 * leaves the new handshake to go on. */
		if (k == 2) {
			r = seg(&c, SRV, old_srv, old_cli, TF_RST | TF_ACK, 0);
			snprintf(what, sizeof(what), "%s: old connection's RST", c.name);
			expect_rst(e, &r, XDP_PASS, RG_R_UNVERIFIED, RG_ACT_PASS, what);
		}
		if (k == 0)
			forge(e, &c, CLI, old_cli + 1, old_srv, TF_ACK, 0, "ACK in the old window");
		xmit_all(e, &c, SRV, TF_SYN | TF_ACK, 0);
		if (k == 1)
			forge(e, &c, CLI, c.isn[CLI] + 0x40000000, 0, TF_SYN, 0, "second SYN");
		xmit_all(e, &c, CLI, TF_ACK, 0);
		xmit_all(e, &c, CLI, TF_ACK | TF_PSH, 200);
		xmit_all(e, &c, SRV, TF_ACK | TF_PSH, 300);
		xmit_all(e, &c, CLI, TF_ACK, 0);
		expect_tracked(e, &c, "new connection");
		expect_blind_then_exact(e, &c, SRV, 0x08000000, "on the new connection");
	}
}

/* --- re-open takeover, eviction ------------------------------------------------------------ */

/* The numbers a forger picks: far from every real one. */
#define FORGED_CLI_ISN 0x5eed0000u
#define FORGED_SRV_ISN 0x7ead0000u

/*
 * A blind forger who knows the 4-tuple of a live connection first sends each endpoint an
 * out-of-window ACK (a Linux endpoint answers one with an ACK and then stays quiet for 500 ms,
 * so no challenge ACK can interrupt what follows), then a whole handshake on it: SYN, SYN-ACK,
 * ACK. The entry must not take the forged numbers, or the real connection's segments would be
 * implausible for good and its resets dropped.
 */
static void forge_reopen(struct rg_env *e, const struct conn *c)
{
	forge(e, c, CLI, c->nxt[CLI] + 0x40000000, c->nxt[SRV] + 0x40000000, TF_ACK, 0,
	      "out-of-window ACK to the server");
	forge(e, c, SRV, c->nxt[SRV] + 0x40000000, c->nxt[CLI] + 0x40000000, TF_ACK, 0,
	      "out-of-window ACK to the client");
	forge(e, c, CLI, FORGED_CLI_ISN, 0, TF_SYN, 0, "re-open SYN");
	forge(e, c, SRV, FORGED_SRV_ISN, FORGED_CLI_ISN + 1, TF_SYN | TF_ACK, 0, "re-open SYN-ACK");
	forge(e, c, CLI, FORGED_CLI_ISN + 1, FORGED_SRV_ISN + 1, TF_ACK, 0, "re-open ACK");
}

/* RSTs at every `step` over the sequence space, starting half a step past the sender's SND.NXT
 * (so none lands in the band); returns how many got the XDP action want, none counted valid. */
static int sweep(struct rg_env *e, const struct conn *c, int from, uint32_t step, int want)
{
	struct rg_snap b;
	int got = 0, n = 0;

	env_snap(e, &b);
	for (uint64_t k = 0; k < (1ull << 32) / step; k++, n++) {
		struct pktspec s = seg(c, from, c->nxt[from] + step / 2 + (uint32_t)(k * step), 0,
				       TF_RST, 0);

		got += env_run_spec(e, &s) == want;
	}
	CHECK(env_delta(e, &b, RG_R_VALID, RG_ACT_PASS) == 0, "%s: sweep of %d RSTs: counted %s",
	      c->name, n, moved(e, &b));
	return got;
}

static void test_reopen_forged(struct rg_env *e, const struct variant *v, uint16_t port)
{
	static const char *const how[] = { "the server aborts", "a sweep, then the real exchange",
					   "a plausible forged ACK on a mid-stream entry" };
	const uint32_t step = 1u << 20;

	for (int k = 0; k < 3; k++) {
		struct rg_flow before;
		struct pktspec r;
		struct conn c;
		char what[320];

		conn_init(&c, v, (uint16_t)(port + k), 0x0e000000, 0x0f000000);
		snprintf(c.name, sizeof(c.name), "%s: forged re-open, %s", v->name, how[k]);
		setup(e, &c, k == 2 ? S_MIDSTREAM : S_EST);
		CHECK(flow_of(e, &c, &before) == 0, "%s: tracked", c.name);
		forge_reopen(e, &c);
		expect_uncertain(e, &c, &before, "after the forged handshake");
		if (k == 1) {
			/* The documented cost: uncertain, the entry filters nothing for this
			 * 4-tuple (the new connection's resets may lie anywhere). */
			CHECK(sweep(e, &c, SRV, step, XDP_PASS) == (int)((1ull << 32) / step),
			      "%s: a sweep passes as unverified while uncertain", c.name);
			xmit_all(e, &c, SRV, TF_ACK | TF_PSH, 100);
			xmit_all(e, &c, CLI, TF_ACK, 0);
			expect_tracked(e, &c, "after the real exchange");
			CHECK(sweep(e, &c, SRV, step, XDP_DROP) == (int)((1ull << 32) / step),
			      "%s: the same sweep is dropped after the real exchange", c.name);
		} else if (k == 2) {
			/* Plausible (the windows of a mid-stream entry are read with shift 14) but
			 * not exact: it neither moves the entry nor ends the doubt. */
			forge(e, &c, CLI, c.nxt[CLI] + 0x100000, c.nxt[SRV] - 0x1000, TF_ACK, 0,
			      "plausible, inexact ACK");
			expect_uncertain(e, &c, &before, "after a plausible forged ACK");
		}
		r = seg(&c, SRV, c.nxt[SRV], c.nxt[CLI], TF_RST | TF_ACK, 0);
		snprintf(what, sizeof(what), "%s: the server's abort", c.name);
		expect_rst(e, &r, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
	}
}

/* After the forged handshake, twenty real exchanges and four days: the entry follows the real
 * connection, blind resets are dropped and the real abort passes. Moves the clock. */
static void test_reopen_forged_later(struct rg_env *e, const struct variant *v, uint16_t port,
				     int64_t *clock)
{
	struct pktspec r;
	struct conn c;

	conn_init(&c, v, port, 0x0e100000, 0x0f100000);
	snprintf(c.name, sizeof(c.name), "%s: forged re-open, 20 exchanges, 4 days", v->name);
	setup(e, &c, S_EST);
	forge_reopen(e, &c);
	for (int i = 0; i < 20; i++) {
		xmit_all(e, &c, i & 1 ? CLI : SRV, TF_ACK | TF_PSH, 50);
		xmit_all(e, &c, i & 1 ? SRV : CLI, TF_ACK, 0);
	}
	expect_tracked(e, &c, "twenty exchanges later");
	*clock += 4 * 86400;
	env_clock(e, *clock);
	CHECK(blind_rsts(e, &c, SRV, 200, XDP_DROP) == 200, "%s: blind RSTs dropped", c.name);
	r = seg(&c, SRV, c.nxt[SRV], c.nxt[CLI], TF_RST | TF_ACK, 0);
	expect_rst(e, &r, XDP_PASS, RG_R_VALID, RG_ACT_PASS, c.name);
}

/*
 * A live entry whose connection is gone without the gateway seeing it end (it died silently, or
 * its reset passed in monitor mode, which leaves the entry open) and a real new connection on
 * the same 4-tuple: the entry is uncertain, so the new connection's resets pass (unverified), and
 * a forger cannot make them look wrong: neither a SYN of its own between the real SYN and SYN-ACK,
 * nor the refusal of that SYN. Once the old state times out, the new connection is picked up
 * mid-stream and filtered again. Moves the clock.
 */
static void test_reopen_live(struct rg_env *e, const struct variant *v, uint16_t port,
			     int64_t *clock)
{
	static const char *const how[] = { "after a silent death", "after a monitored reset" };

	CHECK(env_timeout(e, RG_ST_ESTABLISHED, 30) == 0, "set timeout");
	for (int k = 0; k < 2; k++) {
		struct rg_flow before, f;
		struct pktspec r;
		struct conn c;
		char what[320];

		conn_init(&c, v, (uint16_t)(port + k), 0x00a00000, 0x00b00000);
		snprintf(c.name, sizeof(c.name), "%s: re-open of a live entry %s", v->name, how[k]);
		setup(e, &c, S_EST);
		if (k == 1) {
			env_policy(e, RG_P_MONITOR, 0);
			r = seg(&c, SRV, c.nxt[SRV], 0, TF_RST, 0);
			snprintf(what, sizeof(what), "%s: first connection's exact RST", c.name);
			expect_rst(e, &r, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
			env_policy(e, 0, RG_P_MONITOR);
		}
		CHECK(flow_of(e, &c, &before) == 0 && flow_state(&before) == RG_ST_ESTABLISHED,
		      "%s: the old entry is live", c.name);
		c.isn[CLI] = c.nxt[CLI] = c.nxt[CLI] + 0x01000000;
		c.isn[SRV] = c.nxt[SRV] = c.nxt[SRV] + 0x30000000;
		c.acked[CLI] = c.acked[SRV] = 0;
		c.maxwin[CLI] = c.maxwin[SRV] = 0;
		xmit(e, &c, CLI, TF_SYN, 0, 0);
		forge(e, &c, CLI, FORGED_CLI_ISN, 0, TF_SYN, 0, "SYN before the SYN-ACK");
		r = seg(&c, SRV, 0, FORGED_CLI_ISN + 1, TF_RST | TF_ACK, 0);
		snprintf(what, sizeof(what), "%s: refusal of the forged SYN", c.name);
		expect_rst(e, &r, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
		xmit_all(e, &c, SRV, TF_SYN | TF_ACK, 0);
		xmit_all(e, &c, CLI, TF_ACK, 0);
		xmit_all(e, &c, CLI, TF_ACK | TF_PSH, 200);
		xmit_all(e, &c, SRV, TF_ACK | TF_PSH, 300);
		xmit_all(e, &c, CLI, TF_ACK, 0);
		expect_uncertain(e, &c, &before, "the new connection's handshake and data");
		CHECK(blind_rsts(e, &c, SRV, 50, XDP_PASS) == 50, "%s: blind RSTs pass", c.name);
		r = seg(&c, SRV, c.nxt[SRV], 0, TF_RST, 0);
		snprintf(what, sizeof(what), "%s: the new connection's exact RST", c.name);
		expect_rst(e, &r, XDP_PASS, RG_R_UNVERIFIED, RG_ACT_PASS, what);

		/* The old state's timeout runs from its last segment; the new connection's do not
		 * refresh it. Past it, a reset before any segment still passes; the next segments
		 * start a mid-stream entry of the new connection. */
		*clock += 31;
		env_clock(e, *clock);
		r = seg(&c, CLI, c.nxt[CLI], 0, TF_RST, 0);
		snprintf(what, sizeof(what), "%s: a reset once the old state timed out", c.name);
		expect_rst(e, &r, XDP_PASS, RG_R_UNVERIFIED, RG_ACT_PASS, what);
		c.midstream = 1;
		c.tracked = 0;
		xmit_all(e, &c, CLI, TF_ACK | TF_PSH, 100);
		xmit_all(e, &c, SRV, TF_ACK | TF_PSH, 100);
		xmit_all(e, &c, CLI, TF_ACK, 0);
		CHECK(flow_of(e, &c, &f) == 0 && !f.pending && (f.fflags & RG_F_MIDSTREAM),
		      "%s: picked up afresh (pending %#x, fflags %#x)", c.name, f.pending, f.fflags);
		expect_tracked(e, &c, "picked up afresh");
		expect_blind_then_exact(e, &c, SRV, 0x10000000, "on the new connection's entry");
	}
	CHECK(env_timeout(e, RG_ST_ESTABLISHED, 0) == 0, "restore timeout");
}

/* Removes the connection's entry as the LRU does when table pressure evicts it (the end-to-end
 * test tests/e2e/reopen.sh evicts it with a real SYN flood). */
static void evict(struct rg_env *e, const struct conn *c)
{
	uint8_t a[16] = {0}, b[16] = {0};
	int fam = c->v->v6 ? AF_INET6 : AF_INET, lo = c->dir[CLI] ? SRV : CLI, err;
	struct rg_flow f;

	inet_pton(fam, c->addr[lo], a);
	inet_pton(fam, c->addr[!lo], b);
	if (c->v->v6) {
		struct rg_flow_key6 k = {};

		memcpy(k.addr[0], a, 16);
		memcpy(k.addr[1], b, 16);
		k.port[0] = htons(c->port[lo]);
		k.port[1] = htons(c->port[!lo]);
		err = bpf_map_delete_elem(bpf_map__fd(e->skel->maps.rg_flows6), &k);
	} else {
		struct rg_flow_key4 k = {};

		memcpy(k.addr, a, 4);
		memcpy(&k.addr[1], b, 4);
		k.port[0] = htons(c->port[lo]);
		k.port[1] = htons(c->port[!lo]);
		err = bpf_map_delete_elem(bpf_map__fd(e->skel->maps.rg_flows4), &k);
	}
	CHECK(!err && flow_of(e, c, &f) != 0, "%s: entry evicted (%d)", c->name, err);
}

/*
 * After an eviction one SYN forged in the name of either endpoint creates an entry that cannot
 * show the older connection is gone: resets that are not that SYN's refusal pass as unverified
 * (they were syn_sent_bad_ack or one_way, dropped), its refusal stays valid. When the real
 * endpoints' exchange takes the entry over and verifies it, it is an ordinary verified entry again:
 * no longer marked restarted, so one more forged SYN does not make it contested.
 */
static void test_evicted_forged_syn(struct rg_env *e, const struct variant *v, uint16_t port)
{
	static const char *const how[] = {
		"the server's abort", "a SYN in the server's name, the client's abort",
		"the client's own abort", "the forged SYN's refusal",
		"the real exchange, then another forged SYN" };

	for (int k = 0; k < 5; k++) {
		int syn_from = k == 1 ? SRV : CLI, from = k == 1 || k == 2 ? CLI : SRV;
		struct pktspec r;
		struct rg_flow f;
		struct conn c;
		char what[320];

		conn_init(&c, v, (uint16_t)(port + k), 0x01100000, 0x01200000);
		snprintf(c.name, sizeof(c.name), "%s: eviction, a forged SYN, %s", v->name, how[k]);
		setup(e, &c, S_EST);
		evict(e, &c);
		forge(e, &c, syn_from, FORGED_CLI_ISN, 0, TF_SYN, 0, "SYN after the eviction");
		CHECK(flow_of(e, &c, &f) == 0 && flow_state(&f) == RG_ST_SYN_SENT,
		      "%s: the forged SYN made a SYN-SENT entry", c.name);
		if (k == 3) {
			r = seg(&c, SRV, 0, FORGED_CLI_ISN + 1, TF_RST | TF_ACK, 0);
			expect_rst(e, &r, XDP_PASS, RG_R_VALID, RG_ACT_PASS, c.name);
			continue;
		}
		if (k == 4) {
			c.midstream = 1;
			xmit_all(e, &c, SRV, TF_ACK | TF_PSH, 100);
			xmit_all(e, &c, CLI, TF_ACK, 0);
			CHECK(flow_of(e, &c, &f) == 0 && flow_verified(&f) &&
				      !(f.fflags & (RG_F_RESTARTED | RG_F_CONTESTED)),
			      "%s: verified by the real exchange (fflags %#x), want neither restarted "
			      "nor contested", c.name, f.fflags);
			forge(e, &c, CLI, FORGED_CLI_ISN + 0x1000, 0, TF_SYN, 0, "another SYN");
			CHECK(flow_of(e, &c, &f) == 0 && !(f.fflags & RG_F_CONTESTED) &&
				      flow_state(&f) == RG_ST_ESTABLISHED,
			      "%s: after another forged SYN: fflags %#x, state %s", c.name, f.fflags,
			      state_name(flow_state(&f)));
			CHECK(blind_rsts(e, &c, SRV, 200, XDP_DROP) == 200, "%s: blind RSTs dropped",
			      c.name);
		}
		r = seg(&c, from, c.nxt[from], c.nxt[!from], TF_RST | TF_ACK, 0);
		snprintf(what, sizeof(what), "%s: the real reset", c.name);
		expect_rst(e, &r, XDP_PASS, k == 4 ? RG_R_VALID : RG_R_UNVERIFIED, RG_ACT_PASS, what);
	}
}

/* --- scope --------------------------------------------------------------------------------- */

/* An RST outside any tracked flow between two arbitrary endpoints. */
static void scope_rst(struct rg_env *e, int v6, const char *src, const char *dst, uint16_t sport,
		      uint16_t dport, uint8_t flags, int xdp, int reason, const char *what)
{
	struct pktspec s = { .v6 = v6, .src = src, .dst = dst, .sport = sport, .dport = dport,
			     .seq = 0x77777777, .flags = flags };
	char buf[320];

	snprintf(buf, sizeof(buf), "scope %s: %s", v6 ? "v6" : "v4", what);
	expect_rst(e, &s, xdp, reason, xdp == XDP_DROP ? RG_ACT_DROP : RG_ACT_PASS, buf);
}

/* Addresses of one family for the scope checks: a1/a2/a3 inside the protected net (a2 is the one
 * made exempt), o1/o2 outside it, edge just past its end. */
struct scope_addrs {
	int v6;
	const char *a1, *a2, *a3, *o1, *o2, *edge, *net, *wide, *ex;
};

static const struct scope_addrs scope_fam[2] = {
	{ 0, "198.18.0.1", "198.18.0.2", "198.18.0.3", "10.9.0.1", "10.9.0.2", "198.18.1.1",
	  "198.18.0.0/24", "198.18.0.0/16", "198.18.0.2/32" },
	{ 1, "fd00::1", "fd00::2", "fd00::3", "fd01::1", "fd01::2", "fd00:0:0:1::1", "fd00::/64",
	  "fd00::/16", "fd00::2/128" },
};

/* A tracked connection between a1 and a2, and a blind RST from either end of it. */
static void scope_tracked(struct rg_env *e, const struct scope_addrs *a, uint16_t port, int from,
			  int xdp, int reason, const char *what)
{
	struct variant var = { .name = a->v6 ? "v6" : "v4", .v6 = a->v6 };
	struct pktspec s;
	struct conn c;
	char buf[320];

	conn_init(&c, &var, port, 1000, 5000);
	snprintf(c.name, sizeof(c.name), "scope %s: %s", var.name, what);
	setup(e, &c, S_EST);
	s = seg(&c, from, c.nxt[from] + 0x40000000, 0, TF_RST, 0);
	snprintf(buf, sizeof(buf), "scope %s: %s", var.name, what);
	expect_rst(e, &s, xdp, reason, xdp == XDP_DROP ? RG_ACT_DROP : RG_ACT_PASS, buf);
}

static void test_scope(void)
{
	struct rg_env e;

	/* Protected ports: either port in the set puts the RST in scope. */
	if (env_open(&e, RG_ROLE_GATEWAY, 0, 1024))
		return;
	CHECK(env_protect_port(&e, 179) == 0, "scope: protect port 179");
	for (int f = 0; f < 2; f++) {
		const struct scope_addrs *a = &scope_fam[f];

		scope_tracked(&e, a, 40000, SRV, XDP_DROP, RG_R_OUT_OF_WINDOW,
			      "protected port, tracked, blind");
		scope_rst(&e, a->v6, a->a1, a->a2, 40001, 179, TF_RST, XDP_DROP, RG_R_NO_FLOW,
			  "destination port protected");
		scope_rst(&e, a->v6, a->a2, a->a1, 179, 40001, TF_RST, XDP_DROP, RG_R_NO_FLOW,
			  "source port protected");
		scope_rst(&e, a->v6, a->a1, a->a2, 40001, 80, TF_RST, XDP_PASS, RG_R_UNPROTECTED,
			  "neither port protected");
		scope_rst(&e, a->v6, a->a1, a->a2, 180, 178, TF_RST | TF_SYN, XDP_PASS,
			  RG_R_UNPROTECTED, "neither port protected, even with bad flags");
	}
	env_close(&e);

	/* Protected prefixes of one family: either address inside puts the RST in scope; nothing
	 * of the other family is protected by them. */
	for (int f = 0; f < 2; f++) {
		const struct scope_addrs *a = &scope_fam[f], *o = &scope_fam[!f];

		if (env_open(&e, RG_ROLE_GATEWAY, 0, 1024))
			return;
		CHECK(env_prefix(&e, "protect", a->net) == 0, "scope: protect %s", a->net);
		scope_rst(&e, a->v6, a->a1, a->a2, 40000, 179, TF_RST, XDP_DROP, RG_R_NO_FLOW,
			  "both inside");
		scope_rst(&e, a->v6, a->o1, a->a2, 40000, 179, TF_RST, XDP_DROP, RG_R_NO_FLOW,
			  "destination inside");
		scope_rst(&e, a->v6, a->a2, a->o1, 179, 40000, TF_RST, XDP_DROP, RG_R_NO_FLOW,
			  "source inside");
		scope_rst(&e, a->v6, a->o1, a->o2, 40000, 179, TF_RST, XDP_PASS, RG_R_UNPROTECTED,
			  "both outside");
		scope_rst(&e, a->v6, a->edge, a->o2, 40000, 179, TF_RST, XDP_PASS, RG_R_UNPROTECTED,
			  "just outside the prefix");
		scope_rst(&e, o->v6, o->a1, o->a2, 40000, 179, TF_RST, XDP_PASS, RG_R_UNPROTECTED,
			  "only the other family's prefix protected");
		env_close(&e);
	}

	/* Ports and prefixes together: in scope only when both match. */
	if (env_open(&e, RG_ROLE_GATEWAY, 0, 1024))
		return;
	CHECK(env_protect_port(&e, 179) == 0 && env_prefix(&e, "protect", scope_fam[0].net) == 0 &&
		      env_prefix(&e, "protect", scope_fam[1].net) == 0,
	      "scope: protect port 179 and both nets");
	for (int f = 0; f < 2; f++) {
		const struct scope_addrs *a = &scope_fam[f];

		scope_rst(&e, a->v6, a->a1, a->a2, 40000, 179, TF_RST, XDP_DROP, RG_R_NO_FLOW,
			  "port and prefix");
		scope_rst(&e, a->v6, a->o1, a->o2, 40000, 179, TF_RST, XDP_PASS, RG_R_UNPROTECTED,
			  "port only");
		scope_rst(&e, a->v6, a->a1, a->a2, 40000, 80, TF_RST, XDP_PASS, RG_R_UNPROTECTED,
			  "prefix only");
	}
	env_close(&e);

	/* Exempt: never filtered, whichever end it is, ahead of protection and flag checks. */
	if (env_open(&e, RG_ROLE_GATEWAY, 0, 1024))
		return;
	CHECK(env_protect_port(&e, 179) == 0, "scope: protect port 179");
	for (int f = 0; f < 2; f++) {
		const struct scope_addrs *a = &scope_fam[f];

		CHECK(env_prefix(&e, "exempt", a->ex) == 0 && env_prefix(&e, "protect", a->wide) == 0,
		      "scope: exempt %s, protect %s", a->ex, a->wide);
	}
	for (int f = 0; f < 2; f++) {
		const struct scope_addrs *a = &scope_fam[f];

		scope_tracked(&e, a, 40000, SRV, XDP_PASS, RG_R_EXEMPT,
			      "blind RST from an exempt host");
		scope_tracked(&e, a, 40001, CLI, XDP_PASS, RG_R_EXEMPT, "blind RST to an exempt host");
		scope_rst(&e, a->v6, a->a2, a->o1, 179, 40000, TF_RST | TF_SYN, XDP_PASS, RG_R_EXEMPT,
			  "exempt host, bad flags");
		scope_rst(&e, a->v6, a->a1, a->a3, 40000, 179, TF_RST, XDP_DROP, RG_R_NO_FLOW,
			  "next to the exempt host");
	}
	env_close(&e);
}

/* --- expiry ------------------------------------------------------------------------------ */

enum { X_EST_SET, X_EST_DEFAULT, X_SYN_SENT, X_FIN_WAIT, X_TIME_WAIT, X_ONE_WAY, X_CLOSED,
       X_REFRESH, X_MAX };

/*
 * Each case replays its connection at clock base t0, then moves the clock to just before and just
 * after the state's timeout (2 s margins cover the coarse clock ticking during the test). The
 * clock only moves forward, so the cases share one env by running at increasing bases on their
 * own 4-tuples.
 */
static int64_t test_expiry(struct rg_env *e, const struct variant *v, int k, int64_t t0)
{
	static const uint32_t defaults[RG_ST_MAX] = RG_TIMEOUTS_DEFAULT;
	static const char *const names[X_MAX] = {
		"ESTABLISHED, timeout 30 s",   "ESTABLISHED, default timeout",
		"SYN-SENT, default timeout",   "FIN-WAIT, default timeout",
		"TIME-WAIT, default timeout",  "ONE-WAY, default timeout",
		"CLOSED, runs from the reset", "activity refreshes the entry",
	};
	uint16_t port = (uint16_t)(41000 + k);
	struct conn c;
	struct pktspec alive, dead;
	int64_t t;
	int alive_reason, alive_act = RG_ACT_DROP;
	char what[320];

	env_clock(e, t0);
	conn_init(&c, v, port, 0xfffff000u, 0x12345678);
	snprintf(c.name, sizeof(c.name), "%s expiry: %s", v->name, names[k]);

	switch (k) {
	case X_EST_SET:
	case X_REFRESH:
		CHECK(env_timeout(e, RG_ST_ESTABLISHED, 30) == 0, "set timeout");
		setup(e, &c, S_EST);
		t = 30;
		if (k == X_REFRESH) {
			/* Data 20 s later restarts the timeout. */
			t0 += 20;
			env_clock(e, t0);
			xmit_all(e, &c, CLI, TF_ACK | TF_PSH, 10);
			xmit_all(e, &c, SRV, TF_ACK, 0);
		}
		alive = seg(&c, SRV, c.nxt[SRV] + 0x40000000, 0, TF_RST, 0);
		alive_reason = RG_R_OUT_OF_WINDOW;
		break;
	case X_EST_DEFAULT:
		setup(e, &c, S_EST);
		t = defaults[RG_ST_ESTABLISHED];
		alive = seg(&c, SRV, c.nxt[SRV] + 1, 0, TF_RST, 0);
		alive_reason = RG_R_INEXACT;
		break;
	case X_SYN_SENT:
		setup(e, &c, S_SYN_SENT);
		t = defaults[RG_ST_SYN_SENT];
		alive = seg(&c, SRV, 0, c.isn[CLI] + 2, TF_RST | TF_ACK, 0);
		alive_reason = RG_R_UNVERIFIED;
		alive_act = RG_ACT_PASS;
		break;
	case X_FIN_WAIT:
		setup(e, &c, S_FIN_WAIT);
		t = defaults[RG_ST_FIN_WAIT];
		alive = seg(&c, SRV, c.nxt[SRV] + 1, 0, TF_RST, 0);
		alive_reason = RG_R_INEXACT;
		break;
	case X_TIME_WAIT:
		setup(e, &c, S_TIME_WAIT);
		t = defaults[RG_ST_TIME_WAIT];
		alive = seg(&c, SRV, c.nxt[SRV] + 10, 0, TF_RST, 0);
		alive_reason = RG_R_OUT_OF_WINDOW;
		break;
	case X_ONE_WAY:
		setup(e, &c, S_ONE_WAY);
		t = defaults[RG_ST_ONE_WAY];
		alive = seg(&c, SRV, c.acked[CLI] + 1000, 0, TF_RST, 0);
		alive_reason = RG_R_ONE_WAY;
		break;
	default: /* X_CLOSED */
		setup(e, &c, S_EST);
		/* Reset long after the last data: the short CLOSED timeout counts from the reset. */
		t0 += 1000;
		env_clock(e, t0);
		alive = seg(&c, SRV, c.nxt[SRV], 0, TF_RST, 0);
		snprintf(what, sizeof(what), "%s: the reset", c.name);
		expect_rst(e, &alive, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
		t = defaults[RG_ST_CLOSED];
		alive_reason = RG_R_VALID;
		alive_act = RG_ACT_PASS;
		break;
	}
	/* After expiry the entry decides nothing: even the RST that was exact passes as untracked
	 * (the connection may live on, idle past the timeout; the endpoint judges). */
	dead = seg(&c, SRV, k == X_SYN_SENT ? 0 : c.nxt[SRV], 0, TF_RST | TF_ACK, 0);
	if (k == X_SYN_SENT)
		dead.ack = c.isn[CLI] + 1;
	else if (k == X_ONE_WAY)
		dead.seq = c.acked[CLI];

	env_clock(e, t0 + t - 2);
	snprintf(what, sizeof(what), "%s: 2 s before expiry", c.name);
	expect_rst(e, &alive, alive_act == RG_ACT_PASS ? XDP_PASS : XDP_DROP, alive_reason,
		   alive_act, what);
	env_clock(e, t0 + t + 2);
	snprintf(what, sizeof(what), "%s: 2 s after expiry, the exact RST", c.name);
	expect_rst(e, &dead, XDP_PASS, RG_R_UNTRACKED, RG_ACT_PASS, what);

	/* The stale entry is replaced as new (flow_created again) by the next connection. */
	conn_init(&c, v, port, 0x0000a000, 0x0000b000);
	snprintf(c.name, sizeof(c.name), "%s expiry: %s, new connection", v->name, names[k]);
	handshake(e, &c);
	{
		struct pktspec r = seg(&c, SRV, c.nxt[SRV], 0, TF_RST, 0);

		snprintf(what, sizeof(what), "%s: exact RST", c.name);
		expect_rst(e, &r, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
	}
	/* Only now: with the default back, the stale entry above would count as live again. */
	if (k == X_EST_SET || k == X_REFRESH)
		CHECK(env_timeout(e, RG_ST_ESTABLISHED, 0) == 0, "restore timeout");
	return t0 + t + 10;
}

/*
 * A SYN-ACK forged in the server's name contests a SYN the server then refuses: the entry is
 * over, and still contested. Once it has timed out, the client's next SYN starts a new entry
 * (flow_created) rather than restarting the contest, which kept the refused SYN and ignored the
 * new handshake: the new SYN's refusal is valid, and its handshake is tracked (fuzz finding K40).
 */
static int64_t test_refused_contested(struct rg_env *e, const struct variant *v, int64_t t0)
{
	static const uint32_t defaults[RG_ST_MAX] = RG_TIMEOUTS_DEFAULT;
	static const char *const how[] = { "the next SYN refused", "the next handshake" };

	for (int k = 0; k < 2; k++) {
		struct conn c;
		struct pktspec s;
		struct rg_flow f;
		char what[320];
		int have;

		env_clock(e, t0);
		conn_init(&c, v, (uint16_t)(41100 + k), 0x00e00000, 0x00f00000);
		snprintf(c.name, sizeof(c.name), "%s: a contested SYN refused, expired, %s",
			 v->name, how[k]);
		setup(e, &c, S_SYN_SENT);
		s = seg(&c, SRV, 0x70000000, c.isn[CLI] + 0x10000000, TF_SYN | TF_ACK, 0);
		CHECK(env_run_spec(e, &s) == XDP_PASS, "%s: forged SYN-ACK passes", c.name);
		s = seg(&c, SRV, 0, c.isn[CLI] + 1, TF_RST | TF_ACK, 0);
		snprintf(what, sizeof(what), "%s: the refusal", c.name);
		expect_rst(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
		have = flow_of(e, &c, &f) == 0;
		CHECK(have && flow_state(&f) == RG_ST_CLOSED && (f.fflags & RG_F_CONTESTED),
		      "%s: entry %s, fflags %#x, want closed, contested", c.name,
		      have ? state_name(flow_state(&f)) : "(none)", have ? f.fflags : 0);

		t0 += defaults[RG_ST_CLOSED] + 2;
		env_clock(e, t0);
		conn_init(&c, v, (uint16_t)(41100 + k), 0x00e10000, 0x00f10000);
		snprintf(c.name, sizeof(c.name), "%s: a contested SYN refused, expired, %s",
			 v->name, how[k]);
		if (k == 0) {
			xmit(e, &c, CLI, TF_SYN, 0, 0);
			s = seg(&c, SRV, 0, c.isn[CLI] + 1, TF_RST | TF_ACK, 0);
			snprintf(what, sizeof(what), "%s: its refusal", c.name);
			expect_rst(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, what);
		} else {
			handshake(e, &c);
			xmit_all(e, &c, SRV, TF_ACK | TF_PSH, 100);
			xmit_all(e, &c, CLI, TF_ACK, 0);
			expect_tracked(e, &c, "after the new handshake");
			expect_blind_then_exact(e, &c, CLI, 0x10000000, "after the new handshake");
		}
		t0 += 10;
	}
	return t0;
}

/*
 * A contested one-way entry times out while its 4-tuple is reused: the new SYN restarts the
 * contest (restarted, contested). Its SYN-ACK verifies the entry and clears both marks, so one
 * more forged SYN then is a pending re-open, not a new contested handshake, and blind resets at
 * the new connection are dropped.
 */
static int64_t test_restart_cleared(struct rg_env *e, const struct variant *v, int64_t t0)
{
	static const uint32_t defaults[RG_ST_MAX] = RG_TIMEOUTS_DEFAULT;
	struct rg_flow f;
	struct conn c;
	int have;

	env_clock(e, t0);
	conn_init(&c, v, 41200, 0x02300000, 0x02400000);
	snprintf(c.name, sizeof(c.name), "%s: restarted entry verified by a SYN-ACK", v->name);
	setup(e, &c, S_ONE_WAY_CONT);
	t0 += defaults[RG_ST_ONE_WAY] + 2;
	env_clock(e, t0);
	conn_init(&c, v, 41200, 0x02310000, 0x02410000);
	snprintf(c.name, sizeof(c.name), "%s: restarted entry verified by a SYN-ACK", v->name);
	c.tracked = 1;
	xmit(e, &c, CLI, TF_SYN, 0, 0);
	have = flow_of(e, &c, &f) == 0;
	CHECK(have && (f.fflags & RG_F_RESTARTED) && (f.fflags & RG_F_CONTESTED),
	      "%s: after the SYN: fflags %#x, want restarted and contested", c.name,
	      have ? f.fflags : 0);
	xmit_all(e, &c, SRV, TF_SYN | TF_ACK, 0);
	have = flow_of(e, &c, &f) == 0;
	CHECK(have && !(f.fflags & (RG_F_RESTARTED | RG_F_CONTESTED)),
	      "%s: after the SYN-ACK: fflags %#x, want neither restarted nor contested", c.name,
	      have ? f.fflags : 0);
	xmit_all(e, &c, CLI, TF_ACK, 0);
	xmit_all(e, &c, CLI, TF_ACK | TF_PSH, 100);
	xmit_all(e, &c, SRV, TF_ACK, 0);
	forge(e, &c, CLI, FORGED_CLI_ISN, 0, TF_SYN, 0, "SYN on the verified entry");
	have = flow_of(e, &c, &f) == 0;
	CHECK(have && !(f.fflags & RG_F_CONTESTED) && (f.pending & (RG_PEND_DIR0 | RG_PEND_DIR1)),
	      "%s: a forged SYN: fflags %#x pending %#x, want a pending re-open, uncontested",
	      c.name, have ? f.fflags : 0, have ? f.pending : 0);
	expect_blind_then_exact(e, &c, SRV, 0x10000000, "after the forged SYN");
	return t0 + 10;
}

/* --- counters ------------------------------------------------------------------------------ */

static void test_counters(struct rg_env *ep, const struct variant *v)
{
	struct rg_env e = *ep;
	struct rg_snap b;
	struct conn c, m;
	struct rg_flow f;
	char what[320];

	/* A handshake and data: one flow_created, every segment a non_rst_tcp. */
	conn_init(&c, v, 42000, 7, 9);
	snprintf(c.name, sizeof(c.name), "%s counters: connection", v->name);
	env_snap(&e, &b);
	xmit(&e, &c, CLI, TF_SYN, 0, 0);
	c.nxt[CLI] = c.isn[CLI];
	xmit(&e, &c, CLI, TF_SYN, 0, 0); /* retransmission */
	xmit_all(&e, &c, SRV, TF_SYN | TF_ACK, 0);
	xmit_all(&e, &c, CLI, TF_ACK, 0);
	for (int i = 0; i < 5; i++) {
		xmit_all(&e, &c, CLI, TF_ACK | TF_PSH, 100);
		xmit_all(&e, &c, SRV, TF_ACK, 0);
	}
	CHECK(env_delta(&e, &b, RG_R_FLOW_CREATED, RG_ACT_PASS) == 1 &&
		      env_delta(&e, &b, RG_R_NON_RST, RG_ACT_PASS) == 14 && env_delta_all(&e, &b) == 15,
	      "%s: counted %s, want flow_created/pass=1 non_rst_tcp/pass=14", c.name, moved(&e, &b));

	/* Mid-stream: the first ACK segment creates, the reverse direction does not. */
	conn_init(&m, v, 42001, 0x100, 0x200);
	snprintf(m.name, sizeof(m.name), "%s counters: mid-stream", v->name);
	m.midstream = 1;
	env_snap(&e, &b);
	xmit(&e, &m, CLI, TF_ACK | TF_PSH, 10, m.isn[SRV]);
	xmit_all(&e, &m, SRV, TF_ACK, 0);
	xmit_all(&e, &m, SRV, TF_ACK | TF_PSH, 10);
	CHECK(env_delta(&e, &b, RG_R_FLOW_CREATED, RG_ACT_PASS) == 1 &&
		      env_delta(&e, &b, RG_R_NON_RST, RG_ACT_PASS) == 3 && env_delta_all(&e, &b) == 4,
	      "%s: counted %s, want flow_created/pass=1 non_rst_tcp/pass=3", m.name, moved(&e, &b));

	/* Neither SYN nor ACK: counted, not tracked. An RST never creates a flow. */
	conn_init(&m, v, 42002, 0x300, 0x400);
	snprintf(m.name, sizeof(m.name), "%s counters: no SYN, no ACK", v->name);
	env_snap(&e, &b);
	forge(&e, &m, CLI, 1, 0, TF_PSH, 10, "bare data");
	forge(&e, &m, CLI, 1, 0, TF_FIN, 0, "bare FIN");
	forge(&e, &m, CLI, 1, 0, 0, 0, "no flags");
	CHECK(env_delta(&e, &b, RG_R_NON_RST, RG_ACT_PASS) == 3 && env_delta_all(&e, &b) == 3,
	      "%s: counted %s, want non_rst_tcp/pass=3", m.name, moved(&e, &b));
	{
		struct pktspec r = seg(&m, CLI, 1, 0, TF_RST, 0);

		snprintf(what, sizeof(what), "%s: RST", m.name);
		expect_rst(&e, &r, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP, what);
	}
	CHECK(flow_of(&e, &m, &f) != 0, "%s: no entry created", m.name);
}

int main(void)
{
	struct timespec t0, t1;
	struct rg_env e;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int vi = 0; vi < NVARIANTS; vi++) {
		const struct variant *v = &variants[vi];
		int err = env_open(&e, RG_ROLE_GATEWAY, v->l3, 1024);
		int64_t clk = 0;

		CHECK(err == 0, "%s: load gateway role: %s", v->name, strerror(-err));
		if (err)
			continue;
		for (int is = 0; is < NISNS; is++) {
			/* Sequence arithmetic does not depend on framing: one ISN set is enough there. */
			if (!v->all_isns && is != 1)
				continue;
			for (int i = 0; i < NCASES; i++)
				if (!cases[i].only_isn || cases[i].only_isn == is + 1)
					run_case(&e, v, is, i);
		}
		test_blind_data(&e, v, 50000);
		test_window_edges(&e, v, 50001);
		test_forged_synack(&e, v, 50010);
		test_forged_syn(&e, v, 50020);
		test_port_reuse(&e, v, 50030);
		test_midstream_reuse(&e, v, 50050);
		test_forged_syn_first(&e, v, 50060);
		test_counters(&e, v);
		test_reopen_forged(&e, v, 50070);
		test_evicted_forged_syn(&e, v, 50080);
		/* Move the clock: after everything that replays at clock 0 in this env. */
		test_forged_reopen(&e, v, 50040, &clk);
		test_reopen_forged_later(&e, v, 50090, &clk);
		test_reopen_live(&e, v, 50100, &clk);
		env_close(&e);
	}
	test_scope();
	/* Expiry last in its env: it moves the clock, which never comes back. */
	for (int vi = 0; vi < NVARIANTS; vi++) {
		const struct variant *v = &variants[vi];
		int64_t base = 100;

		if (strcmp(v->name, "v4") && strcmp(v->name, "v6") && strcmp(v->name, "v6/l3"))
			continue;
		if (env_open(&e, RG_ROLE_GATEWAY, v->l3, 1024))
			continue;
		for (int k = 0; k < X_MAX; k++)
			base = test_expiry(&e, v, k, base);
		base = test_refused_contested(&e, v, base);
		base = test_restart_cleared(&e, v, base);
		env_close(&e);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("gateway: %.1f s\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return t_summary("gateway");
}
