/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The pcap file 'capture -w' writes, through libpcap. Kept apart from the BPF headers: libpcap's
 * own bpf.h declares struct bpf_insn too. */
#ifndef RG_PCAPOUT_H
#define RG_PCAPOUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct rg_pcap;

/* Opens FILE ('-': stdout) for records of the given link type. NULL with the reason in why. */
struct rg_pcap *rg_pcap_open(const char *file, int linktype, char *why, size_t whylen);
/* One record: its bytes, and the length the original frame had beyond what was kept. */
void rg_pcap_write(struct rg_pcap *p, uint64_t realtime_ns, const uint8_t *data, size_t caplen,
		   size_t origlen);
/* Flushes; nonzero when writing has failed. */
int rg_pcap_flush(struct rg_pcap *p);
void rg_pcap_close(struct rg_pcap *p);

#endif
