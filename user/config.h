/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The configuration file of 'rstguard save' and 'rstguard apply': rstguard's own command
 * syntax, one command per line, '#' comments, like 'nft -f' and 'ip -batch'. */
#ifndef RG_CONFIG_H
#define RG_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "polkeys.h"
#include "state.h"

#define RG_DEFAULT_CONFIG "/etc/rstguard/rstguard.conf"
#define RG_MAX_PREFIXES 4096

struct rg_cfg_iface {
	char name[IF_NAMESIZE];
	uint32_t role, mode;
	int line;
};

/* What a file states: the whole configuration. Anything it leaves out is the default. */
struct rg_config {
	const char *file;
	int nifs;
	struct rg_cfg_iface ifs[RG_MAX_IFACES];
	struct rg_flow_sizes flows;     /* 0: not given */
	int flows_line[2];
	struct rg_pol_edit pol;
	int knob_line[32], num_line[RG_MAX_NUMKEYS];
	uint64_t ports[RG_PORT_WORDS];
	uint32_t nset[2];               /* protect, exempt */
	struct rg_prefix_key set[2][RG_MAX_PREFIXES];
};

/* Reads and validates a whole file. 0, or RC_USAGE / RC_ERR after rg_fail() with
 * "FILE:LINE: why". */
int rg_config_read(const char *file, struct rg_config *c);
/* The table sizes the file asks for, defaults filled in as attach would. */
void rg_config_flows(const struct rg_config *c, struct rg_flow_sizes *out);
/* The policy the file asks for (generation 0), with the scope's have-bits set. */
void rg_config_policy(const struct rg_config *c, struct rg_policy *p);

/* Prefix sets as the LPM tries hold them, sorted, for comparing. */
void rg_prefixes_sort(struct rg_prefix_key *k, uint32_t n);
int rg_prefix_cmp(const void *a, const void *b);

#endif
