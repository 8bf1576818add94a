// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Captured frames made readable: parsed once, printed as tcpdump would, or wrapped in NFLOG. */
#include "capfmt.h"

#include <arpa/inet.h>
#include <endian.h>
#include <string.h>
#include <time.h>

#include "rstguard.h"
#include "util.h"

#define ETH_HLEN 14
#define ET_IP 0x0800
#define ET_IPV6 0x86dd
#define IPPROTO_TCP_NR 6
#define IP6_MAX_EXT 8

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The TCP header at t (n bytes captured); ip_payload is the IP payload length the IP header
 * claims, from which the TCP payload follows. */
static void view_tcp(const uint8_t *t, size_t n, long ip_payload, struct rg_pkt_view *v)
{
	uint32_t doff;

	if (n < 20)
		return;
	v->have_tcp = true;
	v->sport = rd16(t);
	v->dport = rd16(t + 2);
	v->seq = rd32(t + 4);
	v->ack = rd32(t + 8);
	v->flags = t[13];
	v->win = rd16(t + 14);
	doff = (t[12] >> 4) * 4u;
	if (doff >= 20 && ip_payload >= (long)doff)
		v->payload = ip_payload - doff;
}

static int view_ip4(const uint8_t *p, size_t n, struct rg_pkt_view *v)
{
	uint32_t hl, tot;

	if (n < 20 || (p[0] >> 4) != 4)
		return -1;
	v->ethertype = ET_IP;
	inet_ntop(AF_INET, p + 12, v->src, sizeof(v->src));
	inet_ntop(AF_INET, p + 16, v->dst, sizeof(v->dst));
	hl = (p[0] & 15) * 4u;
	tot = rd16(p + 2);
	if (rd16(p + 6) & 0x1fff) {
		v->later_fragment = true;
		return 0;
	}
	if (hl >= 20 && hl <= n && p[9] == IPPROTO_TCP_NR)
		view_tcp(p + hl, n - hl, tot >= hl ? (long)(tot - hl) : -1, v);
	return 0;
}

static int view_ip6(const uint8_t *p, size_t n, struct rg_pkt_view *v)
{
	size_t off = 40, len;
	uint8_t nh;

	if (n < 40 || (p[0] >> 4) != 6)
		return -1;
	v->ethertype = ET_IPV6;
	v->v6 = true;
	inet_ntop(AF_INET6, p + 8, v->src, sizeof(v->src));
	inet_ntop(AF_INET6, p + 24, v->dst, sizeof(v->dst));
	nh = p[6];
	for (int i = 0; i < IP6_MAX_EXT && nh != IPPROTO_TCP_NR; i++) {
		if (off + 8 > n)
			return 0;
		if (nh == 0 || nh == 43 || nh == 60)
			len = (p[off + 1] + 1u) * 8;
		else if (nh == 51)
			len = (p[off + 1] + 2u) * 4;
		else if (nh == 44 && (rd16(p + off + 2) & 0xfff8)) {
			v->later_fragment = true;
			return 0;
		} else if (nh == 44)
			len = 8;
		else
			return 0;
		nh = p[off];
		off += len;
	}
	if (nh == IPPROTO_TCP_NR && off <= n)
		view_tcp(p + off, n - off, (long)rd16(p + 4) - (long)(off - 40), v);
	return 0;
}

int rg_pkt_view(const uint8_t *f, size_t n, bool l3, struct rg_pkt_view *v)
{
	size_t off = 0;
	uint16_t et;

	memset(v, 0, sizeof(*v));
	v->l3off = -1;
	v->payload = -1;
	if (l3) {
		if (n < 1)
			return -1;
		et = (f[0] >> 4) == 6 ? ET_IPV6 : ET_IP;
	} else {
		if (n < ETH_HLEN)
			return -1;
		et = rd16(f + 12);
		off = ETH_HLEN;
		while ((et == 0x8100 || et == 0x88a8) && v->nvlan < RG_VIEW_MAX_VLAN) {
			if (off + 4 > n)
				return -1;
			v->vlan[v->nvlan++] = rd16(f + off) & 0xfff;
			et = rd16(f + off + 2);
			off += 4;
		}
	}
	if (et == ET_IP && !view_ip4(f + off, n - off, v)) {
		v->l3off = (int)off;
		return 0;
	}
	if (et == ET_IPV6 && !view_ip6(f + off, n - off, v)) {
		v->l3off = (int)off;
		return 0;
	}
	return -1;
}

