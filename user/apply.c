// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* apply: makes the live state equal to a configuration file. The file is read and validated
 * whole first; then only what differs is changed, so applying it twice changes nothing. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cmds.h"
#include "config.h"
#include "iface.h"
#include "log.h"
#include "names.h"
#include "pindir.h"
#include "util.h"

enum act { A_KEEP, A_ATTACH, A_ROLE, A_MODE, A_PENDING, A_DETACH };
static const char *const act_names[] = { "keep", "attach", "replace", "reattach", "pending",
					 "detach" };

struct step {
	enum act act;
	char name[IF_NAMESIZE];
	uint32_t role, mode;           /* wanted */
	struct rg_iface live;          /* what is there (when there is something) */
	char detail[160];
};

/* What is pinned now. */
struct live {
	bool maps;                     /* the policy map exists */
	struct rg_iface recs[RG_MAX_IFACES];
	struct rg_policy pol;
	struct rg_flow_sizes cap;
	uint64_t ports[RG_PORT_WORDS];
	uint32_t nset[2];
	struct rg_prefix_key set[2][RG_MAX_PREFIXES];
};

struct plan {
	int nsteps;
	struct step steps[2 * RG_MAX_IFACES];
	bool resize, policy, scope;
	const char *only;              /* apply --interface: that one alone */
	struct rg_flow_sizes flows;
	struct rg_policy pol;          /* wanted, have-bits included */
	char pol_diff[1024], scope_diff[1024];
	int changes;
};

static int read_live(struct live *L)
{
	struct rg_state st;
	int rc, err;

	memset(L, 0, sizeof(*L));
	rc = rg_state_open_cli(&st, true);
	if (rc == RC_ABSENT) {
		rg_clear_error();
		rg_pol_default(&L->pol);
		L->pol.generation = 0;
		return 0;
	}
	if (rc)
		return rc;
	L->maps = true;
	L->nset[0] = L->nset[1] = RG_MAX_PREFIXES;
	if ((err = rg_policy_read(&st, &L->pol)) || (err = rg_ifaces_read(&st, L->recs)) ||
	    (err = rg_ports_read(&st, L->ports)) ||
	    (err = rg_prefixes_read(&st, RG_M_PROTECT, L->set[0], &L->nset[0])) ||
	    (err = rg_prefixes_read(&st, RG_M_EXEMPT, L->set[1], &L->nset[1]))) {
		rg_state_close(&st);
		return rg_fail(RC_ERR, "cannot read the pinned maps under %s/maps: %s", cli.pin_dir,
			       errstr(err));
	}
	rg_flow_capacity(&st, &L->cap);
	rg_state_close(&st);
	for (int s = 0; s < 2; s++)
		rg_prefixes_sort(L->set[s], L->nset[s]);
	return 0;
}

static struct step *add_step(struct plan *P, enum act a, const char *name)
{
	struct step *s = &P->steps[P->nsteps++];

	memset(s, 0, sizeof(*s));
	s->act = a;
	snprintf(s->name, sizeof(s->name), "%.15s", name);
	if (a != A_KEEP)
		P->changes++;
	return s;
}

/* One wanted interface against what is there. */
static void plan_iface(struct plan *P, const struct rg_cfg_iface *w, const struct live *L)
{
	int rec = rg_find_record(L->recs, w->name);
	struct rg_probe pr;
	struct step *s;
	enum act a;

	if (!if_nametoindex(w->name)) {
		s = add_step(P, A_PENDING, w->name);
		P->changes--; /* nothing can be done about it now */
		snprintf(s->detail, sizeof(s->detail), "no such interface now: attached when it "
			 "appears (the udev rule applies the file for it)");
	} else if (rec < 0) {
		a = A_ATTACH;
		goto add;
	} else {
		rg_iface_probe(&L->recs[rec], &pr);
		if (strcmp(pr.state, "ok"))
			a = A_ATTACH;
		else if (L->recs[rec].xdp_mode != w->mode)
			a = A_MODE;
		else if (L->recs[rec].role != w->role)
			a = A_ROLE;
		else
			a = A_KEEP;
add:
		s = add_step(P, a, w->name);
		if (rec >= 0)
			s->live = L->recs[rec];
		if (a == A_ATTACH && rec >= 0)
			snprintf(s->detail, sizeof(s->detail), "role %s, %s mode (was %s)",
				 rg_role_str(w->role), rg_xdp_mode_str(w->mode), pr.state);
		else if (a == A_ATTACH)
			snprintf(s->detail, sizeof(s->detail), "role %s, %s mode", rg_role_str(w->role),
				 rg_xdp_mode_str(w->mode));
		else if (a == A_MODE)
			snprintf(s->detail, sizeof(s->detail), "xdp mode %s -> %s (detached and "
				 "attached again: unfiltered for a moment; its counters stay)",
				 rg_xdp_mode_str(L->recs[rec].xdp_mode), rg_xdp_mode_str(w->mode));
		else if (a == A_ROLE)
			snprintf(s->detail, sizeof(s->detail), "role %s -> %s (program replaced in "
				 "place)", rg_role_str(L->recs[rec].role), rg_role_str(w->role));
	}
	s->role = w->role;
	s->mode = w->mode;
}

