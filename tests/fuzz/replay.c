// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Replays the checked-in corpus: every input through the plain-C build with the model's checks,
 * and packet by packet through BPF_PROG_TEST_RUN on the shipped object, whose action, counter
 * deltas and flow entry must equal the plain-C build's. Prints "N passed, N failed". */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "input.h"
#include "rstguard.skel.h"

static struct rg_env envs[RG_ROLE_MAX][2];
static int env_ok[RG_ROLE_MAX][2];
static struct rg_env *cur;
static __u64 *zero_buf;
static __u32 *index_buf;
static int kernel_fib_local; /* what bpf_fib_lookup answers in our namespace */
static int cur_l3;

/* ---- kernel side ------------------------------------------------------------------------- */

static int sh(const char *cmd)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s >/dev/null 2>&1", cmd);
	return system(buf);
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

/* A private namespace: no socket can answer the host role's lookups, and forwarding with a
 * default route through a veth makes every test address "forwarded" for the FIB. */
static int setup_netns(void)
{
	if (unshare(CLONE_NEWNET)) {
		printf("# no network namespace (%s): kernel comparison skipped\n", strerror(errno));
		return -1;
	}
	if (sh("ip link set lo up") || sh("ip link add rgfz0 type veth peer name rgfz1") ||
	    sh("ip link set rgfz1 up") ||
	    sh("ip link set rgfz0 up") || sh("ip route add default dev rgfz0") ||
	    sh("ip -6 route add default dev rgfz0") ||
	    write_file("/proc/sys/net/ipv4/ip_forward", "1") ||
	    write_file("/proc/sys/net/ipv4/conf/all/forwarding", "1") ||
	    write_file("/proc/sys/net/ipv6/conf/all/forwarding", "1")) {
		printf("# namespace setup failed: the both role is compared as local only\n");
		kernel_fib_local = 1;
		return 0;
	}
	kernel_fib_local = 0;
	return 0;
}

static void map_zero_all(struct bpf_map *m)
{
	__u32 n = bpf_map__max_entries(m), count = n;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);

	/* Per-CPU values are rounded to 8 bytes per CPU; zero_buf is sized for the largest. */
	if (bpf_map_update_batch(bpf_map__fd(m), index_buf, zero_buf, &count, &opts) && errno)
		fprintf(stderr, "replay: clearing %s: %s\n", bpf_map__name(m), strerror(errno));
}

static void map_delete_all(struct bpf_map *m)
{
	__u8 key[64], next[64];
	int fd = bpf_map__fd(m);

	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, sizeof(key));
		if (bpf_map_delete_elem(fd, key))
			break;
	}
}

static void scope_tables(struct rg_env *e)
{
	__u8 one = 1;

	for (int i = 0; i < FZ_NPORTS; i++) {
		__u32 idx = fz_ports[i] >> 6;
		__u64 w = 0;
		int fd = bpf_map__fd(e->skel->maps.rg_ports);

		bpf_map_lookup_elem(fd, &idx, &w);
		w |= 1ull << (fz_ports[i] & 63);
		bpf_map_update_elem(fd, &idx, &w, BPF_ANY);
	}
	for (int i = 0; i < FZ_NPROTECT; i++) {
		struct rg_prefix_key k = { .prefixlen = fz_protect[i].len };

		memcpy(k.addr, fz_protect[i].addr, 16);
		bpf_map_update_elem(bpf_map__fd(e->skel->maps.rg_protect), &k, &one, BPF_ANY);
	}
	for (int i = 0; i < FZ_NEXEMPT; i++) {
		struct rg_prefix_key k = { .prefixlen = fz_exempt[i].len };

		memcpy(k.addr, fz_exempt[i].addr, 16);
		bpf_map_update_elem(bpf_map__fd(e->skel->maps.rg_exempt), &k, &one, BPF_ANY);
	}
}

static void k_policy(__u32 bits)
{
	struct rg_policy p = { .bits = bits };
	__u32 k = 0;

	if (cur)
		bpf_map_update_elem(bpf_map__fd(cur->skel->maps.rg_policy), &k, &p, BPF_ANY);
}

static void k_begin(__u32 role, __u32 l3, __u32 bits)
{
	cur = NULL;
	if (role >= RG_ROLE_MAX || l3 > 1)
		return;
	if (!env_ok[role][l3]) {
		int err = env_open(&envs[role][l3], (int)role, (int)l3, FZ_FLOWS);

		if (err) {
			printf("# loading the object (role %u, l3 %u) failed: %s\n", role, l3,
			       strerror(-err));
			env_ok[role][l3] = -1;
			return;
		}
		scope_tables(&envs[role][l3]);
		env_ok[role][l3] = 1;
	}
	if (env_ok[role][l3] < 0)
		return;
	cur = &envs[role][l3];
	cur_l3 = (int)l3;
	/* A fresh start: no flows, no presence bits, no recent data ends. */
	map_delete_all(cur->skel->maps.rg_flows4);
	map_delete_all(cur->skel->maps.rg_flows6);
	map_zero_all(cur->skel->maps.rg_presence);
	map_zero_all(cur->skel->maps.rg_recent);
	k_policy(bits);
}

