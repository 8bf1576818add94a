// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The policy keys, walked as tables: parse, apply, show, compare. */
#include "polkeys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define TIMEOUT(st, name) \
	{ "timeout." name, offsetof(struct rg_policy, timeout[st]), 1, UINT32_MAX, st, 0, \
	  "timeouts_seconds", name, false }

/* Every numeric key. The timeouts take their names from the flow states and their defaults
 * from the timeout table; a new number in the policy is one more row here. */
const struct rg_numkey rg_numkeys[] = {
	TIMEOUT(RG_ST_SYN_SENT, "syn_sent"),
	TIMEOUT(RG_ST_SYN_RECV, "syn_recv"),
	TIMEOUT(RG_ST_ESTABLISHED, "established"),
	TIMEOUT(RG_ST_ONE_WAY, "one_way"),
	TIMEOUT(RG_ST_FIN_WAIT, "fin_wait"),
	TIMEOUT(RG_ST_TIME_WAIT, "time_wait"),
	TIMEOUT(RG_ST_CLOSED, "closed"),
	/* 0 is a value of its own here: no learning period. */
	{ "learning", offsetof(struct rg_policy, learning), 0, RG_LEARNING_MAX, 0,
	  RG_LEARNING_DEFAULT, NULL, "learning_seconds", true },
	/* Never 0 (unlimited): 0 in the map reads as the default. */
	{ "challenge_interval_ms", offsetof(struct rg_policy, challenge_ms), 1, 60000, 0,
	  RG_CHALLENGE_MS_DEFAULT, NULL, "challenge_interval_ms", false },
};
const int rg_nnumkeys = sizeof(rg_numkeys) / sizeof(rg_numkeys[0]);
_Static_assert(sizeof(rg_numkeys) / sizeof(rg_numkeys[0]) <= RG_MAX_NUMKEYS, "RG_MAX_NUMKEYS");
_Static_assert(RG_ST_MAX == 8, "a new flow state needs its timeout row in rg_numkeys");

static uint32_t *field(struct rg_policy *p, int i)
{
	return (uint32_t *)((char *)p + rg_numkeys[i].off);
}

static uint32_t numkey_default(int i)
{
	return rg_numkeys[i].state ? rg_timeout_default(rg_numkeys[i].state) : rg_numkeys[i].def;
}

uint32_t rg_numkey_value(const struct rg_policy *p, int i)
{
	uint32_t v = *field((struct rg_policy *)p, i);

	/* The data plane reads 0 as the default, unless 0 means "off" for that key. */
	return v || rg_numkeys[i].zero_is_value ? v : numkey_default(i);
}

bool rg_numkey_is_default(const struct rg_policy *p, int i)
{
	return rg_numkey_value(p, i) == numkey_default(i);
}

const char *rg_knob_value(const struct rg_policy *p, int k)
{
	return rg_knob_name(&rg_knobs[k], p->bits);
}

/* A knob's value: its bits (within the knob's mask) for a name, or -EINVAL. */
static int knob_parse(int k, const char *v, uint32_t *bits)
{
	return rg_knob_parse(&rg_knobs[k], v, bits) ? -EINVAL : 0;
}

/* A knob with a third value (inexact=challenge) owns two bits. */
static uint32_t knob_mask(int k)
{
	return rg_knobs[k].bit | rg_knobs[k].bit2;
}

void rg_pol_keys(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int k = 0; k < RG_NKNOBS && n < len; k++)
		n += snprintf(buf + n, len - n, "%s, ", rg_knobs[k].key);
	/* Keys sharing a "group." prefix are listed once, as group.NAME (names...). */
	for (int i = 0; i < rg_nnumkeys && n < len; i++) {
		const char *dot = strchr(rg_numkeys[i].key, '.');
		size_t plen = dot ? (size_t)(dot - rg_numkeys[i].key) : 0;

		if (i && dot && !strncmp(rg_numkeys[i - 1].key, rg_numkeys[i].key, plen + 1))
			continue;
		if (!dot) {
			n += snprintf(buf + n, len - n, "%s, ", rg_numkeys[i].key);
			continue;
		}
		n += snprintf(buf + n, len - n, "%.*s.%s (", (int)plen, rg_numkeys[i].key,
			      !strncmp(rg_numkeys[i].key, "timeout.", 8) ? "STATE" : "NAME");
		for (int j = i; j < rg_nnumkeys && n < len &&
				!strncmp(rg_numkeys[j].key, rg_numkeys[i].key, plen + 1); j++)
			n += snprintf(buf + n, len - n, "%s%s", j > i ? ", " : "",
				      rg_numkeys[j].key + plen + 1);
		if (n < len)
			n += snprintf(buf + n, len - n, "), ");
	}
	if (n >= 2 && n < len)
		buf[n - 2] = '\0';
}

/* The unit a key's value is in, as its JSON name says. */
static const char *unit_of(const struct rg_numkey *nk)
{
	size_t n = strlen(nk->json_key);

	if (nk->state || (n > 8 && !strcmp(nk->json_key + n - 8, "_seconds")))
		return "seconds";
	if (n > 3 && !strcmp(nk->json_key + n - 3, "_ms"))
		return "milliseconds";
	return "a number";
}

static int parse_num(int i, const char *v, uint32_t *out)
{
	const struct rg_numkey *nk = &rg_numkeys[i];

	if (!strcmp(v, "default")) {
		*out = numkey_default(i);
		return 0;
	}
	if (parse_u32(v, nk->min, nk->max, out))
		return rg_fail(RC_USAGE, "invalid value '%s' for %s: %s from %u to %u, or 'default'",
			       v, nk->key, unit_of(nk), nk->min, nk->max);
	return 0;
}

