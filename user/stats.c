// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* stats: counters per interface and reason, summed over CPUs; --watch prints rates. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmds.h"
#include "log.h"
#include "names.h"
#include "schema.h"
#include "state.h"
#include "pindir.h"
#include "util.h"

struct slot_stats {
	bool used;
	struct rg_iface rec;
	struct rg_counter c[RG_R_MAX];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int read_all(const struct rg_state *st, struct slot_stats *s)
{
	struct rg_iface recs[RG_MAX_IFACES];
	int err = rg_ifaces_read(st, recs);

	if (err)
		return err;
	for (uint32_t i = 0; i < RG_MAX_IFACES; i++) {
		s[i].used = rg_iface_used(&recs[i]);
		s[i].rec = recs[i];
		if (s[i].used && (err = rg_stats_read(st, i, s[i].c)))
			return err;
	}
	return 0;
}


static bool is_challenge(int r)
{
	return r >= RG_R_CHALLENGE_SENT && r <= RG_R_CHALLENGE_UNROUTED;
}

static struct json_object *counters_json(const struct rg_counter *c)
{
	struct json_object *reasons = json_object_new_object();

	for (int r = 0; r < RG_R_MAX; r++) {
		struct json_object *acts = json_object_new_object();

		for (int a = 0; a < RG_ACT_MAX; a++) {
			struct json_object *v = json_object_new_object();

			json_object_object_add(v, "packets", json_u64(c[r].packets[a]));
			json_object_object_add(v, "bytes", json_u64(c[r].bytes[a]));
			json_object_object_add(acts, rg_action_names[a], v);
		}
		json_object_object_add(reasons, rg_reason_names[r], acts);
	}
	return reasons;
}

static struct json_object *iface_json(uint32_t slot, const struct slot_stats *s)
{
	return rg_json_iface(&s->rec, slot);
}

/* Events counted beside the verdicts: not RSTs of their own, so outside the totals. */
static bool is_event(int r)
{
	return r == RG_R_FLOW_CREATED || r == RG_R_FLOW_INSERT_FAIL || is_challenge(r);
}

/* Packets of a reason over all actions (events count under one). */
static uint64_t all_acts(const struct rg_counter *c)
{
	uint64_t n = 0;

	for (int a = 0; a < RG_ACT_MAX; a++)
		n += c->packets[a];
	return n;
}

/* What inexact=challenge did, by result: "sent", "limited", "fallback", "unrouted". */
static struct json_object *challenges_json(const struct rg_counter *c)
{
	struct json_object *o = json_object_new_object();

