// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Read access to the pinned, shared maps, summed and decoded the way the data plane means them. */
#include "state.h"
#include "log.h"
#include "pindir.h"
#include "util.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The kernel's own "operation not supported" (not in libc's errno.h), which BPF returns for a
 * map type without batch operations. */
#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

#define RG_MAP_NAME(id, name, set) [id] = #name,
const char *const rg_map_names[RG_M_MAX] = { RG_PINNED_MAPS(RG_MAP_NAME) };
#undef RG_MAP_NAME
#define RG_MAP_SET(id, name, set) [id] = set,
const enum rg_map_set rg_map_sets[RG_M_MAX] = { RG_PINNED_MAPS(RG_MAP_SET) };
#undef RG_MAP_SET

int rg_map_id(const char *name)
{
	for (int i = 0; i < RG_M_MAX; i++)
		if (!strcmp(name, rg_map_names[i]))
			return i;
	return -1;
}

const struct rg_knob rg_knobs[RG_NKNOBS] = {
	{ "mode", RG_P_MONITOR, "enforce", "monitor", 0, NULL },
	{ "inexact", RG_P_INEXACT_PASS, "drop", "pass", RG_P_INEXACT_CHALLENGE, "challenge" },
	{ "unknown", RG_P_UNKNOWN_PASS, "drop", "pass", 0, NULL },
	{ "timewait", RG_P_TIMEWAIT_DROP, "accept", "drop", 0, NULL },
	{ "unparsed", RG_P_UNPARSED_PASS, "drop", "pass", 0, NULL },
};

static const uint32_t default_timeouts[RG_ST_MAX] = RG_TIMEOUTS_DEFAULT;

/* `on` wins over `on2` when both bits are set, as in the data plane (inexact: pass). */
const char *rg_knob_name(const struct rg_knob *k, uint32_t bits)
{
	if (bits & k->bit)
		return k->on;
	if (bits & k->bit2)
		return k->on2;
	return k->off;
}

int rg_knob_parse(const struct rg_knob *k, const char *name, uint32_t *val)
{
	if (!strcmp(name, k->off))
		*val = 0;
	else if (!strcmp(name, k->on))
		*val = k->bit;
	else if (k->bit2 && !strcmp(name, k->on2))
		*val = k->bit2;
	else
		return -1;
	return 0;
}

const char *rg_knob_values(const struct rg_knob *k, char *buf, size_t len)
{
	if (k->bit2)
		snprintf(buf, len, "%s, %s or %s", k->off, k->on, k->on2);
	else
		snprintf(buf, len, "%s or %s", k->off, k->on);
	return buf;
}

uint32_t rg_policy_challenge_ms(const struct rg_policy *p)
{
	return p->challenge_ms ? p->challenge_ms : RG_CHALLENGE_MS_DEFAULT;
}

/* What this build reads and writes each map as. Array sizes matter too: indexes are computed
 * from them. The embedded object is checked against the same table before it creates a map. */
