/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The policy keys of 'policy set KEY=VALUE', as data: the knob table (state.c), the timeout
 * table (rstguard.h) and the table of numeric keys below. Parsing, showing, saving, applying
 * and auditing all walk these tables, so a new key is one new row. */
#ifndef RG_POLKEYS_H
#define RG_POLKEYS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

/* A policy key with a number for value, stored as one __u32 of struct rg_policy. */
struct rg_numkey {
	const char *key;        /* as in 'policy set KEY=VALUE' and the saved file */
	size_t off;             /* offsetof(struct rg_policy, ...) */
	uint32_t min, max;
	int state;              /* a timeout: its flow state, whose default the timeout table has */
	uint32_t def;           /* otherwise its default, which the data plane also reads 0 as */
	const char *json_group; /* the object of 'policy show -j' it sits in, or NULL */
	const char *json_key;   /* its key there, with its unit in the name */
	bool zero_is_value;     /* 0 is stored as 0 and means "off", not the default */
};
#define RG_MAX_NUMKEYS 32
extern const struct rg_numkey rg_numkeys[];
extern const int rg_nnumkeys;

/* What KEY=VALUE arguments ask for, gathered before anything is written. */
struct rg_pol_edit {
	uint32_t mask, val;       /* knob bits to change, and their new values */
	uint32_t knob_given;      /* bit k: rg_knobs[k] given */
	uint32_t num_given;       /* bit i: rg_numkeys[i] given */
	uint32_t num[RG_MAX_NUMKEYS];
};

/* One KEY=VALUE into the edit; a key given twice is an error. 0, or RC_USAGE after rg_fail(). */
int rg_pol_parse(const char *arg, struct rg_pol_edit *e);
/* The edit on a policy (its generation is left alone). */
void rg_pol_apply(const struct rg_pol_edit *e, struct rg_policy *p);
/* The policy of a first attach: every knob off, every number its default, generation 1. */
void rg_pol_default(struct rg_policy *p);

/* A knob's value as its name, and a numeric key's value in effect. */
const char *rg_knob_value(const struct rg_policy *p, int k);
uint32_t rg_numkey_value(const struct rg_policy *p, int i);
bool rg_numkey_is_default(const struct rg_policy *p, int i);

/* "mode enforce -> monitor, timeout.closed 10 -> 20", or "" when the two mean the same. */
void rg_pol_diff(const struct rg_policy *a, const struct rg_policy *b, char *buf, size_t len);
/* Adds the knobs and the numeric keys of p to a 'policy show -j' object. */
void rg_pol_json(const struct rg_policy *p, struct json_object *o);
/* "mode, inexact, ..., timeout.STATE (syn_sent, ...)": every key, for messages. */
void rg_pol_keys(char *buf, size_t len);

/* 'policy keys': every key with its values, KEY=VALUE|VALUE per line, or as JSON. */
void rg_pol_list(bool json);

#endif
