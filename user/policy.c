// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* policy show/set/protect/exempt: every change is validated whole, then written so that the
 * data plane never sees it half-applied. */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cmds.h"
#include "load.h"
#include "log.h"
#include "polkeys.h"
#include "state.h"
#include "pindir.h"
#include "util.h"

#define MAX_PREFIXES 4096

enum set_kind { SET_PROTECT, SET_EXEMPT };

static const char *set_name(enum set_kind k)
{
	return k == SET_PROTECT ? "protect" : "exempt";
}

/* Opens the pinned maps for reading; a missing pin dir is an error worth a hint. */
static int open_state(struct rg_state *st)
{
	int rc;

	if ((rc = pin_dir_check()))
		return rc;
	rc = rg_state_open_cli(st, true);
	if (rc == RC_ABSENT)
		return rg_fail(RC_ERR, "no policy stored under %s: nothing attached yet ('rstguard "
				       "attach' or 'rstguard policy set' create it)",
			       cli.pin_dir);
	return rc;
}

/* Opens the maps for a change, creating the policy maps when nothing is attached yet, and
 * takes the lock that serialises read-modify-write between concurrent commands. */
static int open_for_change(struct rg_state *st, int *lock, bool *created)
{
	char path[256];
	struct rg_flow_sizes req = {}, sizes;
	int rc, err;

	*lock = -1;
	if ((rc = pin_dir_check()))
		return rc;
	if ((*lock = pin_dir_lock()) < 0)
		return RC_ERR;
	if ((rc = pin_dir_ready(true))) {
		pin_dir_unlock(*lock);
		*lock = -1;
		return rc;
	}
	pin_path(path, sizeof(path), "maps", rg_map_names[RG_M_POLICY]);
	*created = access(path, F_OK) != 0;
	if (*created && (rc = rg_maps_prepare(RG_MAPS_POLICY, &req, &sizes))) {
		pin_dir_unlock(*lock);
		*lock = -1;
		return rc;
	}
	err = rg_state_open(st, cli.pin_dir);
	if (err) {
		pin_dir_unlock(*lock);
		*lock = -1;
		return rg_fail(RC_ERR, "cannot open the pinned maps under %s/maps: %s", cli.pin_dir,
			       errstr(err));
	}
	return 0;
}

static void close_for_change(struct rg_state *st, int lock)
{
	rg_state_close(st);
	pin_dir_unlock(lock);
}

/* --- reading and showing ------------------------------------------------------------------ */

/* Port bitmap as {"first": 8000, "last": 8080} ranges (a single port has first == last). */
static struct json_object *ports_json(const uint64_t *w)
{
	struct json_object *arr = json_object_new_array();

	for (uint32_t p = 0; p < 65536; p++) {
		uint32_t q;

		if (!(w[p >> 6] >> (p & 63) & 1))
			continue;
		for (q = p; q + 1 < 65536 && (w[(q + 1) >> 6] >> ((q + 1) & 63) & 1); q++)
			;
		{
			struct json_object *r = json_object_new_object();

			json_object_object_add(r, "first", json_object_new_int(p));
			json_object_object_add(r, "last", json_object_new_int(q));
			json_object_array_add(arr, r);
		}
		p = q;
	}
	return arr;
}

static int prefix_cmp(const void *a, const void *b)
{
	const struct rg_prefix_key *x = a, *y = b;
	int c = memcmp(x->addr, y->addr, sizeof(x->addr));

	return c ? c : (int)x->prefixlen - (int)y->prefixlen;
}

static int prefixes_json(const struct rg_state *st, int map, struct json_object **out)
{
	static struct rg_prefix_key keys[MAX_PREFIXES];
	uint32_t n = MAX_PREFIXES;
	char buf[64];
	int err = rg_prefixes_read(st, map, keys, &n);

	*out = json_object_new_array();
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	qsort(keys, n, sizeof(keys[0]), prefix_cmp);
	for (uint32_t i = 0; i < n; i++) {
		format_prefix(&keys[i], buf, sizeof(buf));
		json_object_array_add(*out, json_object_new_string(buf));
	}
	return 0;
}

