// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Evasion forms, malformed input and randomly mutated frames against the parser, in the
 * gateway and host roles, checked against an independent reference parser. */
#define _GNU_SOURCE
#include "harness.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ALL_POLICY (RG_P_MONITOR | RG_P_INEXACT_PASS | RG_P_UNKNOWN_PASS | RG_P_TIMEWAIT_DROP | \
		    RG_P_UNPARSED_PASS)

/* The tracked test connection: client 198.18.0.1:40000 / fd00::1 (pktspec defaults) to the
 * server on port 179, handshake replayed with these ISNs. */
#define CISN 1000u
#define SISN 5000u
#define EXACT (SISN + 1)     /* the client's RCV.NXT: an RST from the server there is exact */
#define BLIND 0x60000000u    /* nowhere near any window of the connection */

static const char *xdp_name(int r)
{
	switch (r) {
	case XDP_ABORTED: return "ABORTED";
	case XDP_DROP: return "DROP";
	case XDP_PASS: return "PASS";
	case -1: return "run-failed";
	default: return "?";
	}
}

static void policy(struct rg_env *e, uint32_t bits)
{
	CHECK(env_policy(e, bits, ALL_POLICY & ~bits) == 0, "policy 0x%x set", bits);
}

/* Counter movement between two snapshots as text, for failure messages. */
static void delta_text(const struct rg_snap *b, const struct rg_snap *a, char *out, size_t cap,
		       uint64_t *total)
{
	*total = 0;
	out[0] = 0;
	for (int i = 0; i < RG_R_MAX; i++)
		for (int j = 0; j < RG_ACT_MAX; j++) {
			uint64_t d = a->pkts[i][j] - b->pkts[i][j];

			*total += d;
			if (d)
				snprintf(out + strlen(out), cap - strlen(out), " %s/%s=%llu",
					 rg_reason_names[i], rg_action_names[j],
					 (unsigned long long)d);
		}
}

/* Runs one raw frame; checks the verdict and that exactly one counter, reason/act, moved.
 * reason -1: no counter may move (traffic that is none of the program's business). */
static void expect_raw(struct rg_env *e, const uint8_t *buf, size_t n, int verdict, int reason,
		       int act, const char *fmt, ...)
{
	struct rg_snap b, a;
	char what[200], got[400];
	uint64_t total, want_d;
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	env_snap(e, &b);
	r = env_run(e, buf, n);
	env_snap(e, &a);
	delta_text(&b, &a, got, sizeof(got), &total);
	want_d = reason < 0 ? 0 : a.pkts[reason][act] - b.pkts[reason][act];
	CHECK(r == verdict && (reason < 0 ? total == 0 : want_d == 1 && total == 1),
	      "%s: got %s [%s ], want %s [%s/%s] (%zu bytes)", what, xdp_name(r), got,
	      xdp_name(verdict), reason < 0 ? "none" : rg_reason_names[reason],
	      reason < 0 ? "-" : rg_action_names[act], n);
}

static size_t build(uint8_t *buf, const struct pktspec *s)
{
	size_t n = pkt_build(buf, 4096, s);

	if (!n)
		printf("# pkt_build refused a spec\n");
	/* Sent to lo's own link address (all zeros), as the host role's view expects of a frame
	 * for this machine's stack (bpf/verdict.h, rg_host_view). */
	else if (!s->l3)
		memset(buf, 0, 6);
	return n;
}

static void expect(struct rg_env *e, const struct pktspec *s, int verdict, int reason, int act,
		   const char *what)
{
	uint8_t buf[4096];
	size_t n = build(buf, s);

	expect_raw(e, buf, n, verdict, reason, act, "%s", what);
}

/* An RST from the server of the tracked connection, seq filled in by the caller. */
static struct pktspec srv_rst(int v6, uint32_t seq)
{
	struct pktspec s = { .v6 = v6, .src = v6 ? "fd00::2" : "198.18.0.2",
			     .dst = v6 ? "fd00::1" : "198.18.0.1", .sport = 179, .dport = 40000,
			     .seq = seq, .ack = CISN + 1, .flags = TF_RST | TF_ACK };

	return s;
}

static void handshake(struct rg_env *e, int v6, int l3)
{
	struct pktspec syn = { .v6 = v6, .l3 = l3, .seq = CISN, .flags = TF_SYN, .has_wscale = 1,
			       .wscale = 7, .sackok = 1 };
	struct pktspec sa = srv_rst(v6, SISN);
	struct pktspec ack = { .v6 = v6, .l3 = l3, .seq = CISN + 1, .ack = SISN + 1,
			       .flags = TF_ACK, .win = 512 };

	sa.l3 = l3;
	sa.flags = TF_SYN | TF_ACK;
	sa.has_wscale = 1;
	sa.wscale = 7;
	sa.sackok = 1;
	CHECK(env_run_spec(e, &syn) == XDP_PASS && env_run_spec(e, &sa) == XDP_PASS &&
	      env_run_spec(e, &ack) == XDP_PASS, "v%d handshake replayed", v6 ? 6 : 4);
}

/* The frame is judged like any RST: blind dropped (no_flow in the host role, which has no
 * socket here; out_of_window in the gateway role) and, in the gateway, exact passed. */
static void judged(struct rg_env *e, int role, struct pktspec s, const char *fmt, ...)
{
	char what[160], w2[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	s.seq = BLIND;
	snprintf(w2, sizeof(w2), "%s %s: blind RST judged", rg_role_names[role], what);
	expect(e, &s, XDP_DROP, role == RG_ROLE_HOST ? RG_R_NO_FLOW : RG_R_OUT_OF_WINDOW,
	       RG_ACT_DROP, w2);
	if (role == RG_ROLE_GATEWAY) {
		s.seq = EXACT;
		snprintf(w2, sizeof(w2), "%s %s: exact RST judged", rg_role_names[role], what);
		expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, w2);
	}
}

/* ---- raw frame surgery ----------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Inserts `tags` 802.1Q tags with VLAN id 0 after the MAC addresses; returns the new length. */
static size_t add_prio_tags(uint8_t *buf, size_t n, int tags)
{
	memmove(buf + 12 + 4 * (size_t)tags, buf + 12, n - 12);
	for (int i = 0; i < tags; i++) {
		put16(buf + 12 + 4 * i, 0x8100);
		put16(buf + 14 + 4 * i, 0);
	}
	return n + 4 * (size_t)tags;
}

/* Bytes in front of the IP header for a spec. */
static size_t l2len(const struct pktspec *s)
{
	return s->l3 ? 0 : 14 + 4 * (size_t)s->vlans;
}

/* ---- evasion --------------------------------------------------------------------------- */