	for (int r = 0; r < RG_R_MAX; r++)
		if (is_challenge(r))
			json_object_object_add(o, rg_reason_names[r] + 10, json_u64(all_acts(&c[r])));
	return o;
}

static void print_challenges(const struct rg_counter *c)
{
	uint64_t any = 0;

	for (int r = 0; r < RG_R_MAX; r++)
		if (is_challenge(r))
			any += all_acts(&c[r]);
	if (!any && rg_log_verbosity < 1)
		return;
	printf("  challenge ACKs: %llu sent, %llu limited, %llu fallback, %llu unrouted\n",
	       (unsigned long long)all_acts(&c[RG_R_CHALLENGE_SENT]),
	       (unsigned long long)all_acts(&c[RG_R_CHALLENGE_LIMITED]),
	       (unsigned long long)all_acts(&c[RG_R_CHALLENGE_FALLBACK]),
	       (unsigned long long)all_acts(&c[RG_R_CHALLENGE_UNROUTED]));
}

static bool row_zero(const struct rg_counter *c)
{
	for (int a = 0; a < RG_ACT_MAX; a++)
		if (c->packets[a])
			return false;
	return true;
}

static int print_snapshot(const struct slot_stats *s)
{
	struct json_object *o = NULL, *arr = NULL;
	bool any = false;

	if (cli.json) {
		o = json_object_new_object();
		arr = json_object_new_array();
	}
	for (uint32_t i = 0; i < RG_MAX_IFACES; i++) {
		uint64_t tot[RG_ACT_MAX] = {};

		if (!s[i].used)
			continue;
		any = true;
		for (int r = 0; r < RG_R_MAX; r++)
			for (int a = 0; a < RG_ACT_MAX; a++)
				if (!is_event(r))
					tot[a] += s[i].c[r].packets[a];
		if (cli.json) {
			struct json_object *e = iface_json(i, &s[i]), *t = json_object_new_object();

			json_object_object_add(e, "reasons", counters_json(s[i].c));
			json_object_object_add(e, "challenges", challenges_json(s[i].c));
			for (int a = 0; a < RG_ACT_MAX; a++)
				json_object_object_add(t, rg_action_names[a], json_u64(tot[a]));
			json_object_object_add(e, "packets", t);
			json_object_array_add(arr, e);
			continue;
		}
		printf("%s (slot %u, %s): %llu passed, %llu dropped, %llu would drop\n",
		       s[i].rec.name, i, rg_role_str(s[i].rec.role), (unsigned long long)tot[RG_ACT_PASS],
		       (unsigned long long)tot[RG_ACT_DROP], (unsigned long long)tot[RG_ACT_MONITOR]);
		printf("  %-18s %12s %12s %12s %14s\n", "REASON", "PASS", "DROP", "WOULD_DROP", "BYTES");
		for (int r = 0, shown = 0; r < RG_R_MAX; r++) {
			const struct rg_counter *c = &s[i].c[r];

			if (is_challenge(r) || (row_zero(c) && rg_log_verbosity < 1)) {
				if (r == RG_R_MAX - 1 && !shown)
					printf("  (nothing counted yet)\n");
				continue;
			}
			shown++;
			printf("  %-18s %12llu %12llu %12llu %14llu\n", rg_reason_names[r],
			       (unsigned long long)c->packets[RG_ACT_PASS],
			       (unsigned long long)c->packets[RG_ACT_DROP],
			       (unsigned long long)c->packets[RG_ACT_MONITOR],
			       (unsigned long long)(c->bytes[RG_ACT_PASS] + c->bytes[RG_ACT_DROP] +
						    c->bytes[RG_ACT_MONITOR]));
		}
		print_challenges(s[i].c);
	}
	if (cli.json) {
		json_object_object_add(o, "interfaces", arr);
		json_print(o);
	} else if (!any) {
		printf("no interfaces attached\n");
	}
	return RC_OK;
}

/* "0", "1", "2", then "(2 Ki, 4 Ki]": the range of distances bucket k holds (capture.h). */
static void bucket_label(int k, char *buf, size_t len)
{
	static const char *const unit[] = { "", " Ki", " Mi", " Gi" };
	char lo[16], hi[16];

	if (k <= 2) {
		snprintf(buf, len, "%d", k);
		return;
	}
	for (int e = 0; e < 2; e++) {
		uint64_t v = 1ull << (k - 2 + e);
		int u = 0;

		while (v >= 1024 && u < 3) {
			v >>= 10;
			u++;
		}
		snprintf(e ? hi : lo, sizeof(lo), "%llu%s", (unsigned long long)v, unit[u]);
	}
	snprintf(buf, len, "(%s, %s]", lo, hi);
}

static struct json_object *distance_json(const struct rg_dist *d)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	uint64_t count = 0, sum = 0;

	for (int k = 0; k < RG_DIST_BUCKETS; k++) {
		struct json_object *b = json_object_new_object();

		json_object_object_add(b, "le", json_u64(k ? 1ull << (k - 1) : 0));
		json_object_object_add(b, "count", json_u64(d[k].count));
		json_object_array_add(arr, b);
		count += d[k].count;
		sum += d[k].sum;
	}
	json_object_object_add(o, "count", json_u64(count));
	json_object_object_add(o, "sum", json_u64(sum));
	json_object_object_add(o, "buckets", arr);
	return o;
}