static int scope_json(const struct rg_state *st, enum set_kind k, struct json_object **out)
{
	static uint64_t words[RG_PORT_WORDS];
	struct json_object *o = json_object_new_object(), *pfx;
	int err;

	if (k == SET_PROTECT) {
		err = rg_ports_read(st, words);
		if (err && err != -ENOENT)
			goto fail;
		json_object_object_add(o, "ports", ports_json(words));
	}
	err = prefixes_json(st, k == SET_PROTECT ? RG_M_PROTECT : RG_M_EXEMPT, &pfx);
	json_object_object_add(o, "prefixes", pfx);
	if (err)
		goto fail;
	*out = o;
	return 0;
fail:
	json_object_put(o);
	return rg_fail(RC_ERR, "cannot read the %s set: %s", set_name(k), errstr(err));
}

static int policy_json(const struct rg_state *st, struct json_object **out)
{
	struct json_object *o, *scope;
	struct rg_policy p;
	int err, rc;

	err = rg_policy_read(st, &p);
	if (err)
		return rg_fail(RC_ERR, "cannot read the policy: %s", errstr(err));
	o = json_object_new_object();
	rg_pol_json(&p, o);
	if ((rc = scope_json(st, SET_PROTECT, &scope))) {
		json_object_put(o);
		return rc;
	}
	json_object_object_add(o, "protect", scope);
	if ((rc = scope_json(st, SET_EXEMPT, &scope))) {
		json_object_put(o);
		return rc;
	}
	json_object_object_add(o, "exempt", scope);
	json_object_object_add(o, "policy_generation", json_object_new_int64(p.generation));
	*out = o;
	return 0;
}

static void print_list(const char *label, struct json_object *arr, const char *empty)
{
	size_t n = json_object_array_length(arr);

	printf("%s", label);
	if (!n)
		printf("%s", empty);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i), *first, *last;

		if (json_object_object_get_ex(e, "first", &first) &&
		    json_object_object_get_ex(e, "last", &last)) {
			int a = json_object_get_int(first), b = json_object_get_int(last);

			if (a == b)
				printf("%s%d", i ? ", " : "", a);
			else
				printf("%s%d-%d", i ? ", " : "", a, b);
			continue;
		}
		printf("%s%s", i ? ", " : "", json_object_get_string(e));
	}
	printf("\n");
}

static void print_scope(struct json_object *scope, enum set_kind k, const char *indent)
{
	struct json_object *v;
	char label[64];

	if (k == SET_PROTECT) {
		json_object_object_get_ex(scope, "ports", &v);
		snprintf(label, sizeof(label), "%sports     ", indent);
		print_list(label, v, "all (none listed)");
		json_object_object_get_ex(scope, "prefixes", &v);
		snprintf(label, sizeof(label), "%sprefixes  ", indent);
		print_list(label, v, "all (none listed)");
	} else {
		json_object_object_get_ex(scope, "prefixes", &v);
		snprintf(label, sizeof(label), "%sprefixes  ", indent);
		print_list(label, v, "none");
	}
}

static void print_policy(const struct rg_policy *p, struct json_object *o)
{
	struct json_object *v;

	for (int i = 0; i < RG_NKNOBS; i++)
		printf("%-10s %s\n", rg_knobs[i].key, rg_knob_value(p, i));
	printf("protect\n");
	json_object_object_get_ex(o, "protect", &v);
	print_scope(v, SET_PROTECT, "  ");
	printf("exempt\n");
	json_object_object_get_ex(o, "exempt", &v);
	print_scope(v, SET_EXEMPT, "  ");
	for (int i = 0; i < rg_nnumkeys; i++)
		printf("%-22s %u%s\n", rg_numkeys[i].key, rg_numkey_value(p, i),
		       rg_numkey_is_default(p, i) ? " (default)" : "");

	json_object_object_get_ex(o, "policy_generation", &v);
	printf("generation %lld\n", (long long)json_object_get_int64(v));
}

static int show_policy(const struct rg_state *st)
{
	struct json_object *o = NULL;
	struct rg_policy p;
	int rc = policy_json(st, &o);

	if (rc)
		return rc;
	if (cli.json) {
		json_print(o);
	} else {
		rg_policy_read(st, &p);
		print_policy(&p, o);
		json_object_put(o);
	}
	return RC_OK;
}

static int policy_show(int n, char **args)
{
	struct rg_state st;
	int rc;

	if (n)
		return rg_fail(RC_USAGE, "policy show takes no arguments ('%s')", args[0]);
	if ((rc = open_state(&st)))
		return rc;
	rc = show_policy(&st);
	rg_state_close(&st);
	return rc;
}

/* --- policy set --------------------------------------------------------------------------- */

