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
	uint16_t port[2];
	struct rg_flow f;
};

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

/* One entry of a table as the map layer hands it over, as text and numbers to print. */
static void view_of(const void *key, bool v6, const struct rg_flow *f, struct flow_view *v)
{
	const struct rg_flow_key4 *k4 = key;
	const struct rg_flow_key6 *k6 = key;

	v->v6 = v6;
	v->f = *f;
	for (int i = 0; i < 2; i++) {
		format_addr(v6 ? (const void *)k6->addr[i] : (const void *)&k4->addr[i], v6,
			    v->addr[i], sizeof(v->addr[i]));
		v->port[i] = ntohs(v6 ? k6->port[i] : k4->port[i]);
	}
}

struct emit {
	struct json_object *arr;
	uint32_t now;
	const struct rg_policy *pol;
	uint64_t shown;
};

static void emit(const void *key, bool v6, const struct rg_flow *f, void *arg)
{
	struct emit *e = arg;
	struct flow_view view, *v = &view;

	view_of(key, v6, f, &view);
	e->shown++;
	if (e->arr)
		json_object_array_add(e->arr, flow_json(v, e->now, e->pol));
	else
		flow_print(v, e->now, e->pol);
}

static void flows_usage(void)
{
	printf("Usage: rstguard flows [--limit N] [-j] [-v] [--pin-dir DIR]\n"
	       "\n"
	       "Lists the shared flow table (gateway and both roles): endpoints, derived state,\n"
	       "age, and per direction the highest sequence end sent, the last ACK sent, the\n"
	       "largest window, the window scale and the ISN. An RST from one side is exact when\n"
	       "its sequence lies between the other side's ack and its own seq_end.\n"
	       "--limit N shows at most N flows (default %d, 0 for all); the total is counted.\n",
	       DEFAULT_LIMIT);
}

int do_flows(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'l' },
		RG_COMMON_LONGOPTS,
		{}
	};
	struct emit e = {};
	struct rg_policy pol;
	struct rg_state st;
	uint32_t limit = DEFAULT_LIMIT;
	uint64_t total = 0;
	int c, rc, err;

	while ((c = getopt_long(argc, argv, ":" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		switch (c) {
		case 'h':
			flows_usage();
			return RC_OK;
		case 'l':
			if (parse_u32(optarg, 0, UINT32_MAX, &limit))
				return rg_fail(RC_USAGE, "invalid --limit '%s': a count, 0 for all",
					       optarg);
			break;
		default:
			return bad_opt("flows", c, argv);
		}
	}
	if (optind < argc)
		return rg_fail(RC_USAGE, "flows takes no arguments ('%s')", argv[optind]);
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
	err = rg_flows_walk(&st, limit, &total, emit, &e);
	rg_state_close(&st);
	if (err) {
		json_object_put(e.arr);
		return rg_fail(RC_ERR, "cannot read the flow table: %s", errstr(err));
	}
	if (cli.json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "total", json_u64(total));
		json_object_object_add(o, "shown", json_u64(e.shown));
		json_object_object_add(o, "truncated", json_object_new_boolean(e.shown < total));
		json_object_object_add(o, "flows", e.arr);
		json_print(o);
	} else if (!total) {
		printf("no tracked flows\n");
	} else if (e.shown < total) {
		printf("(%llu of %llu flows shown; --limit 0 shows all)\n",
		       (unsigned long long)e.shown, (unsigned long long)total);
	}
	return RC_OK;
}
