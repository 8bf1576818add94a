// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The JSON objects more than one command prints. */
#include "schema.h"

#include <stdio.h>

#include "names.h"
#include "util.h"

struct json_object *rg_json_iface(const struct rg_iface *rec, uint32_t slot)
{
	struct json_object *o = json_object_new_object();
	char name[sizeof(rec->name) + 1];

	/* The record's name need not be NUL-terminated when it fills all 16 bytes. */
	snprintf(name, sizeof(name), "%.*s", (int)sizeof(rec->name), rec->name);
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "ifindex", json_object_new_int64(rec->ifindex));
	json_object_object_add(o, "slot", json_object_new_int(slot));
	json_object_object_add(o, "role", json_object_new_string(rg_role_str(rec->role)));
	json_object_object_add(o, "xdp_mode", json_object_new_string(rg_xdp_mode_str(rec->xdp_mode)));
	return o;
}

struct json_object *rg_json_flow_table(const struct rg_flow_sizes *cap, const uint64_t *entries)
{
	struct json_object *o = json_object_new_object();

	for (int f = 0; f < 2; f++) {
		struct json_object *t = json_object_new_object();

		json_object_object_add(t, "capacity", json_object_new_int64(f ? cap->v6 : cap->v4));
		if (entries)
			json_object_object_add(t, "entries", json_u64(entries[f]));
		json_object_object_add(o, f ? "ipv6" : "ipv4", t);
	}
	return o;
}
