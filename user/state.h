/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Read access to the pinned, shared maps: policy, interface slots, counters, flow-table fill.
 * Kept free of CLI output so the metrics exporter can call the same functions. */
#ifndef RG_STATE_H
#define RG_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "rstguard.h"

/* The shared maps, by pin name. RG_M_MAX ends the list. */
enum rg_map_id {
	RG_M_POLICY,
	RG_M_STATS,
	RG_M_PORTS,
	RG_M_PROTECT,
	RG_M_EXEMPT,
	RG_M_FLOWS4,
	RG_M_FLOWS6,
	RG_M_IFACES,
	RG_M_DIST,
	RG_M_CAPCFG,
	RG_M_CAPSTAT,
	RG_M_CAPRING,
	RG_M_MAX
};
extern const char *const rg_map_names[RG_M_MAX];

struct rg_state {
	int fd[RG_M_MAX]; /* -1 when that map is not pinned, or pinned with another layout */
	bool foreign[RG_M_MAX]; /* pinned with another layout than this build reads */
	int ncpu;
};

/* Opens every pinned map found under pin_dir/maps. 0 when at least the policy map exists,
 * -ENOENT when nothing is pinned, another -errno on failure. */
int rg_state_open(struct rg_state *st, const char *pin_dir);
/* The same, optionally with read-only descriptors. A pinned map of another layout than this
 * build reads is reported (pr_warn, naming it) and left closed (fd -1), never read. */
int rg_state_open_flags(struct rg_state *st, const char *pin_dir, bool rdonly);
void rg_state_close(struct rg_state *st);

/* The verdict knobs of rg_policy.bits, by the names the CLI and the metrics use: a knob has
 * value `on` while its bit is set, else `on2` while bit2 is (a three-valued knob), else `off`. */
struct rg_knob {
	const char *key;
	uint32_t bit;
	const char *off, *on;
	uint32_t bit2;   /* 0: a two-valued knob */
	const char *on2;
};
#define RG_NKNOBS 5
extern const struct rg_knob rg_knobs[RG_NKNOBS];
/* The knob's value under these policy bits. */
const char *rg_knob_value(const struct rg_knob *k, uint32_t bits);
/* The knob's bits for a value name: 0 with *val set, -1 for a name it does not have. */
int rg_knob_parse(const struct rg_knob *k, const char *name, uint32_t *val);
/* Its values as "a, b or c", for messages. */
const char *rg_knob_values(const struct rg_knob *k, char *buf, size_t len);
/* The challenge interval in effect, ms: the policy's, or the default for 0. */
uint32_t rg_policy_challenge_ms(const struct rg_policy *p);

int rg_policy_read(const struct rg_state *st, struct rg_policy *p);
int rg_policy_write(const struct rg_state *st, const struct rg_policy *p);
/* The timeout in effect for a state: the policy's, or the built-in default for 0. */
uint32_t rg_policy_timeout(const struct rg_policy *p, int state);

/* Seconds of the learning period still ahead (0 when over or off). */
uint32_t rg_learning_left(const struct rg_policy *p);
/* A week: longer than any session's idle time worth waiting for. */
#define RG_LEARNING_MAX 604800

/* All RG_MAX_IFACES slot records; a free slot has ifindex 0 and an empty name. */
int rg_ifaces_read(const struct rg_state *st, struct rg_iface out[RG_MAX_IFACES]);
static inline bool rg_iface_used(const struct rg_iface *r)
{
	return r->ifindex || r->name[0];
}

/* The counters of one slot, summed over every possible CPU. */
int rg_stats_read(const struct rg_state *st, uint32_t slot, struct rg_counter out[RG_R_MAX]);
/* Zeroes one slot's counters and distance histogram, so a new interface does not inherit an
 * old one's. */
int rg_stats_clear(const struct rg_state *st, uint32_t slot);

/* Entries in the flow tables (expired ones included until the LRU reuses them). */
int rg_flows_count(const struct rg_state *st, uint64_t *v4, uint64_t *v6);
/* Entries of a hash map, by batch lookups where the kernel has them. */
int rg_map_count(int fd, uint64_t *n);
int rg_map_max_entries(int fd, uint32_t *n);

/* Protected ports as a 65536-bit bitmap (RG_PORT_WORDS words). */
int rg_ports_read(const struct rg_state *st, uint64_t words[RG_PORT_WORDS]);
/* Every key of an LPM trie (RG_M_PROTECT or RG_M_EXEMPT); *n in: capacity, out: count. */
int rg_prefixes_read(const struct rg_state *st, int map, struct rg_prefix_key *keys, uint32_t *n);

/* The sequence-distance histogram of one slot (RG_DIST_BUCKETS buckets), summed over CPUs. */
int rg_dist_read(const struct rg_state *st, uint32_t slot, struct rg_dist out[RG_DIST_BUCKETS]);

/* The capture's settings (one element) and its per-CPU sampling state. */
int rg_capcfg_read(const struct rg_state *st, struct rg_cap_cfg *c);
int rg_capcfg_write(const struct rg_state *st, const struct rg_cap_cfg *c);
/* matched, records and lost summed over CPUs (the window fields are left 0). */
int rg_capstat_read(const struct rg_state *st, struct rg_cap_stat *sum);
int rg_capstat_reset(const struct rg_state *st);

#endif
