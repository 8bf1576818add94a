/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* RST acceptance (RFC 9293 3.10.7, RFC 5961 3, RFC 1337): against the kernel's own socket in the
 * host role, against the tracked flow in the gateway role. Each judge returns an enum rg_reason. */
#ifndef RG_VERDICT_H
#define RG_VERDICT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kernel_sock.h"
#include "flow.h"

#ifndef AF_INET
#define AF_INET 2
#define AF_INET6 10
#endif

/* Does the policy drop what was judged for this reason? */
static __always_inline int reason_drops(int reason, __u32 bits)
{
	switch (reason) {
	case RG_R_OUT_OF_WINDOW:
	case RG_R_SYN_SENT_BAD_ACK:
	case RG_R_BAD_FLAGS:
		return 1;
	case RG_R_INEXACT:
		return !(bits & RG_P_INEXACT_PASS);
	case RG_R_NO_FLOW:
	case RG_R_ONE_WAY:
		return !(bits & RG_P_UNKNOWN_PASS);
	case RG_R_TIMEWAIT:
		return !!(bits & RG_P_TIMEWAIT_DROP);
	case RG_R_SHORT_FRAGMENT:
	case RG_R_DEEP_CHAIN:
		return !(bits & RG_P_UNPARSED_PASS);
	default:
		return 0;
	}
}

static __always_inline int prefix_match(void *trie, const __u32 *addr, int v6)
{
	struct rg_prefix_key k = {};

	if (v6) {
		k.prefixlen = 128;
		__builtin_memcpy(k.addr, addr, 16);
	} else {
		k.prefixlen = 128;
		k.addr[10] = 0xff;
		k.addr[11] = 0xff;
		__builtin_memcpy(&k.addr[12], addr, 4);
	}
	return bpf_map_lookup_elem(trie, &k) != NULL;
}

static __always_inline int port_protected(__u16 port_be)
{
	__u32 port = bpf_ntohs(port_be), idx = port >> 6;
	__u64 *w = bpf_map_lookup_elem(&rg_ports, &idx);

	return w && (*w >> (port & 63)) & 1;
}

/* RG_R_EXEMPT, RG_R_UNPROTECTED, or RG_R_MAX when the packet is in scope. Protected ports and
 * protected prefixes are each "all" while empty; a packet is in scope when it matches both.
 * Ports are unknown without a TCP header (have_ports = 0 then): it is treated as protected. */
static __always_inline int scope_check(const struct pkt *p, __u32 bits, int have_ports)
{
	if ((bits & RG_P_HAVE_EXEMPT) &&
	    (prefix_match(&rg_exempt, p->saddr, p->v6) || prefix_match(&rg_exempt, p->daddr, p->v6)))
		return RG_R_EXEMPT;
	if ((bits & RG_P_HAVE_PORTS) && have_ports &&
	    !port_protected(p->sport) && !port_protected(p->dport))
		return RG_R_UNPROTECTED;
	if ((bits & RG_P_HAVE_PREFIXES) &&
	    !prefix_match(&rg_protect, p->saddr, p->v6) && !prefix_match(&rg_protect, p->daddr, p->v6))
		return RG_R_UNPROTECTED;
	return RG_R_MAX;
}

/* --- host role ---------------------------------------------------------------------------- */

static __always_inline __u32 tuple_hash(const struct pkt *p)
{
	__u32 h = p->saddr[0] ^ p->daddr[0] ^ ((__u32)p->sport << 16 | p->dport);

	if (p->v6)
		h ^= p->saddr[1] ^ p->saddr[2] ^ p->saddr[3] ^ p->daddr[1] ^ p->daddr[2] ^ p->daddr[3];
	h *= 0x9e3779b1;
	return h ^ (h >> 16);
}

/* Looks up the local socket a segment is addressed to. Returns NULL when there is none or only a
 * listener matches (*listener set): neither is a connection an RST could reset. */
static __always_inline struct bpf_sock *host_lookup(struct xdp_md *ctx, const struct pkt *p,
						    int *listener)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 len;

	if (p->v6) {
		__builtin_memcpy(t.ipv6.saddr, p->saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, p->daddr, 16);
		t.ipv6.sport = p->sport;
		t.ipv6.dport = p->dport;
		len = sizeof(t.ipv6);
	} else {
		t.ipv4.saddr = p->saddr[0];
		t.ipv4.daddr = p->daddr[0];
		t.ipv4.sport = p->sport;
		t.ipv4.dport = p->dport;
		len = sizeof(t.ipv4);
	}
	*listener = 0;
	sk = bpf_skc_lookup_tcp(ctx, &t, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return NULL;
	if (sk->state == RG_TCP_LISTEN || sk->state == RG_TCP_CLOSE) {
		*listener = 1;
		bpf_sk_release(sk);
		return NULL;
	}
	return sk;
}