void rg_tcp_flags_text(uint8_t flags, char *buf, size_t len)
{
	static const char order[] = { 'F', 'S', 'R', 'P', '.', 'U', 'E', 'W' };
	static const uint8_t bit[] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80 };
	size_t n = 0;

	for (int i = 0; i < 8 && n + 1 < len; i++)
		if (flags & bit[i])
			buf[n++] = order[i];
	buf[n] = '\0';
	if (!n)
		snprintf(buf, len, "none");
}

static void print_tcp(FILE *out, const struct rg_pkt_view *v)
{
	char fl[16];

	rg_tcp_flags_text(v->flags, fl, sizeof(fl));
	fprintf(out, "%s.%u > %s.%u: Flags [%s], seq %u", v->src, v->sport, v->dst, v->dport, fl,
		v->seq);
	if (v->flags & 0x10)
		fprintf(out, ", ack %u", v->ack);
	fprintf(out, ", win %u", v->win);
	if (v->payload >= 0)
		fprintf(out, ", length %ld", v->payload);
}

void rg_cap_print_text(FILE *out, const struct rg_cap_meta *m, const struct rg_pkt_view *v)
{
	time_t sec = (time_t)(m->realtime_ns / 1000000000ull);
	struct tm tm;

	localtime_r(&sec, &tm);
	fprintf(out, "%02d:%02d:%02d.%06llu %s ", tm.tm_hour, tm.tm_min, tm.tm_sec,
		(unsigned long long)(m->realtime_ns % 1000000000ull / 1000), m->iface);
	if (v->l3off < 0) {
		fprintf(out, "not IP, length %u", m->len);
	} else if (v->have_tcp) {
		fprintf(out, "%s ", v->v6 ? "IP6" : "IP");
		print_tcp(out, v);
	} else {
		fprintf(out, "%s %s > %s: tcp, %s, length %u", v->v6 ? "IP6" : "IP", v->src, v->dst,
			v->later_fragment ? "later fragment" : "header not in the captured bytes",
			m->len);
	}
	fprintf(out, " [%s, %s", m->reason, m->action);
	if (m->dist != RG_DIST_NONE)
		fprintf(out, ", distance %u", m->dist);
	fprintf(out, "]\n");
}

struct json_object *rg_cap_json(const struct rg_cap_meta *m, const struct rg_pkt_view *v)
{
	struct json_object *o = json_object_new_object();
	char when[64], fl[16];
	time_t sec = (time_t)(m->realtime_ns / 1000000000ull);
	struct tm tm;
	size_t n;

	gmtime_r(&sec, &tm);
	n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%06lluZ",
		 (unsigned long long)(m->realtime_ns % 1000000000ull / 1000));
	json_object_object_add(o, "time", json_object_new_string(when));
	json_object_object_add(o, "iface", json_object_new_string(m->iface));
	json_object_object_add(o, "ifindex", json_object_new_int64(m->ifindex));
	json_object_object_add(o, "reason", json_object_new_string(m->reason));
	json_object_object_add(o, "action", json_object_new_string(m->action));
	json_object_object_add(o, "distance",
			       m->dist == RG_DIST_NONE ? NULL : json_object_new_int64(m->dist));
	json_object_object_add(o, "len", json_object_new_int64(m->len));
	json_object_object_add(o, "caplen", json_object_new_int64(m->caplen));
	if (v->nvlan) {
		struct json_object *a = json_object_new_array();

		for (int i = 0; i < v->nvlan; i++)
			json_object_array_add(a, json_object_new_int(v->vlan[i]));
		json_object_object_add(o, "vlans", a);
	}
	if (v->l3off < 0)
		return o;
	json_object_object_add(o, "family", json_object_new_string(v->v6 ? "ipv6" : "ipv4"));
	json_object_object_add(o, "src", json_object_new_string(v->src));
	json_object_object_add(o, "dst", json_object_new_string(v->dst));
	if (!v->have_tcp)
		return o;
	rg_tcp_flags_text(v->flags, fl, sizeof(fl));
	json_object_object_add(o, "sport", json_object_new_int(v->sport));
	json_object_object_add(o, "dport", json_object_new_int(v->dport));
	json_object_object_add(o, "flags", json_object_new_string(fl));
	json_object_object_add(o, "seq", json_object_new_int64(v->seq));
	json_object_object_add(o, "ack", (v->flags & 0x10) ? json_object_new_int64(v->ack) : NULL);
	json_object_object_add(o, "win", json_object_new_int(v->win));
	json_object_object_add(o, "payload", v->payload >= 0 ? json_object_new_int64(v->payload) : NULL);
	return o;
}

