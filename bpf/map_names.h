/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The pinned maps by name, one list for both sides: the program declares each map under its
 * name here (maps.h checks that every one is declared), and the control plane pins, opens and
 * checks it by the same name. X(ID, NAME, SET): SET says which maps a policy-only start makes
 * (POLICY), which a flow-table resize replaces (FLOWS); the rest come with the first attach. */
#ifndef RG_MAP_NAMES_H
#define RG_MAP_NAMES_H

#define RG_PINNED_MAPS(X)                               \
	X(RG_M_POLICY, rg_policy, RG_MAPSET_POLICY)     \
	X(RG_M_STATS, rg_stats, RG_MAPSET_ALL)          \
	X(RG_M_PORTS, rg_ports, RG_MAPSET_POLICY)       \
	X(RG_M_PROTECT, rg_protect, RG_MAPSET_POLICY)   \
	X(RG_M_EXEMPT, rg_exempt, RG_MAPSET_POLICY)     \
	X(RG_M_FLOWS4, rg_flows4, RG_MAPSET_FLOWS)      \
	X(RG_M_FLOWS6, rg_flows6, RG_MAPSET_FLOWS)      \
	X(RG_M_IFACES, rg_ifaces, RG_MAPSET_ALL)        \
	X(RG_M_PRESENCE, rg_presence, RG_MAPSET_FLOWS)  \
	X(RG_M_RECENT, rg_recent, RG_MAPSET_ALL)        \
	X(RG_M_CHAL, rg_chal, RG_MAPSET_ALL)            \
	X(RG_M_CHAL_KEY, rg_chal_key, RG_MAPSET_ALL)    \
	X(RG_M_DIST, rg_dist, RG_MAPSET_ALL)            \
	X(RG_M_CAPCFG, rg_capcfg, RG_MAPSET_ALL)        \
	X(RG_M_CAPSTAT, rg_capstat, RG_MAPSET_ALL)      \
	X(RG_M_CAPRING, rg_capring, RG_MAPSET_ALL)

#endif
