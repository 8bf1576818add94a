// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The names of roles and XDP modes, in one place. */
#include "names.h"

#include <errno.h>
#include <linux/if_link.h>
#include <string.h>

#include "rstguard.h"

const char *rg_role_str(uint32_t role)
{
	return role > 0 && role < RG_ROLE_MAX && rg_role_names[role] ? rg_role_names[role]
								      : "unknown";
}

int rg_role_parse(const char *s, uint32_t *role)
{
	for (uint32_t r = 1; r < RG_ROLE_MAX; r++)
		if (rg_role_names[r] && !strcmp(s, rg_role_names[r])) {
			*role = r;
			return 0;
		}
	return -EINVAL;
}

static const struct {
	uint32_t flag;
	const char *name, *alias;
} modes[] = {
	{ XDP_FLAGS_DRV_MODE, "native", "drv" },
	{ XDP_FLAGS_SKB_MODE, "skb", "generic" },
	{ XDP_FLAGS_HW_MODE, "hw", NULL },
};

const char *rg_xdp_mode_str(uint32_t mode)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (modes[i].flag == mode)
			return modes[i].name;
	return "unknown";
}

int rg_xdp_mode_parse(const char *s, uint32_t *mode)
{
	/* Offload is not something rstguard can do: only the first two are accepted. */
	for (size_t i = 0; i < 2; i++)
		if (!strcmp(s, modes[i].name) || !strcmp(s, modes[i].alias)) {
			*mode = modes[i].flag;
			return 0;
		}
	return -EINVAL;
}
