/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Runs frames through the shipped XDP object with BPF_PROG_TEST_RUN and reads its counters. */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include "rstguard.h"
#include "pkt.h"

struct rstguard;

struct rg_env {
	struct rstguard *skel;
	int prog_fd;
	int ncpu;
	int ifindex;  /* ingress_ifindex given to test runs (0: loopback) */
};

/* A snapshot of every counter of stats slot 0, summed over CPUs. */
struct rg_snap {
	uint64_t pkts[RG_R_MAX][RG_ACT_MAX];
};

/* Opens and loads a fresh copy of the object (own maps) with the given role; 0 or -errno. */
int env_open(struct rg_env *e, int role, int l3, uint32_t flows);
void env_close(struct rg_env *e);

/* Runs one frame; returns the XDP action, or -1 when the run itself failed. */
int env_run(struct rg_env *e, const uint8_t *frame, size_t len);
int env_run_spec(struct rg_env *e, const struct pktspec *s);

void env_snap(struct rg_env *e, struct rg_snap *s);
/* Packets counted under reason/act since the snapshot. */
uint64_t env_delta(struct rg_env *e, const struct rg_snap *before, int reason, int act);
/* Total packets of all reasons and acts since the snapshot (events included). */
uint64_t env_delta_all(struct rg_env *e, const struct rg_snap *before);

/* Sets or clears RG_P_* policy bits; timeouts via env_timeout. */
int env_policy(struct rg_env *e, uint32_t set, uint32_t clear);
int env_timeout(struct rg_env *e, int state, uint32_t seconds);
/* Moves the program's clock by seconds (absolute offset from the kernel clock). */
void env_clock(struct rg_env *e, int64_t seconds);
int env_protect_port(struct rg_env *e, uint16_t port);
/* which: "protect" or "exempt"; cidr like 198.18.0.0/24 or fd00::/64. */
int env_prefix(struct rg_env *e, const char *which, const char *cidr);

/* Reads a tracked flow for the packet's 4-tuple; 0 when found. */
int env_flow(struct rg_env *e, const struct pktspec *s, struct rg_flow *out);

/* Minimal test bookkeeping: every check counts, failures say where and why. */
extern int t_pass, t_fail;
#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (cond) {                                                     \
			t_pass++;                                               \
		} else {                                                        \
			t_fail++;                                               \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);            \
			printf(__VA_ARGS__);                                    \
			printf("\n");                                           \
		}                                                               \
	} while (0)
/* Prints "N passed, N failed" and returns the exit status. */
int t_summary(const char *suite);

#endif
