// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Test frame builder; checksums are right so the same frames can go to a real stack. */
#include "pkt.h"

#include <arpa/inet.h>
#include <string.h>

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* TCP header with options into out; returns its length. */
static size_t tcp_header(uint8_t *out, const struct pktspec *s)
{
	size_t n = 20;

	memset(out, 0, 60);
	put16(out, s->sport ? s->sport : 40000);
	put16(out + 2, s->dport ? s->dport : 179);
	put32(out + 4, s->seq);
	put32(out + 8, s->ack);
	out[13] = s->flags;
	put16(out + 14, s->win ? s->win : 65535);
	if (s->sackok) {
		/* MSS, SACK-permitted, timestamps: the order Linux uses. */
		memcpy(out + n, "\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00", 16);
		n += 16;
	}
	if (s->has_wscale && (s->flags & TF_SYN)) {
		out[n++] = 1;
		out[n++] = 3;
		out[n++] = 3;
		out[n++] = s->wscale;
	}
	while (n % 4)
		out[n++] = 1;
	out[12] = (uint8_t)((n / 4) << 4);
	return n;
}

size_t pkt_build(uint8_t *buf, size_t cap, const struct pktspec *s)
{
	uint8_t tcp[60], l4[2048];
	size_t off = 0, thl, l4len, iphl;
	uint8_t saddr[16] = {0}, daddr[16] = {0};
	const char *src = s->src, *dst = s->dst;
	int fam = s->v6 ? AF_INET6 : AF_INET;
	size_t alen = s->v6 ? 16 : 4;
	uint32_t sum;

	if (!src)
		src = s->v6 ? "fd00::1" : "198.18.0.1";
	if (!dst)
		dst = s->v6 ? "fd00::2" : "198.18.0.2";
	if (inet_pton(fam, src, saddr) != 1 || inet_pton(fam, dst, daddr) != 1)
		return 0;
	if (s->payload > 1400)
		return 0;

	thl = tcp_header(tcp, s);
	memcpy(l4, tcp, thl);
	for (uint32_t i = 0; i < s->payload; i++)
		l4[thl + i] = (uint8_t)('a' + i % 26);
	l4len = thl + s->payload;

	/* TCP checksum over the pseudo-header and the whole segment. */
	sum = csum_add(0, saddr, alen);
	sum = csum_add(sum, daddr, alen);
	sum += 6 + (uint32_t)l4len;
	sum = csum_add(sum, l4, l4len);
	{
		uint16_t c = csum_fold(sum);
		memcpy(l4 + 16, &c, 2);
	}

	if (cap < 14 + 8 + 60 + 64 + l4len)
		return 0;
	if (!s->l3) {
		memcpy(buf, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
		off = 12;
		if (s->vlans >= 2) {
			put16(buf + off, 0x88a8);
			put16(buf + off + 2, 100);
			off += 4;
		}
		if (s->vlans >= 1) {
			put16(buf + off, 0x8100);
			put16(buf + off + 2, 200);
			off += 4;
		}
		put16(buf + off, s->v6 ? 0x86dd : 0x0800);
		off += 2;
	}

	if (!s->v6) {
		size_t carried = l4len;
		uint8_t *ip = buf + off;

		if (s->frag_tcp_bytes > 0 && (size_t)s->frag_tcp_bytes < carried)
			carried = (size_t)s->frag_tcp_bytes;
		iphl = 20 + (size_t)s->ipopts;
		memset(ip, 0, iphl);
		ip[0] = 0x40 | (uint8_t)(iphl / 4);
		put16(ip + 2, (uint16_t)(iphl + carried));
		put16(ip + 4, 0x1234);
		put16(ip + 6, (uint16_t)((s->frag_more ? 0x2000 : 0) | (s->frag_off & 0x1fff)));
		ip[8] = 64;
		ip[9] = 6;
		memcpy(ip + 12, saddr, 4);
		memcpy(ip + 16, daddr, 4);
		for (int i = 0; i < s->ipopts; i++)
			ip[20 + i] = 1;
		{
			uint16_t c = csum_fold(csum_add(0, ip, iphl));
			memcpy(ip + 10, &c, 2);
		}
		memcpy(ip + iphl, l4, carried);
		return off + iphl + carried;
	} else {
		uint8_t *ip = buf + off, *p;
		size_t extlen = 0;
		uint8_t first = 6;

		if (s->next_ext > 0)
			first = s->ext[0];
		p = ip + 40;
		for (int i = 0; i < s->next_ext; i++) {
			uint8_t nh = i + 1 < s->next_ext ? s->ext[i + 1] : 6;

			memset(p, 0, 8);
			p[0] = nh;
			if (s->ext[i] == 44) {
				put16(p + 2, (uint16_t)((s->frag_off << 3) | (s->frag_more ? 1 : 0)));
				put32(p + 4, 0xabcd);
			} else {
				p[1] = 0; /* 8 bytes: PadN filling */
				p[2] = 1;
				p[3] = 4;
			}
			p += 8;
			extlen += 8;
		}
		memset(ip, 0, 40);
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(extlen + l4len));
		ip[6] = first;
		ip[7] = 64;
		memcpy(ip + 8, saddr, 16);
		memcpy(ip + 24, daddr, 16);
		memcpy(p, l4, l4len);
		return off + 40 + extlen + l4len;
	}
}