static bool named(const struct rg_config *c, const char *name)
{
	for (int i = 0; i < c->nifs; i++)
		if (!strncmp(c->ifs[i].name, name, IF_NAMESIZE))
			return true;
	return false;
}

/* "protect +179 -22 +198.18.0.0/15; exempt -10.0.0.0/8": what the scope change does. */
static void scope_diff(const struct rg_config *c, const struct live *L, char *buf, size_t len)
{
	size_t n = 0;
	char p[64];

	buf[0] = '\0';
	for (uint32_t q = 1; q < 65536 && n < len; q++) {
		bool a = L->ports[q >> 6] >> (q & 63) & 1, b = c->ports[q >> 6] >> (q & 63) & 1;

		if (a != b)
			n += snprintf(buf + n, len - n, "%sport %s%u", n ? " " : "", b ? "+" : "-", q);
	}
	for (int s = 0; s < 2; s++) {
		for (uint32_t i = 0; i < c->nset[s] && n < len; i++)
			if (!bsearch(&c->set[s][i], L->set[s], L->nset[s], sizeof(c->set[s][i]),
				     rg_prefix_cmp)) {
				format_prefix(&c->set[s][i], p, sizeof(p));
				n += snprintf(buf + n, len - n, "%s%s +%s", n ? " " : "",
					      s ? "exempt" : "protect", p);
			}
		for (uint32_t i = 0; i < L->nset[s] && n < len; i++)
			if (!bsearch(&L->set[s][i], c->set[s], c->nset[s], sizeof(L->set[s][i]),
				     rg_prefix_cmp)) {
				format_prefix(&L->set[s][i], p, sizeof(p));
				n += snprintf(buf + n, len - n, "%s%s -%s", n ? " " : "",
					      s ? "exempt" : "protect", p);
			}
	}
}

static void make_plan(struct plan *P, const struct rg_config *c, const struct live *L,
		      const char *only)
{
	memset(P, 0, sizeof(*P));
	P->only = only;
	for (int i = 0; i < c->nifs; i++)
		if (!only || !strcmp(c->ifs[i].name, only))
			plan_iface(P, &c->ifs[i], L);
	for (int i = 0; i < RG_MAX_IFACES && !only; i++) {
		char name[IF_NAMESIZE + 1];
		struct step *s;

		if (!rg_iface_used(&L->recs[i]))
			continue;
		snprintf(name, sizeof(name), "%.16s", L->recs[i].name);
		if (named(c, name))
			continue;
		s = add_step(P, A_DETACH, name);
		s->live = L->recs[i];
		snprintf(s->detail, sizeof(s->detail), "not named in %s", c->file);
	}
	rg_config_flows(c, &P->flows);
	/* The tables matter once an interface is wanted; a file of policy alone leaves them, and
	 * so does a hotplug (--interface), which must not empty the table under the others. */
	P->resize = !only && c->nifs && L->cap.v4 &&
		    (L->cap.v4 != P->flows.v4 || L->cap.v6 != P->flows.v6);
	P->changes += P->resize;
	rg_config_policy(c, &P->pol);
	/* apply --interface leaves the policy in force alone, unless there is none yet. */
	if (only && L->maps)
		return;
	rg_pol_diff(&L->pol, &P->pol, P->pol_diff, sizeof(P->pol_diff));
	scope_diff(c, L, P->scope_diff, sizeof(P->scope_diff));
	P->policy = *P->pol_diff || !L->maps;
	P->scope = *P->scope_diff;
	P->changes += P->policy || P->scope;
}

/* --- converging --------------------------------------------------------------------------- */

/*
 * Policy and scope as one change. The scope's have-bits say whether a set is in force, and a
 * cleared bit means "everything protected" or "nothing exempt": a bit going away is cleared
 * before its set empties, a new one set after its set fills, so no packet meets a set in
 * force but half written. Additions go in before deletions. The last write carries every knob
 * and number at once, with the generation moved by one.
 */