static int policy_set(int n, char **args)
{
	struct rg_pol_edit e = {};
	struct rg_policy p, before;
	struct rg_state st;
	bool created;
	char diff[1024];
	int rc, lock, err;

	if (!n)
		return rg_fail(RC_USAGE, "policy set needs KEY=VALUE arguments; see 'rstguard policy "
					 "--help'");
	/* Everything is parsed before anything is opened: one bad part changes nothing. */
	for (int i = 0; i < n; i++)
		if ((rc = rg_pol_parse(args[i], &e)))
			return rc;

	if ((rc = open_for_change(&st, &lock, &created)))
		return rc;
	err = rg_policy_read(&st, &p);
	if (err) {
		rc = rg_fail(RC_ERR, "cannot read the policy: %s", errstr(err));
		goto out;
	}
	before = p;
	rg_pol_apply(&e, &p);
	p.generation++;
	/* One element, one update: bits, timeouts and generation land together. */
	err = rg_policy_write(&st, &p);
	if (err) {
		rc = rg_fail(RC_ERR, "cannot write the policy: %s", errstr(err));
		goto out;
	}
	rg_pol_diff(&before, &p, diff, sizeof(diff));
	rg_audit("policy set: %s; generation %u -> %u", *diff ? diff : "no value changed",
		 before.generation, p.generation);
	if (created)
		pr_info("nothing attached yet: the policy applies from the first attach\n");
	if (cli.json)
		rc = show_policy(&st);
	else
		printf("policy generation %u\n", p.generation);
out:
	close_for_change(&st, lock);
	return rc;
}

/* --- protect / exempt --------------------------------------------------------------------- */

struct item {
	bool is_port;
	uint32_t lo, hi;
	struct rg_prefix_key key;
	const char *text;
};

static int parse_items(enum set_kind k, int n, char **args, struct item *items)
{
	for (int i = 0; i < n; i++) {
		const char *why;

		items[i].text = args[i];
		if (strchr(args[i], '.') || strchr(args[i], ':')) {
			if (parse_prefix(args[i], &items[i].key, &why))
				return rg_fail(RC_USAGE, "invalid prefix '%s': %s", args[i], why);
			continue;
		}
		if (k == SET_EXEMPT)
			return rg_fail(RC_USAGE, "invalid prefix '%s': exempt takes IPv4 or IPv6 "
						 "prefixes (ports belong to 'protect')",
				       args[i]);
		if (parse_port_range(args[i], &items[i].lo, &items[i].hi))
			return rg_fail(RC_USAGE,
				       "invalid port or prefix '%s': a port 1-65535, a range like "
				       "8000-8080, or a prefix like 198.18.0.0/15",
				       args[i]);
		items[i].is_port = true;
	}
	return 0;
}

static bool port_set(const uint64_t *w, uint32_t p)
{
	return w[p >> 6] >> (p & 63) & 1;
}

static bool have_prefix(const struct rg_prefix_key *keys, uint32_t n, const struct rg_prefix_key *k)
{
	for (uint32_t i = 0; i < n; i++)
		if (keys[i].prefixlen == k->prefixlen && !memcmp(keys[i].addr, k->addr, 16))
			return true;
	return false;
}

static void audit_scope(enum set_kind k, bool add, int n, char **args, uint32_t gen)
{
	char buf[1024];
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && len < sizeof(buf); i++)
		len += snprintf(buf + len, sizeof(buf) - len, " %s", args[i]);
	rg_audit("policy %s %s%s; generation %u -> %u", set_name(k), add ? "add" : "del", buf,
		 gen - 1, gen);
}

