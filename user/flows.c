// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* flows: the shared flow table, with the state and sequence bookkeeping the verdicts use. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "flow_state.h"
#include "log.h"
#include "state.h"
#include "pindir.h"
#include "util.h"

#define DEFAULT_LIMIT 100

struct flow_view {
	bool v6;
	char addr[2][INET6_ADDRSTRLEN];
	uint8_t raw[2][16];   /* IPv4 as ::ffff:a.b.c.d, as prefixes are kept */
	uint16_t port[2];
	struct rg_flow f;
};

/* conntrack -L style selection; every set field must match. */
struct flow_filter {
	bool addr_set, port_set;
	struct rg_prefix_key addr;   /* either endpoint inside it */
	uint32_t port_lo, port_hi;   /* either endpoint's port in [lo, hi] */
	uint32_t states;             /* bit per enum rg_flow_state; 0: any */
	bool contested, unverified;
};

enum flow_sort { SORT_NONE, SORT_AGE, SORT_AGE_DESC };

static void flags_text(uint8_t df, char *buf, size_t len)
{
	static const struct {
		uint8_t bit;
		const char *name;
	} names[] = { { RG_D_SYN, "syn" }, { RG_D_ACK, "ack" }, { RG_D_FIN, "fin" }, { RG_D_RST, "rst" } };
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (df & names[i].bit)
			n += snprintf(buf + n, len - n, "%s%s", n ? "," : "", names[i].name);
	if (!n)
		snprintf(buf, len, "-");
}

static int wscale_of(uint8_t df)
{
	int ws = df >> 4;

	return ws == RG_D_WS_NONE ? -1 : ws;
}

/* As judge_flow sees it: a contested entry that is unverified or expired decides nothing, and
 * its RSTs pass as unverified. */
static bool flow_unverified(const struct rg_flow *f, uint32_t now, const struct rg_policy *pol)
{
	return (f->fflags & RG_F_CONTESTED) &&
	       (!flow_verified(f) || now - f->last_seen > rg_policy_timeout(pol, flow_state(f)));
}

static bool prefix_has(const struct rg_prefix_key *k, const uint8_t *a)
{
	uint32_t full = k->prefixlen / 8, rest = k->prefixlen % 8;

	if (memcmp(k->addr, a, full))
		return false;
	return !rest || ((k->addr[full] ^ a[full]) & (0xff00 >> rest)) == 0;
}

static bool flow_matches(const struct flow_filter *ff, const struct flow_view *v, uint32_t now,
			 const struct rg_policy *pol)
{
	if (ff->addr_set && !prefix_has(&ff->addr, v->raw[0]) && !prefix_has(&ff->addr, v->raw[1]))
		return false;
	if (ff->port_set && !(v->port[0] >= ff->port_lo && v->port[0] <= ff->port_hi) &&
	    !(v->port[1] >= ff->port_lo && v->port[1] <= ff->port_hi))
		return false;
	if (ff->states && !(ff->states & (1u << flow_state(&v->f))))
		return false;
	if (ff->contested && !(v->f.fflags & RG_F_CONTESTED))
		return false;
	return !ff->unverified || flow_unverified(&v->f, now, pol);
}

