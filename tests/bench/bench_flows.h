/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Addresses of the bench's synthetic flows and generator modes, shared by the BPF side and C. */
#ifndef BENCH_FLOWS_H
#define BENCH_FLOWS_H

/* Tracked flow i runs from client BF_CLIENT_ADDR(i):BF_CLIENT_PORT(i) to the one server
 * BF_SERVER_ADDR:BF_SERVER_PORT (host byte order). None of these addresses is local to the
 * receiver namespace, so what a program passes is dropped by the stack at the route lookup
 * (forwarding is off) after the same fixed cost for every program. 2^20 flows fit. */
#define BF_CLIENT_ADDR(i) (0xC6130100u + ((i) >> 14))   /* 198.19.1.0 + i / 16384 */
#define BF_CLIENT_PORT(i) (10000u + ((i) & 0x3fffu))
#define BF_SERVER_ADDR 0xC6138001u                       /* 198.19.128.1 */
#define BF_SERVER_PORT 443
/* Random 4-tuples (flows that do not exist) come from 198.19.64.0/18, disjoint from the above. */
#define BF_RANDOM_NET 0xC6134000u
#define BF_RANDOM_MASK 0x3fffu

/* Sequence numbers every tracked flow is at: client and server SND.NXT. */
#define BF_CLIENT_NXT 1000001u
#define BF_SERVER_NXT 2000001u

enum gen_mode {
	GEN_SEQ = 1,   /* random TCP sequence number */
	GEN_FLOW = 2,  /* random tracked flow: source address and port of flow [0, gen_nflows) */
	GEN_TUPLE = 4, /* random source address and port: a flow that does not exist */
	GEN_CONN = 8,  /* random source port among gen_nconn real connections */
	GEN_INEXACT = 16, /* sequence number inside the server's window past its RCV.NXT: an RST
			   * on a tracked flow that is in window but not exact (BF_INEXACT_SPAN) */
};

/* GEN_INEXACT draws from BF_CLIENT_NXT + 1 .. + BF_INEXACT_SPAN: the server's window is
 * 65535 << 7 in every tracked flow. */
#define BF_INEXACT_SPAN (1u << 20)

#endif