static int scope_change(enum set_kind k, bool add, int n, char **args)
{
	static uint64_t oldw[RG_PORT_WORDS], neww[RG_PORT_WORDS];
	static struct rg_prefix_key keys[MAX_PREFIXES];
	int map = k == SET_PROTECT ? RG_M_PROTECT : RG_M_EXEMPT;
	uint32_t nkeys = MAX_PREFIXES, nnew = 0, pfx_bit, bits_before;
	bool ports_empty = true, created, shrinking;
	struct item *items;
	struct rg_policy p;
	struct rg_state st;
	int rc, lock, err;
	char buf[64];

	if (!n)
		return rg_fail(RC_USAGE, "policy %s %s needs at least one %s", set_name(k),
			       add ? "add" : "del", k == SET_PROTECT ? "port or prefix" : "prefix");
	items = calloc(n, sizeof(*items));
	if (!items)
		return rg_fail(RC_ERR, "out of memory");
	if ((rc = parse_items(k, n, args, items))) {
		free(items);
		return rc;
	}
	if (!add && pin_dir_ready(false)) {
		free(items);
		return rg_fail(RC_USAGE, "the %s set is empty: nothing to delete", set_name(k));
	}
	if ((rc = open_for_change(&st, &lock, &created))) {
		free(items);
		return rc;
	}
	if ((err = rg_policy_read(&st, &p)) || (err = rg_ports_read(&st, oldw)) ||
	    (err = rg_prefixes_read(&st, map, keys, &nkeys))) {
		rc = rg_fail(RC_ERR, "cannot read the %s set: %s", set_name(k), errstr(err));
		goto out;
	}
	memcpy(neww, oldw, sizeof(neww));

	/* Validate against the current sets before changing either of them. */
	for (int i = 0; i < n; i++) {
		struct item *it = &items[i];

		if (it->is_port) {
			for (uint32_t q = it->lo; q <= it->hi; q++) {
				if (!add && !port_set(oldw, q)) {
					rc = rg_fail(RC_USAGE, "port %u is not in the protect set", q);
					goto out;
				}
				if (add)
					neww[q >> 6] |= 1ull << (q & 63);
				else
					neww[q >> 6] &= ~(1ull << (q & 63));
			}
			continue;
		}
		format_prefix(&it->key, buf, sizeof(buf));
		if (!add && !have_prefix(keys, nkeys, &it->key)) {
			rc = rg_fail(RC_USAGE, "%s is not in the %s set", buf, set_name(k));
			goto out;
		}
		if (add && !have_prefix(keys, nkeys, &it->key)) {
			bool dup = false;

			for (int j = 0; j < i; j++)
				dup |= !items[j].is_port && !prefix_cmp(&items[j].key, &it->key);
			nnew += !dup;
		}
	}
	if (add && nkeys + nnew > MAX_PREFIXES) {
		rc = rg_fail(RC_USAGE, "the %s set holds at most %d prefixes (%u now, %u new)",
			     set_name(k), MAX_PREFIXES, nkeys, nnew);
		goto out;
	}
	for (uint32_t i = 0; i < RG_PORT_WORDS; i++)
		ports_empty &= !neww[i];

	/* The have-bits say whether a set is in force. Clearing one means "all protected" (or
	 * "nothing exempt"): clear it before a set empties, set it after a set fills, so no
	 * packet ever meets a set that is in force but half written. */
	bits_before = p.bits;
	pfx_bit = k == SET_PROTECT ? RG_P_HAVE_PREFIXES : RG_P_HAVE_EXEMPT;
	if (!add) {
		uint32_t left = nkeys;

		for (int i = 0; i < n; i++)
			if (!items[i].is_port) {
				for (int j = 0; j < i; j++)
					if (!items[j].is_port && !prefix_cmp(&items[j].key, &items[i].key))
						goto dup;
				left--;
dup:;
			}
		if (!left)
			p.bits &= ~pfx_bit;
		if (k == SET_PROTECT && ports_empty)
			p.bits &= ~RG_P_HAVE_PORTS;
	}
	shrinking = p.bits != bits_before;
	p.generation++;
	if (shrinking && (err = rg_policy_write(&st, &p))) {
		rc = rg_fail(RC_ERR, "cannot write the policy: %s", errstr(err));
		goto out;
	}
	if (k == SET_PROTECT && (err = rg_ports_write(&st, oldw, neww))) {
		rc = rg_fail(RC_ERR, "cannot update the protected ports: %s", errstr(err));
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (items[i].is_port)
			continue;
		err = rg_prefix_update(&st, map, &items[i].key, add);
		if (err) {
			rc = rg_fail(RC_ERR, "cannot %s %s: %s", add ? "add" : "delete", items[i].text,
				     errstr(err));
			goto out;
		}
	}
	if (add) {
		for (int i = 0; i < n; i++)
			p.bits |= items[i].is_port ? RG_P_HAVE_PORTS : pfx_bit;
	}
	if (!shrinking && (err = rg_policy_write(&st, &p))) {
		rc = rg_fail(RC_ERR, "cannot write the policy: %s", errstr(err));
		goto out;
	}
	audit_scope(k, add, n, args, p.generation);
	if (created)
		pr_info("nothing attached yet: the policy applies from the first attach\n");
	rc = RC_OK;
	{
		struct json_object *o;

		if ((rc = scope_json(&st, k, &o)))
			goto out;
		json_object_object_add(o, "policy_generation", json_object_new_int64(p.generation));
		if (cli.json) {
			json_print(o);
		} else {
			print_scope(o, k, "");
			printf("generation %u\n", p.generation);
			json_object_put(o);
		}
	}
out:
	close_for_change(&st, lock);
	free(items);
	return rc;
}