static int write_policy(const struct rg_config *c, const struct live *L, struct plan *P)
{
	uint32_t have = RG_P_HAVE_PORTS | RG_P_HAVE_PREFIXES | RG_P_HAVE_EXEMPT;
	struct rg_policy mid = L->pol, fin = P->pol;
	struct rg_state st;
	int err = 0;

	if ((err = rg_state_open(&st, cli.pin_dir)))
		return rg_fail(RC_ERR, "cannot open the pinned maps under %s/maps: %s", cli.pin_dir,
			       errstr(err));
	mid.bits &= ~(have & ~fin.bits);
	if (mid.bits != L->pol.bits)
		err = rg_policy_write(&st, &mid);
	if (!err)
		err = rg_ports_write(&st, L->ports, c->ports);
	for (int s = 0; s < 2 && !err; s++) {
		int map = s ? RG_M_EXEMPT : RG_M_PROTECT;

		for (uint32_t i = 0; i < c->nset[s] && !err; i++)
			err = rg_prefix_update(&st, map, &c->set[s][i], true);
		for (uint32_t i = 0; i < L->nset[s] && !err; i++)
			if (!bsearch(&L->set[s][i], c->set[s], c->nset[s], sizeof(L->set[s][i]),
				     rg_prefix_cmp))
				err = rg_prefix_update(&st, map, &L->set[s][i], false);
	}
	fin.generation = L->pol.generation + 1;
	if (!err)
		err = rg_policy_write(&st, &fin);
	rg_state_close(&st);
	if (err)
		return rg_fail(RC_ERR, "cannot write the policy and scope: %s", errstr(err));
	P->pol.generation = fin.generation;
	rg_audit("apply %s: policy and scope: %s%s%s; generation %u -> %u", c->file,
		 P->pol_diff, *P->pol_diff && *P->scope_diff ? "; " : "", P->scope_diff,
		 L->pol.generation, fin.generation);
	return 0;
}

/* Detaches what the file no longer names, and the links whose mode must change (those keep
 * their slot, so their counters stay). */
static int detach_steps(struct plan *P, enum act which)
{
	struct rg_state st;
	bool have_st = rg_state_open(&st, cli.pin_dir) == 0;
	int rc = 0;

	for (int i = 0; i < P->nsteps && !rc; i++)
		if (P->steps[i].act == which)
			rc = rg_detach_one(P->steps[i].name, have_st ? &st : NULL, which == A_DETACH);
	if (have_st)
		rg_state_close(&st);
	return rc;
}

/* The interfaces to attach or re-attach. For a check before anything changes, one whose mode
 * changes is looked at as it is now: it is detached first when the change is made. */
static int targets(const struct plan *P, struct rg_target *t, bool check)
{
	int n = 0;

	for (int i = 0; i < P->nsteps; i++) {
		const struct step *s = &P->steps[i];

		if (s->act != A_ATTACH && s->act != A_ROLE && s->act != A_MODE)
			continue;
		memset(&t[n], 0, sizeof(t[n]));
		t[n].name = s->name;
		t[n].role = s->role;
		t[n].mode = s->mode;
		t[n].role_given = true;
		t[n].mode_given = !(check && s->act == A_MODE);
		t[n].link_fd = -1;
		n++;
	}
	return n;
}

static int attach_steps(struct plan *P)
{
	struct rg_target t[RG_MAX_IFACES];
	struct rg_flow_sizes sizes, keep = {};
	int n = targets(P, t, false), done, rc;

	if (!n)
		return 0;
	/* The sizes are settled by now (made, or resized); a hotplug keeps whatever is pinned. */
	rc = rg_attach(t, n, P->only ? &keep : &P->flows, &sizes, &done);
	rg_targets_release(t, n);
	return rc;
}

static int converge(const struct rg_config *c, const struct live *L, struct plan *P)
{
	struct rg_target t[RG_MAX_IFACES];
	int n = targets(P, t, true), rc;
	struct rg_flow_sizes sizes;
	bool resized;

	/* What the kernel or another tool would refuse is found before anything changes. */
	if (n && (rc = rg_attach_check(t, n)))
		return rc;
	/* The policy goes in first, so a newly attached interface starts under the file's. */
	if (!L->maps && (rc = rg_maps_prepare(c->nifs ? RG_MAPS_ALL : RG_MAPS_POLICY, &P->flows, &sizes)))
		return rc;
	if (P->resize && (rc = rg_flows_resize(&P->flows, &resized)))
		return rc;
	if ((P->policy || P->scope) && (rc = write_policy(c, L, P)))
		return rc;
	if ((rc = detach_steps(P, A_MODE)) || (rc = attach_steps(P)))
		return rc;
	return detach_steps(P, A_DETACH);
}

/* --- output ------------------------------------------------------------------------------- */