static struct json_object *flow_json(const struct flow_view *v, uint32_t now,
				     const struct rg_policy *pol)
{
	struct json_object *o = json_object_new_object(), *dirs = json_object_new_array();
	int st = flow_state(&v->f);
	uint32_t age = now - v->f.last_seen;

	json_object_object_add(o, "family", json_object_new_string(v->v6 ? "ipv6" : "ipv4"));
	for (int i = 0; i < 2; i++) {
		struct json_object *ep = json_object_new_object();

		json_object_object_add(ep, "addr", json_object_new_string(v->addr[i]));
		json_object_object_add(ep, "port", json_object_new_int(v->port[i]));
		json_object_object_add(o, i ? "b" : "a", ep);
	}
	json_object_object_add(o, "state", json_object_new_string(rg_state_names[st]));
	json_object_object_add(o, "age_seconds", json_object_new_int64(age));
	json_object_object_add(o, "expired",
			       json_object_new_boolean(age > rg_policy_timeout(pol, st)));
	json_object_object_add(o, "midstream",
			       json_object_new_boolean(v->f.fflags & RG_F_MIDSTREAM));
	json_object_object_add(o, "contested",
			       json_object_new_boolean(v->f.fflags & RG_F_CONTESTED));
	json_object_object_add(o, "unverified",
			       json_object_new_boolean(flow_unverified(&v->f, now, pol)));
	for (int d = 0; d < 2; d++) {
		const struct rg_dir *r = &v->f.d[d];
		struct json_object *e = json_object_new_object(), *fl = json_object_new_array();
		uint8_t df = v->f.dflags[d];
		int ws = wscale_of(df);

		json_object_object_add(e, "from", json_object_new_string(d ? "b" : "a"));
		json_object_object_add(e, "seen", json_object_new_boolean(dir_seen(df)));
		json_object_object_add(e, "isn", json_object_new_int64(r->isn));
		json_object_object_add(e, "seq_end", json_object_new_int64(r->seq_end));
		json_object_object_add(e, "ack", json_object_new_int64(r->ack));
		json_object_object_add(e, "max_window_bytes", json_object_new_int64(r->max_win));
		json_object_object_add(e, "wscale", ws < 0 ? NULL : json_object_new_int(ws));
		if (df & RG_D_SYN)
			json_object_array_add(fl, json_object_new_string("syn"));
		if (df & RG_D_ACK)
			json_object_array_add(fl, json_object_new_string("ack"));
		if (df & RG_D_FIN)
			json_object_array_add(fl, json_object_new_string("fin"));
		if (df & RG_D_RST)
			json_object_array_add(fl, json_object_new_string("rst"));
		json_object_object_add(e, "flags", fl);
		json_object_array_add(dirs, e);
	}
	json_object_object_add(o, "dirs", dirs);
	return o;
}

static void flow_print(const struct flow_view *v, uint32_t now, const struct rg_policy *pol)
{
	int st = flow_state(&v->f);
	uint32_t age = now - v->f.last_seen;
	char ep[2][INET6_ADDRSTRLEN + 10], fl[32], ws[8];

	for (int i = 0; i < 2; i++)
		snprintf(ep[i], sizeof(ep[i]), v->v6 ? "[%s]:%u" : "%s:%u", v->addr[i], v->port[i]);
	printf("%s <-> %s  %s, age %us%s%s%s\n", ep[0], ep[1], rg_state_names[st], age,
	       age > rg_policy_timeout(pol, st) ? ", expired" : "",
	       v->f.fflags & RG_F_MIDSTREAM ? ", picked up mid-stream" : "",
	       v->f.fflags & RG_F_CONTESTED ? ", contested (RSTs pass unverified)" : "");
	for (int d = 0; d < 2; d++) {
		const struct rg_dir *r = &v->f.d[d];
		int w = wscale_of(v->f.dflags[d]);

		if (!dir_seen(v->f.dflags[d])) {
			printf("    %s > not seen yet\n", ep[d]);
			continue;
		}
		flags_text(v->f.dflags[d], fl, sizeof(fl));
		if (w < 0)
			snprintf(ws, sizeof(ws), "-");
		else
			snprintf(ws, sizeof(ws), "%d", w);
		printf("    %s > seq_end %u ack %u win %u ws %s isn %u [%s]\n", ep[d], r->seq_end,
		       r->ack, r->max_win, ws, r->isn, fl);
	}
}

/* One entry of a table as the map layer hands it over: text to print, and the addresses in the
 * form prefixes are kept in, for --addr. */
static void view_of(const void *key, bool v6, const struct rg_flow *f, struct flow_view *v)
{
	const struct rg_flow_key4 *k4 = key;
	const struct rg_flow_key6 *k6 = key;

	v->v6 = v6;
	v->f = *f;
	for (int i = 0; i < 2; i++) {
		format_addr(v6 ? (const void *)k6->addr[i] : (const void *)&k4->addr[i], v6,
			    v->addr[i], sizeof(v->addr[i]));
		memset(v->raw[i], 0, 16);
		if (v6) {
			memcpy(v->raw[i], k6->addr[i], 16);
		} else {
			v->raw[i][10] = v->raw[i][11] = 0xff;
			memcpy(&v->raw[i][12], &k4->addr[i], 4);
		}
		v->port[i] = ntohs(v6 ? k6->port[i] : k4->port[i]);
	}
}