static void evasion(struct rg_env *e, int role)
{
	const char *rn = rg_role_names[role];
	char w[160];
	uint8_t buf[4096];
	size_t n;

	for (int v6 = 0; v6 < 2; v6++) {
		struct pktspec s = srv_rst(v6, BLIND);

		judged(e, role, s, "v%d plain", v6 ? 6 : 4);
		s.vlans = 1;
		judged(e, role, s, "v%d 802.1Q", v6 ? 6 : 4);
		s.vlans = 2;
		judged(e, role, s, "v%d QinQ", v6 ? 6 : 4);
		s.vlans = 0;
		s.payload = 40;  /* RFC 9293 lets an RST carry diagnostic data */
		judged(e, role, s, "v%d RST with payload", v6 ? 6 : 4);
		s.payload = 0;
		/* Ethernet pads short frames to 60 bytes: the IP length, not the frame, counts. */
		s.seq = BLIND;
		n = build(buf, &s);
		memset(buf + n, 0, 32);
		snprintf(w, sizeof(w), "%s v%d RST with trailing padding: blind", rn, v6 ? 6 : 4);
		expect_raw(e, buf, n + 32, XDP_DROP,
			   role == RG_ROLE_HOST ? RG_R_NO_FLOW : RG_R_OUT_OF_WINDOW, RG_ACT_DROP,
			   "%s", w);
		if (role == RG_ROLE_GATEWAY) {
			s.seq = EXACT;
			n = build(buf, &s);
			memset(buf + n, 0, 32);
			expect_raw(e, buf, n + 32, XDP_PASS, RG_R_VALID, RG_ACT_PASS,
				   "%s v%d RST with trailing padding: exact", rn, v6 ? 6 : 4);
		}
	}

	/* IPv4 fragments. */
	{
		struct pktspec s = srv_rst(0, BLIND);

		s.frag_more = 1;
		judged(e, role, s, "v4 first fragment with the whole TCP header");
		s.ipopts = 8;
		judged(e, role, s, "v4 first fragment with IP options");
		s.ipopts = 0;
		/* The stack trims a first fragment to a multiple of 8 bytes (ip_frag_queue:
		 * end &= ~7), so with 14 or 15 TCP bytes the flags byte it keeps comes from the
		 * next fragment: 16 is the least that decides (test_host shows the kernel side). */
		s.frag_tcp_bytes = 16;
		judged(e, role, s, "v4 first fragment with 16 TCP bytes");
		s.frag_tcp_bytes = 19;
		judged(e, role, s, "v4 first fragment with 19 TCP bytes");
		for (int b = 1; b <= 15; b++) {
			s.frag_tcp_bytes = b;
			snprintf(w, sizeof(w), "%s v4 first fragment with %d TCP bytes", rn, b);
			expect(e, &s, XDP_DROP, RG_R_SHORT_FRAGMENT, RG_ACT_DROP, w);
		}
		s.frag_tcp_bytes = 8;
		policy(e, RG_P_UNPARSED_PASS);
		snprintf(w, sizeof(w), "%s v4 short first fragment, unparsed=pass", rn);
		expect(e, &s, XDP_PASS, RG_R_SHORT_FRAGMENT, RG_ACT_PASS, w);
		policy(e, RG_P_MONITOR);
		snprintf(w, sizeof(w), "%s v4 short first fragment, monitor", rn);
		expect(e, &s, XDP_PASS, RG_R_SHORT_FRAGMENT, RG_ACT_MONITOR, w);
		policy(e, 0);
		/* The flags byte is unknown: a short fragment of a non-RST is just as unparsed. */
		s.flags = TF_ACK;
		snprintf(w, sizeof(w), "%s v4 short first fragment of an ACK", rn);
		expect(e, &s, XDP_DROP, RG_R_SHORT_FRAGMENT, RG_ACT_DROP, w);
		s.flags = TF_RST;
		s.frag_tcp_bytes = 0;
		s.frag_more = 0;
		s.frag_off = 1;  /* the second fragment, starting at TCP byte 8, flags inside */
		snprintf(w, sizeof(w), "%s v4 non-first fragment", rn);
		expect(e, &s, XDP_PASS, RG_R_FRAGMENT, RG_ACT_PASS, w);
		s.frag_more = 1;
		s.frag_off = 185;
		snprintf(w, sizeof(w), "%s v4 middle fragment", rn);
		expect(e, &s, XDP_PASS, RG_R_FRAGMENT, RG_ACT_PASS, w);
		/* DF alone is no fragment at all. */
		s = srv_rst(0, BLIND);
		n = build(buf, &s);
		buf[14 + 6] |= 0x40;
		snprintf(w, sizeof(w), "%s v4 DF set", rn);
		expect_raw(e, buf, n, XDP_DROP,
			   role == RG_ROLE_HOST ? RG_R_NO_FLOW : RG_R_OUT_OF_WINDOW, RG_ACT_DROP,
			   "%s", w);
		s.ipopts = 40;
		judged(e, role, s, "v4 with 40 bytes of IP options");
	}

	/* IPv6 extension headers. */
	{
		static const struct {
			int n;
			uint8_t ext[8];
			const char *name;
		} chains[] = {
			{ 1, { 60 }, "destination options" },
			{ 1, { 0 }, "hop-by-hop" },
			{ 1, { 43 }, "routing header" },
			{ 3, { 0, 43, 60 }, "hop-by-hop, routing, destination options" },
			{ 6, { 0, 60, 43, 60, 60, 60 }, "6 extension headers" },
			{ 2, { 60, 44 }, "destination options + atomic fragment" },
		};
		struct pktspec s = srv_rst(1, BLIND);

		for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
			s.next_ext = chains[i].n;
			memcpy(s.ext, chains[i].ext, 8);
			judged(e, role, s, "v6 behind %s", chains[i].name);
		}
		s.next_ext = 1;
		s.ext[0] = 44;
		judged(e, role, s, "v6 atomic fragment");
		s.frag_more = 1;
		judged(e, role, s, "v6 first fragment with the whole TCP header");
		s.frag_more = 0;
		s.frag_off = 1;
		snprintf(w, sizeof(w), "%s v6 non-first fragment", rn);
		expect(e, &s, XDP_PASS, RG_R_FRAGMENT, RG_ACT_PASS, w);
		s.frag_off = 0;
		s.vlans = 2;
		judged(e, role, s, "v6 atomic fragment under QinQ");
		s.vlans = 0;

		/* A first fragment with 8 TCP bytes: cut the frame and the payload length. (IPv6
		 * discards first fragments whose length is no multiple of 8: 8 and 16 are the
		 * lengths that reach the stack.) */
		s.frag_more = 1;
		n = build(buf, &s);
		put16(buf + 14 + 4, 8 + 8);
		snprintf(w, sizeof(w), "%s v6 short first fragment", rn);
		expect_raw(e, buf, 14 + 40 + 8 + 8, XDP_DROP, RG_R_SHORT_FRAGMENT, RG_ACT_DROP,
			   "%s", w);
		put16(buf + 14 + 4, 8 + 16);
		expect_raw(e, buf, 14 + 40 + 8 + 16, XDP_DROP,
			   role == RG_ROLE_HOST ? RG_R_NO_FLOW : RG_R_OUT_OF_WINDOW, RG_ACT_DROP,
			   "%s v6 first fragment, 16 TCP bytes: judged", rn);
		s.frag_more = 0;

		/* AH (RFC 4302 length in 4-byte words minus 2): relabel a destination options
		 * header of 8 bytes as an AH of 8 bytes. */
		s.next_ext = 2;
		s.ext[0] = 60;
		s.ext[1] = 60;
		n = build(buf, &s);
		buf[14 + 6] = 51;
		buf[14 + 40 + 1] = 0;
		expect_raw(e, buf, n, XDP_DROP,
			   role == RG_ROLE_HOST ? RG_R_NO_FLOW : RG_R_OUT_OF_WINDOW, RG_ACT_DROP,
			   "%s v6 behind AH: judged", rn);

		/* Too deep to follow: policy unparsed. */
		for (int depth = 7; depth <= 8; depth++) {
			s.next_ext = depth;
			memset(s.ext, 60, sizeof(s.ext));
			snprintf(w, sizeof(w), "%s v6 %d extension headers", rn, depth);
			expect(e, &s, XDP_DROP, RG_R_DEEP_CHAIN, RG_ACT_DROP, w);
		}
		s.next_ext = 7;
		policy(e, RG_P_UNPARSED_PASS);
		snprintf(w, sizeof(w), "%s v6 deep chain, unparsed=pass", rn);
		expect(e, &s, XDP_PASS, RG_R_DEEP_CHAIN, RG_ACT_PASS, w);
		policy(e, 0);
		/* A deep chain that ends in a non-first fragment header is still a fragment to the
		 * stack, but the parser cannot see that far: unparsed, whatever it carries. */
		s.next_ext = 0;
	}

	/* Frames that are none of the program's business pass untouched and uncounted. */
	{
		struct pktspec s = srv_rst(0, BLIND);

		n = build(buf, &s);
		buf[14 + 9] = 17;  /* UDP */
		expect_raw(e, buf, n, XDP_PASS, -1, 0, "%s v4 UDP", rn);
		n = build(buf, &s);
		put16(buf + 12, 0x0806);
		expect_raw(e, buf, n, XDP_PASS, -1, 0, "%s ARP ethertype", rn);
		s.v6 = 1;
		s.src = "fd00::2";
		s.dst = "fd00::1";
		n = build(buf, &s);
		buf[14 + 6] = 58;
		expect_raw(e, buf, n, XDP_PASS, -1, 0, "%s v6 ICMPv6", rn);
		buf[14 + 6] = 59;
		expect_raw(e, buf, n, XDP_PASS, -1, 0, "%s v6 no next header", rn);
	}

	/* Priority tags (VLAN id 0): the stack strips any number of them without any VLAN
	 * configuration (__netif_receive_skb_core, check_vlan_id), so an RST under three or four
	 * still reaches TCP (test_host shows it resetting a real connection). */
	for (int v6 = 0; v6 < 2; v6++)
		for (int tags = 1; tags <= 4; tags++) {
			struct pktspec s = srv_rst(v6, BLIND);

			n = build(buf, &s);
			n = add_prio_tags(buf, n, tags);
			expect_raw(e, buf, n, XDP_DROP,
				   role == RG_ROLE_HOST ? RG_R_NO_FLOW : RG_R_OUT_OF_WINDOW, RG_ACT_DROP,
				   "%s v%d blind RST under %d VID-0 tags judged", rn, v6 ? 6 : 4, tags);
		}
}