static const struct {
	uint32_t type, key, value, flags, entries; /* entries 0: any (set at creation) */
} expect[RG_M_MAX] = {
	[RG_M_POLICY] = { BPF_MAP_TYPE_ARRAY, 4, sizeof(struct rg_policy), 0, 1 },
	[RG_M_STATS] = { BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(struct rg_counter), 0,
			 RG_MAX_IFACES * RG_R_MAX },
	[RG_M_PORTS] = { BPF_MAP_TYPE_ARRAY, 4, sizeof(__u64), 0, RG_PORT_WORDS },
	[RG_M_PROTECT] = { BPF_MAP_TYPE_LPM_TRIE, sizeof(struct rg_prefix_key), 1,
			   BPF_F_NO_PREALLOC, 0 },
	[RG_M_EXEMPT] = { BPF_MAP_TYPE_LPM_TRIE, sizeof(struct rg_prefix_key), 1,
			  BPF_F_NO_PREALLOC, 0 },
	[RG_M_FLOWS4] = { BPF_MAP_TYPE_LRU_HASH, sizeof(struct rg_flow_key4), sizeof(struct rg_flow),
			  0, 0 },
	[RG_M_FLOWS6] = { BPF_MAP_TYPE_LRU_HASH, sizeof(struct rg_flow_key6), sizeof(struct rg_flow),
			  0, 0 },
	[RG_M_IFACES] = { BPF_MAP_TYPE_ARRAY, 4, sizeof(struct rg_iface), 0, RG_MAX_IFACES },
	[RG_M_PRESENCE] = { BPF_MAP_TYPE_ARRAY, 4, sizeof(struct rg_presence_blk), 0, 0 },
	[RG_M_RECENT] = { BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(struct rg_recent), 0, RG_RECENT_SLOTS },
	[RG_M_CHAL] = { BPF_MAP_TYPE_ARRAY, 4, sizeof(__u64), 0, RG_CHAL_SLOTS },
	[RG_M_CHAL_KEY] = { BPF_MAP_TYPE_ARRAY, 4, sizeof(__u64), 0, 1 },
	[RG_M_DIST] = { BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(struct rg_dist), 0,
			RG_MAX_IFACES * RG_DIST_BUCKETS },
	[RG_M_CAPCFG] = { BPF_MAP_TYPE_ARRAY, 4, sizeof(struct rg_cap_cfg), 0, 1 },
	[RG_M_CAPSTAT] = { BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(struct rg_cap_stat), 0, 1 },
	[RG_M_CAPRING] = { BPF_MAP_TYPE_RINGBUF, 0, 0, 0, RG_CAP_RING_BYTES },
};

static const char *type_str(uint32_t t)
{
	const char *s = libbpf_bpf_map_type_str(t);

	return s ? s : "unknown";
}

/* Appends "what N, this build M" when the two differ. */
static size_t note(char *buf, size_t len, size_t n, const char *what, uint32_t have,
		   uint32_t want)
{
	if (have == want || n >= len)
		return n;
	return n + snprintf(buf + n, len - n, "%s%s %u, this build %u", n ? "; " : "", what, have,
			    want);
}

int rg_map_layout_of(int i, uint32_t type, uint32_t key, uint32_t value, uint32_t flags,
		     uint32_t entries, char *diff, size_t len)
{
	size_t n = 0;

	diff[0] = '\0';
	if (type != expect[i].type)
		n += snprintf(diff, len, "type %s, this build %s", type_str(type),
			      type_str(expect[i].type));
	n = note(diff, len, n, "key size", key, expect[i].key);
	n = note(diff, len, n, "value size", value, expect[i].value);
	n = note(diff, len, n, "flags", flags, expect[i].flags);
	if (expect[i].entries)
		n = note(diff, len, n, "max entries", entries, expect[i].entries);
	return n ? -EPROTO : 0;
}

int rg_map_layout(int fd, int i, char *diff, size_t len)
{
	struct bpf_map_info info = {};
	__u32 ilen = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &ilen))
		return -errno;
	return rg_map_layout_of(i, info.type, info.key_size, info.value_size, info.map_flags,
				info.max_entries, diff, len);
}

/* A pin left by another version would be read into structs of another size (a crash for
 * per-CPU values) or written where no program looks: refuse it, naming what differs. */
static int check_layout(int fd, int i, const char *path)
{
	char diff[512];
	int err = rg_map_layout(fd, i, diff, sizeof(diff));

	if (err == -EPROTO)
		pr_warn("pinned map %s has another layout than this rstguard build reads (%s). "
			"Nothing was changed: 'rstguard detach --all' removes every pin, then attach "
			"again\n", path, diff);
	return err;
}

