/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Leveled logging for the CLI; libbpf and libxdp output goes through the same function. */
#ifndef RG_LOG_H
#define RG_LOG_H

#include <stdarg.h>

enum rg_log_level {
	RG_LOG_WARN = 0,
	RG_LOG_INFO,
	RG_LOG_DEBUG,
	RG_LOG_LIB_INFO,  /* -vvv: libbpf/libxdp informational chatter */
	RG_LOG_LIB_DEBUG, /* -vvvv: libbpf/libxdp debug output */
};

extern int rg_log_verbosity;

void rg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define pr_warn(...) rg_log(RG_LOG_WARN, __VA_ARGS__)
#define pr_info(...) rg_log(RG_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) rg_log(RG_LOG_DEBUG, __VA_ARGS__)

/* Routes libbpf's and libxdp's printouts through rg_log. */
void rg_log_init_libs(void);

/*
 * Records the message of the error a command ends with and returns rc, so that main can print
 * it once, as text on stderr or as {"error": ...} on stdout under -j.
 */
int rg_fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *rg_last_error(void);
/* Forgets an error that a caller decided was not one (a probe that may fail). */
void rg_clear_error(void);

#endif