/* An L3 device (tun, IP tunnels): no Ethernet header at all. */
static void l3_device(int role)
{
	struct rg_env e;
	uint8_t buf[4096];
	size_t n;
	int err = env_open(&e, role, 1, 1024);

	CHECK(err == 0, "%s l3 loads: %s", rg_role_names[role], strerror(-err));
	if (err)
		return;
	for (int v6 = 0; v6 < 2; v6++) {
		struct pktspec s = srv_rst(v6, BLIND);

		s.l3 = 1;
		if (role == RG_ROLE_GATEWAY)
			handshake(&e, v6, 1);
		judged(&e, role, s, "l3 v%d", v6 ? 6 : 4);
		if (v6) {
			s.next_ext = 2;
			s.ext[0] = 0;
			s.ext[1] = 60;
			judged(&e, role, s, "l3 v6 behind hop-by-hop + destination options");
		} else {
			s.frag_more = 1;
			judged(&e, role, s, "l3 v4 first fragment");
			s.frag_tcp_bytes = 8;
			expect(&e, &s, XDP_DROP, RG_R_SHORT_FRAGMENT, RG_ACT_DROP,
			       "l3 v4 short first fragment");
		}
	}
	/* The version nibble decides the family; anything else is not IP. */
	{
		struct pktspec s = srv_rst(0, BLIND);

		s.l3 = 1;
		n = build(buf, &s);
		buf[0] = (uint8_t)(0x50 | (buf[0] & 15));
		expect_raw(&e, buf, n, XDP_PASS, -1, 0, "%s l3 version 5", rg_role_names[role]);
		buf[0] = 0x45;
		for (size_t len = 14; len < n; len++)
			expect_raw(&e, buf, len, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS,
				   "%s l3 v4 RST cut to %zu", rg_role_names[role], len);
	}
	env_close(&e);
}

/* ---- malformed ------------------------------------------------------------------------- */