int rg_state_open_flags(struct rg_state *st, const char *pin_dir, bool rdonly)
{
	LIBBPF_OPTS(bpf_obj_get_opts, o, .file_flags = rdonly ? BPF_F_RDONLY : 0);
	char path[PATH_MAX];
	bool foreign_policy = false;
	int err = 0, r;

	st->ncpu = libbpf_num_possible_cpus();
	st->failed[0] = '\0';
	for (int i = 0; i < RG_M_MAX; i++) {
		snprintf(path, sizeof(path), "%s/maps/%s", pin_dir, rg_map_names[i]);
		st->foreign[i] = false;
		st->fd[i] = bpf_obj_get_opts(path, &o);
		if (st->fd[i] < 0 && errno != ENOENT && !err) {
			err = -errno;
			snprintf(st->failed, sizeof(st->failed), "%s", path);
		}
		if (st->fd[i] < 0)
			continue;
		/* A foreign map is left closed: what reads it fails, the rest still works. */
		r = check_layout(st->fd[i], i, path);
		if (r) {
			close(st->fd[i]);
			st->fd[i] = -1;
			if (r != -EPROTO && !err)
				err = r;
			st->foreign[i] = r == -EPROTO;
			if (i == RG_M_POLICY)
				foreign_policy = true;
		}
	}
	if (st->ncpu < 0)
		err = st->ncpu;
	if (!err && st->fd[RG_M_POLICY] < 0 && !foreign_policy)
		err = -ENOENT;
	if (err)
		rg_state_close(st);
	return err;
}

int rg_state_open_cli(struct rg_state *st, bool rdonly)
{
	int rc, err;

	if ((rc = pin_dir_ready(false)))
		return rc;
	err = rg_state_open_flags(st, cli.pin_dir, rdonly);
	if (err == -ENOENT)
		return rg_fail(RC_ABSENT, "nothing attached: no pinned maps under %s/maps",
			       cli.pin_dir);
	if (err == -EACCES || err == -EPERM)
		return rg_fail(RC_ERR, "cannot open %s: %s (reading rstguard's pins needs root, or "
				       "CAP_BPF and read access to them)",
			       st->failed[0] ? st->failed : cli.pin_dir, errstr(err));
	if (err)
		return rg_fail(RC_ERR, "cannot open the pinned maps under %s/maps: %s", cli.pin_dir,
			       errstr(err));
	return 0;
}

int rg_state_open(struct rg_state *st, const char *pin_dir)
{
	return rg_state_open_flags(st, pin_dir, false);
}

void rg_state_close(struct rg_state *st)
{
	for (int i = 0; i < RG_M_MAX; i++) {
		if (st->fd[i] >= 0)
			close(st->fd[i]);
		st->fd[i] = -1;
	}
}

static int map_fd(const struct rg_state *st, int map)
{
	if (st->fd[map] >= 0)
		return st->fd[map];
	return st->foreign[map] ? -EPROTO : -ENOENT;
}

int rg_policy_read(const struct rg_state *st, struct rg_policy *p)
{
	__u32 key = 0;
	int fd = map_fd(st, RG_M_POLICY);

	if (fd < 0)
		return fd;
	return bpf_map_lookup_elem(fd, &key, p) ? -errno : 0;
}

int rg_policy_write(const struct rg_state *st, const struct rg_policy *p)
{
	__u32 key = 0;
	int fd = map_fd(st, RG_M_POLICY);

	if (fd < 0)
		return fd;
	return bpf_map_update_elem(fd, &key, p, BPF_ANY) ? -errno : 0;
}

uint32_t rg_policy_timeout(const struct rg_policy *p, int state)
{
	if (state < 0 || state >= RG_ST_MAX)
		return 0;
	return p->timeout[state] ? p->timeout[state] : default_timeouts[state];
}

uint32_t rg_learning_left(const struct rg_policy *p)
{
	uint32_t age = rg_clock_now() - p->born;

	/* Not born yet (policy set before the first attach): the whole period is ahead. */
	if (!p->born)
		return p->learning;
	return age < p->learning ? p->learning - age : 0;
}

uint32_t rg_timeout_default(int state)
{
	return state > 0 && state < RG_ST_MAX ? default_timeouts[state] : 0;
}

int rg_iface_write(const struct rg_state *st, uint32_t slot, const struct rg_iface *r)
{
	int fd = map_fd(st, RG_M_IFACES);

	if (fd < 0)
		return fd;
	return bpf_map_update_elem(fd, &slot, r, BPF_ANY) ? -errno : 0;
}