/*
 * XDP runs before the stack has consumed the segments queued ahead of this one (GRO lists,
 * the per-poll batch, the backlog), so a peer's data followed at once by its RST reaches us while
 * the socket's rcv_nxt still stands before that data. The end of the last data segment of each
 * flow, remembered per CPU (RSS keeps a flow on one CPU), lets that RST pass.
 *
 * Only what a blind forger cannot write is remembered. A segment is *anchored* when it starts
 * where the socket's rcv_nxt stands, or up to RG_RECENT_LAG past it (data still queued ahead of
 * it), when it is seen; or when it starts exactly where the anchored segment remembered for its
 * 4-tuple ended (the stream going on in order, which costs no socket lookup). Either needs the
 * sequence number the real sender is at. Anything else leaves an anchored entry alone: a forged
 * segment at a guessed number, or any segment of another 4-tuple that lands in the same slot
 * and has no socket of ours (forwarded traffic). Those are remembered only in slots holding no
 * anchored entry, marked unanchored, so a forwarded flow in order skips the lookup too, and an
 * unanchored entry never vouches for an RST.
 */
#define RG_RECENT_LAG 65536
#define RG_RECENT_ANCHORED 1u  /* tag bit: the entry was anchored to a socket */

static __always_inline struct rg_recent *recent_slot(const struct pkt *p, __u32 *tag)
{
	__u32 h = tuple_hash(p), slot = h & (RG_RECENT_SLOTS - 1);

	*tag = h & ~RG_RECENT_ANCHORED;
	return bpf_map_lookup_elem(&rg_recent, &slot);
}

/* rcv_nxt of the connection socket a segment is addressed to: 1 when there is one. */
static __always_inline int sock_rcv_nxt(struct bpf_sock *sk, __u32 *nxt)
{
	struct tcp_timewait_sock *tw;
	struct tcp_sock *tp;

	if (sk->state == RG_TCP_TIME_WAIT) {
		tw = bpf_skc_to_tcp_timewait_sock(sk);
		if (!tw)
			return 0;
		*nxt = tw_rcv_nxt(tw);
		return 1;
	}
	if (sk->state == RG_TCP_NEW_SYN_RECV)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;
	*nxt = tp->rcv_nxt;
	return 1;
}

/* A global function: the verifier checks the socket lookup here once, not once for every path
 * of the caller. Returns 1 when the entry was written. */
__noinline int rg_recent_note(struct xdp_md *ctx, struct pkt *p)
{
	struct rg_recent *r;
	struct bpf_sock *sk;
	__u32 tag, nxt = 0;
	int listener, anchored = 0, found = 0;

	if (!ctx || !p || (!p->payload && !(p->flags & TCPF_FIN)))
		return 0;
	r = recent_slot(p, &tag);
	if (!r)
		return 0;
	if ((r->tag & ~RG_RECENT_ANCHORED) == tag && r->seq_end == p->seq) {
		r->seq_end = seg_end(p);  /* in order after what was remembered: same standing */
		return 1;
	}
	sk = host_lookup(ctx, p, &listener);
	if (sk) {
		found = sock_rcv_nxt(sk, &nxt);
		bpf_sk_release(sk);
		if (!found)
			return 0;
		anchored = (__u32)(p->seq - nxt) <= RG_RECENT_LAG;
		if (!anchored)
			return 0; /* a guess at the sequence: the socket's entry stays as it is */
	} else if (r->tag & RG_RECENT_ANCHORED) {
		return 0;         /* no socket of ours: never displaces an anchored entry */
	}
	r->tag = tag | (anchored ? RG_RECENT_ANCHORED : 0);
	r->seq_end = seg_end(p);
	return 1;
}

/* Did an anchored data segment of this 4-tuple, not yet consumed by the stack, end at seq? */
static __always_inline int recent_is(const struct pkt *p, __u32 seq)
{
	__u32 tag;
	struct rg_recent *r = recent_slot(p, &tag);

	return r && r->tag == (tag | RG_RECENT_ANCHORED) && r->seq_end == seq;
}

/* Linux (tcp_validate_incoming) also resets on the right edge of the highest SACK block sent. */
static __always_inline int sack_edge_is(struct tcp_sock *tp, __u32 seq)
{
	__u32 n = tp->rx_opt.num_sacks, best = 0;
	int found = 0;

	for (int i = 0; i < 4; i++) {
		__u32 e;

		if (i >= n)
			break;
		e = tp->selective_acks[i].end_seq;
		if (!found || seq_after(e, best))
			best = e;
		found = 1;
	}
	return found && best == seq;
}