struct emit {
	struct json_object *arr;
	uint32_t now;
	const struct rg_policy *pol;
	const struct flow_filter *ff;
	bool filtered;
	enum flow_sort sort;
	uint32_t limit;            /* 0: all */
	uint64_t matched, shown;
	struct flow_view *keep;    /* --sort: every match, sorted before printing */
	size_t nkeep, capkeep;
	bool oom;
};

static bool emit_wants(void *arg)
{
	struct emit *e = arg;

	return e->filtered || e->sort != SORT_NONE || !e->limit || e->shown < e->limit;
}

static void show(struct emit *e, const struct flow_view *v)
{
	if (e->limit && e->shown >= e->limit)
		return;
	e->shown++;
	if (e->arr)
		json_object_array_add(e->arr, flow_json(v, e->now, e->pol));
	else
		flow_print(v, e->now, e->pol);
}

static void emit(const void *key, bool v6, const struct rg_flow *f, void *arg)
{
	struct emit *e = arg;
	struct flow_view view, *v = &view;

	view_of(key, v6, f, &view);
	if (e->filtered && !flow_matches(e->ff, v, e->now, e->pol))
		return;
	e->matched++;
	if (e->sort == SORT_NONE) {
		show(e, v);
		return;
	}
	if (e->nkeep == e->capkeep) {
		size_t cap = e->capkeep ? e->capkeep * 2 : 1024;
		struct flow_view *k = realloc(e->keep, cap * sizeof(*k));

		if (!k) {
			e->oom = true;
			return;
		}
		e->keep = k;
		e->capkeep = cap;
	}
	e->keep[e->nkeep++] = *v;
}

static uint32_t sort_now;

/* Youngest first: the smallest age, i.e. the latest last_seen, in the clock's wrap order. */
static int by_age(const void *a, const void *b)
{
	uint32_t x = sort_now - ((const struct flow_view *)a)->f.last_seen;
	uint32_t y = sort_now - ((const struct flow_view *)b)->f.last_seen;

	return x < y ? -1 : x > y;
}

static void emit_sorted(struct emit *e)
{
	sort_now = e->now;
	qsort(e->keep, e->nkeep, sizeof(*e->keep), by_age);
	for (size_t i = 0; i < e->nkeep; i++)
		show(e, &e->keep[e->sort == SORT_AGE ? i : e->nkeep - 1 - i]);
}

static void flows_usage(void)
{
	printf("Usage: rstguard flows [--addr ADDR[/LEN]] [--port PORT[-PORT]] [--state S[,S...]]\n"
	       "                      [--contested] [--unverified] [--sort age|-age] [--limit N]\n"
	       "                      [-j] [-v] [--pin-dir DIR]\n"
	       "\n"
	       "Lists the shared flow table (gateway and both roles): endpoints, derived state,\n"
	       "age, and per direction the highest sequence end sent, the last ACK sent, the\n"
	       "largest window, the window scale and the ISN. An RST from one side is exact when\n"
	       "its sequence lies between the other side's ack and its own seq_end.\n"
	       "Filters, as conntrack -L has them; all given must match:\n"
	       "  --addr A[/LEN]  either endpoint is A, or inside the prefix\n"
	       "  --port P[-Q]    either endpoint's port is P (or in P-Q)\n"
	       "  --state S,..    derived state: syn_sent, syn_recv, established, one_way,\n"
	       "                  fin_wait, time_wait, closed\n"
	       "  --contested     one-sided state that segments contradicted\n"
	       "  --unverified    contested entries whose RSTs now pass as unverified\n"
	       "--sort age shows the most recently seen first, -age the longest idle first.\n"
	       "--limit N shows at most N flows (default %d, 0 for all); the total is counted.\n",
	       DEFAULT_LIMIT);
}

static int parse_states(const char *arg, uint32_t *mask)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(arg) >= sizeof(buf))
		return rg_fail(RC_USAGE, "--state list too long");
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int st = -1;

		for (int i = RG_ST_NONE + 1; i < RG_ST_MAX && st < 0; i++)
			if (!strcmp(rg_state_names[i], tok))
				st = i;
		if (st < 0)
			return rg_fail(RC_USAGE, "--state '%s': one of syn_sent, syn_recv, established, "
				       "one_way, fin_wait, time_wait, closed", tok);
		*mask |= 1u << st;
	}
	return *mask ? 0 : rg_fail(RC_USAGE, "--state needs at least one state");
}