static void print_plan(const struct plan *P, const struct live *L, bool check)
{
	const char *verb = check ? "would " : "";

	for (int i = 0; i < P->nsteps; i++) {
		const struct step *s = &P->steps[i];

		if (s->act == A_KEEP)
			continue;
		printf("%s: %s%s%s%s\n", s->name, s->act == A_PENDING ? "" : verb,
		       act_names[s->act], *s->detail ? ": " : "", s->detail);
	}
	if (P->resize)
		printf("flow tables: %sresize ipv4 %u -> %u, ipv6 %u -> %u (policy, scope and "
		       "counters kept; tracked flows start over)\n", verb, L->cap.v4, P->flows.v4,
		       L->cap.v6, P->flows.v6);
	if (P->policy)
		printf("policy: %s%s\n", verb, *P->pol_diff ? P->pol_diff : "create it");
	if (P->scope)
		printf("scope: %s%s\n", verb, P->scope_diff);
	if (!P->changes)
		printf("no changes: the live state equals the file\n");
}

static struct json_object *plan_json(const struct plan *P, const struct live *L, bool check,
				     const char *file)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_add(o, "file", json_object_new_string(file));
	json_object_object_add(o, "check", json_object_new_boolean(check));
	json_object_object_add(o, "changed", json_object_new_boolean(!check && P->changes));
	json_object_object_add(o, "changes", json_object_new_int(P->changes));
	for (int i = 0; i < P->nsteps; i++) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(P->steps[i].name));
		json_object_object_add(e, "action", json_object_new_string(act_names[P->steps[i].act]));
		json_object_object_add(e, "detail", json_object_new_string(P->steps[i].detail));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "interfaces", arr);
	json_object_object_add(o, "flow_table_resized", json_object_new_boolean(P->resize));
	json_object_object_add(o, "policy_change", json_object_new_string(P->pol_diff));
	json_object_object_add(o, "scope_change", json_object_new_string(P->scope_diff));
	json_object_object_add(o, "policy_generation",
			       json_object_new_int64(check || !(P->policy || P->scope)
							     ? L->pol.generation : P->pol.generation));
	return o;
}

static void apply_usage(void)
{
	printf("Usage: rstguard apply [--check] [--interface IFACE] [FILE] [-j] [-v] [--pin-dir DIR]\n"
	       "\n"
	       "Makes the live state equal to FILE (default %s), written by\n"
	       "'rstguard save' or by hand: 'attach', 'policy set', 'policy protect add' and\n"
	       "'policy exempt add' lines, '#' comments. Every line is validated first: on any\n"
	       "error it exits 2 with FILE:LINE: why, and nothing is changed. Then it attaches\n"
	       "what is missing, re-attaches what differs, detaches interfaces the file does not\n"
	       "name, and sets policy and scope as one change. What the file leaves out is the\n"
	       "default. Applying the same file again changes nothing. Interfaces the file names\n"
	       "that do not exist yet are left pending (exit 0).\n"
	       "  --check          print what would change, change nothing\n"
	       "  --interface IF   converge that interface only (for hotplug: the udev rule);\n"
	       "                   the policy is set too when none is in force yet\n",
	       RG_DEFAULT_CONFIG);
}

int do_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "interface", required_argument, NULL, 'i' },
		RG_COMMON_LONGOPTS,
		{}
	};
	static struct rg_config cfg;
	static struct live L;
	static struct plan P;
	const char *file = RG_DEFAULT_CONFIG, *only = NULL;
	bool check = false;
	int c, rc, lock = -1;

	while ((c = getopt_long(argc, argv, ":i:" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		switch (c) {
		case 'h':
			apply_usage();
			return RC_OK;
		case 'c':
			check = true;
			break;
		case 'i':
			only = optarg;
			break;
		default:
			return bad_opt("apply", c, argv);
		}
	}
	if (argc - optind > 1)
		return rg_fail(RC_USAGE, "apply takes one file ('%s' is one too many)", argv[optind + 1]);
	if (optind < argc)
		file = argv[optind];
	if ((rc = rg_config_read(file, &cfg)) || (rc = pin_dir_check()))
		return rc;
	if (only && !named(&cfg, only)) {
		if (!cli.json)
			printf("%s: not named in %s, nothing to do\n", only, file);
		else
			json_print(plan_json(&P, &L, check, file));
		return RC_OK;
	}
	if (!check && (lock = pin_dir_lock()) < 0)
		return RC_ERR;
	if (!check && (rc = pin_dir_ready(true)))
		goto out;
	if ((rc = read_live(&L)))
		goto out;
	make_plan(&P, &cfg, &L, only);
	if (!check && P.changes) {
		rc = converge(&cfg, &L, &P);
		if (rc)
			rg_audit("apply %s: failed: %s", file, rg_last_error());
		else
			rg_audit("apply %s%s%s: %d changes made", file, only ? " --interface " : "",
				 only ? only : "", P.changes);
	} else if (!check) {
		rg_audit("apply %s%s%s: no changes, the live state equals the file", file,
			 only ? " --interface " : "", only ? only : "");
	}
	if (rc)
		goto out;
	if (cli.json)
		json_print(plan_json(&P, &L, check, file));
	else
		print_plan(&P, &L, check);
out:
	pin_dir_unlock(lock);
	return rc;
}
