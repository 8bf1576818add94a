// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Leveled logging, the final-error record, and the hooks that route library output here. */
#include "log.h"

#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>
#include <xdp/libxdp.h>

int rg_log_verbosity;
static char last_error[1024];

static void vlog(int level, const char *fmt, va_list ap)
{
	if (level > rg_log_verbosity)
		return;
	fputs("rstguard: ", stderr);
	vfprintf(stderr, fmt, ap);
}

void rg_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

int rg_fail(int rc, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	n = strlen(last_error);
	while (n && last_error[n - 1] == '\n')
		last_error[--n] = '\0';
	return rc;
}

void rg_clear_error(void)
{
	last_error[0] = '\0';
}

const char *rg_last_error(void)
{
	return last_error;
}

/* Library warnings are hidden by default: our own message says what failed; -v shows the
 * library's reasons (verifier log, map mismatch) beneath it. */
static int lib_level(int lib_warn, int lib_info)
{
	if (lib_warn)
		return RG_LOG_INFO;
	if (lib_info)
		return RG_LOG_LIB_INFO;
	return RG_LOG_LIB_DEBUG;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int l = lib_level(level == LIBBPF_WARN, level == LIBBPF_INFO);

	if (l > rg_log_verbosity)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	int l = lib_level(level == LIBXDP_WARN, level == LIBXDP_INFO);

	if (l > rg_log_verbosity)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void rg_log_init_libs(void)
{
	libbpf_set_print(libbpf_print);
	libxdp_set_print(libxdp_print);
}
