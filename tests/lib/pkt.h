/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Builds test frames: Ethernet (with 0-2 VLAN tags) or bare IP, IPv4/IPv6, TCP with options. */
#ifndef TEST_PKT_H
#define TEST_PKT_H

#include <stddef.h>
#include <stdint.h>

#define TF_FIN 0x01
#define TF_SYN 0x02
#define TF_RST 0x04
#define TF_PSH 0x08
#define TF_ACK 0x10

struct pktspec {
	int v6;                  /* 0: IPv4, 1: IPv6 */
	int l3;                  /* 1: no Ethernet header (tun devices) */
	int vlans;               /* 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q) */
	const char *src, *dst;   /* addresses as text; defaults 198.18.0.1 -> 198.18.0.2 / fd00::1 -> fd00::2 */
	uint16_t sport, dport;   /* host order; defaults 40000 -> 179 */
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;            /* default 65535 */
	int has_wscale;          /* SYNs only: add a window-scale option with shift wscale */
	uint8_t wscale;
	int sackok;              /* add SACK-permitted + timestamps, like Linux SYNs */
	uint32_t payload;        /* bytes of payload after the TCP header */
	int ipopts;              /* IPv4 option bytes (multiple of 4, NOPs) */
	/* IPv6 extension headers before TCP, in order: 0 = HOPOPTS, 43 = ROUTING, 60 = DSTOPTS,
	 * 44 = FRAGMENT (offset frag_off, M bit frag_more). Ends at the first 255. */
	uint8_t ext[8];
	int next_ext;            /* number of entries used in ext */
	/* IPv4 fragmentation: offset in 8-byte units and MF; with frag_tcp_bytes > 0 the frame
	 * carries only that many bytes of the TCP header (a short first fragment). */
	uint16_t frag_off;
	int frag_more;
	int frag_tcp_bytes;
};

/* Writes the frame into buf (at most cap bytes); returns its length, 0 on error. */
size_t pkt_build(uint8_t *buf, size_t cap, const struct pktspec *s);

#endif