static void malformed(struct rg_env *e, int role)
{
	const char *rn = rg_role_names[role];
	uint8_t buf[4096], m[4096];
	size_t n;

	/* Every truncation of a valid RST: not IP while the L2 header is cut (no counter), then
	 * malformed and passed. BPF_PROG_TEST_RUN refuses frames under 14 bytes. */
	for (int v6 = 0; v6 < 2; v6++)
		for (int vl = 0; vl <= 2; vl++)
			for (int ext = 0; ext <= (v6 ? 1 : 0); ext++) {
				struct pktspec s = srv_rst(v6, EXACT);
				size_t l2;
				int bad = 0;

				s.vlans = vl;
				if (ext) {
					s.next_ext = 2;
					s.ext[0] = 0;
					s.ext[1] = 44;
				}
				n = build(buf, &s);
				l2 = l2len(&s);
				for (size_t len = 14; len < n; len++) {
					struct rg_snap b, a;
					char got[400];
					uint64_t total;
					int r;

					env_snap(e, &b);
					r = env_run(e, buf, len);
					env_snap(e, &a);
					delta_text(&b, &a, got, sizeof(got), &total);
					if (r != XDP_PASS ||
					    (len < l2 ? total != 0 :
					     total != 1 || a.pkts[RG_R_MALFORMED][RG_ACT_PASS] -
								   b.pkts[RG_R_MALFORMED][RG_ACT_PASS] != 1)) {
						bad++;
						printf("FAIL %s v%d vlans %d ext %d cut to %zu of %zu: %s [%s ]\n",
						       rn, v6 ? 6 : 4, vl, ext, len, n, xdp_name(r), got);
					}
				}
				CHECK(bad == 0, "%s v%d vlans %d ext %d: %d of %zu truncations wrong", rn,
				      v6 ? 6 : 4, vl, ext, bad, n - 14);
			}

	/* IPv4 header fields that contradict each other. */
	{
		struct pktspec s = srv_rst(0, EXACT);
		const size_t ip = 14, th = 14 + 20;

		n = build(buf, &s);
		for (int ihl = 0; ihl < 5; ihl++) {
			memcpy(m, buf, n);
			m[ip] = (uint8_t)(0x40 | ihl);
			expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS, "%s v4 IHL %d", rn,
				   ihl);
		}
		memcpy(m, buf, n);
		m[ip] = 0x4f;  /* 60-byte header in a 40-byte datagram */
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS, "%s v4 IHL 15 > total", rn);
		memcpy(m, buf, n);
		m[ip] = 0x46;  /* IHL 6: the TCP header is 4 bytes short of the total */
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS, "%s v4 IHL 6, TCP 16 bytes",
			   rn);
		memcpy(m, buf, n);
		m[ip] = 0x65;
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS, "%s v4 version 6", rn);
		for (int doff = 0; doff < 5; doff++) {
			memcpy(m, buf, n);
			m[th + 12] = (uint8_t)(doff << 4);
			expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS, "%s v4 doff %d", rn,
				   doff);
		}
		memcpy(m, buf, n);
		m[th + 12] = 6 << 4;  /* 24-byte TCP header in a 20-byte segment */
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS, "%s v4 doff past the end", rn);
		memcpy(m, buf, n);
		m[th + 12] = 15 << 4;
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS, "%s v4 doff 15", rn);
		for (uint16_t tot = 0; tot < 40; tot++) {
			memcpy(m, buf, n);
			put16(m + ip + 2, tot);
			expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS, "%s v4 total length %u",
				   rn, tot);
		}
		memcpy(m, buf, n);
		put16(m + ip + 2, 41);
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS,
			   "%s v4 total length one past the frame", rn);
		memcpy(m, buf, n);
		put16(m + ip + 2, 0xffff);
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS, "%s v4 total length 65535",
			   rn);
		/* A longer total is fine when the frame really holds it. */
		memcpy(m, buf, n);
		memset(m + n, 0, 8);
		put16(m + ip + 2, 48);
		expect_raw(e, m, n + 8, role == RG_ROLE_GATEWAY ? XDP_PASS : XDP_DROP,
			   role == RG_ROLE_GATEWAY ? RG_R_VALID : RG_R_NO_FLOW,
			   role == RG_ROLE_GATEWAY ? RG_ACT_PASS : RG_ACT_DROP,
			   "%s v4 RST with 8 bytes of data, exact", rn);
	}

	/* IPv6 lengths. */
	{
		struct pktspec s = srv_rst(1, EXACT);
		const size_t ip = 14;

		n = build(buf, &s);
		for (uint16_t pl = 0; pl < 20; pl++) {
			memcpy(m, buf, n);
			put16(m + ip + 4, pl);
			expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS,
				   "%s v6 payload length %u", rn, pl);
		}
		memcpy(m, buf, n);
		put16(m + ip + 4, 21);
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS,
			   "%s v6 payload length one past the frame", rn);
		memcpy(m, buf, n);
		put16(m + ip + 4, 0xffff);
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS, "%s v6 payload length 65535",
			   rn);
		memcpy(m, buf, n);
		m[ip] = 0x40;
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS, "%s v6 version 4", rn);
		for (int doff = 0; doff < 5; doff++) {
			memcpy(m, buf, n);
			m[ip + 40 + 12] = (uint8_t)(doff << 4);
			expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS, "%s v6 doff %d", rn,
				   doff);
		}
		/* An extension header longer than the payload. */
		s.next_ext = 1;
		s.ext[0] = 60;
		n = build(buf, &s);
		memcpy(m, buf, n);
		m[ip + 40 + 1] = 4;  /* 40 bytes claimed, 28 there */
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS,
			   "%s v6 extension header past the payload", rn);
		memcpy(m, buf, n);
		put16(m + ip + 4, 7);  /* payload ends inside the extension header */
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS,
			   "%s v6 payload ends inside an extension header", rn);
		memcpy(m, buf, n);
		put16(m + ip + 4, 8 + 19);  /* extension header complete, TCP one byte short */
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS,
			   "%s v6 TCP header one byte short after an extension header", rn);
		s.ext[0] = 44;
		n = build(buf, &s);
		memcpy(m, buf, n);
		put16(m + ip + 4, 7);
		expect_raw(e, m, n, XDP_PASS, RG_R_MALFORMED, RG_ACT_PASS,
			   "%s v6 fragment header cut by the payload length", rn);
	}

	/* Illegal flag combinations are judged, and dropped, before any state is consulted. */
	for (int v6 = 0; v6 < 2; v6++) {
		struct pktspec s = srv_rst(v6, EXACT);

		s.flags = TF_RST | TF_SYN;
		expect(e, &s, XDP_DROP, RG_R_BAD_FLAGS, RG_ACT_DROP, v6 ? "v6 SYN+RST" : "v4 SYN+RST");
		s.flags = TF_RST | TF_FIN | TF_ACK;
		expect(e, &s, XDP_DROP, RG_R_BAD_FLAGS, RG_ACT_DROP, v6 ? "v6 RST+FIN" : "v4 RST+FIN");
	}
}

/* ---- TCP options ----------------------------------------------------------------------- */

/* A SYN whose option bytes are exactly opts (padded with EOL to a multiple of 4, room made as
 * needed): the window shift the flow table then records for the sender, 15 meaning none. */