static void k_counts(struct fz_counts *c)
{
	struct rg_counter vals[1024];
	int fd = bpf_map__fd(cur->skel->maps.rg_stats);

	memset(c, 0, sizeof(*c));
	for (__u32 r = 0; r < RG_R_MAX; r++) {
		if (bpf_map_lookup_elem(fd, &r, vals))
			continue;
		for (int cpu = 0; cpu < cur->ncpu; cpu++)
			for (int a = 0; a < RG_ACT_MAX; a++) {
				c->pkts[r][a] += vals[cpu].packets[a];
				c->bytes[r][a] += vals[cpu].bytes[a];
			}
	}
}

static int k_step(const __u8 *f, size_t n, __u64 now_ns, struct fz_counts *delta)
{
	struct fz_counts before, after;
	struct timespec ts;
	int act;

	if (!cur || n < 14 || n > 3000)
		return -1; /* BPF_PROG_TEST_RUN refuses frames under an Ethernet header */
	/* Only a FIB answer of the same kind (local or not) gives the same path. */
	if (shim.fib_calls && ((shim.fib_ret == BPF_FIB_LKUP_RET_NOT_FWDED ||
				shim.fib_ret == BPF_FIB_LKUP_RET_FWD_DISABLED) != kernel_fib_local))
		return -1;
	/* The program's clock is the coarse monotonic clock plus rg_clock_offset; the fuzz clock
	 * sits mid-second, so the few milliseconds until the program reads it never matter. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	cur->skel->bss->rg_clock_offset =
		(__s64)now_ns - ((__s64)ts.tv_sec * 1000000000ll + ts.tv_nsec);
	k_counts(&before);
	{
		/* The kernel runs frames on lo, whose link address is all zeros; the plain-C build
		 * models a device that owns every frame's address (kernel_sock.h, rg_dev_view). */
		__u8 g[3000];

		memcpy(g, f, n);
		if (!cur_l3)
			memset(g, 0, 6);
		act = env_run(cur, g, n);
	}
	k_counts(&after);
	for (int r = 0; r < RG_R_MAX; r++)
		for (int a = 0; a < RG_ACT_MAX; a++) {
			delta->pkts[r][a] = after.pkts[r][a] - before.pkts[r][a];
			delta->bytes[r][a] = after.bytes[r][a] - before.bytes[r][a];
		}
	return act;
}

static int k_flow4(const struct rg_flow_key4 *k, struct rg_flow *out)
{
	return bpf_map_lookup_elem(bpf_map__fd(cur->skel->maps.rg_flows4), k, out) ? -1 : 0;
}

static int k_flow6(const struct rg_flow_key6 *k, struct rg_flow *out)
{
	return bpf_map_lookup_elem(bpf_map__fd(cur->skel->maps.rg_flows6), k, out) ? -1 : 0;
}

static void k_evict4(const struct rg_flow_key4 *k)
{
	bpf_map_delete_elem(bpf_map__fd(cur->skel->maps.rg_flows4), k);
}

static void k_evict6(const struct rg_flow_key6 *k)
{
	bpf_map_delete_elem(bpf_map__fd(cur->skel->maps.rg_flows6), k);
}

static struct fz_kernel kernel = { k_begin, k_policy, k_step, k_flow4, k_flow6, k_evict4,
				   k_evict6 };

/* ---- corpus ------------------------------------------------------------------------------ */

static int passed, failed, xfail, inputs, compared, uncompared;

