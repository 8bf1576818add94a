/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The names of roles and XDP modes, in one place: what the CLI accepts, prints and saves, and
 * the labels of the metrics. */
#ifndef RG_NAMES_H
#define RG_NAMES_H

#include <stdint.h>

/* "host", "gateway", "both", or "unknown" for a value no build writes. */
const char *rg_role_str(uint32_t role);
/* 0, or -EINVAL for a name that is not a role. */
int rg_role_parse(const char *s, uint32_t *role);
/* "native", "skb", "hw" for XDP_FLAGS_{DRV,SKB,HW}_MODE, or "unknown". */
const char *rg_xdp_mode_str(uint32_t mode);
/* "native" (or "drv"), "skb" (or "generic"): 0, or -EINVAL. */
int rg_xdp_mode_parse(const char *s, uint32_t *mode);

#endif
