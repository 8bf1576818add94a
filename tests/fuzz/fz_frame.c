// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Target "frame": one frame, any role, any policy, optionally a seeded local socket; the model
 * predicts the counted reason exactly. */
#include <linux/bpf.h>
#include <string.h>
#include "check.h"
#include "input.h"
#include "pkt.h"

/*
 * Input layout:
 *   [0] config: bits 0-1 role (1 host, 3 both, else gateway), bit 2 l3 device, bits 3-4 FIB
 *       answer (local, forwarding disabled, forwarded, no device), bit 5 structured frame,
 *       bit 6 a socket is seeded, bit 7 it answers every lookup (else only the default tuple)
 *   [1] policy bits: 0-4 as RG_P_* bits 0-4, 5 ports, 6 prefixes, 7 exempt lists in force
 *   [2..33] the socket
 *   then a structured frame (40 bytes of pktspec, then 3-byte patches) or the raw frame.
 */
static const char *const v4_addrs[8] = { "198.18.0.1", "198.18.0.2", "198.18.0.7", "198.19.3.5",
					  "10.1.2.3", "203.0.113.9", "0.0.0.0", "198.18.0.255" };
static const char *const v6_addrs[8] = { "fd00::1", "fd00::2", "fd00::7", "fd00:99::35",
					  "::ffff:198.18.0.1", "2001:db8::1", "::", "fd00::ffff:1" };
static const __u8 ext_kinds[5] = { 0, 43, 60, 44, 51 };
static const long fib_answers[4] = { BPF_FIB_LKUP_RET_NOT_FWDED, BPF_FIB_LKUP_RET_FWD_DISABLED,
				     BPF_FIB_LKUP_RET_SUCCESS, -19 /* -ENODEV */ };

__u32 fz_role_of(__u8 sel)
{
	return (sel & 3) == 1 ? RG_ROLE_HOST : (sel & 3) == 3 ? RG_ROLE_BOTH : RG_ROLE_GATEWAY;
}

__u32 fz_policy_of(__u8 b)
{
	return (b & 0x1f) | (__u32)((b >> 5) & 7) << 8;
}

static void addr_bytes(int v6, const char *txt, __u32 out[4]);

static void read_sock(struct in *in, struct shim_sock *s, int wildcard)
{
	__u8 st = in_u8(in), shift, misc;
	__u16 back, wnd;

	memset(s, 0, sizeof(*s));
	s->wildcard = wildcard;
	s->state = (__u8)(1 + st % 12);
	s->rcv_nxt = in_u32(in);
	back = in_u16(in);
	s->rcv_wup = s->rcv_nxt - back;
	wnd = in_u16(in);
	shift = in_u8(in) % 15;
	s->rcv_wnd = (__u32)wnd << shift;
	s->snd_una = in_u32(in);
	s->snd_nxt = s->snd_una + in_u16(in);
	misc = in_u8(in);
	s->num_sacks = misc % 5;
	s->tw_substate = (misc & 0x80) ? 5 /* FIN_WAIT2 */ : 6 /* TIME_WAIT */;
	for (int i = 0; i < 4; i++) {
		s->sack_end[i] = s->rcv_nxt + in_u16(in);
		s->sack_start[i] = s->sack_end[i] - 100;
	}
	s->tw_rcv_nxt = s->rcv_nxt;
	s->tw_rcv_wnd = in_u16(in);
	s->req_rcv_nxt = s->rcv_nxt;
	s->req_rcv_wnd = (__u32)in_u16(in) << (in_u8(in) % 4);
	s->v6 = in_u8(in) & 1;
	in_u8(in); /* spare */
	/* Not a wildcard: the default tuple of the frame builder, remote -> local. */
	addr_bytes(s->v6, s->v6 ? "fd00::1" : "198.18.0.1", s->saddr);
	addr_bytes(s->v6, s->v6 ? "fd00::2" : "198.18.0.2", s->daddr);
	s->sport = __builtin_bswap16(40000);
	s->dport = __builtin_bswap16(179);
}

#include <arpa/inet.h>
static void addr_bytes(int v6, const char *txt, __u32 out[4])
{
	memset(out, 0, 16);
	inet_pton(v6 ? AF_INET6 : AF_INET, txt, out);
}

/* A sequence number relative to something the socket knows, so exact and in-window values
 * are common: base selector in the low 3 bits, delta width in bits 3-4. */
static __u32 rel(__u8 sel, __u32 raw, const struct shim_sock *s)
{
	__u32 top = s->sack_end[0], base;

	for (int i = 1; i < s->num_sacks; i++)
		if ((__s32)(s->sack_end[i] - top) > 0)
			top = s->sack_end[i];
	switch (sel & 7) {
	case 1: base = s->rcv_nxt; break;
	case 2: base = s->rcv_wup; break;
	case 3: base = s->rcv_wup + s->rcv_wnd; break;
	case 4: base = s->num_sacks ? top : s->rcv_nxt; break;
	case 5: base = s->snd_una; break;
	case 6: base = s->snd_nxt; break;
	case 7: base = s->rcv_nxt - 1; break;
	default: return raw;
	}
	switch ((sel >> 3) & 3) {
	case 0: return base;
	case 1: return base + (__u32)(__s32)(__s8)raw;
	case 2: return base + (__u32)(__s32)(__s16)raw;
	default: return raw;
	}
}

