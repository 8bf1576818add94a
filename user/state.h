/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Read access to the pinned, shared maps: policy, interface slots, counters, flow-table fill.
 * Kept free of CLI output so the metrics exporter can call the same functions. */
#ifndef RG_STATE_H
#define RG_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include "rstguard.h"
#include "map_names.h"

/* The shared maps, by pin name (bpf/map_names.h). RG_M_MAX ends the list. */
#define RG_MAP_ID(id, name, set) id,
enum rg_map_id { RG_PINNED_MAPS(RG_MAP_ID) RG_M_MAX };
#undef RG_MAP_ID
enum rg_map_set { RG_MAPSET_POLICY, RG_MAPSET_ALL, RG_MAPSET_FLOWS };
extern const char *const rg_map_names[RG_M_MAX];
extern const enum rg_map_set rg_map_sets[RG_M_MAX];
/* The id of a map name, or -1. */
int rg_map_id(const char *name);

/*
 * The one layout check: does a map (a pin's fd) have the type, key and value sizes, flags and,
 * for the arrays indexed by computed keys, the size this build reads and writes? 0, or -EPROTO
 * with what differs in diff ("key size 4, this build 8; ..."), or another -errno.
 */
int rg_map_layout(int fd, int id, char *diff, size_t len);
/* The same against a definition (a map of the embedded object before it is created). */
int rg_map_layout_of(int id, uint32_t type, uint32_t key, uint32_t value, uint32_t flags,
		     uint32_t entries, char *diff, size_t len);

struct rg_state {
	int fd[RG_M_MAX]; /* -1 when that map is not pinned, or pinned with another layout */
	bool foreign[RG_M_MAX]; /* pinned with another layout than this build reads */
	int ncpu;
	char failed[PATH_MAX]; /* the pin whose opening failed, for the error message */
};

/* Entries of the two flow tables. In a request 0 means "as pinned, or the default" (IPv4:
 * RG_DEFAULT_FLOWS; IPv6: as IPv4). */
struct rg_flow_sizes {
	uint32_t v4, v6;
};

/* Opens every pinned map found under pin_dir/maps. 0 when at least the policy map exists,
 * -ENOENT when nothing is pinned, another -errno on failure. */
int rg_state_open(struct rg_state *st, const char *pin_dir);
/* The same, optionally with read-only descriptors. A pinned map of another layout than this
 * build reads is reported (pr_warn, naming it) and left closed (fd -1), never read. */
int rg_state_open_flags(struct rg_state *st, const char *pin_dir, bool rdonly);
void rg_state_close(struct rg_state *st);
/*
 * The same for a command that reads: checks the pin dir first. RC_ABSENT (its message
 * recorded) when nothing is pinned there; RC_ERR naming the pin and the reason when it cannot
 * be opened (a permission refused is an error, never "nothing attached").
 */
int rg_state_open_cli(struct rg_state *st, bool rdonly);

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
const char *rg_knob_name(const struct rg_knob *k, uint32_t bits);
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
/* The built-in default timeout of a state (RG_TIMEOUTS_DEFAULT), the one copy user space has. */
uint32_t rg_timeout_default(int state);

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
/* The same, also keeping each CPU's values in percpu ([RG_R_MAX][ncpu]) unless it is NULL. */
int rg_stats_read_percpu(const struct rg_state *st, uint32_t slot, struct rg_counter out[RG_R_MAX],
			 struct rg_counter *percpu);
int rg_iface_write(const struct rg_state *st, uint32_t slot, const struct rg_iface *r);

/* Zeroes one slot's counters, so a new interface does not inherit an old one's. */
/* Zeroes one slot's counters and distance histogram, so a new interface does not inherit an
 * old one's. */
int rg_stats_clear(const struct rg_state *st, uint32_t slot);

/* Entries in the flow tables (expired ones included until the LRU reuses them). */
int rg_flows_count(const struct rg_state *st, uint64_t *v4, uint64_t *v6);
/*
 * Walks both flow tables (IPv4 first), calling back with each entry's key (struct
 * rg_flow_key4 or rg_flow_key6, as v6 says) while want(arg) says more are wanted (NULL: all);
 * *total counts them all. An entry the LRU evicts during the walk is skipped.
 */
int rg_flows_walk(const struct rg_state *st, bool (*want)(void *arg), uint64_t *total,
		  void (*cb)(const void *key, bool v6, const struct rg_flow *f, void *arg), void *arg);
/* Entries of a hash map, by batch lookups where the kernel has them. */
int rg_map_count(int fd, uint64_t *n);
int rg_map_max_entries(int fd, uint32_t *n);
/* The size of a pinned map, 0 when it is not pinned. */
uint32_t rg_pinned_entries(const char *pin_dir, int id);
/* The sizes of the pinned flow tables (0 for one not pinned). */
void rg_flow_capacity(const struct rg_state *st, struct rg_flow_sizes *cap);

/* Protected ports as a 65536-bit bitmap (RG_PORT_WORDS words). */
int rg_ports_read(const struct rg_state *st, uint64_t words[RG_PORT_WORDS]);
/* Every key of an LPM trie (RG_M_PROTECT or RG_M_EXEMPT); *n in: capacity, out: count. */
int rg_prefixes_read(const struct rg_state *st, int map, struct rg_prefix_key *keys, uint32_t *n);
/* Writes the words of the port bitmap that differ between old and new. */
int rg_ports_write(const struct rg_state *st, const uint64_t *old, const uint64_t *new);
/* Adds a prefix to, or deletes it from, RG_M_PROTECT or RG_M_EXEMPT (deleting a missing one is
 * not an error). */
int rg_prefix_update(const struct rg_state *st, int map, const struct rg_prefix_key *k, bool add);

/* The sequence-distance histogram of one slot (RG_DIST_BUCKETS buckets), summed over CPUs. */
int rg_dist_read(const struct rg_state *st, uint32_t slot, struct rg_dist out[RG_DIST_BUCKETS]);

/* The capture's settings (one element) and its per-CPU sampling state. */
int rg_capcfg_read(const struct rg_state *st, struct rg_cap_cfg *c);
int rg_capcfg_write(const struct rg_state *st, const struct rg_cap_cfg *c);
/* matched, records and lost summed over CPUs (the window fields are left 0). */
int rg_capstat_read(const struct rg_state *st, struct rg_cap_stat *sum);
int rg_capstat_reset(const struct rg_state *st);

#endif
