// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The reference model of parsing, scope, policy and host-role acceptance (see model.h). */
#include "model.h"

#include <string.h>
#include "fuzz.h"
#include "rstguard.h"

int m_before(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}

int m_after(__u32 a, __u32 b)
{
	return (__s32)(b - a) < 0;
}

int m_in(__u32 s, __u32 lo, __u32 hi)
{
	if (m_before(hi, lo))
		return s == lo;
	return !m_before(s, lo) && !m_after(s, hi);
}

static __u16 be16(const __u8 *b)
{
	return (__u16)(b[0] << 8 | b[1]);
}

static __u32 be32(const __u8 *b)
{
	return (__u32)b[0] << 24 | (__u32)b[1] << 16 | (__u32)b[2] << 8 | b[3];
}

/* Window-scale option of a SYN: the last well-formed one wins; the walk stops at EOL, at a
 * length under 2, or at an option running past the end (as Linux's tcp_parse_options). */
static __u8 syn_wscale(const __u8 *o, size_t n)
{
	__u8 ws = M_WS_NONE;
	size_t i = 0;

	while (i < n) {
		__u8 kind = o[i], len;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		len = i + 1 < n ? o[i + 1] : 0;
		if (len < 2)
			break;
		if (kind == 3 && len == 3 && i + 2 < n)
			ws = o[i + 2] > 14 ? 14 : o[i + 2];
		i += len;
	}
	return ws;
}

static void parse_tcp(const __u8 *f, size_t n, size_t pos, __u32 l4len, struct mpkt *p)
{
	__u32 doff;

	if (p->partial) {
		/* A non-last fragment keeps only whole 8-byte units through reassembly. */
		if ((l4len & ~7u) < 16 || pos + 14 > n) {
			p->cls = M_SHORT_FRAGMENT;
			return;
		}
	} else if (pos + 20 > n || l4len < 20) {
		p->cls = M_MALFORMED;
		return;
	}
	p->sport = be16(f + pos);
	p->dport = be16(f + pos + 2);
	p->seq = be32(f + pos + 4);
	p->ack = be32(f + pos + 8);
	p->flags = f[pos + 13];
	p->wscale = M_WS_NONE;
	p->cls = M_TCP;
	if (p->partial)
		return;
	doff = (f[pos + 12] >> 4) * 4u;
	if (doff < 20 || doff > l4len) {
		p->cls = M_MALFORMED;
		return;
	}
	p->payload = l4len - doff;
	p->win = be16(f + pos + 14);
	if (p->flags & M_SYN)
		p->wscale = syn_wscale(f + pos + 20, doff - 20);
}

static void parse_ip4(const __u8 *f, size_t n, size_t off, struct mpkt *p)
{
	__u32 hl, tot;
	__u16 frag;

	if (off + 20 > n) {
		p->cls = M_MALFORMED;
		return;
	}
	/* Anything but TCP is none of the filter's business, whatever else is wrong with it. */
	if (f[off + 9] != 6) {
		p->cls = M_NOT_TCP;
		return;
	}
	memcpy(p->saddr, f + off + 12, 4);
	memcpy(p->daddr, f + off + 16, 4);
	hl = (f[off] & 15) * 4u;
	tot = be16(f + off + 2);
	if ((f[off] >> 4) != 4 || hl < 20 || tot < hl || off + tot > n || off + hl > n) {
		p->cls = M_MALFORMED;
		return;
	}
	frag = be16(f + off + 6);
	if (frag & 0x1fff) {
		p->cls = M_FRAGMENT;
		return;
	}
	p->partial = !!(frag & 0x2000);
	parse_tcp(f, n, off + hl, tot - hl, p);
}

static int is_ext(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 44;
}