static int syn_wscale(struct rg_env *e, int v6, uint16_t sport, const uint8_t *opts, size_t len)
{
	struct pktspec s = { .v6 = v6, .sport = sport, .seq = 777, .flags = TF_SYN };
	struct rg_flow fl;
	uint8_t buf[4096];
	size_t n = build(buf, &s), ip = 14, th = 14 + (v6 ? 40 : 20), olen = (len + 3) & ~3u;

	/* The bare SYN has a 20-byte header and nothing after it: grow it in place. */
	memset(buf + th + 20, 0, olen);
	memcpy(buf + th + 20, opts, len);
	n += olen;
	buf[th + 12] = (uint8_t)(((20 + olen) / 4) << 4);
	if (v6)
		put16(buf + ip + 4, (uint16_t)(20 + olen));
	else
		put16(buf + ip + 2, (uint16_t)(20 + 20 + olen));
	if (env_run(e, buf, n) != XDP_PASS || env_flow(e, &s, &fl))
		return -1;
	return fl.dflags[0] >> 4;  /* 198.18.0.1 / fd00::1 sorts first: direction 0 */
}

/* The window-scale option is read as tcp_parse_options() reads it: EOL ends the list, a length
 * under 2 or past the end stops parsing, only length 3 counts, the last one wins, at most 14. */
static void tcp_options(void)
{
	static const struct {
		const char *name;
		uint8_t o[40];
		size_t len;
		int want;
	} c[] = {
		{ "MSS, NOP, WS 7", { 2, 4, 5, 0xb4, 1, 3, 3, 7 }, 8, 7 },
		{ "WS 20 is 14", { 3, 3, 20 }, 3, 14 },
		{ "length 0 stops", { 8, 0, 3, 3, 7 }, 5, 15 },
		{ "length 1 stops", { 8, 1, 3, 3, 7 }, 5, 15 },
		{ "EOL ends the list", { 0, 3, 3, 7 }, 4, 15 },
		{ "WS of length 4 ignored", { 3, 4, 7, 0 }, 4, 15 },
		{ "the last WS wins", { 3, 3, 3, 3, 3, 9 }, 6, 9 },
		{ "unknown option skipped", { 254, 6, 1, 2, 3, 4, 3, 3, 5 }, 9, 5 },
		{ "option longer than the list", { 8, 30, 3, 3, 7 }, 5, 15 },
		{ "WS cut by the end of the header",
		  { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3 }, 20, 15 },
		{ "WS ending exactly at the header's end",
		  { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 9 }, 20, 9 },
		{ "40 option bytes, WS last",
		  { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 6 }, 40, 6 },
		{ "40 option bytes, WS cut",
		  { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3 }, 40, 15 },
	};
	struct rg_env e;
	int err = env_open(&e, RG_ROLE_GATEWAY, 0, 1024);

	CHECK(err == 0, "options env loads");
	if (err)
		return;
	for (int v6 = 0; v6 < 2; v6++)
		for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
			int ws = syn_wscale(&e, v6, (uint16_t)(41000 + i), c[i].o, c[i].len);

			CHECK(ws == c[i].want, "v%d SYN options, %s: shift %d, want %d", v6 ? 6 : 4,
			      c[i].name, ws, c[i].want);
		}
	env_close(&e);
}

/* ---- reference parser ------------------------------------------------------------------ */

/* What the kernel stack would make of a frame, structurally (checksums and option contents
 * are not considered: the program does not look at them either, and a frame the stack would
 * drop for them can be judged any way at all). */
enum ref_class {
	REF_NOT_TCP,      /* not TCP/IP, or L2 cut short */
	REF_MALFORMED,    /* says TCP/IP but is truncated or inconsistent */
	REF_FRAGMENT,     /* a non-first fragment */
	REF_NON_RST,      /* a well-formed TCP segment (or first fragment) without RST */
	REF_RST,          /* a well-formed TCP segment (or first fragment) with RST */
	REF_UNDECIDABLE,  /* first fragment without the flags byte, or > 6 extension headers */
	REF_ANY,          /* any verdict is right: the stack discards it unseen (a first IPv6
			   * fragment of bad length), or only configuration decides (a third
			   * tag with a VLAN id) */
	REF_MAX
};
static const char *const ref_names[REF_MAX] = {
	"not_tcp", "malformed", "fragment", "non_rst", "rst", "undecidable", "any",
};

/* first: the segment is a first fragment, of which the reassembled datagram keeps `kept`
 * bytes of TCP. */
static int ref_tcp(const uint8_t *t, uint32_t l4, int first, uint32_t kept)
{
	uint32_t doff;

	/* In a first fragment only the flags byte matters: reassembly keeps it when it lies in
	 * the part kept (overlaps are discarded), the rest may be in the next fragment. */
	if (first) {
		if (kept < 14)
			return REF_UNDECIDABLE;
		return (t[13] & TF_RST) ? REF_RST : REF_NON_RST;
	}
	if (l4 < 20)
		return REF_MALFORMED;
	doff = (t[12] >> 4) * 4u;
	if (doff < 20 || doff > l4)
		return REF_MALFORMED;
	return (t[13] & TF_RST) ? REF_RST : REF_NON_RST;
}

static int ref_ipv4(const uint8_t *ip, size_t n)
{
	uint32_t hl, tot;
	uint16_t frag;

	if (n < 20)
		return REF_MALFORMED;
	if (ip[9] != 6)
		return REF_NOT_TCP;
	hl = (ip[0] & 15) * 4u;
	tot = get16(ip + 2);
	if ((ip[0] >> 4) != 4 || hl < 20 || tot < hl || tot > n)
		return REF_MALFORMED;
	frag = get16(ip + 6);
	if (frag & 0x1fff)
		return REF_FRAGMENT;
	/* ip_frag_queue() trims a fragment with MF to a multiple of 8 bytes. */
	return ref_tcp(ip + hl, tot - hl, !!(frag & 0x2000), (tot - hl) & ~7u);
}

static int is_ext6(uint8_t nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60;
}

static int ref_ipv6(const uint8_t *ip, size_t n)
{
	uint32_t left, len;
	const uint8_t *p = ip + 40;
	uint8_t nh;
	int first_fragment = 0;

	if (n < 40)
		return REF_MALFORMED;
	nh = ip[6];
	if ((ip[0] >> 4) != 6)
		return REF_MALFORMED;
	left = get16(ip + 4);
	if (40 + (size_t)left > n)
		return REF_MALFORMED;
	for (int depth = 0;; depth++) {
		if (nh == 6)
			return ref_tcp(p, left, first_fragment, left);
		if (!is_ext6(nh))
			return REF_NOT_TCP;
		if (depth == 6)
			return REF_UNDECIDABLE;  /* deeper than the documented limit */
		if (nh == 44) {
			uint16_t off;

			if (left < 8)
				return REF_MALFORMED;
			off = get16(p + 2);
			if (off & 0xfff8)
				return REF_FRAGMENT;
			/* ip6_frag_queue() discards a fragment with M whose length is no multiple
			 * of 8: whatever the program does with it, the stack never sees it. */
			if ((off & 1) && (left - 8) % 8)
				return REF_ANY;
			if (off & 1)
				first_fragment = 1;
			len = 8;
		} else {
			if (left < 2)
				return REF_MALFORMED;
			len = nh == 51 ? (p[1] + 2u) * 4 : (p[1] + 1u) * 8;
			if (len > left)
				return REF_MALFORMED;
		}
		nh = p[0];
		p += len;
		left -= len;
	}
}