static __always_inline int judge_tcp_sock(struct bpf_sock *sk, const struct pkt *p, int state)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	__u32 seq = p->seq, nxt, wup, right;

	if (!tp)
		return RG_R_NO_FLOW;
	if (state == RG_TCP_SYN_SENT) {
		__u32 una = tp->snd_una;

		/* RFC 9293: acceptable only if SND.UNA < SEG.ACK <= SND.NXT; no sequence check.
		 * tcp_connect() stores snd_nxt only after the SYN left, and over a veth the refusal
		 * can reach us before that store (the stack queues it behind the socket lock), so
		 * ISN+1 is accepted from snd_una alone. */
		if (!(p->flags & TCPF_ACK))
			return RG_R_SYN_SENT_BAD_ACK;
		if (p->ack == una + 1 ||
		    (seq_after(p->ack, una) && !seq_after(p->ack, tp->snd_nxt)))
			return RG_R_VALID;
		return RG_R_SYN_SENT_BAD_ACK;
	}
	nxt = tp->rcv_nxt;
	pkt_ref(p, nxt, nxt);
	if (seq == nxt)
		return RG_R_VALID;
	if (seq == nxt - 1 && (state == RG_TCP_CLOSE_WAIT || state == RG_TCP_LAST_ACK ||
			       state == RG_TCP_CLOSING))
		return RG_R_VALID;
	if (sack_edge_is(tp, seq))
		return RG_R_VALID;
	wup = tp->rcv_wup;
	right = wup + tp->rcv_wnd;
	if (seq_before(right, nxt))
		right = nxt;
	if (seq_after(seq, nxt) && !seq_after(seq, right) && recent_is(p, seq))
		return RG_R_VALID;
	/* tcp_sequence(): the window the stack itself accepts, [rcv_wup, rcv_nxt + window]. */
	if (seq_in(seq, wup, right))
		return RG_R_INEXACT;
	return RG_R_OUT_OF_WINDOW;
}

static __always_inline int judge_timewait(struct bpf_sock *sk, const struct pkt *p)
{
	struct tcp_timewait_sock *tw = bpf_skc_to_tcp_timewait_sock(sk);
	__u32 nxt;

	if (!tw)
		return RG_R_NO_FLOW;
	nxt = tw_rcv_nxt(tw);
	pkt_ref(p, nxt, nxt);
	/* An orphaned FIN-WAIT-2 lives as a timewait socket too; RFC 1337 is about TIME-WAIT only. */
	if (tw->tw_sk.tw_substate == RG_TCP_FIN_WAIT2) {
		if (p->seq == nxt || recent_is(p, p->seq))
			return RG_R_VALID;
		return seq_in(p->seq, nxt, nxt + tw->tw_rcv_wnd) ? RG_R_INEXACT : RG_R_OUT_OF_WINDOW;
	}
	return p->seq == nxt ? RG_R_TIMEWAIT : RG_R_OUT_OF_WINDOW;
}

static __always_inline int judge_request(struct bpf_sock *sk, const struct pkt *p)
{
	struct tcp_request_sock *req = bpf_skc_to_tcp_request_sock(sk);
	__u32 nxt, wnd;

	if (!req)
		return RG_R_NO_FLOW;
	nxt = req->rcv_nxt;
	pkt_ref(p, nxt, nxt);
	if (p->seq == nxt)
		return RG_R_VALID;
	/* tcp_check_req() resets on any RST inside the SYN-ACK's window (capped at 64K). */
	wnd = req_rcv_wnd(req);
	if (wnd > 65535)
		wnd = 65535;
	return seq_in(p->seq, nxt, nxt + wnd) ? RG_R_INEXACT : RG_R_OUT_OF_WINDOW;
}

static __always_inline int judge_host_sock(struct bpf_sock *sk, const struct pkt *p)
{
	int state = sk->state, r;

	if (state == RG_TCP_TIME_WAIT)
		r = judge_timewait(sk, p);
	else if (state == RG_TCP_NEW_SYN_RECV)
		r = judge_request(sk, p);
	else
		r = judge_tcp_sock(sk, p, state);
	bpf_sk_release(sk);
	return r;
}

/* Is the destination this machine? The FIB answers "not forwarded" for local addresses, and
 * "forwarding disabled" on a host that forwards nothing, where everything received is local. */