static void parse_ip6(const __u8 *f, size_t n, size_t off, struct mpkt *p)
{
	size_t pos = off + 40;
	__u32 left;
	__u8 nh;

	if (off + 40 > n) {
		p->cls = M_MALFORMED;
		return;
	}
	nh = f[off + 6];
	if (nh == 17 || nh == 58) {
		p->cls = M_NOT_TCP;
		return;
	}
	memcpy(p->saddr, f + off + 8, 16);
	memcpy(p->daddr, f + off + 24, 16);
	p->v6 = 1;
	left = be16(f + off + 4);
	if ((f[off] >> 4) != 6 || pos + left > n) {
		p->cls = M_MALFORMED;
		return;
	}
	/* Six extension headers are followed; a longer chain is "deep" (policy unparsed). */
	for (int i = 0; i <= 6; i++) {
		__u32 len;

		if (nh == 6) {
			parse_tcp(f, n, pos, left, p);
			return;
		}
		if (!is_ext(nh)) {
			p->cls = M_NOT_TCP;
			return;
		}
		if (i == 6) {
			p->cls = M_DEEP_CHAIN;
			return;
		}
		if (nh == 44) {
			__u16 fo;

			if (pos + 8 > n || left < 8) {
				p->cls = M_MALFORMED;
				return;
			}
			fo = be16(f + pos + 2);
			if (fo & 0xfff8) {
				p->cls = M_FRAGMENT;
				return;
			}
			/* M clear: an atomic fragment, delivered as is, judged as a whole segment. */
			if (fo & 1)
				p->partial = 1;
			len = 8;
		} else {
			if (pos + 2 > n) {
				p->cls = M_MALFORMED;
				return;
			}
			len = nh == 51 ? (f[pos + 1] + 2u) * 4 : (f[pos + 1] + 1u) * 8;
		}
		if (len > left || pos + len > n) {
			p->cls = M_MALFORMED;
			return;
		}
		nh = f[pos];
		pos += len;
		left -= len;
	}
}

void m_parse(const __u8 *f, size_t n, int l3, struct mpkt *p)
{
	size_t off;
	__u16 et;

	memset(p, 0, sizeof(*p));
	p->wscale = M_WS_NONE;
	p->cls = M_NOT_TCP;
	if (l3) {
		if (n < 1)
			return;
		if ((f[0] >> 4) == 4)
			parse_ip4(f, n, 0, p);
		else if ((f[0] >> 4) == 6)
			parse_ip6(f, n, 0, p);
		return;
	}
	if (n < 14)
		return;
	et = be16(f + 12);
	off = 14;
	/* Up to eight 802.1Q/802.1ad tags; a deeper stack is not looked into. */
	for (int i = 0; i < 8 && (et == 0x8100 || et == 0x88a8); i++) {
		if (off + 4 > n)
			return;
		et = be16(f + off + 2);
		off += 4;
	}
	if (et == 0x8100 || et == 0x88a8)
		p->cls = M_DEEP_CHAIN;
	else if (et == 0x0800)
		parse_ip4(f, n, off, p);
	else if (et == 0x86dd)
		parse_ip6(f, n, off, p);
}

static void addr128(const struct mpkt *p, const __u8 *a, __u8 out[16])
{
	if (p->v6) {
		memcpy(out, a, 16);
	} else {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, a, 4);
	}
}

static int in_list(const struct fz_prefix *l, int n, const __u8 a[16])
{
	for (int i = 0; i < n; i++) {
		int ok = 1;

		for (__u32 b = 0; b < l[i].len && ok; b++)
			ok = ((l[i].addr[b / 8] ^ a[b / 8]) & (0x80 >> (b % 8))) == 0;
		if (ok)
			return 1;
	}
	return 0;
}

static int port_listed(__u16 port)
{
	for (int i = 0; i < FZ_NPORTS; i++)
		if (fz_ports[i] == port)
			return 1;
	return 0;
}

int m_scope(const struct mpkt *p, __u32 bits, int ports_known)
{
	__u8 s[16], d[16];

	addr128(p, p->saddr, s);
	addr128(p, p->daddr, d);
	if ((bits & RG_P_HAVE_EXEMPT) &&
	    (in_list(fz_exempt, FZ_NEXEMPT, s) || in_list(fz_exempt, FZ_NEXEMPT, d)))
		return RG_R_EXEMPT;
	/* Each protection list is "everything" while empty (its bit clear); both must match. */
	if ((bits & RG_P_HAVE_PORTS) && ports_known && !port_listed(p->sport) &&
	    !port_listed(p->dport))
		return RG_R_UNPROTECTED;
	if ((bits & RG_P_HAVE_PREFIXES) &&
	    !in_list(fz_protect, FZ_NPROTECT, s) && !in_list(fz_protect, FZ_NPROTECT, d))
		return RG_R_UNPROTECTED;
	return RG_R_MAX;
}

