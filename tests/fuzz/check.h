/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Runs frames through the plain-C data plane (and, when replaying, the kernel's copy) and checks
 * what every packet must satisfy, whatever the target: one verdict, one counted reason. */
#ifndef RG_FUZZ_CHECK_H
#define RG_FUZZ_CHECK_H

#include <linux/types.h>
#include <stddef.h>
#include "fuzz.h"
#include "model.h"

/* The kernel side of a replay (replay.c); NULL while fuzzing. */
struct fz_kernel {
	void (*begin)(__u32 role, __u32 l3, __u32 bits);
	void (*policy)(__u32 bits);
	/* Runs one frame at clock now_ns; fills the counter deltas; returns the XDP action,
	 * or -1 when the kernel cannot run it (frames under 14 bytes). */
	int (*step)(const __u8 *f, size_t n, __u64 now_ns, struct fz_counts *delta);
	/* The flow entry of a canonical key: 0 found, -1 absent. */
	int (*flow4)(const struct rg_flow_key4 *k, struct rg_flow *out);
	int (*flow6)(const struct rg_flow_key6 *k, struct rg_flow *out);
	/* Deletes the flow entry of a canonical key (table pressure evicting it). */
	void (*evict4)(const struct rg_flow_key4 *k);
	void (*evict6)(const struct rg_flow_key6 *k);
};

struct fz_run {
	__u32 role, l3, bits;
	int step;               /* index of the packet in the input */
	int failed;             /* a check failed (replay mode keeps going with the next input) */
	int compared;           /* packets compared with the kernel */
	int uncompared;         /* packets the kernel could not judge alike (seeded sockets) */
	int kernel_apart;       /* one could not: the kernel's state may differ from then on */
	const char *target;
};
extern struct fz_run fz;
extern struct fz_kernel *fz_kernel;
extern int fz_replay_mode;      /* 1: report and continue; 0: abort (libFuzzer saves the input) */
extern int fz_verbose;

/* What one packet did. */
struct fz_obs {
	int xdp;
	int reason;             /* the one non-event reason counted */
	int act;
	int event;              /* RG_R_FLOW_CREATED / RG_R_FLOW_INSERT_FAIL, or -1 */
	int sk_found;           /* the data plane looked up and got a seeded socket */
};

void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Is finding `id` (tests/fuzz/known.txt) tolerated? FZ_KNOWN="K1,K2" while it is open, so
 * fuzzing goes past it; its regression input in corpus/regress/ is replayed without it. */
int fz_known(const char *id);
extern const char *fz_known_list;
void fz_begin(const char *target, __u32 role, __u32 l3, __u32 bits);
void fz_set_policy(__u32 bits);
/* Parses with the model, runs the data plane, checks the bookkeeping and the reason the parse
 * alone decides. Returns 1 when the reason is a role's judgement (the caller checks it). */
int fz_step(const __u8 *f, size_t n, struct mpkt *mp, struct fz_obs *o);
void fz_expect(const struct fz_obs *o, int reason, const char *why);
/* The LRU evicts the entry of a parsed packet's 4-tuple, in the data plane and the kernel alike. */
void fz_evict(const struct mpkt *mp);
/* Canonical flow key of a parsed packet; returns the packet's direction. */
int fz_key4(const struct mpkt *p, struct rg_flow_key4 *k);
int fz_key6(const struct mpkt *p, struct rg_flow_key6 *k);

extern const char *const fz_reason_name[RG_R_MAX + 1];

#endif