static int read_input(const char *path, __u8 **data, size_t *n)
{
	FILE *f = fopen(path, "rb");
	long len;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	*data = malloc(len > 0 ? (size_t)len : 1);
	*n = len > 0 && fread(*data, 1, (size_t)len, f) == (size_t)len ? (size_t)len : 0;
	fclose(f);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Runs one input; returns 1 when a check failed. */
static int run_one(int (*target)(const __u8 *, size_t), const char *path)
{
	__u8 *data;
	size_t n;

	if (read_input(path, &data, &n))
		return 1;
	target(data, n);
	free(data);
	inputs++;
	compared += fz.compared;
	uncompared += fz.uncompared;
	return fz.failed;
}

static void run_dir(int (*target)(const __u8 *, size_t), const char *dir)
{
	struct dirent **ents;
	int k = scandir(dir, &ents, NULL, by_name);

	for (int i = 0; i < k; i++) {
		char path[4096];

		if (ents[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			if (run_one(target, path)) {
				failed++;
				printf("FAIL %s\n", path);
			} else {
				passed++;
			}
		}
		free(ents[i]);
	}
	if (k >= 0)
		free(ents);
}

/* Regression inputs are named ID-description and replayed with no finding tolerated. While ID
 * is an open finding (listed in the known list) its input must still fail (xfail); once it is
 * not listed, it must pass. */
static void run_regress(int (*target)(const __u8 *, size_t), const char *dir, const char *known)
{
	struct dirent **ents;
	int k = scandir(dir, &ents, NULL, by_name);

	for (int i = 0; i < k; i++) {
		char path[4096], id[32];
		const char *dash = strchr(ents[i]->d_name, '-');
		int open_finding, bad;

		if (ents[i]->d_name[0] == '.' || !dash || dash - ents[i]->d_name >= (int)sizeof(id)) {
			free(ents[i]);
			continue;
		}
		memcpy(id, ents[i]->d_name, (size_t)(dash - ents[i]->d_name));
		id[dash - ents[i]->d_name] = 0;
		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		fz_known_list = known;
		open_finding = fz_known(id);
		/* Strict: no finding tolerated, so that no other tolerance can mask this one. */
		fz_known_list = "";
		if (open_finding)
			printf("# %s: open finding %s, expected to fail:\n", ents[i]->d_name, id);
		bad = run_one(target, path);
		fz_known_list = known;
		if (open_finding && bad) {
			xfail++;
			passed++;
		} else if (open_finding) {
			failed++;
			printf("FAIL %s: finding %s no longer reproduces; remove it from known.txt\n",
			       path, id);
		} else if (bad) {
			failed++;
			printf("FAIL %s: regression of fixed finding %s\n", path, id);
		} else {
			passed++;
		}
		free(ents[i]);
	}
	if (k >= 0)
		free(ents);
}

/* The IDs of known.txt, comma-separated. */
static char *load_known(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024], *out = calloc(1, 1024);

	if (!f || !out)
		return out;
	while (fgets(line, sizeof(line), f)) {
		char id[32];

		if (line[0] == '#' || sscanf(line, "%31s", id) != 1)
			continue;
		snprintf(out + strlen(out), 1024 - strlen(out), "%s%s", out[0] ? "," : "", id);
	}
	fclose(f);
	return out;
}

int main(int argc, char **argv)
{
	const char *root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
	const char *known_path = argc > 2 ? argv[2] : "tests/fuzz/known.txt";
	int use_kernel = !getenv("FZ_NO_KERNEL");
	char *known = load_known(known_path);
	char dir[4096];
	struct timespec t0, t1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fz_replay_mode = 1;
	fz_verbose = getenv("FZ_VERBOSE") != NULL;
	fz_known_list = known;
	index_buf = calloc(65536, sizeof(*index_buf));
	zero_buf = calloc(65536 * 2, sizeof(*zero_buf));
	for (__u32 i = 0; index_buf && i < 65536; i++)
		index_buf[i] = i;
	if (use_kernel && geteuid() != 0) {
		printf("# not root: kernel comparison skipped\n");
		use_kernel = 0;
	}
	if (use_kernel && libbpf_num_possible_cpus() > 16) {
		printf("# more than 16 CPUs: kernel comparison skipped (buffer sizes)\n");
		use_kernel = 0;
	}
	if (use_kernel && setup_netns() == 0)
		fz_kernel = &kernel;
	printf("# open findings tolerated: %s\n", known[0] ? known : "none");

	snprintf(dir, sizeof(dir), "%s/frame", root);
	run_dir(fz_frame_run, dir);
	snprintf(dir, sizeof(dir), "%s/seq", root);
	run_dir(fz_seq_run, dir);
	snprintf(dir, sizeof(dir), "%s/regress/frame", root);
	run_regress(fz_frame_run, dir, known);
	snprintf(dir, sizeof(dir), "%s/regress/seq", root);
	run_regress(fz_seq_run, dir, known);

	for (int r = 0; r < RG_ROLE_MAX; r++)
		for (int l = 0; l < 2; l++)
			if (env_ok[r][l] > 0)
				env_close(&envs[r][l]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %d inputs, %d packets compared with BPF_PROG_TEST_RUN, %d not comparable "
	       "(seeded sockets or FIB), %d expected failures of open findings, %.1f s\n",
	       inputs, compared, uncompared, xfail,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("fuzz replay: %d passed, %d failed\n", passed, failed);
	free(known);
	return failed ? 1 : 0;
}