int rg_ifaces_read(const struct rg_state *st, struct rg_iface out[RG_MAX_IFACES])
{
	int fd = map_fd(st, RG_M_IFACES);

	memset(out, 0, sizeof(*out) * RG_MAX_IFACES);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	for (__u32 i = 0; i < RG_MAX_IFACES; i++)
		if (bpf_map_lookup_elem(fd, &i, &out[i]))
			return -errno;
	return 0;
}

int rg_stats_read_percpu(const struct rg_state *st, uint32_t slot, struct rg_counter out[RG_R_MAX],
			 struct rg_counter *keep)
{
	int fd = map_fd(st, RG_M_STATS), err = 0;
	struct rg_counter *percpu;

	memset(out, 0, sizeof(*out) * RG_R_MAX);
	if (fd < 0)
		return fd;
	if (slot >= RG_MAX_IFACES)
		return -EINVAL;
	percpu = keep ? NULL : calloc(st->ncpu, sizeof(*percpu));
	if (!keep && !percpu)
		return -ENOMEM;
	for (__u32 r = 0; r < RG_R_MAX && !err; r++) {
		__u32 key = slot * RG_R_MAX + r;
		struct rg_counter *row = keep ? &keep[(size_t)r * st->ncpu] : percpu;

		if (bpf_map_lookup_elem(fd, &key, row)) {
			err = -errno;
			break;
		}
		for (int c = 0; c < st->ncpu; c++)
			for (int a = 0; a < RG_ACT_MAX; a++) {
				out[r].packets[a] += row[c].packets[a];
				out[r].bytes[a] += row[c].bytes[a];
			}
	}
	free(percpu);
	return err;
}

int rg_stats_read(const struct rg_state *st, uint32_t slot, struct rg_counter out[RG_R_MAX])
{
	return rg_stats_read_percpu(st, slot, out, NULL);
}

static int dist_clear(const struct rg_state *st, uint32_t slot)
{
	int fd = map_fd(st, RG_M_DIST), err = 0;
	struct rg_dist *zero;

	/* Pins made before the histogram existed have none to clear. */
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	zero = calloc(st->ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	for (__u32 b = 0; b < RG_DIST_BUCKETS && !err; b++) {
		__u32 key = slot * RG_DIST_BUCKETS + b;

		if (bpf_map_update_elem(fd, &key, zero, BPF_ANY))
			err = -errno;
	}
	free(zero);
	return err;
}

int rg_stats_clear(const struct rg_state *st, uint32_t slot)
{
	int fd = map_fd(st, RG_M_STATS), err = 0;
	struct rg_counter *zero;

	if (fd < 0)
		return fd;
	zero = calloc(st->ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	for (__u32 r = 0; r < RG_R_MAX; r++) {
		__u32 key = slot * RG_R_MAX + r;

		if (bpf_map_update_elem(fd, &key, zero, BPF_ANY)) {
			err = -errno;
			break;
		}
	}
	free(zero);
	if (!err)
		err = dist_clear(st, slot);
	return err;
}

/*
 * Entries of a hash map. get_next_key costs one syscall per entry (about a second for a
 * million); BPF_MAP_LOOKUP_BATCH walks whole buckets per call, thousands of entries at a time.
 * Its values buffer is mandatory, so values are copied and ignored. Kernels without batch
 * support for the map type fall back to the key walk.
 */
int rg_map_count(int fd, uint64_t *n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	struct bpf_map_info info = {};
	__u32 ilen = sizeof(info), chunk = 4096, in = 0, out = 0;
	void *keys = NULL, *vals = NULL, *cur = NULL, *next = NULL;
	bool first = true;
	int err = 0;

	*n = 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen))
		return -errno;
	for (;;) {
		__u32 cnt = chunk;

		if (!keys) {
			keys = malloc((size_t)chunk * info.key_size);
			vals = malloc((size_t)chunk * info.value_size);
			if (!keys || !vals) {
				err = -ENOMEM;
				break;
			}
		}
		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &cnt, &bo);
		if (err && errno == ENOSPC && cnt == 0 && chunk < (1u << 20)) {
			/* One bucket holds more than a chunk: retry the same position, larger. */
			chunk *= 2;
			free(keys);
			free(vals);
			keys = vals = NULL;
			continue;
		}
		if (err && errno != ENOENT) {
			err = -errno;
			break;
		}
		*n += cnt;
		if (err) { /* ENOENT: that was the last batch */
			err = 0;
			break;
		}
		in = out;
		first = false;
	}
	free(keys);
	free(vals);
	if (!err || !first || (err != -EINVAL && err != -ENOTSUPP && err != -EOPNOTSUPP))
		return err;

	cur = malloc(info.key_size);
	next = malloc(info.key_size);
	*n = 0;
	err = cur && next ? 0 : -ENOMEM;
	if (!err) {
		bool have = false;

		while (bpf_map_get_next_key(fd, have ? cur : NULL, next) == 0) {
			(*n)++;
			memcpy(cur, next, info.key_size);
			have = true;
		}
		err = errno == ENOENT ? 0 : -errno;
	}
	free(cur);
	free(next);
	return err;
}

