/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Captured frames made readable: a parsed view, tcpdump-style text, JSON, and the NFLOG record
 * that carries a frame with its verdict into a pcap file. */
#ifndef RG_CAPFMT_H
#define RG_CAPFMT_H

#include <json-c/json.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RG_VIEW_MAX_VLAN 8

/* What a captured frame shows, as far as its captured bytes go. */
struct rg_pkt_view {
	int l3off;              /* offset of the IP header; -1 when none was found */
	uint16_t ethertype;     /* 0x0800 or 0x86dd once l3off is set */
	int nvlan;
	uint16_t vlan[RG_VIEW_MAX_VLAN];
	bool v6;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	bool later_fragment;    /* a non-first fragment: no TCP header */
	bool have_tcp;          /* the TCP header is within the captured bytes */
	uint16_t sport, dport, win;
	uint32_t seq, ack;
	uint8_t flags;
	long payload;           /* TCP payload bytes as the headers say; -1 when unknown */
};

/* Parses a frame (Ethernet with VLAN tags, or bare IP when l3). 0 when an IP header was found,
 * -1 when not (the view then says so). */
int rg_pkt_view(const uint8_t *f, size_t caplen, bool l3, struct rg_pkt_view *v);

/* TCP flags as tcpdump writes them: "R", "R.", "S.", "FP." ... */
void rg_tcp_flags_text(uint8_t flags, char *buf, size_t len);

/* Where and why: the verdict carried beside each frame. */
struct rg_cap_meta {
	uint64_t realtime_ns;
	const char *iface;
	uint32_t ifindex;
	const char *reason, *action;
	uint32_t dist;          /* RG_DIST_NONE when the RST had no reference */
	uint32_t len, caplen;
};

/* One line as tcpdump prints the packet, then the reason, the action and the distance. */
void rg_cap_print_text(FILE *out, const struct rg_cap_meta *m, const struct rg_pkt_view *v);
struct json_object *rg_cap_json(const struct rg_cap_meta *m, const struct rg_pkt_view *v);

/* Link type of the pcap files 'capture -w' writes: LINKTYPE_NFLOG (239), as 'tcpdump -i nflog'
 * writes them; its prefix string carries "IFACE REASON ACTION". */
#define RG_DLT_NFLOG 239

/* Builds the NFLOG record of one frame into buf (cap bytes); returns its length, 0 when the frame
 * has no IP header to carry or buf is too small. */
size_t rg_nflog_record(uint8_t *buf, size_t cap, const struct rg_cap_meta *m,
		       const struct rg_pkt_view *v, const uint8_t *frame);

#endif
