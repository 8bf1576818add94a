// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Shared CLI plumbing: option helpers, strict parsers, pin paths, JSON output. */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct rg_cli cli = { .pin_dir = RG_DEFAULT_PIN_DIR };

int common_opt(int c, const char *arg)
{
	switch (c) {
	case 'j':
		cli.json = true;
		return 1;
	case 'v':
		rg_log_verbosity++;
		return 1;
	case 'P':
		cli.pin_dir = arg;
		return 1;
	}
	return 0;
}

int bad_opt(const char *cmd, int c, char *const argv[])
{
	const char *opt = argv[optind - 1];

	if (c == ':')
		return rg_fail(RC_USAGE, "option '%s' needs a value; see 'rstguard %s --help'", opt,
			       cmd);
	return rg_fail(RC_USAGE, "unknown option '%s'; see 'rstguard %s --help'",
		       optopt ? (char[]){ '-', (char)optopt, 0 } : opt, cmd);
}

int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull accepts "-1", leading blanks and "+": none of them is a count. */
	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int parse_port_range(const char *s, uint32_t *lo, uint32_t *hi)
{
	char buf[32], *dash;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (parse_u32(buf, 1, 65535, lo))
		return -EINVAL;
	if (!dash) {
		*hi = *lo;
		return 0;
	}
	if (parse_u32(dash + 1, 1, 65535, hi) || *hi < *lo)
		return -EINVAL;
	return 0;
}

static bool host_bits_clear(const uint8_t *a, unsigned int plen)
{
	for (unsigned int bit = plen; bit < 128; bit++)
		if (a[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	return true;
}

int parse_prefix(const char *s, struct rg_prefix_key *k, const char **why)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	uint32_t plen, max;
	struct in_addr a4;
	bool v4;

	*why = "not an IPv4 or IPv6 address or prefix";
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	memset(k, 0, sizeof(*k));
	v4 = inet_pton(AF_INET, buf, &a4) == 1;
	if (v4) {
		k->addr[10] = 0xff;
		k->addr[11] = 0xff;
		memcpy(&k->addr[12], &a4, 4);
		max = 32;
	} else if (inet_pton(AF_INET6, buf, k->addr) == 1) {
		max = 128;
	} else {
		return -EINVAL;
	}
	plen = max;
	if (slash && parse_u32(slash + 1, 0, max, &plen)) {
		*why = v4 ? "prefix length must be 0-32" : "prefix length must be 0-128";
		return -EINVAL;
	}
	k->prefixlen = plen + (v4 ? 96 : 0);
	if (!host_bits_clear(k->addr, k->prefixlen)) {
		*why = "host bits set beyond the prefix length";
		return -EINVAL;
	}
	return 0;
}

static bool is_v4_mapped(const uint8_t *a)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(a, pfx, sizeof(pfx)) == 0;
}

void format_prefix(const struct rg_prefix_key *k, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (k->prefixlen >= 96 && is_v4_mapped(k->addr)) {
		inet_ntop(AF_INET, &k->addr[12], a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, k->prefixlen - 96);
	} else {
		inet_ntop(AF_INET6, k->addr, a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, k->prefixlen);
	}
}

void format_addr(const void *addr, bool v6, char *buf, size_t len)
{
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, addr, buf, len))
		snprintf(buf, len, "?");
}

void pin_path(char *buf, size_t len, const char *sub, const char *name)
{
	if (name)
		snprintf(buf, len, "%s/%s/%s", cli.pin_dir, sub, name);
	else
		snprintf(buf, len, "%s/%s", cli.pin_dir, sub);
}

void json_print(struct json_object *o)
{
	int flags = isatty(STDOUT_FILENO) ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN;

	if (json_object_is_type(o, json_type_object))
		json_object_object_add(o, "schema_version", json_object_new_int(RG_SCHEMA_VERSION));
	puts(json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(o);
}

struct json_object *json_u64(uint64_t v)
{
	/* json-c's uint64 keeps the full range; int64 would turn a wrapped counter negative. */
	return json_object_new_uint64(v);
}

void format_time_ns(uint64_t realtime_ns, bool iso, char *buf, size_t len)
{
	time_t t = (time_t)(realtime_ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S UTC", &tm);
}

uint32_t rg_clock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_sec;
}

uint64_t rg_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

uint64_t rg_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

const char *errstr(int err)
{
	return strerror(err < 0 ? -err : err);
}
