// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* policy show/set/protect/exempt: every change is validated whole, then written so that the
 * data plane never sees it half-applied. */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "load.h"
#include "log.h"
#include "state.h"
#include "pindir.h"
#include "util.h"

#define MAX_PREFIXES 4096

static const uint32_t default_timeouts[RG_ST_MAX] = RG_TIMEOUTS_DEFAULT;

/* The challenge-ACK interval: a key of its own, milliseconds; never 0 (never unlimited). */
#define CHALLENGE_KEY "challenge_interval_ms"
#define CHALLENGE_MS_MAX 60000

enum set_kind { SET_PROTECT, SET_EXEMPT };

static const char *set_name(enum set_kind k)
{
	return k == SET_PROTECT ? "protect" : "exempt";
}

/* Opens the pinned maps for reading; a missing pin dir is an error worth a hint. */
static int open_state(struct rg_state *st)
{
	int err, rc;

	if ((rc = pin_dir_check()))
		return rc;
	if (pin_dir_ready(false))
		return rg_fail(RC_ERR, "no policy stored under %s: nothing attached yet ('rstguard "
				       "attach' or 'rstguard policy set' create it)",
			       cli.pin_dir);
	err = rg_state_open(st, cli.pin_dir);
	if (err == -ENOENT)
		return rg_fail(RC_ERR, "no policy stored under %s/maps", cli.pin_dir);
	if (err)
		return rg_fail(RC_ERR, "cannot open the pinned maps under %s/maps: %s", cli.pin_dir,
			       errstr(err));
	return 0;
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
	pin_path(path, sizeof(path), "maps", "rg_policy");
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

/* Port bitmap as "179", "8000-8080" items. */
static struct json_object *ports_json(const uint64_t *w)
{
	struct json_object *arr = json_object_new_array();
	char buf[16];

	for (uint32_t p = 0; p < 65536; p++) {
		uint32_t q;

		if (!(w[p >> 6] >> (p & 63) & 1))
			continue;
		for (q = p; q + 1 < 65536 && (w[(q + 1) >> 6] >> ((q + 1) & 63) & 1); q++)
			;
		if (q == p)
			snprintf(buf, sizeof(buf), "%u", p);
		else
			snprintf(buf, sizeof(buf), "%u-%u", p, q);
		json_object_array_add(arr, json_object_new_string(buf));
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
	struct json_object *o, *t, *scope;
	struct rg_policy p;
	int err, rc;

	err = rg_policy_read(st, &p);
	if (err)
		return rg_fail(RC_ERR, "cannot read the policy: %s", errstr(err));
	o = json_object_new_object();
	for (size_t i = 0; i < RG_NKNOBS; i++)
		json_object_object_add(o, rg_knobs[i].key,
				       json_object_new_string(rg_knob_value(&rg_knobs[i], p.bits)));
	json_object_object_add(o, "challenge_interval_ms",
			       json_object_new_int64(rg_policy_challenge_ms(&p)));
	t = json_object_new_object();
	for (int s = 1; s < RG_ST_MAX; s++)
		json_object_object_add(t, rg_state_names[s],
				       json_object_new_int64(rg_policy_timeout(&p, s)));
	json_object_object_add(o, "timeouts", t);
	json_object_object_add(o, "learning_seconds", json_object_new_int64(p.learning));
	json_object_object_add(o, "learning_remaining_seconds",
			       json_object_new_int64(rg_learning_left(&p)));
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
	json_object_object_add(o, "generation", json_object_new_int64(p.generation));
	json_object_object_add(o, "bits", json_object_new_int64(p.bits));
	*out = o;
	return 0;
}

static void print_list(const char *label, struct json_object *arr, const char *empty)
{
	size_t n = json_object_array_length(arr);

	printf("%s", label);
	if (!n)
		printf("%s", empty);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", json_object_get_string(json_object_array_get_idx(arr, i)));
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

static void print_policy(struct json_object *o)
{
	struct json_object *v, *t;

	for (size_t i = 0; i < RG_NKNOBS; i++) {
		json_object_object_get_ex(o, rg_knobs[i].key, &v);
		printf("%-10s %s\n", rg_knobs[i].key, json_object_get_string(v));
	}
	json_object_object_get_ex(o, "learning_seconds", &v);
	printf("%-10s %llds", "learning", (long long)json_object_get_int64(v));
	json_object_object_get_ex(o, "learning_remaining_seconds", &t);
	if (json_object_get_int64(t))
		printf(" (%llds left)", (long long)json_object_get_int64(t));
	printf("\n");
	json_object_object_get_ex(o, "challenge_interval_ms", &v);
	printf("challenge_interval_ms %lld%s\n", (long long)json_object_get_int64(v),
	       json_object_get_int64(v) == RG_CHALLENGE_MS_DEFAULT ? " (default)" : "");
	printf("protect\n");
	json_object_object_get_ex(o, "protect", &v);
	print_scope(v, SET_PROTECT, "  ");
	printf("exempt\n");
	json_object_object_get_ex(o, "exempt", &v);
	print_scope(v, SET_EXEMPT, "  ");
	printf("timeouts\n");
	json_object_object_get_ex(o, "timeouts", &t);
	json_object_object_foreach(t, key, val) {
		int s;

		for (s = 1; s < RG_ST_MAX && strcmp(rg_state_names[s], key); s++)
			;
		printf("  %-12s %llds%s\n", key, (long long)json_object_get_int64(val),
		       s < RG_ST_MAX && (uint32_t)json_object_get_int64(val) == default_timeouts[s]
			       ? " (default)" : "");
	}
	json_object_object_get_ex(o, "generation", &v);
	printf("generation %lld\n", (long long)json_object_get_int64(v));
}

static int show_policy(const struct rg_state *st)
{
	struct json_object *o;
	int rc = policy_json(st, &o);

	if (rc)
		return rc;
	if (cli.json) {
		json_print(o);
	} else {
		print_policy(o);
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

static int find_state(const char *name)
{
	for (int s = 1; s < RG_ST_MAX; s++)
		if (!strcmp(name, rg_state_names[s]))
			return s;
	return -1;
}

static void state_list(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int s = 1; s < RG_ST_MAX && n < len; s++)
		n += snprintf(buf + n, len - n, "%s%s", s > 1 ? ", " : "", rg_state_names[s]);
}

static int policy_set(int n, char **args)
{
	uint32_t set_mask = 0, set_val = 0, tmo[RG_ST_MAX] = {}, tmo_given = 0, v, learning = 0;
	uint32_t chal_ms = 0;
	bool seen_knob[RG_NKNOBS] = {}, created, learning_given = false, chal_given = false;
	char vals[64];
	struct rg_policy p;
	struct rg_state st;
	char states[128];
	int rc, lock, err;

	if (!n)
		return rg_fail(RC_USAGE, "policy set needs KEY=VALUE arguments; see 'rstguard policy "
					 "--help'");
	/* Everything is parsed before anything is opened: one bad part changes nothing. */
	for (int i = 0; i < n; i++) {
		char *eq = strchr(args[i], '=');
		const char *val;
		size_t klen;
		size_t k;

		if (!eq || eq == args[i])
			return rg_fail(RC_USAGE, "'%s' is not KEY=VALUE", args[i]);
		klen = eq - args[i];
		val = eq + 1;
		for (k = 0; k < RG_NKNOBS; k++)
			if (strlen(rg_knobs[k].key) == klen && !strncmp(args[i], rg_knobs[k].key, klen))
				break;
		if (k < RG_NKNOBS) {
			if (seen_knob[k])
				return rg_fail(RC_USAGE, "'%s' given twice", rg_knobs[k].key);
			seen_knob[k] = true;
			set_mask |= rg_knobs[k].bit | rg_knobs[k].bit2;
			if (rg_knob_parse(&rg_knobs[k], val, &v))
				return rg_fail(RC_USAGE, "invalid value '%s' for %s: use %s", val,
					       rg_knobs[k].key,
					       rg_knob_values(&rg_knobs[k], vals, sizeof(vals)));
			set_val |= v;
			continue;
		}
		if (klen == strlen(CHALLENGE_KEY) && !strncmp(args[i], CHALLENGE_KEY, klen)) {
			if (chal_given)
				return rg_fail(RC_USAGE, "'%s' given twice", CHALLENGE_KEY);
			if (!strcmp(val, "default"))
				v = 0;
			else if (parse_u32(val, 1, CHALLENGE_MS_MAX, &v))
				return rg_fail(RC_USAGE,
					       "invalid %s '%s': milliseconds from 1 to %u, or "
					       "'default' (%u)",
					       CHALLENGE_KEY, val, CHALLENGE_MS_MAX,
					       RG_CHALLENGE_MS_DEFAULT);
			chal_given = true;
			chal_ms = v;
			continue;
		}
		if (klen == 8 && !strncmp(args[i], "learning", 8)) {
			if (learning_given)
				return rg_fail(RC_USAGE, "'learning' given twice");
			if (!strcmp(val, "default"))
				learning = RG_LEARNING_DEFAULT;
			else if (parse_u32(val, 0, RG_LEARNING_MAX, &learning))
				return rg_fail(RC_USAGE,
					       "invalid learning '%s': seconds from 0 (off) to %u, or "
					       "'default'", val, RG_LEARNING_MAX);
			learning_given = true;
			continue;
		}
		if (klen > 8 && !strncmp(args[i], "timeout.", 8)) {
			char name[32];
			int s;

			snprintf(name, sizeof(name), "%.*s", (int)(klen - 8), args[i] + 8);
			s = find_state(name);
			if (s < 0) {
				state_list(states, sizeof(states));
				return rg_fail(RC_USAGE, "unknown flow state '%s' in '%s': use one of %s",
					       name, args[i], states);
			}
			if (tmo_given & (1u << s))
				return rg_fail(RC_USAGE, "'timeout.%s' given twice", name);
			if (!strcmp(val, "default"))
				v = default_timeouts[s];
			else if (parse_u32(val, 1, UINT32_MAX, &v))
				return rg_fail(RC_USAGE,
					       "invalid timeout '%s' for %s: seconds from 1 to %u, or "
					       "'default'",
					       val, name, UINT32_MAX);
			tmo_given |= 1u << s;
			tmo[s] = v;
			continue;
		}
		state_list(states, sizeof(states));
		return rg_fail(RC_USAGE,
			       "unknown policy key '%.*s': use mode, inexact, unknown, timewait, "
			       "unparsed, learning, " CHALLENGE_KEY " or timeout.STATE (%s)",
			       (int)klen, args[i], states);
	}

	if ((rc = open_for_change(&st, &lock, &created)))
		return rc;
	err = rg_policy_read(&st, &p);
	if (err) {
		rc = rg_fail(RC_ERR, "cannot read the policy: %s", errstr(err));
		goto out;
	}
	p.bits = (p.bits & ~set_mask) | set_val;
	for (int s = 1; s < RG_ST_MAX; s++)
		if (tmo_given & (1u << s))
			p.timeout[s] = tmo[s];
	if (learning_given)
		p.learning = learning;
	if (chal_given)
		p.challenge_ms = chal_ms;
	p.generation++;
	/* One element, one update: bits, timeouts and generation land together. */
	err = rg_policy_write(&st, &p);
	if (err) {
		rc = rg_fail(RC_ERR, "cannot write the policy: %s", errstr(err));
		goto out;
	}
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

static int write_port_words(const struct rg_state *st, const uint64_t *old, const uint64_t *new)
{
	for (uint32_t i = 0; i < RG_PORT_WORDS; i++)
		if (old[i] != new[i] && bpf_map_update_elem(st->fd[RG_M_PORTS], &i, &new[i], BPF_ANY))
			return -errno;
	return 0;
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
	uint8_t one = 1;
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
	if (k == SET_PROTECT && (err = write_port_words(&st, oldw, neww))) {
		rc = rg_fail(RC_ERR, "cannot update the protected ports: %s", errstr(err));
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (items[i].is_port)
			continue;
		if (add)
			err = bpf_map_update_elem(st.fd[map], &items[i].key, &one, BPF_ANY) ? -errno : 0;
		else
			err = bpf_map_delete_elem(st.fd[map], &items[i].key) && errno != ENOENT
				      ? -errno : 0;
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
	if (created)
		pr_info("nothing attached yet: the policy applies from the first attach\n");
	rc = RC_OK;
	{
		struct json_object *o;

		if ((rc = scope_json(&st, k, &o)))
			goto out;
		json_object_object_add(o, "generation", json_object_new_int64(p.generation));
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
	char states[128];

	state_list(states, sizeof(states));
	printf("Usage: rstguard policy show [-j]\n"
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
	       "  learning=SECONDS         after the flow table is created, RSTs of flows not yet\n"
	       "                           seen pass as 'learning' (gateway; 0 off, default 120)\n"
	       "  timeout.STATE=SECONDS    flow timeout per state (or 'default'); STATE is one of\n"
	       "                           %s\n"
	       "\n"
	       "Scope: when ports or prefixes are protected, only RSTs to or from them are\n"
	       "filtered (empty means all); RSTs to or from an exempt prefix are never filtered.\n"
	       "Prefixes are IPv4 or IPv6 with no host bits set (198.18.0.0/15, fd00::/8); a bare\n"
	       "address is a host route.\n",
	       states);
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
	if (!strcmp(sub, "set"))
		return policy_set(n, args);
	if (!strcmp(sub, "protect"))
		return policy_scope(SET_PROTECT, n, args);
	if (!strcmp(sub, "exempt"))
		return policy_scope(SET_EXEMPT, n, args);
	return rg_fail(RC_USAGE, "unknown 'policy %s': use show, set, protect or exempt", sub);
}
