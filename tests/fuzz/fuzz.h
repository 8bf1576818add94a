/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Definitions shared by the fuzz targets, the reference model and the replay runner. */
#ifndef RG_FUZZ_H
#define RG_FUZZ_H

#include <linux/types.h>
#include <stddef.h>
#include "rstguard.h"

/* The scope every fuzz run uses; policy bits decide whether each list is consulted. */
#define FZ_NPORTS 2
static const __u16 fz_ports[FZ_NPORTS] = { 179, 22 };
struct fz_prefix {
	__u8 addr[16];  /* IPv4 as ::ffff:a.b.c.d */
	__u32 len;      /* over the 128-bit form */
};
#define FZ_NPROTECT 3
static const struct fz_prefix fz_protect[FZ_NPROTECT] __attribute__((unused)) = {
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 0 }, 96 + 24 },
	{ { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 64 },
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 9 }, 128 },
};
#define FZ_NEXEMPT 3
static const struct fz_prefix fz_exempt[FZ_NEXEMPT] __attribute__((unused)) = {
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 7 }, 128 },
	{ { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 }, 128 },
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 0 }, 96 + 8 },
};

/* Flow table capacity in every run (shim and kernel alike, so replays compare). */
#define FZ_FLOWS 1024

/* Counters of one stats slot, packets and bytes. */
struct fz_counts {
	__u64 pkts[RG_R_MAX][RG_ACT_MAX];
	__u64 bytes[RG_R_MAX][RG_ACT_MAX];
};

/* ---- the plain-C data plane (dp.c) ---- */
void dp_init(void);
/* Fresh maps, sockets and clock; load-time config as the skeleton would set it. */
void dp_reset(__u32 role, __u32 l3);
void dp_policy(__u32 bits);
int dp_run(const void *frame, size_t len);
void dp_counts(struct fz_counts *c);
/* Reads the flow entry of a canonical key; 0 when found. */
int dp_flow4(const struct rg_flow_key4 *k, struct rg_flow *out);
int dp_flow6(const struct rg_flow_key6 *k, struct rg_flow *out);
/* Deletes the flow entry of a canonical key, as the LRU does when table pressure evicts it. */
void dp_evict4(const struct rg_flow_key4 *k);
void dp_evict6(const struct rg_flow_key6 *k);

#endif
