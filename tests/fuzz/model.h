/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Reference model: what the filter must answer, restated from SPEC sections 2-4 and the parser's
 * documented rules, written apart from bpf/ (byte offsets, no shared code but the contract). */
#ifndef RG_FUZZ_MODEL_H
#define RG_FUZZ_MODEL_H

#include <linux/types.h>
#include <stddef.h>
#include "shim.h"

enum m_class { M_TCP, M_NOT_TCP, M_MALFORMED, M_FRAGMENT, M_SHORT_FRAGMENT, M_DEEP_CHAIN };

/* A frame as the model understands it. Addresses as 16 bytes, IPv4 in the first four. */
struct mpkt {
	int cls;
	int v6;
	int partial;        /* first of several fragments: only the first 14 TCP bytes count */
	__u8 saddr[16], daddr[16];
	__u16 sport, dport; /* host order */
	__u32 seq, ack, payload;
	__u8 flags;
	__u16 win;
	__u8 wscale;        /* SYN's window-scale option, 15 when absent */
};

#define M_FIN 0x01
#define M_SYN 0x02
#define M_RST 0x04
#define M_ACK 0x10
#define M_WS_NONE 15

int m_before(__u32 a, __u32 b);
int m_after(__u32 a, __u32 b);
/* s in [lo, hi] modulo 2^32; a band whose hi is before lo holds lo only. */
int m_in(__u32 s, __u32 lo, __u32 hi);

void m_parse(const __u8 *f, size_t n, int l3, struct mpkt *p);
/* RG_R_EXEMPT, RG_R_UNPROTECTED, or RG_R_MAX when in scope. */
int m_scope(const struct mpkt *p, __u32 bits, int ports_known);
/* Does policy `bits` drop a packet judged `reason`? */
int m_drops(int reason, __u32 bits);
/* SPEC 2 against a local socket (host role). recent: the end of the last data segment the
 * filter saw on this 4-tuple, have_recent = 0 when none. */
int m_host_judge(const struct shim_sock *s, const struct mpkt *p, int have_recent, __u32 recent);
/* Does the seeded socket answer a lookup for this packet? */
int m_sock_matches(const struct shim_sock *s, const struct mpkt *p);

#endif
