/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The JSON objects more than one command prints, built in one place so that the same thing has
 * the same keys everywhere. Units are in key names; numbers are numbers. */
#ifndef RG_SCHEMA_H
#define RG_SCHEMA_H

#include <json-c/json.h>
#include <stdint.h>

#include "rstguard.h"
#include "state.h"

/* {"name", "ifindex", "slot", "role", "xdp_mode"}: an attached interface. */
struct json_object *rg_json_iface(const struct rg_iface *rec, uint32_t slot);
/* {"ipv4": {"capacity", "entries"}, "ipv6": {...}}; entries ([2]) may be NULL. */
struct json_object *rg_json_flow_table(const struct rg_flow_sizes *cap, const uint64_t *entries);

#endif