static int scope_list(enum set_kind k, int n, char **args)
{
	struct json_object *o;
	struct rg_state st;
	int rc;

	if (n)
		return rg_fail(RC_USAGE, "policy %s list takes no arguments ('%s')", set_name(k),
			       args[0]);
	if ((rc = open_state(&st)))
		return rc;
	rc = scope_json(&st, k, &o);
	rg_state_close(&st);
	if (rc)
		return rc;
	if (cli.json) {
		json_print(o);
	} else {
		print_scope(o, k, "");
		json_object_put(o);
	}
	return RC_OK;
}

static int policy_scope(enum set_kind k, int n, char **args)
{
	if (!n || !strcmp(args[0], "list"))
		return scope_list(k, n ? n - 1 : 0, args + 1);
	if (!strcmp(args[0], "add"))
		return scope_change(k, true, n - 1, args + 1);
	if (!strcmp(args[0], "del") || !strcmp(args[0], "delete"))
		return scope_change(k, false, n - 1, args + 1);
	return rg_fail(RC_USAGE, "unknown 'policy %s %s': use add, del or list", set_name(k),
		       args[0]);
}

static void policy_usage(void)
{
	char keys[512];

	rg_pol_keys(keys, sizeof(keys));
	printf("Usage: rstguard policy show [-j]\n"
	       "       rstguard policy keys [-j]   (every key and its values)\n"
	       "       rstguard policy set KEY=VALUE...\n"
	       "       rstguard policy protect add|del|list PORT|RANGE|PREFIX...\n"
	       "       rstguard policy exempt add|del|list PREFIX...\n"
	       "       (all accept -j, -v, --pin-dir DIR)\n"
	       "\n"
	       "Policy is shared by every attached interface and changes live, without a reload.\n"
	       "A 'set' with any invalid part changes nothing and exits 2.\n"
	       "\n"
	       "  mode=enforce|monitor     monitor counts what would be dropped, drops nothing\n"
	       "  inexact=drop|pass|challenge\n"
	       "                           in-window RST not at RCV.NXT; challenge drops it and\n"
	       "                           answers with the receiver's challenge ACK (RFC 5961)\n"
	       "  challenge_interval_ms=MS at most one challenge ACK per flow and direction\n"
	       "                           every MS (1-60000, or 'default': 500)\n"
	       "  unknown=drop|pass        RST for a flow with no socket and no tracked state\n"
	       "  timewait=accept|drop     exact RST hitting TIME-WAIT (drop: RFC 1337)\n"
	       "  unparsed=drop|pass       RST-capable packets the parser cannot see into\n"
	       "  timeout.STATE=SECONDS    flow timeout per state (or 'default')\n"
	       "Every key: %s\n"
	       "\n"
	       "Scope: when ports or prefixes are protected, only RSTs to or from them are\n"
	       "filtered (empty means all); RSTs to or from an exempt prefix are never filtered.\n"
	       "Prefixes are IPv4 or IPv6 with no host bits set (198.18.0.0/15, fd00::/8); a bare\n"
	       "address is a host route.\n",
	       keys);
}

int do_policy(int argc, char **argv)
{
	static const struct option opts[] = { RG_COMMON_LONGOPTS, {} };
	const char *sub;
	char **args;
	int c, n;

	while ((c = getopt_long(argc, argv, ":" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		if (c == 'h') {
			policy_usage();
			return RC_OK;
		}
		return bad_opt("policy", c, argv);
	}
	/* getopt has moved the options out of the way: the rest is SUBCOMMAND ARGS... */
	n = argc - optind;
	args = argv + optind;
	sub = n ? args[0] : "show";
	if (n) {
		n--;
		args++;
	}
	if (!strcmp(sub, "show"))
		return policy_show(n, args);
	if (!strcmp(sub, "keys")) {
		if (n)
			return rg_fail(RC_USAGE, "policy keys takes no arguments ('%s')", args[0]);
		rg_pol_list(cli.json);
		return RC_OK;
	}
	if (!strcmp(sub, "set"))
		return policy_set(n, args);
	if (!strcmp(sub, "protect"))
		return policy_scope(SET_PROTECT, n, args);
	if (!strcmp(sub, "exempt"))
		return policy_scope(SET_EXEMPT, n, args);
	return rg_fail(RC_USAGE, "unknown 'policy %s': use show, set, protect, exempt or keys", sub);
}