static void distance_text(uint32_t slot, const struct slot_stats *s, const struct rg_dist *d)
{
	uint64_t count = 0, max = 0;
	char label[40];

	for (int k = 0; k < RG_DIST_BUCKETS; k++) {
		count += d[k].count;
		if (d[k].count > max)
			max = d[k].count;
	}
	printf("%s (slot %u, %s): %llu RSTs judged against a sequence reference\n", s->rec.name, slot,
	       rg_role_str(s->rec.role), (unsigned long long)count);
	if (!count && rg_log_verbosity < 1) {
		printf("  (none yet)\n");
		return;
	}
	printf("  %-24s %12s\n", "DISTANCE (bytes)", "RSTS");
	for (int k = 0; k < RG_DIST_BUCKETS; k++) {
		int bar = max ? (int)((d[k].count * 40 + max - 1) / max) : 0;

		if (!d[k].count && rg_log_verbosity < 1)
			continue;
		bucket_label(k, label, sizeof(label));
		printf("  %-24s %12llu  %.*s\n", label, (unsigned long long)d[k].count, bar,
		       "########################################");
	}
}

/* stats --distance: how far judged RSTs were from RCV.NXT (host) or the band (gateway). */
static int print_distance(const struct rg_state *st, const struct slot_stats *s)
{
	struct json_object *o = NULL, *arr = NULL;
	struct rg_dist d[RG_DIST_BUCKETS];
	bool any = false;
	int err;

	if (cli.json) {
		o = json_object_new_object();
		arr = json_object_new_array();
	}
	for (uint32_t i = 0; i < RG_MAX_IFACES; i++) {
		if (!s[i].used)
			continue;
		if ((err = rg_dist_read(st, i, d))) {
			json_object_put(o);
			json_object_put(arr);
			return rg_fail(RC_ERR, "cannot read the distance histogram: %s%s", errstr(err),
				       err == -ENOENT ? " (attached by an rstguard without it: attach "
				       "again)" : "");
		}
		any = true;
		if (cli.json) {
			struct json_object *e = iface_json(i, &s[i]);

			json_object_object_add(e, "distance", distance_json(d));
			json_object_array_add(arr, e);
		} else {
			distance_text(i, &s[i], d);
		}
	}
	if (cli.json) {
		json_object_object_add(o, "interfaces", arr);
		json_print(o);
	} else if (!any) {
		printf("no interfaces attached\n");
	}
	return RC_OK;
}

static double now_s(void)
{
	return rg_monotonic_ns() / 1e9;
}

static void print_rates(const struct slot_stats *a, const struct slot_stats *b, double dt)
{
	struct json_object *o = NULL, *arr = NULL;
	char when[64];
	bool any = false;
	format_time_ns(rg_realtime_ns() / 1000000000ull * 1000000000ull, !!cli.json, when,
		       sizeof(when));
	if (cli.json) {
		o = json_object_new_object();
		arr = json_object_new_array();
		json_object_object_add(o, "time", json_object_new_string(when));
		json_object_object_add(o, "interval_seconds", json_object_new_double(dt));
	} else {
		printf("--- %s, over %.2f s\n", when, dt);
	}
	for (uint32_t i = 0; i < RG_MAX_IFACES; i++) {
		struct json_object *e = NULL, *rates = NULL;

		/* A slot that changed hands between two samples has no meaningful rate. */
		if (!a[i].used || !b[i].used || strcmp(a[i].rec.name, b[i].rec.name))
			continue;
		if (cli.json) {
			e = iface_json(i, &b[i]);
			rates = json_object_new_object();
		}
		for (int r = 0; r < RG_R_MAX; r++) {
			struct json_object *acts = cli.json ? json_object_new_object() : NULL;

			for (int x = 0; x < RG_ACT_MAX; x++) {
				uint64_t dp = b[i].c[r].packets[x] - a[i].c[r].packets[x];
				uint64_t db = b[i].c[r].bytes[x] - a[i].c[r].bytes[x];
				double pps = dp / dt, bps = db * 8 / dt;

				if (cli.json) {
					struct json_object *v = json_object_new_object();

					json_object_object_add(v, "packets_per_second", json_object_new_double((double)(uint64_t)(pps * 100 + 0.5) / 100));
					json_object_object_add(v, "bits_per_second", json_object_new_double((double)(uint64_t)(bps + 0.5)));
					json_object_object_add(acts, rg_action_names[x], v);
				} else if (dp) {
					if (!any)
						printf("%-15s %-18s %-10s %16s %20s\n", "IFACE", "REASON",
						       "ACTION", "RATE", "BANDWIDTH");
					printf("%-15s %-18s %-10s %12.1f pps %14.0f bit/s\n", b[i].rec.name,
					       rg_reason_names[r], rg_action_names[x], pps, bps);
					any = true;
				}
			}
			if (cli.json)
				json_object_object_add(rates, rg_reason_names[r], acts);
		}
		if (cli.json) {
			json_object_object_add(e, "rates", rates);
			json_object_array_add(arr, e);
		}
	}
	if (cli.json) {
		json_object_object_add(o, "interfaces", arr);
		json_print(o);
	} else {
		if (!any)
			printf("(no packets)\n");
		fflush(stdout);
	}
}

