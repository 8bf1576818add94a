/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Creating the shared pinned maps and loading one program instance per interface on them. */
#ifndef RG_LOAD_H
#define RG_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"

struct rstguard;

/* Which shared maps rg_maps_prepare makes sure exist: the policy and scope only (policy can
 * be set before anything is attached), all, or the flow tables and their presence filter
 * (what a resize makes). */
#define RG_MAPS_POLICY RG_MAPSET_POLICY
#define RG_MAPS_ALL RG_MAPSET_ALL
#define RG_MAPS_FLOWS RG_MAPSET_FLOWS


/* The sizes to use: a pinned table cannot be resized, so a request that differs from it is
 * refused. 0, or RC_USAGE after rg_fail(). */
int rg_flow_sizes_resolve(const struct rg_flow_sizes *req, struct rg_flow_sizes *out);

/*
 * Creates and pins whatever shared map is missing, writing the default policy into a new policy
 * map; *out gets the flow table sizes in use. 0, or an RC_* after rg_fail().
 */
int rg_maps_prepare(enum rg_map_set set, const struct rg_flow_sizes *req,
		    struct rg_flow_sizes *out);

/* Loads one program instance on the pinned maps (rg_maps_prepare first). 0 or an RC_*. */
int rg_load_instance(uint32_t role, uint32_t slot, uint32_t l3, const struct rg_flow_sizes *sz,
		     struct rstguard **out);

/* Is name one of the maps this build pins (under <pin dir>/maps)? */
bool rg_map_is_ours(const char *name);

#endif