static size_t build(struct in *in, const struct shim_sock *s, int l3, __u8 *buf, size_t cap)
{
	struct pktspec ps;
	__u8 b0 = in_u8(in), seqsel, acksel, next, trunc;
	__u32 seqraw, ackraw;
	size_t n;

	memset(&ps, 0, sizeof(ps));
	ps.v6 = b0 & 1;
	ps.l3 = l3;
	ps.vlans = ((b0 >> 1) & 3) % 3;
	ps.sackok = !!(b0 & 0x08);
	ps.has_wscale = !!(b0 & 0x10);
	ps.frag_more = !!(b0 & 0x20);
	ps.ipopts = (in_u8(in) % 11) * 4;
	ps.src = (ps.v6 ? v6_addrs : v4_addrs)[in_u8(in) % 8];
	ps.dst = (ps.v6 ? v6_addrs : v4_addrs)[in_u8(in) % 8];
	if (b0 & 0x40) {
		/* The default tuple, which a non-wildcard socket answers. */
		ps.src = ps.dst = NULL;
	}
	ps.sport = in_u16(in);
	ps.dport = in_u16(in);
	seqsel = in_u8(in);
	seqraw = in_u32(in);
	acksel = in_u8(in);
	ackraw = in_u32(in);
	ps.seq = rel(seqsel, seqraw, s);
	ps.ack = rel(acksel, ackraw, s);
	ps.flags = in_u8(in);
	ps.win = in_u16(in);
	ps.wscale = in_u8(in);
	ps.payload = in_u8(in);
	ps.frag_off = in_u16(in) & 0x1fff;
	ps.frag_tcp_bytes = in_u8(in);
	next = in_u8(in) % 9;
	ps.next_ext = next;
	for (int i = 0; i < 8; i++)
		ps.ext[i] = ext_kinds[in_u8(in) % 5];
	trunc = in_u8(in);
	in_u32(in); /* spare */
	n = pkt_build(buf, cap, &ps);
	if (!n)
		return 0;
	if (trunc && trunc < n)
		n -= trunc;
	/* Byte patches corrupt what the builder made well-formed. */
	for (int k = 0; k < 16 && in_left(in) >= 3; k++) {
		__u16 off = in_u16(in);
		__u8 v = in_u8(in);

		buf[off % n] = v;
	}
	return n;
}

int fz_frame_run(const __u8 *data, size_t size)
{
	struct in in = { data, size, 0 };
	__u8 cfg = in_u8(&in), pol = in_u8(&in);
	__u32 role = fz_role_of(cfg), l3 = (cfg >> 2) & 1, bits = fz_policy_of(pol);
	struct shim_sock sk;
	__u8 buf[4096];
	size_t n;
	struct mpkt mp;
	struct fz_obs o;
	int expect;

	read_sock(&in, &sk, !!(cfg & 0x80));
	fz_begin("frame", role, l3, bits);
	shim.fib_ret = fib_answers[(cfg >> 3) & 3];
	if (cfg & 0x40) {
		shim.socks[0] = sk;
		shim.nsocks = 1;
	}
	if (cfg & 0x20) {
		n = build(&in, &sk, (int)l3, buf, sizeof(buf));
	} else {
		n = in_left(&in) > sizeof(buf) ? sizeof(buf) : in_left(&in);
		memcpy(buf, data + in.i, n);
	}
	shim.now_ns = 1000500000000ull; /* 1000.5 s: mid-second, see replay.c */
	if (!fz_step(buf, n, &mp, &o)) {
		/* A tracked segment on an empty table creates its entry: from a SYN, or mid-stream
		 * from anything carrying an ACK; never from a fragment's first part. */
		if (mp.cls == M_TCP && !(mp.flags & M_RST) && role != RG_ROLE_HOST) {
			int ev = !mp.partial && ((mp.flags & (M_SYN | M_ACK)) == M_SYN ||
						 (mp.flags & M_ACK)) ? RG_R_FLOW_CREATED : -1;

			if (o.event != ev)
				fz_fail("flow event: expected %s, got %s", ev < 0 ? "none" :
					fz_reason_name[ev], o.event < 0 ? "none" : fz_reason_name[o.event]);
		}
		return 0;
	}
	/* An in-scope RST without SYN/FIN: the role's judgement. A listener (or a closed
	 * socket) is no connection: as if there were no socket. */
	if (role != RG_ROLE_GATEWAY && shim.nsocks && m_sock_matches(&sk, &mp) &&
	    sk.state != 10 /* LISTEN */ && sk.state != 7 /* CLOSE */) {
		/* Nothing was seen before this frame: no recent data end. */
		fz_expect(&o, m_host_judge(&sk, &mp, 0, 0), "host judge");
		return 0;
	}
	/* No connection socket: NO_FLOW for a local address (the device model owns every frame),
	 * `unverified` for a forwarded one in the host role, and from the (empty) flow table in
	 * the both role. */
	expect = RG_R_NO_FLOW;
	if (role == RG_ROLE_HOST && shim.fib_ret != BPF_FIB_LKUP_RET_NOT_FWDED &&
	    shim.fib_ret != BPF_FIB_LKUP_RET_FWD_DISABLED)
		expect = RG_R_UNVERIFIED;
	fz_expect(&o, expect, "no socket, empty flow table");
	if (role == RG_ROLE_BOTH && !o.sk_found && shim.fib_calls != 1)
		fz_fail("both role without a socket consulted the FIB %d times", shim.fib_calls);
	return 0;
}