static int flows_opt(int c, const char *arg, struct flow_filter *ff, struct emit *e)
{
	const char *why;

	switch (c) {
	case 'l':
		if (parse_u32(arg, 0, UINT32_MAX, &e->limit))
			return rg_fail(RC_USAGE, "invalid --limit '%s': a count, 0 for all", arg);
		return 0;
	case 'a':
		if (parse_prefix(arg, &ff->addr, &why))
			return rg_fail(RC_USAGE, "invalid --addr '%s': %s", arg, why);
		ff->addr_set = true;
		return 0;
	case 'p':
		if (parse_port_range(arg, &ff->port_lo, &ff->port_hi))
			return rg_fail(RC_USAGE, "invalid --port '%s': a port or a range like 8000-8080",
				       arg);
		ff->port_set = true;
		return 0;
	case 's':
		return parse_states(arg, &ff->states);
	case 'c':
		ff->contested = true;
		return 0;
	case 'u':
		ff->unverified = true;
		return 0;
	case 'o':
		if (!strcmp(arg, "age"))
			e->sort = SORT_AGE;
		else if (!strcmp(arg, "-age"))
			e->sort = SORT_AGE_DESC;
		else
			return rg_fail(RC_USAGE, "invalid --sort '%s': age or -age", arg);
		return 0;
	}
	return -1;
}

static void flows_trailer(const struct emit *e, uint64_t total)
{
	if (!total)
		printf("no tracked flows\n");
	else if (e->filtered && !e->matched)
		printf("no flow matches (%llu tracked)\n", (unsigned long long)total);
	else if (e->shown < e->matched)
		printf("(%llu of %llu %sflows shown; --limit 0 shows all)\n",
		       (unsigned long long)e->shown, (unsigned long long)e->matched,
		       e->filtered ? "matching " : "");
}

int do_flows(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'l' },
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "state", required_argument, NULL, 's' },
		{ "contested", no_argument, NULL, 'c' },
		{ "unverified", no_argument, NULL, 'u' },
		{ "sort", required_argument, NULL, 'o' },
		RG_COMMON_LONGOPTS,
		{}
	};
	struct flow_filter ff = {};
	struct emit e = { .limit = DEFAULT_LIMIT, .ff = &ff };
	struct rg_policy pol;
	struct rg_state st;
	uint64_t total = 0;
	int c, rc, err;

	while ((c = getopt_long(argc, argv, ":" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		if (c == 'h') {
			flows_usage();
			return RC_OK;
		}
		rc = flows_opt(c, optarg, &ff, &e);
		if (rc < 0)
			return bad_opt("flows", c, argv);
		if (rc)
			return rc;
	}
	if (optind < argc)
		return rg_fail(RC_USAGE, "flows takes no arguments ('%s')", argv[optind]);
	e.filtered = ff.addr_set || ff.port_set || ff.states || ff.contested || ff.unverified;
	if ((rc = rg_state_open_cli(&st, true)))
		return rc;
	if ((err = rg_policy_read(&st, &pol))) {
		rg_state_close(&st);
		return rg_fail(RC_ERR, "cannot read the policy: %s", errstr(err));
	}
	e.now = rg_clock_now();
	e.pol = &pol;
	if (cli.json)
		e.arr = json_object_new_array();
	err = rg_flows_walk(&st, emit_wants, &total, emit, &e);
	rg_state_close(&st);
	if (!err && e.oom)
		err = -ENOMEM;
	if (!err && e.sort != SORT_NONE)
		emit_sorted(&e);
	free(e.keep);
	if (err) {
		json_object_put(e.arr);
		return rg_fail(RC_ERR, "cannot read the flow table: %s", errstr(err));
	}
	/* Without a filter or a sort, entries past the limit are only counted. */
	if (!e.filtered && e.sort == SORT_NONE)
		e.matched = total;
	if (cli.json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "total", json_u64(total));
		json_object_object_add(o, "matched", json_u64(e.matched));
		json_object_object_add(o, "shown", json_u64(e.shown));
		json_object_object_add(o, "truncated", json_object_new_boolean(e.shown < e.matched));
		json_object_object_add(o, "flows", e.arr);
		json_print(o);
	} else {
		flows_trailer(&e, total);
	}
	return RC_OK;
}