int rg_flows_count(const struct rg_state *st, uint64_t *v4, uint64_t *v6)
{
	int err = 0;

	*v4 = *v6 = 0;
	if (st->fd[RG_M_FLOWS4] >= 0)
		err = rg_map_count(st->fd[RG_M_FLOWS4], v4);
	if (!err && st->fd[RG_M_FLOWS6] >= 0)
		err = rg_map_count(st->fd[RG_M_FLOWS6], v6);
	return err;
}

int rg_map_max_entries(int fd, uint32_t *n)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*n = info.max_entries;
	return 0;
}

int rg_ports_read(const struct rg_state *st, uint64_t words[RG_PORT_WORDS])
{
	int fd = map_fd(st, RG_M_PORTS);

	memset(words, 0, sizeof(*words) * RG_PORT_WORDS);
	if (fd < 0)
		return fd;
	for (__u32 i = 0; i < RG_PORT_WORDS; i++)
		if (bpf_map_lookup_elem(fd, &i, &words[i]))
			return -errno;
	return 0;
}

int rg_prefixes_read(const struct rg_state *st, int map, struct rg_prefix_key *keys, uint32_t *n)
{
	struct rg_prefix_key cur, next;
	int fd = map_fd(st, map);
	uint32_t cap = *n;
	void *prev = NULL;

	*n = 0;
	if (fd < 0)
		return fd;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (*n >= cap)
			return -E2BIG;
		keys[(*n)++] = next;
		cur = next;
		prev = &cur;
	}
	return errno == ENOENT ? 0 : -errno;
}

int rg_ports_write(const struct rg_state *st, const uint64_t *old, const uint64_t *new)
{
	int fd = map_fd(st, RG_M_PORTS);

	if (fd < 0)
		return fd;
	for (uint32_t i = 0; i < RG_PORT_WORDS; i++)
		if (old[i] != new[i] && bpf_map_update_elem(fd, &i, &new[i], BPF_ANY))
			return -errno;
	return 0;
}

int rg_prefix_update(const struct rg_state *st, int map, const struct rg_prefix_key *k, bool add)
{
	int fd = map_fd(st, map);
	uint8_t one = 1;

	if (fd < 0)
		return fd;
	if (add)
		return bpf_map_update_elem(fd, k, &one, BPF_ANY) ? -errno : 0;
	return bpf_map_delete_elem(fd, k) && errno != ENOENT ? -errno : 0;
}

void rg_flow_capacity(const struct rg_state *st, struct rg_flow_sizes *cap)
{
	cap->v4 = cap->v6 = 0;
	if (st->fd[RG_M_FLOWS4] >= 0)
		rg_map_max_entries(st->fd[RG_M_FLOWS4], &cap->v4);
	if (st->fd[RG_M_FLOWS6] >= 0)
		rg_map_max_entries(st->fd[RG_M_FLOWS6], &cap->v6);
}

