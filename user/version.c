// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The version, in one place: --version prints it, rstguard_build_info reports it, and the
 * Debian package carries it. The build writes rg_version.h from git describe. */
#include "version.h"
#include "rg_version.h"

const char rg_version[] = RG_VERSION;