/* --- NFLOG ------------------------------------------------------------------------------------
 * LINKTYPE_NFLOG: a 4-byte header (family, version 0, resource id in network order), then TLVs
 * whose length (header included, padding not) and type are in host order, each padded to 4
 * bytes; values in network order, as the netfilter netlink attributes they copy. */

enum {
	NFULA_PACKET_HDR = 1,
	NFULA_TIMESTAMP = 3,
	NFULA_IFINDEX_INDEV = 4,
	NFULA_HWADDR = 8,
	NFULA_PAYLOAD = 9,
	NFULA_PREFIX = 10,
	NFULA_HWTYPE = 15,
	NFULA_HWHEADER = 16,
	NFULA_HWLEN = 17,
};

struct nfl_buf {
	uint8_t *p;
	size_t cap, n;
	bool full;
};

static void tlv(struct nfl_buf *b, uint16_t type, const void *val, size_t len)
{
	uint16_t l = (uint16_t)(4 + len);
	size_t pad = (4 - (4 + len) % 4) % 4;

	if (b->full || len > 0xffff - 4 || b->n + 4 + len + pad > b->cap) {
		b->full = true;
		return;
	}
	memcpy(b->p + b->n, &l, 2);
	memcpy(b->p + b->n + 2, &type, 2);
	memcpy(b->p + b->n + 4, val, len);
	memset(b->p + b->n + 4 + len, 0, pad);
	b->n += 4 + len + pad;
}

static void tlv_be16(struct nfl_buf *b, uint16_t type, uint16_t v)
{
	uint16_t be = htons(v);

	tlv(b, type, &be, 2);
}

size_t rg_nflog_record(uint8_t *buf, size_t cap, const struct rg_cap_meta *m,
		       const struct rg_pkt_view *v, const uint8_t *frame)
{
	struct nfl_buf b = { .p = buf, .cap = cap };
	uint8_t hdr[4] = { 0 }, hw[12] = { 0 };
	uint32_t ifi = htonl(m->ifindex);
	uint64_t ts[2];
	char prefix[96];

	if (v->l3off < 0 || cap < 4 || (size_t)v->l3off > m->caplen)
		return 0;
	hdr[0] = v->v6 ? AF_INET6 : AF_INET;
	memcpy(buf, hdr, 4);
	b.n = 4;
	hw[0] = (uint8_t)(v->ethertype >> 8);
	hw[1] = (uint8_t)v->ethertype;
	tlv(&b, NFULA_PACKET_HDR, hw, 4);
	ts[0] = htobe64(m->realtime_ns / 1000000000ull);
	ts[1] = htobe64(m->realtime_ns % 1000000000ull / 1000);
	tlv(&b, NFULA_TIMESTAMP, ts, sizeof(ts));
	tlv(&b, NFULA_IFINDEX_INDEV, &ifi, 4);
	if (v->l3off >= ETH_HLEN) {
		/* struct nfulnl_msg_packet_hw: address length, padding, the source MAC. */
		memset(hw, 0, sizeof(hw));
		hw[1] = 6;
		memcpy(hw + 4, frame + 6, 6);
		tlv(&b, NFULA_HWADDR, hw, sizeof(hw));
		tlv_be16(&b, NFULA_HWTYPE, 1); /* ARPHRD_ETHER */
		tlv_be16(&b, NFULA_HWLEN, (uint16_t)v->l3off);
		tlv(&b, NFULA_HWHEADER, frame, (size_t)v->l3off);
	}
	if (m->dist != RG_DIST_NONE)
		snprintf(prefix, sizeof(prefix), "%s %s %s distance %u", m->iface, m->reason,
			 m->action, m->dist);
	else
		snprintf(prefix, sizeof(prefix), "%s %s %s", m->iface, m->reason, m->action);
	tlv(&b, NFULA_PREFIX, prefix, strlen(prefix) + 1);
	tlv(&b, NFULA_PAYLOAD, frame + v->l3off, m->caplen - (size_t)v->l3off);
	return b.full ? 0 : b.n;
}