static int walk_one(int fd, bool v6, bool (*want)(void *), uint64_t *total,
		    void (*cb)(const void *, bool, const struct rg_flow *, void *), void *arg)
{
	union {
		struct rg_flow_key4 k4;
		struct rg_flow_key6 k6;
	} cur, next;
	void *prev = NULL;
	struct rg_flow f;

	if (fd < 0)
		return 0;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		cur = next;
		prev = &cur;
		if (want && !want(arg)) {
			(*total)++;
			continue;
		}
		/* The LRU may evict between the two calls: a vanished entry is simply skipped. */
		if (bpf_map_lookup_elem(fd, &cur, &f))
			continue;
		(*total)++;
		cb(&cur, v6, &f, arg);
	}
	return errno == ENOENT ? 0 : -errno;
}

int rg_flows_walk(const struct rg_state *st, bool (*want)(void *arg), uint64_t *total,
		  void (*cb)(const void *key, bool v6, const struct rg_flow *f, void *arg), void *arg)
{
	int err = walk_one(st->fd[RG_M_FLOWS4], false, want, total, cb, arg);

	return err ? err : walk_one(st->fd[RG_M_FLOWS6], true, want, total, cb, arg);
}

uint32_t rg_pinned_entries(const char *pin_dir, int id)
{
	char path[PATH_MAX];
	uint32_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/maps/%s", pin_dir, rg_map_names[id]);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (rg_map_max_entries(fd, &n))
		n = 0;
	close(fd);
	return n;
}

int rg_dist_read(const struct rg_state *st, uint32_t slot, struct rg_dist out[RG_DIST_BUCKETS])
{
	int fd = map_fd(st, RG_M_DIST), err = 0;
	struct rg_dist *percpu;

	memset(out, 0, sizeof(*out) * RG_DIST_BUCKETS);
	if (fd < 0)
		return fd;
	if (slot >= RG_MAX_IFACES)
		return -EINVAL;
	percpu = calloc(st->ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (__u32 b = 0; b < RG_DIST_BUCKETS; b++) {
		__u32 key = slot * RG_DIST_BUCKETS + b;

		if (bpf_map_lookup_elem(fd, &key, percpu)) {
			err = -errno;
			break;
		}
		for (int c = 0; c < st->ncpu; c++) {
			out[b].count += percpu[c].count;
			out[b].sum += percpu[c].sum;
		}
	}
	free(percpu);
	return err;
}

int rg_capcfg_read(const struct rg_state *st, struct rg_cap_cfg *c)
{
	int fd = map_fd(st, RG_M_CAPCFG);
	__u32 key = 0;

	if (fd < 0)
		return fd;
	return bpf_map_lookup_elem(fd, &key, c) ? -errno : 0;
}

int rg_capcfg_write(const struct rg_state *st, const struct rg_cap_cfg *c)
{
	int fd = map_fd(st, RG_M_CAPCFG);
	__u32 key = 0;

	if (fd < 0)
		return fd;
	return bpf_map_update_elem(fd, &key, c, BPF_ANY) ? -errno : 0;
}

int rg_capstat_read(const struct rg_state *st, struct rg_cap_stat *sum)
{
	int fd = map_fd(st, RG_M_CAPSTAT), err = 0;
	struct rg_cap_stat *percpu;
	__u32 key = 0;

	memset(sum, 0, sizeof(*sum));
	if (fd < 0)
		return fd;
	percpu = calloc(st->ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, percpu))
		err = -errno;
	for (int c = 0; !err && c < st->ncpu; c++) {
		sum->matched += percpu[c].matched;
		sum->records += percpu[c].records;
		sum->lost += percpu[c].lost;
	}
	free(percpu);
	return err;
}

int rg_capstat_reset(const struct rg_state *st)
{
	int fd = map_fd(st, RG_M_CAPSTAT), err = 0;
	struct rg_cap_stat *zero;
	__u32 key = 0;

	if (fd < 0)
		return fd;
	zero = calloc(st->ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(fd, &key, zero, BPF_ANY))
		err = -errno;
	free(zero);
	return err;
}
