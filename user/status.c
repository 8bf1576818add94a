// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* status: what is attached where, in what state, and whether all of it is healthy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "iface.h"
#include "log.h"
#include "names.h"
#include "pindir.h"
#include "schema.h"
#include "util.h"

struct iface_status {
	struct rg_iface rec;
	uint32_t slot;
	struct rg_probe p;
};

struct status {
	bool attached;
	struct rg_policy pol;
	struct rg_flow_sizes cap;
	uint64_t entries[2];
	int ns, unhealthy;
	struct iface_status s[RG_MAX_IFACES];
};

static int read_status(struct status *S)
{
	struct rg_iface recs[RG_MAX_IFACES];
	struct rg_state st;
	int rc, err;

	rc = rg_state_open_cli(&st, true);
	if (rc == RC_ABSENT) {
		rg_clear_error();
		return 0;
	}
	if (rc)
		return rc;
	S->attached = true;
	if ((err = rg_policy_read(&st, &S->pol)) || (err = rg_ifaces_read(&st, recs))) {
		rg_state_close(&st);
		return rg_fail(RC_ERR, "cannot read the pinned maps: %s", errstr(err));
	}
	rg_flow_capacity(&st, &S->cap);
	rg_flows_count(&st, &S->entries[0], &S->entries[1]);
	rg_state_close(&st);
	for (int i = 0; i < RG_MAX_IFACES; i++) {
		struct iface_status *s = &S->s[S->ns];

		if (!rg_iface_used(&recs[i]))
			continue;
		s->rec = recs[i];
		s->slot = i;
		rg_iface_probe(&s->rec, &s->p);
		if (strcmp(s->p.state, "ok"))
			S->unhealthy++;
		S->ns++;
	}
	return 0;
}

static struct json_object *iface_status_json(const struct iface_status *s)
{
	struct json_object *e = rg_json_iface(&s->rec, s->slot);
	char when[64];

	format_time_ns(s->rec.attached_ns, true, when, sizeof(when));
	json_object_object_add(e, "prog_id", json_object_new_int64(s->p.link_prog_id));
	json_object_object_add(e, "l3", json_object_new_boolean(s->rec.l3));
	json_object_object_add(e, "attached_since", json_object_new_string(when));
	json_object_object_add(e, "attached_since_unix_seconds",
			       json_object_new_int64(s->rec.attached_ns / 1000000000ull));
	json_object_object_add(e, "attach", json_object_new_string("bpf_link"));
	json_object_object_add(e, "runs", json_object_new_string(s->p.runs));
	json_object_object_add(e, "dispatcher", json_object_new_boolean(!strncmp(s->p.runs, "libxdp", 6)));
	json_object_object_add(e, "state", json_object_new_string(s->p.state));
	return e;
}

static void print_json(const struct status *S)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_add(o, "pin_dir", json_object_new_string(cli.pin_dir));
	json_object_object_add(o, "attach", json_object_new_string("bpf_link"));
	json_object_object_add(o, "healthy", json_object_new_boolean(!S->unhealthy));
	json_object_object_add(o, "policy_generation",
			       S->attached ? json_object_new_int64(S->pol.generation) : NULL);
	json_object_object_add(o, "flow_table", rg_json_flow_table(&S->cap, S->entries));
	/* State, not policy: the policy holds the period's length, the table's age decides. */
	json_object_object_add(o, "learning_remaining_seconds",
			       S->attached ? json_object_new_int64(rg_learning_left(&S->pol)) : NULL);
	for (int i = 0; i < S->ns; i++)
		json_object_array_add(arr, iface_status_json(&S->s[i]));
	json_object_object_add(o, "interfaces", arr);
	json_print(o);
}

static void print_text(const struct status *S)
{
	char when[64];

	printf("pin dir      %s\n", cli.pin_dir);
	if (!S->attached) {
		printf("nothing attached\n");
		return;
	}
	printf("policy       generation %u ('rstguard policy show' for details)\n", S->pol.generation);
	printf("flow table   IPv4 %llu/%u, IPv6 %llu/%u, shared by all interfaces\n",
	       (unsigned long long)S->entries[0], S->cap.v4, (unsigned long long)S->entries[1],
	       S->cap.v6);
	if (rg_learning_left(&S->pol))
		printf("learning     %u s left: RSTs of flows not seen yet pass as 'learning'\n",
		       rg_learning_left(&S->pol));
	printf("attach       one pinned bpf_link per interface (%s/links)\n", cli.pin_dir);
	if (!S->ns) {
		printf("no interfaces attached\n");
		return;
	}
	printf("\n%-15s %4s %-8s %-6s %6s %-3s %-23s %-8s %s\n", "IFACE", "SLOT", "ROLE", "MODE",
	       "PROG", "L3", "ATTACHED SINCE", "RUNS", "STATE");
	for (int i = 0; i < S->ns; i++) {
		const struct iface_status *s = &S->s[i];

		format_time_ns(s->rec.attached_ns, false, when, sizeof(when));
		printf("%-15.16s %4u %-8s %-6s %6u %-3s %-23s %-8s %s\n", s->rec.name, s->slot,
		       rg_role_str(s->rec.role), rg_xdp_mode_str(s->rec.xdp_mode), s->p.link_prog_id,
		       s->rec.l3 ? "yes" : "no", when, s->p.runs, s->p.state);
	}
}

/* The interfaces that are not ok, for the error line: "eth1 (no-link), eth2 (elsewhere)". */
static int unhealthy(const struct status *S)
{
	char buf[512];
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < S->ns && n < sizeof(buf); i++)
		if (strcmp(S->s[i].p.state, "ok"))
			n += snprintf(buf + n, sizeof(buf) - n, "%s%.16s (%s)", n ? ", " : "",
				      S->s[i].rec.name, S->s[i].p.state);
	return rg_fail(RC_UNHEALTHY, "not ok: %s", buf);
}

static void status_usage(void)
{
	printf("Usage: rstguard status [--check] [-j] [-v] [--pin-dir DIR]\n"
	       "\n"
	       "Shows each attached interface (role, XDP mode, program id, attached since, whether\n"
	       "it runs alone or under a libxdp dispatcher, state), the shared flow table's fill\n"
	       "and the policy generation. Exits 1 when an interface is not ok.\n"
	       "--check  prints nothing; exits 0 only when something is attached and every\n"
	       "         interface is ok, 1 otherwise (for scripts and monitors)\n");
}

int do_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'c' },
		RG_COMMON_LONGOPTS,
		{}
	};
	static struct status S;
	bool check = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, ":" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		switch (c) {
		case 'h':
			status_usage();
			return RC_OK;
		case 'c':
			check = true;
			break;
		default:
			return bad_opt("status", c, argv);
		}
	}
	if (optind < argc)
		return rg_fail(RC_USAGE, "status takes no arguments ('%s')", argv[optind]);
	if ((rc = read_status(&S)))
		return rc;
	if (check) {
		if (!S.attached || !S.ns)
			return rg_fail(RC_ERR, "nothing attached under %s", cli.pin_dir);
		return S.unhealthy ? unhealthy(&S) : RC_OK;
	}
	if (cli.json)
		print_json(&S);
	else
		print_text(&S);
	return S.unhealthy ? unhealthy(&S) : RC_OK;
}
