/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The version string (see version.c). */
#ifndef RG_VERSION_H_USER
#define RG_VERSION_H_USER

extern const char rg_version[];

#endif