/* Tags as the stack peels them: two of any VLAN id are the documented scope; beyond that a
 * VID-0 (priority) tag is stripped without any configuration, while a tag with an id reaches
 * IP only through configured VLAN devices, which the program cannot know. */
static int ref_parse(const uint8_t *f, size_t n, int l3)
{
	uint16_t et;
	size_t off = 14;

	if (l3) {
		if (n < 1)
			return REF_NOT_TCP;
		if ((f[0] >> 4) == 4)
			return ref_ipv4(f, n);
		if ((f[0] >> 4) == 6)
			return ref_ipv6(f, n);
		return REF_NOT_TCP;
	}
	if (n < 14)
		return REF_NOT_TCP;
	et = get16(f + 12);
	for (int i = 0; et == 0x8100 || et == 0x88a8; i++) {
		if (n < off + 4)
			return REF_NOT_TCP;
		if (i >= 2 && (get16(f + off) & 0xfff))
			return REF_ANY;
		et = get16(f + off + 2);
		off += 4;
	}
	if (et == 0x0800)
		return ref_ipv4(f + off, n - off);
	if (et == 0x86dd)
		return ref_ipv6(f + off, n - off);
	return REF_NOT_TCP;
}

/* The reference against hand-made frames, so that a fuzz failure blames the program. */
static void ref_selftest(void)
{
	uint8_t buf[4096];
	struct pktspec s = srv_rst(0, 1);
	size_t n;

	n = build(buf, &s);
	CHECK(ref_parse(buf, n, 0) == REF_RST, "ref: v4 RST");
	CHECK(ref_parse(buf, n - 1, 0) == REF_MALFORMED, "ref: v4 RST cut");
	s.flags = TF_ACK;
	n = build(buf, &s);
	CHECK(ref_parse(buf, n, 0) == REF_NON_RST, "ref: v4 ACK");
	s.frag_more = 1;
	s.frag_tcp_bytes = 15;
	n = build(buf, &s);
	CHECK(ref_parse(buf, n, 0) == REF_UNDECIDABLE, "ref: short fragment (15 bytes, 8 kept)");
	s.frag_tcp_bytes = 16;
	n = build(buf, &s);
	CHECK(ref_parse(buf, n, 0) == REF_NON_RST, "ref: first fragment with the flags");
	s = srv_rst(1, 1);
	s.vlans = 2;
	s.next_ext = 7;
	memset(s.ext, 60, 8);
	n = build(buf, &s);
	CHECK(ref_parse(buf, n, 0) == REF_UNDECIDABLE, "ref: deep chain");
	s.next_ext = 6;
	n = build(buf, &s);
	CHECK(ref_parse(buf, n, 0) == REF_RST, "ref: 6 extension headers");
	s.next_ext = 1;
	s.ext[0] = 44;
	s.frag_off = 3;
	n = build(buf, &s);
	CHECK(ref_parse(buf, n, 0) == REF_FRAGMENT, "ref: v6 fragment");
	s = srv_rst(1, 1);
	s.l3 = 1;
	n = build(buf, &s);
	CHECK(ref_parse(buf, n, 1) == REF_RST, "ref: l3 v6 RST");
}