static __always_inline int is_local(struct xdp_md *ctx, const struct pkt *p)
{
	struct bpf_fib_lookup fib = {};
	long r;

	fib.ifindex = ctx->ingress_ifindex;
	fib.l4_protocol = IPPROTO_TCP;
	fib.sport = p->sport;
	fib.dport = p->dport;
	fib.tot_len = p->ip_len;
	if (p->v6) {
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, p->saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, p->daddr, 16);
	} else {
		fib.family = AF_INET;
		fib.ipv4_src = p->saddr[0];
		fib.ipv4_dst = p->daddr[0];
	}
	r = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	return r == BPF_FIB_LKUP_RET_NOT_FWDED || r == BPF_FIB_LKUP_RET_FWD_DISABLED;
}

/*
 * Is a missing socket conclusive? bpf_skc_lookup_tcp from XDP searches the ingress device's
 * network namespace with the ingress device as the receiving interface (and, on a VRF port, that
 * port as the l3mdev slave), before any rx_handler has run. The stack instead hands frames to the
 * upper device that claims them: a macvlan/macvtap child (by its MAC), an ipvlan child (by its
 * IP), a VLAN device, or a master (bridge, bond, team, VRF). The lookup then misses every socket
 * in another namespace and every socket bound (SO_BINDTODEVICE, VRF) to an upper device. So a
 * missing socket proves "no connection" only when this device's own stack is the frame's sole
 * receiver (kernel_sock.h, rg_dev_view) and the destination is this machine (is_local).
 */
enum rg_host_view {
	RG_HV_LOCAL = 0,   /* own stack, local destination: the lookup saw all the stack would */
	RG_HV_FORWARDED,   /* own stack, but the destination is routed onwards */
	RG_HV_UPPER,       /* an upper device may receive it: sockets the lookup cannot see */
};

/* A global function: the verifier checks it once, and its caller sees one unknown answer
 * instead of carrying each way of reaching it through the flow-table path. */
__noinline int rg_host_view(struct xdp_md *ctx, struct pkt *p, int l3)
{
	void *data, *end;
	__u64 dmac = 0;

	if (!ctx || !p)
		return RG_HV_UPPER;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (!l3) {
		if (data + 6 > end)
			return RG_HV_UPPER;
		__builtin_memcpy(&dmac, data, 6);
	}
	if (rg_dev_view(ctx, dmac, l3) != RG_DEV_OWN)
		return RG_HV_UPPER;
	return is_local(ctx, p) ? RG_HV_LOCAL : RG_HV_FORWARDED;
}

/* The flow table's answer for a frame an upper device may receive: the upper's own traffic
 * leaves through this device's transmit path, which XDP never sees, so "no flow" or "one way"
 * is what the table always says there, not evidence: the RST passes for its endpoint to judge. */
static __always_inline int upper_flow_verdict(int view, int r)
{
	if (view == RG_HV_UPPER && (r == RG_R_NO_FLOW || r == RG_R_ONE_WAY))
		return RG_R_UNVERIFIED;
	return r;
}

/* --- gateway role ------------------------------------------------------------------------- */

/*
 * An RST the flow table has no live entry for. "No flow" is conclusive only when the 4-tuple was
 * never tracked: one the presence filter remembers was evicted by table pressure (a flood of
 * new 4-tuples can push out an idle long-lived flow) or timed out, and its connection may well
 * live on; and while the table is young, connections older than it have not spoken yet.
 * Either way the endpoint judges, as with no filter.
 */
static __always_inline int judge_untracked(const struct rg_policy *pol, int seen)
{
	if (seen)
		return RG_R_UNTRACKED;
	if (pol->learning && rg_now() - pol->born < pol->learning)
		return RG_R_LEARNING;
	return RG_R_NO_FLOW;
}

/*
 * The receiver's RCV.NXT lies in [its last ACK, the sender's highest sequence end]: an RST there
 * is exact enough. Below it by one is legal after the sender's FIN. Inside the receiver's window
 * beyond that is inexact; the rest is out of window.
 */
static __always_inline int judge_flow(const struct pkt *p, const struct rg_policy *pol,
				      struct rg_rst_note *n)
{
	struct rg_flow *f;
	int s, st, seen;
	__u8 sf, rf;
	__u32 lo, hi, seq = p->seq, now;

