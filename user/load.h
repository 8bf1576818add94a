/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Creating the shared pinned maps and loading one program instance per interface on them. */
#ifndef RG_LOAD_H
#define RG_LOAD_H

#include <stdbool.h>
#include <stdint.h>

struct rstguard;

/* Which shared maps rg_maps_prepare makes sure exist. */
enum rg_map_set {
	RG_MAPS_POLICY, /* policy and scope only: lets policy be set before anything is attached */
	RG_MAPS_ALL,
};

/*
 * Creates and pins whatever shared map is missing, writing the default policy into a new policy
 * map. flows_req 0 means "the existing size, or the default"; *flows gets the size in use.
 * 0, or an RC_* after rg_fail().
 */
int rg_maps_prepare(enum rg_map_set set, uint32_t flows_req, uint32_t *flows);

/* Loads one program instance on the pinned maps (rg_maps_prepare first). 0 or an RC_*. */
int rg_load_instance(uint32_t role, uint32_t slot, uint32_t l3, uint32_t flows,
		     struct rstguard **out);

/* The flow table size of an existing pinned table, 0 when none. */
uint32_t rg_pinned_flows(void);

#endif