int m_drops(int reason, __u32 bits)
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

int m_sock_matches(const struct shim_sock *s, const struct mpkt *p)
{
	__u16 sp = (__u16)(p->sport << 8 | p->sport >> 8), dp = (__u16)(p->dport << 8 | p->dport >> 8);

	if (s->wildcard)
		return 1;
	if (s->v6 != p->v6 || s->sport != sp || s->dport != dp)
		return 0;
	return !memcmp(s->saddr, p->saddr, p->v6 ? 16 : 4) && !memcmp(s->daddr, p->daddr, p->v6 ? 16 : 4);
}

/* Kernel TCP states (include/net/tcp_states.h). */
enum { K_ESTABLISHED = 1, K_SYN_SENT, K_SYN_RECV, K_FIN_WAIT1, K_FIN_WAIT2, K_TIME_WAIT, K_CLOSE,
       K_CLOSE_WAIT, K_LAST_ACK, K_LISTEN, K_CLOSING, K_NEW_SYN_RECV };

int m_host_judge(const struct shim_sock *s, const struct mpkt *p, int have_recent, __u32 recent)
{
	__u32 seq = p->seq;

	if (s->state == K_TIME_WAIT) {
		__u32 nxt = s->tw_rcv_nxt;

		/* An orphaned FIN-WAIT-2 is a connection still: the synchronized-state rules. */
		if (s->tw_substate == K_FIN_WAIT2) {
			if (seq == nxt || (have_recent && recent == seq))
				return RG_R_VALID;
			return m_in(seq, nxt, nxt + s->tw_rcv_wnd) ? RG_R_INEXACT : RG_R_OUT_OF_WINDOW;
		}
		/* TIME-WAIT: only the exact RST would end it, and policy timewait decides. */
		return seq == nxt ? RG_R_TIMEWAIT : RG_R_OUT_OF_WINDOW;
	}
	if (s->state == K_NEW_SYN_RECV) {
		__u32 nxt = s->req_rcv_nxt, wnd = s->req_rcv_wnd > 65535 ? 65535 : s->req_rcv_wnd;

		if (seq == nxt)
			return RG_R_VALID;
		return m_in(seq, nxt, nxt + wnd) ? RG_R_INEXACT : RG_R_OUT_OF_WINDOW;
	}
	if (s->state == K_SYN_SENT) {
		/* Sequence unchecked; SND.UNA < SEG.ACK <= SND.NXT, or ISN+1 before snd_nxt is set. */
		if (!(p->flags & M_ACK))
			return RG_R_SYN_SENT_BAD_ACK;
		if (p->ack == s->snd_una + 1 ||
		    (m_after(p->ack, s->snd_una) && !m_after(p->ack, s->snd_nxt)))
			return RG_R_VALID;
		return RG_R_SYN_SENT_BAD_ACK;
	}
	{
		__u32 nxt = s->rcv_nxt, wup = s->rcv_wup, right = s->rcv_wup + s->rcv_wnd;
		int n = s->num_sacks > 4 ? 4 : s->num_sacks;

		if (seq == nxt)
			return RG_R_VALID;
		if (seq == nxt - 1 &&
		    (s->state == K_CLOSE_WAIT || s->state == K_LAST_ACK || s->state == K_CLOSING))
			return RG_R_VALID;
		if (n > 0) {
			__u32 top = s->sack_end[0];

			for (int i = 1; i < n; i++)
				if (m_after(s->sack_end[i], top))
					top = s->sack_end[i];
			if (seq == top)
				return RG_R_VALID;
		}
		/* Linux's acceptable window (tcp_sequence): [rcv_wup, rcv_nxt + receive window],
		 * whose right edge is never left of rcv_nxt. */
		if (m_before(right, nxt))
			right = nxt;
		/* Data the filter has seen and the stack not yet consumed ends where a reset
		 * following it would start. */
		if (have_recent && recent == seq && m_after(seq, nxt) && !m_after(seq, right))
			return RG_R_VALID;
		return m_in(seq, wup, right) ? RG_R_INEXACT : RG_R_OUT_OF_WINDOW;
	}
}