	f = flow_find_rst(p, &s, &seen);
	if (!f)
		return judge_untracked(pol, seen);
	/* The clock is read only for an RST that has a flow: a blind flood never pays for it. */
	now = rg_now();
	st = flow_state(f);
	/* A contested entry may have timed out as one-way while the real connection, whose
	 * segments it could not verify, lives on; an uncertain one ages on the old connection's
	 * clock while a new one may live: either still decides nothing. */
	if (now - f->last_seen > state_timeout(pol, st))
		return ((f->fflags & RG_F_CONTESTED) || (f->pending & RG_PEND_SYNACK)) ?
			       RG_R_UNVERIFIED : RG_R_UNTRACKED;
	/* Whatever follows for the entry, flow_rst_apply writes: an accepted reset closes it. */
	n->f = f;
	n->dir = s;
	n->now = now;
	n->fx = RG_FX_CLOSE;
	sf = f->dflags[s];
	rf = f->dflags[!s];
	/* Receiver in SYN-SENT: only the ACK counts. The first ISN is kept beside the latest
	 * retransmission's, so a forged SYN cannot make the real refusal look wrong; and an ACK
	 * claimed from the receiver's side since (forged, or its SYN-ACK went another way) does
	 * not take the refusal's validity away. */
	if ((rf & RG_D_SYN) && !(sf & RG_D_ACK) && (p->flags & TCPF_ACK) &&
	    (p->ack == f->d[!s].seq_end || p->ack == f->d[!s].isn + 1))
		return RG_R_VALID;
	/* One-sided state that segments contradicted (flow.h, flow_contest): it may be a forger's,
	 * so it decides nothing. */
	if ((f->fflags & RG_F_CONTESTED) && !flow_verified(f))
		return RG_R_UNVERIFIED;
	/* An entry that a lone SYN created (or that holds only a SYN from one side) cannot show that
	 * no older connection lives on its 4-tuple: after an eviction or expiry, a SYN forged in
	 * either name makes one. Any reset there but the SYN's refusal may be that connection's,
	 * so it passes for the endpoint to judge (a SYN-SENT stack checks the ACK itself). */
	if ((rf & (RG_D_SYN | RG_D_ACK)) == RG_D_SYN && !dir_seen(sf))
		return RG_R_UNVERIFIED;
	/* One direction seen (asymmetric routing, or mid-stream before the reply): no window is
	 * invented, but the one edge we know exactly still identifies a real reset: the aborting
	 * sender's own SND.NXT, or the ACK of the segment the receiver's reset answers (L5). */
	if (!dir_seen(rf)) {
		if (seq == f->d[s].seq_end)
			return RG_R_VALID;
		return (sf & (RG_D_SYN | RG_D_ACK)) == RG_D_SYN ? RG_R_UNVERIFIED : RG_R_ONE_WAY;
	}
	if (!dir_seen(sf))
		return (rf & RG_D_ACK) && seq == f->d[!s].ack ? RG_R_VALID : RG_R_ONE_WAY;
	if (rf & RG_D_ACK)
		lo = f->d[!s].ack;
	else if (sf & RG_D_SYN)
		lo = f->d[s].isn + 1;  /* receiver sent its SYN, has not acked our SYN-ACK yet */
	else
		return RG_R_ONE_WAY;
	hi = f->d[s].seq_end;
	/* RCV.NXT-1 after the sender's FIN; on an entry picked up (or restarted) mid-stream that FIN
	 * may have gone by unseen. */
	pkt_ref(p, ((sf & RG_D_FIN) || (f->fflags & RG_F_MIDSTREAM)) ? lo - 1 : lo, hi);
	if (seq_in(seq, ((sf & RG_D_FIN) || (f->fflags & RG_F_MIDSTREAM)) ? lo - 1 : lo, hi))
		return st == RG_ST_TIME_WAIT ? RG_R_TIMEWAIT : RG_R_VALID;
	/* The refusal of a SYN that re-opens a live 4-tuple (flow_update keeps it pending), when
	 * it does not reset the live connection itself (seq 0 may fall in its band). A
	 * refusal answers a segment without ACK, so its own sequence is 0 (RFC 9293 3.10.7.1);
	 * insisting on it leaves a forger who sent the SYN one fixed guess, not a free one.
	 * Passed, but the entry stays as it is: a live receiver discards seq 0, and a forger
	 * must not be able to end the tracking of a live connection. */
	if ((f->pending & (s ? RG_PEND_DIR0 : RG_PEND_DIR1)) && (p->flags & TCPF_ACK) &&
	    p->ack == f->d[!s].isn + 1 && seq == 0) {
		n->fx = RG_FX_NONE;
		return RG_R_VALID;
	}
	/* Uncertain (flow.h): a new handshake went by, and the reset may be the new connection's,
	 * whose numbers the entry never took. */
	if (f->pending & RG_PEND_SYNACK)
		return RG_R_UNVERIFIED;
	if (st != RG_ST_TIME_WAIT && seq_in(seq, lo, hi + f->d[!s].max_win))
		return RG_R_INEXACT;
	return RG_R_OUT_OF_WINDOW;
}

#endif