/* ---- mutation fuzzing ------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64: tiny, seeded, reproducible. */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rn(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

struct tmpl {
	uint8_t b[512];
	size_t n;
	size_t ip;   /* offset of the IP header */
	size_t th;   /* offset of the TCP header */
	int v6;
};

#define NTMPL 256
static struct tmpl tmpls[NTMPL];
static int ntmpl;

static void add_tmpl(const struct pktspec *s)
{
	struct tmpl *t;
	size_t ext = 0;

	if (ntmpl == NTMPL)
		return;
	t = &tmpls[ntmpl];
	t->n = pkt_build(t->b, sizeof(t->b), s);
	if (!t->n)
		return;
	t->ip = l2len(s);
	t->v6 = s->v6;
	if (s->v6)
		ext = 8 * (size_t)s->next_ext;
	t->th = t->ip + (s->v6 ? 40 + ext : 20 + (size_t)s->ipopts);
	ntmpl++;
}

/* SYN, SYN-ACK, data, FIN and RST frames of both families, with the encapsulations and
 * extension headers the parser walks, as starting points for mutation. */
static void make_templates(int l3)
{
	static const uint8_t flagsets[] = { TF_SYN, TF_SYN | TF_ACK, TF_ACK, TF_ACK | TF_PSH,
					    TF_FIN | TF_ACK, TF_RST, TF_RST | TF_ACK };
	static const struct {
		int n;
		uint8_t ext[4];
	} chains[] = { { 0, { 0 } }, { 1, { 60 } }, { 2, { 0, 43 } }, { 1, { 44 } },
		       { 3, { 0, 60, 44 } } };

	ntmpl = 0;
	for (int v6 = 0; v6 < 2; v6++)
		for (size_t fi = 0; fi < sizeof(flagsets); fi++)
			for (int vl = 0; vl <= (l3 ? 0 : 2); vl++)
				for (int var = 0; var < 5; var++) {
					struct pktspec s = srv_rst(v6, SISN + 1);

					s.l3 = l3;
					s.flags = flagsets[fi];
					s.vlans = vl;
					if (s.flags & TF_SYN) {
						s.has_wscale = 1;
						s.wscale = 7;
						s.sackok = var & 1;
					}
					if ((s.flags & TF_PSH) || var == 4)
						s.payload = 1 + (uint32_t)var * 37;
					if (v6) {
						s.next_ext = chains[var].n;
						memcpy(s.ext, chains[var].ext, 4);
						s.frag_more = var == 4;
					} else {
						s.ipopts = var == 1 ? 8 : 0;
						s.frag_more = var == 3 || var == 4;
						s.frag_tcp_bytes = var == 4 ? 8 : 0;
					}
					add_tmpl(&s);
				}
}

/* One random mutation of the frame, biased towards the fields the parser reads. */
static void mutate(uint8_t *b, size_t *n, const struct tmpl *t)
{
	static const uint8_t nh[] = { 0, 6, 17, 43, 44, 51, 58, 59, 60, 135 };
	size_t hdr_end = t->th + 20 < *n ? t->th + 20 : *n;

	switch (rn(14)) {
	case 0: /* flip a bit anywhere */
		b[rn((uint32_t)*n)] ^= (uint8_t)(1u << rn(8));
		break;
	case 1: /* a random byte in the headers */
		b[rn((uint32_t)hdr_end)] = (uint8_t)rnd();
		break;
	case 2: /* truncate */
		if (*n > 14)
			*n = 14 + rn((uint32_t)(*n - 14));
		break;
	case 3: /* extend with junk */
		for (uint32_t i = rn(64) + 1; i > 0 && *n < 1400; i--)
			b[(*n)++] = (uint8_t)rnd();
		break;
	case 4: /* the IP length field */
		if (t->v6)
			put16(b + t->ip + 4, rn(4) ? (uint16_t)(get16(b + t->ip + 4) + rn(33) - 16) :
						     (uint16_t)rnd());
		else
			put16(b + t->ip + 2, rn(4) ? (uint16_t)(get16(b + t->ip + 2) + rn(33) - 16) :
						     (uint16_t)rnd());
		break;
	case 5: /* IHL / version nibbles */
		b[t->ip] = rn(2) ? (uint8_t)((b[t->ip] & 0xf0) | rn(16)) :
				   (uint8_t)((rn(16) << 4) | (b[t->ip] & 15));
		break;
	case 6: /* doff */
		if (t->th + 12 < *n)
			b[t->th + 12] = (uint8_t)((rn(16) << 4) | (b[t->th + 12] & 15));
		break;
	case 7: /* TCP flags: RST on or off, or anything */
		if (t->th + 13 < *n)
			b[t->th + 13] = rn(2) ? (uint8_t)(b[t->th + 13] ^ TF_RST) : (uint8_t)rnd();
		break;
	case 8: /* IPv4 fragment field / IPv6 next header values */
		if (t->v6)
			b[t->ip + 6] = nh[rn(sizeof(nh))];
		else
			put16(b + t->ip + 6, rn(2) ? (uint16_t)(get16(b + t->ip + 6) ^ (1u << rn(16))) :
						     (uint16_t)rnd());
		break;
	case 9: /* an extension header's next-header or length byte */
		if (t->v6 && t->th > t->ip + 40) {
			size_t at = t->ip + 40 + 8 * rn((uint32_t)((t->th - t->ip - 40) / 8));

			if (rn(2))
				b[at] = nh[rn(sizeof(nh))];
			else
				b[at + 1] = (uint8_t)rn(4);
		}
		break;
	case 10: /* the IPv4 protocol byte */
		if (!t->v6)
			b[t->ip + 9] = rn(2) ? 6 : (uint8_t)rnd();
		break;
	case 11: /* an ethertype or tag */
		if (t->ip >= 14) {
			static const uint16_t et[] = { 0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806, 0x9100 };

			put16(b + t->ip - 2, et[rn(sizeof(et) / 2)]);
		}
		break;
	case 12: /* IPv6 fragment header offset / M bit */
		if (t->v6 && t->th > t->ip + 40)
			put16(b + t->ip + 40 + 2, (uint16_t)(rn(2) ? rn(2) : rnd()));
		break;
	default: /* a TCP header byte */
		if (t->th < *n)
			b[t->th + rn((uint32_t)(*n - t->th < 20 ? *n - t->th : 20))] = (uint8_t)rnd();
		break;
	}
}

static int judged_reason(int r)
{
	switch (r) {
	case RG_R_VALID: case RG_R_OUT_OF_WINDOW: case RG_R_INEXACT: case RG_R_NO_FLOW:
	case RG_R_ONE_WAY: case RG_R_UNVERIFIED: case RG_R_UNTRACKED: case RG_R_LEARNING:
	case RG_R_SYN_SENT_BAD_ACK: case RG_R_TIMEWAIT:
	case RG_R_BAD_FLAGS: case RG_R_EXEMPT: case RG_R_UNPROTECTED:
		return 1;
	default:
		return 0;
	}
}

/* The stats map of an environment, found through the program's own map list: the fuzz loop
 * reads all reasons in one batch syscall instead of one lookup per reason (env_snap). */
static int stats_fd(struct rg_env *e)
{
	uint32_t ids[32], n = 32;
	struct bpf_prog_info pi = { .nr_map_ids = n, .map_ids = (uint64_t)(uintptr_t)ids };
	uint32_t len = sizeof(pi);

	if (bpf_obj_get_info_by_fd(e->prog_fd, &pi, &len))
		return -1;
	for (uint32_t i = 0; i < pi.nr_map_ids && i < n; i++) {
		struct bpf_map_info mi = {};
		uint32_t ml = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &mi, &ml) && !strcmp(mi.name, "rg_stats"))
			return fd;
		close(fd);
	}
	return -1;
}

/* Packets per reason (all actions) of slot 0, summed over CPUs. */
static int fast_snap(int fd, int ncpu, uint64_t out[RG_R_MAX])
{
	static struct rg_counter vals[RG_R_MAX * 256];
	uint32_t keys[RG_R_MAX], count = RG_R_MAX, out_batch = 0;
	int err;

	if (ncpu > 256)
		return -1;
	err = bpf_map_lookup_batch(fd, NULL, &out_batch, keys, vals, &count, NULL);
	if ((err && errno != ENOENT) || count < RG_R_MAX)
		return -1;
	for (int r = 0; r < RG_R_MAX; r++) {
		out[r] = 0;
		for (int c = 0; c < ncpu; c++)
			for (int a = 0; a < RG_ACT_MAX; a++)
				out[r] += vals[r * ncpu + c].packets[a];
	}
	return 0;
}

static void hexdump(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x%s", b[i], (i % 32 == 31 || i + 1 == n) ? "\n" : "");
}

/*
 * Mutated frames through the program. Properties, each against the reference:
 *  - never XDP_ABORTED, the run never fails;
 *  - not TCP, malformed, fragment and non-RST frames are passed;
 *  - the counter tells the same story: non-RST counted as such, an RST judged (never passed
 *    as malformed, which would be an evasion), undecidable ones under the unparsed reasons.
 */
