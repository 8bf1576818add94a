/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Shared CLI plumbing: global options, exit codes, strict parsers, pin paths, JSON output. */
#ifndef RG_UTIL_H
#define RG_UTIL_H

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include "rstguard.h"

/* ip(8)-style exit status; a negative errno never leaks out as one. */
enum { RC_OK = 0, RC_ERR = 1, RC_USAGE = 2 };
/* Never an exit status: "nothing is pinned there", which some commands answer with an empty
 * result rather than an error (main turns it into RC_ERR). */
#define RC_ABSENT 3
/* Never an exit status: the command did its work and found the filter not healthy (status);
 * exit 1, the reason on standard error even under -j, whose document says it already. */
#define RC_UNHEALTHY 4

#define RG_DEFAULT_PIN_DIR "/sys/fs/bpf/rstguard"

struct rg_cli {
	const char *pin_dir;
	bool json;
};
extern struct rg_cli cli;

/* Options every command accepts, wherever they appear on the line. */
#define RG_COMMON_LONGOPTS                              \
	{ "json", no_argument, NULL, 'j' },             \
	{ "verbose", no_argument, NULL, 'v' },          \
	{ "pin-dir", required_argument, NULL, 'P' },    \
	{ "help", no_argument, NULL, 'h' }
#define RG_COMMON_SHORTOPTS "jvh"

/* Handles -j, -v, --pin-dir; returns 1 when the option was one of those. */
int common_opt(int c, const char *arg);
/* The error for an option getopt did not accept: records it and returns RC_USAGE. */
int bad_opt(const char *cmd, int c, char *const argv[]);

/* Strict unsigned parse: the whole string, decimal, within [min, max]. 0 or -EINVAL/-ERANGE. */
int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
/* "179" or "8000-8080". */
int parse_port_range(const char *s, uint32_t *lo, uint32_t *hi);
/*
 * "198.18.0.0/15", "fd00::/8", or a bare address (a host route). IPv4 goes in as ::ffff:a.b.c.d
 * with prefixlen + 96. Host bits beyond the prefix are an error (-EINVAL with *why set).
 */
int parse_prefix(const char *s, struct rg_prefix_key *k, const char **why);
/* Back to the text form: IPv4-mapped keys print as IPv4. */
void format_prefix(const struct rg_prefix_key *k, char *buf, size_t len);
/* An address of a flow key (network order words) as text; v6 selects the family. */
void format_addr(const void *addr, bool v6, char *buf, size_t len);

/* <pin dir>/<sub>/<name>, or <pin dir>/<sub> when name is NULL. */
void pin_path(char *buf, size_t len, const char *sub, const char *name);

/* The version of the JSON documents every command prints: bumped when a key changes meaning or
 * goes away (new keys do not bump it). */
#define RG_SCHEMA_VERSION 1
/* Prints a JSON document on stdout, with "schema_version" added to it, and releases it. */
void json_print(struct json_object *o);
struct json_object *json_u64(uint64_t v);

/* "2025-11-24 02:30:01 UTC" (text) or RFC 3339 (iso). */
void format_time_ns(uint64_t realtime_ns, bool iso, char *buf, size_t len);
/* The clocks, in one place. Seconds of the clock the XDP program stamps flows with
 * (CLOCK_MONOTONIC); nanoseconds of that clock, for intervals; wall-clock nanoseconds, for
 * what is shown as a date. */
uint32_t rg_clock_now(void);
uint64_t rg_monotonic_ns(void);
uint64_t rg_realtime_ns(void);

/* Returns an errno as a short text, for "what failed, on what, why". */
const char *errstr(int err);

#endif