static int watch(struct rg_state *st, double interval)
{
	static struct slot_stats s[2][RG_MAX_IFACES];
	struct sigaction sa = { .sa_handler = on_signal };
	double t0, t1;
	int cur = 0, err;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if ((err = read_all(st, s[cur])))
		return rg_fail(RC_ERR, "cannot read the counters: %s", errstr(err));
	t0 = now_s();
	while (!stop) {
		struct timespec ts = { (time_t)interval, (long)((interval - (time_t)interval) * 1e9) };

		/* A signal cuts the sleep short; the loop then ends cleanly with status 0. */
		if (nanosleep(&ts, NULL) && stop)
			break;
		if ((err = read_all(st, s[!cur])))
			return rg_fail(RC_ERR, "cannot read the counters: %s", errstr(err));
		t1 = now_s();
		print_rates(s[cur], s[!cur], t1 - t0);
		t0 = t1;
		cur = !cur;
	}
	return RC_OK;
}

static void stats_usage(void)
{
	printf("Usage: rstguard stats [--watch SECONDS | --distance] [-j] [-v] [--pin-dir DIR]\n"
	       "\n"
	       "Counters per attached interface and reason, summed over CPUs: packets passed,\n"
	       "dropped, and would-be dropped (mode=monitor). Zero rows are hidden unless -v.\n"
	       "Under inexact=challenge a line says what became of the inexact RSTs dropped:\n"
	       "challenge ACKs sent, limited (one per flow and direction per interval), fallback\n"
	       "(cannot send on an L3 device) and unrouted (no route back where the RST came from).\n"
	       "--watch prints rates every SECONDS (0.1-3600) until interrupted; with -j one JSON\n"
	       "document per line.\n"
	       "--distance shows, per interface, how far the sequence numbers of judged RSTs were\n"
	       "from the receiver's RCV.NXT (host role) or the tracked band (gateway role), in\n"
	       "log2 buckets: a blind flood spreads over the large distances, a sweep fills them\n"
	       "evenly, a forger who knows the numbers lands near 0.\n");
}

int do_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "watch", required_argument, NULL, 'w' },
		{ "distance", no_argument, NULL, 'D' },
		RG_COMMON_LONGOPTS,
		{}
	};
	static struct slot_stats s[RG_MAX_IFACES];
	struct rg_state st;
	double interval = 0;
	bool distance = false;
	int c, rc, err;
	char *end;

	while ((c = getopt_long(argc, argv, ":" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		switch (c) {
		case 'h':
			stats_usage();
			return RC_OK;
		case 'w':
			errno = 0;
			interval = strtod(optarg, &end);
			if (*end || end == optarg || errno || !(interval >= 0.1 && interval <= 3600))
				return rg_fail(RC_USAGE, "invalid --watch '%s': seconds from 0.1 to 3600",
					       optarg);
			break;
		case 'D':
			distance = true;
			break;
		default:
			return bad_opt("stats", c, argv);
		}
	}
	if (optind < argc)
		return rg_fail(RC_USAGE, "stats takes no arguments ('%s')", argv[optind]);
	if (distance && interval > 0)
		return rg_fail(RC_USAGE, "--distance shows totals; it does not go with --watch");
	if ((rc = rg_state_open_cli(&st, true)))
		return rc;
	if (interval > 0) {
		rc = watch(&st, interval);
	} else if ((err = read_all(&st, s))) {
		rc = rg_fail(RC_ERR, "cannot read the counters: %s", errstr(err));
	} else {
		rc = distance ? print_distance(&st, s) : print_snapshot(s);
	}
	rg_state_close(&st);
	return rc;
}