int rg_pol_parse(const char *arg, struct rg_pol_edit *e)
{
	const char *eq = strchr(arg, '='), *val;
	char keys[512];
	uint32_t bits;
	size_t klen;

	if (!eq || eq == arg)
		return rg_fail(RC_USAGE, "'%s' is not KEY=VALUE", arg);
	klen = eq - arg;
	val = eq + 1;
	for (int k = 0; k < RG_NKNOBS; k++) {
		if (strlen(rg_knobs[k].key) != klen || strncmp(arg, rg_knobs[k].key, klen))
			continue;
		if (e->knob_given & (1u << k))
			return rg_fail(RC_USAGE, "'%s' given twice", rg_knobs[k].key);
		if (knob_parse(k, val, &bits)) {
			char vals[64];

			return rg_fail(RC_USAGE, "invalid value '%s' for %s: use %s", val,
				       rg_knobs[k].key,
				       rg_knob_values(&rg_knobs[k], vals, sizeof(vals)));
		}
		e->knob_given |= 1u << k;
		e->mask |= knob_mask(k);
		e->val = (e->val & ~knob_mask(k)) | bits;
		return 0;
	}
	for (int i = 0; i < rg_nnumkeys; i++) {
		if (strlen(rg_numkeys[i].key) != klen || strncmp(arg, rg_numkeys[i].key, klen))
			continue;
		if (e->num_given & (1u << i))
			return rg_fail(RC_USAGE, "'%s' given twice", rg_numkeys[i].key);
		if (parse_num(i, val, &e->num[i]))
			return RC_USAGE;
		e->num_given |= 1u << i;
		return 0;
	}
	rg_pol_keys(keys, sizeof(keys));
	return rg_fail(RC_USAGE, "unknown policy key '%.*s': use %s", (int)klen, arg, keys);
}

void rg_pol_apply(const struct rg_pol_edit *e, struct rg_policy *p)
{
	p->bits = (p->bits & ~e->mask) | (e->val & e->mask);
	for (int i = 0; i < rg_nnumkeys; i++)
		if (e->num_given & (1u << i))
			*field(p, i) = e->num[i];
}

void rg_pol_default(struct rg_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->generation = 1;
	for (int i = 0; i < rg_nnumkeys; i++)
		*field(p, i) = numkey_default(i);
}

void rg_pol_diff(const struct rg_policy *a, const struct rg_policy *b, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int k = 0; k < RG_NKNOBS && n < len; k++)
		if (strcmp(rg_knob_value(a, k), rg_knob_value(b, k)))
			n += snprintf(buf + n, len - n, "%s%s %s -> %s", n ? ", " : "",
				      rg_knobs[k].key, rg_knob_value(a, k), rg_knob_value(b, k));
	for (int i = 0; i < rg_nnumkeys && n < len; i++)
		if (rg_numkey_value(a, i) != rg_numkey_value(b, i))
			n += snprintf(buf + n, len - n, "%s%s %u -> %u", n ? ", " : "",
				      rg_numkeys[i].key, rg_numkey_value(a, i), rg_numkey_value(b, i));
}

void rg_pol_json(const struct rg_policy *p, struct json_object *o)
{
	for (int k = 0; k < RG_NKNOBS; k++)
		json_object_object_add(o, rg_knobs[k].key, json_object_new_string(rg_knob_value(p, k)));
	for (int i = 0; i < rg_nnumkeys; i++) {
		struct json_object *g = o;
		const char *name = rg_numkeys[i].json_group;

		if (name && !json_object_object_get_ex(o, name, &g)) {
			g = json_object_new_object();
			json_object_object_add(o, name, g);
		}
		json_object_object_add(g, rg_numkeys[i].json_key,
				       json_object_new_int64(rg_numkey_value(p, i)));
	}
}

void rg_pol_list(bool json)
{
	struct json_object *o = json ? json_object_new_object() : NULL;

	for (int k = 0; k < RG_NKNOBS; k++) {
		if (!json) {
			printf("%s=%s|%s%s%s\n", rg_knobs[k].key, rg_knobs[k].off, rg_knobs[k].on,
			       rg_knobs[k].on2 ? "|" : "", rg_knobs[k].on2 ? rg_knobs[k].on2 : "");
			continue;
		}
		struct json_object *v = json_object_new_array();

		json_object_array_add(v, json_object_new_string(rg_knobs[k].off));
		json_object_array_add(v, json_object_new_string(rg_knobs[k].on));
		if (rg_knobs[k].on2)
			json_object_array_add(v, json_object_new_string(rg_knobs[k].on2));
		json_object_object_add(o, rg_knobs[k].key, v);
	}
	for (int i = 0; i < rg_nnumkeys; i++) {
		if (!json) {
			printf("%s=%u-%u|default\n", rg_numkeys[i].key, rg_numkeys[i].min,
			       rg_numkeys[i].max);
			continue;
		}
		struct json_object *v = json_object_new_object();

		json_object_object_add(v, "min", json_object_new_int64(rg_numkeys[i].min));
		json_object_object_add(v, "max", json_object_new_int64(rg_numkeys[i].max));
		json_object_object_add(v, "default", json_object_new_int64(numkey_default(i)));
		json_object_object_add(o, rg_numkeys[i].key, v);
	}
	if (json)
		json_print(o);
}
