// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The pcap file 'capture -w' writes, through libpcap's dump API on a "dead" handle. */
#include "pcapout.h"

#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

struct rg_pcap {
	pcap_t *pcap;
	pcap_dumper_t *dump;
};

struct rg_pcap *rg_pcap_open(const char *file, int linktype, char *why, size_t whylen)
{
	struct rg_pcap *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	p->pcap = pcap_open_dead(linktype, 65535);
	if (!p->pcap) {
		snprintf(why, whylen, "libpcap cannot make a handle of link type %d", linktype);
		free(p);
		return NULL;
	}
	p->dump = pcap_dump_open(p->pcap, file);
	if (!p->dump) {
		snprintf(why, whylen, "%s", pcap_geterr(p->pcap));
		pcap_close(p->pcap);
		free(p);
		return NULL;
	}
	return p;
}

void rg_pcap_write(struct rg_pcap *p, uint64_t realtime_ns, const uint8_t *data, size_t caplen,
		   size_t origlen)
{
	struct pcap_pkthdr h;

	h.ts.tv_sec = (time_t)(realtime_ns / 1000000000ull);
	h.ts.tv_usec = (suseconds_t)(realtime_ns % 1000000000ull / 1000);
	h.caplen = (bpf_u_int32)caplen;
	h.len = (bpf_u_int32)(origlen < caplen ? caplen : origlen);
	pcap_dump((u_char *)p->dump, &h, data);
}

int rg_pcap_flush(struct rg_pcap *p)
{
	return pcap_dump_flush(p->dump) || ferror(pcap_dump_file(p->dump));
}

void rg_pcap_close(struct rg_pcap *p)
{
	if (!p)
		return;
	pcap_dump_close(p->dump);
	pcap_close(p->pcap);
	free(p);
}