static void fuzz(int role, int l3, uint64_t seed, long frames)
{
	struct rg_env e;
	uint64_t b[RG_R_MAX], a[RG_R_MAX];
	int sfd;
	long bad_abort = 0, bad_pass = 0, bad_count = 0, bad_evade = 0, per[REF_MAX] = { 0 };
	int shown = 0, err = env_open(&e, role, l3, 1024);

	CHECK(err == 0, "fuzz env loads: %s", strerror(-err));
	if (err)
		return;
	rng_state = seed;
	make_templates(l3);
	if (role == RG_ROLE_GATEWAY) {
		handshake(&e, 0, l3);
		handshake(&e, 1, l3);
	}
	sfd = stats_fd(&e);
	CHECK(sfd >= 0 && fast_snap(sfd, e.ncpu, b) == 0, "fuzz: batch read of the stats map");
	if (sfd < 0) {
		env_close(&e);
		return;
	}
	for (long i = 0; i < frames; i++) {
		const struct tmpl *t = &tmpls[rn((uint32_t)ntmpl)];
		uint8_t f[1600];
		size_t n = t->n;
		int cls, r, reason = -1, nreasons = 0, ok;
		char why[64] = "";

		memcpy(f, t->b, n);
		for (uint32_t k = rn(4) + 1; k > 0; k--)
			mutate(f, &n, t);
		/* Sometimes priority tags in front: last, as they move every offset. */
		if (!l3 && n >= 14 && rn(16) == 0)
			n = add_prio_tags(f, n, 1 + (int)rn(3));
		if (n < 14)
			n = 14;
		cls = ref_parse(f, n, l3);
		per[cls]++;
		r = env_run(&e, f, n);
		if (fast_snap(sfd, e.ncpu, a)) {
			bad_count++;
			continue;
		}
		for (int x = 0; x < RG_R_FLOW_CREATED; x++)
			if (a[x] != b[x]) {
				reason = x;
				nreasons += (int)(a[x] - b[x]);
			}
		memcpy(b, a, sizeof(b));

		ok = 1;
		if (r != XDP_PASS && r != XDP_DROP) {
			bad_abort++;
			ok = 0;
			snprintf(why, sizeof(why), "verdict %s", xdp_name(r));
		} else if (cls == REF_ANY) {
			/* nothing to require */
		} else if (cls != REF_RST && cls != REF_UNDECIDABLE && r != XDP_PASS) {
			bad_pass++;
			ok = 0;
			snprintf(why, sizeof(why), "dropped");
		} else if (cls == REF_RST && !(nreasons == 1 && judged_reason(reason))) {
			bad_evade++;
			ok = 0;
			snprintf(why, sizeof(why), "RST not judged, counted %s",
				 reason < 0 ? "nothing" : rg_reason_names[reason]);
		} else if (nreasons > 1 ||
			   (cls == REF_NON_RST && reason != RG_R_NON_RST) ||
			   (cls == REF_FRAGMENT && reason != RG_R_FRAGMENT) ||
			   (cls == REF_UNDECIDABLE && reason != RG_R_SHORT_FRAGMENT &&
			    reason != RG_R_DEEP_CHAIN) ||
			   ((cls == REF_NOT_TCP || cls == REF_MALFORMED) && reason != -1 &&
			    reason != RG_R_MALFORMED)) {
			bad_count++;
			ok = 0;
			snprintf(why, sizeof(why), "counted %s", reason < 0 ? "nothing" :
				 rg_reason_names[reason]);
		}
		if (!ok && shown < 12) {
			shown++;
			printf("FAIL fuzz %s%s frame %ld: reference says %s, program %s, %s; %zu bytes:\n",
			       rg_role_names[role], l3 ? " l3" : "", i, ref_names[cls], xdp_name(r),
			       why, n);
			hexdump(f, n);
		}
	}
	printf("# fuzz %s%s: seed 0x%016llx, %ld frames: not_tcp %ld, malformed %ld, fragment %ld, "
	       "non_rst %ld, rst %ld, undecidable %ld, any %ld\n", rg_role_names[role],
	       l3 ? " l3" : "", (unsigned long long)seed, frames, per[REF_NOT_TCP],
	       per[REF_MALFORMED], per[REF_FRAGMENT], per[REF_NON_RST], per[REF_RST],
	       per[REF_UNDECIDABLE], per[REF_ANY]);
	CHECK(bad_abort == 0, "fuzz %s%s: %ld frames aborted or failed to run", rg_role_names[role],
	      l3 ? " l3" : "", bad_abort);
	CHECK(bad_pass == 0, "fuzz %s%s: %ld frames that are decidedly no RST were dropped",
	      rg_role_names[role], l3 ? " l3" : "", bad_pass);
	CHECK(bad_evade == 0, "fuzz %s%s: %ld RSTs the stack would act on passed unjudged",
	      rg_role_names[role], l3 ? " l3" : "", bad_evade);
	CHECK(bad_count == 0, "fuzz %s%s: %ld frames counted under a reason the reference contradicts",
	      rg_role_names[role], l3 ? " l3" : "", bad_count);
	CHECK(per[REF_RST] > frames / 20 && per[REF_NON_RST] > frames / 20 &&
	      per[REF_MALFORMED] > frames / 20, "fuzz %s%s: the mutations reach every class",
	      rg_role_names[role], l3 ? " l3" : "");
	close(sfd);
	env_close(&e);
}

int main(int argc, char **argv)
{
	static const int roles[] = { RG_ROLE_GATEWAY, RG_ROLE_HOST };
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	long frames = 100000;
	const char *env_seed = getenv("RG_SEED"), *env_frames = getenv("RG_FRAMES");
	cpu_set_t cpus;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1)
		env_seed = argv[1];
	if (env_seed)
		seed = strtoull(env_seed, NULL, 0);
	if (env_frames)
		frames = strtol(env_frames, NULL, 0);
	/* Host-role lookups must find nothing: a private, empty namespace guarantees it. */
	if (unshare(CLONE_NEWNET))
		printf("# unshare(CLONE_NEWNET): %s; host lookups run in the current namespace\n",
		       strerror(errno));
	/* One CPU: the per-CPU caches the program keeps then behave deterministically. */
	CPU_ZERO(&cpus);
	CPU_SET(sched_getcpu(), &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);

	ref_selftest();
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		struct rg_env e;
		int err = env_open(&e, roles[i], 0, 1024);

		if (err == -EPERM) {
			printf("SKIP: cannot load BPF: %s\n", strerror(-err));
			return 77;
		}
		CHECK(err == 0, "%s loads: %s", rg_role_names[roles[i]], strerror(-err));
		if (err)
			continue;
		printf("# %s role\n", rg_role_names[roles[i]]);
		if (roles[i] == RG_ROLE_GATEWAY) {
			handshake(&e, 0, 0);
			handshake(&e, 1, 0);
		}
		evasion(&e, roles[i]);
		malformed(&e, roles[i]);
		env_close(&e);
		l3_device(roles[i]);
	}

	tcp_options();

	printf("# mutation run: seed 0x%016llx (rerun with RG_SEED=0x%llx)\n",
	       (unsigned long long)seed, (unsigned long long)seed);
	fuzz(RG_ROLE_GATEWAY, 0, seed, frames);
	fuzz(RG_ROLE_HOST, 0, seed + 1, frames / 4);
	fuzz(RG_ROLE_GATEWAY, 1, seed + 2, frames / 5);
	fuzz(RG_ROLE_BOTH, 0, seed + 3, frames / 10);
	return t_summary("parse");
}
