// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Shared CLI plumbing: option helpers, strict parsers, pin directory handling, JSON output. */
#include "util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

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

static bool on_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && (unsigned long)st.f_type == BPF_FS_MAGIC;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* The nearest existing ancestor decides which filesystem a new directory would land on. */
static void existing_ancestor(const char *path, char *buf, size_t len)
{
	struct stat st;

	snprintf(buf, len, "%s", path);
	while (stat(buf, &st) != 0) {
		char *slash = strrchr(buf, '/');

		if (!slash || slash == buf) {
			snprintf(buf, len, "/");
			return;
		}
		*slash = '\0';
	}
}

int pin_dir_ready(bool create)
{
	char anc[PATH_MAX];
	struct stat st;
	int err;

	if (!cli.pin_dir[0] || cli.pin_dir[0] != '/')
		return rg_fail(RC_USAGE, "--pin-dir must be an absolute path, not '%s'", cli.pin_dir);
	if (stat(cli.pin_dir, &st) == 0 && !S_ISDIR(st.st_mode))
		return rg_fail(RC_USAGE, "pin dir %s is not a directory", cli.pin_dir);
	if (stat(cli.pin_dir, &st) == 0 && on_bpffs(cli.pin_dir))
		return 0;
	if (!create) {
		if (stat(cli.pin_dir, &st) != 0)
			return rg_fail(RC_ERR, "rstguard is not attached: %s does not exist",
				       cli.pin_dir);
		return rg_fail(RC_ERR, "%s is not on a bpffs, so nothing can be pinned there",
			       cli.pin_dir);
	}
	existing_ancestor(cli.pin_dir, anc, sizeof(anc));
	if (on_bpffs(anc)) {
		err = mkdir_p(cli.pin_dir);
		if (err)
			return rg_fail(RC_ERR, "cannot create pin dir %s: %s", cli.pin_dir,
				       errstr(err));
		return 0;
	}
	if (geteuid() != 0)
		return rg_fail(RC_ERR,
			       "%s is not on a bpffs and mounting one needs root "
			       "(mount -t bpf bpf %s, or pass --pin-dir under /sys/fs/bpf)",
			       cli.pin_dir, cli.pin_dir);
	err = mkdir_p(cli.pin_dir);
	if (err)
		return rg_fail(RC_ERR, "cannot create pin dir %s: %s", cli.pin_dir, errstr(err));
	if (mount("bpf", cli.pin_dir, "bpf", 0, "mode=0700"))
		return rg_fail(RC_ERR, "cannot mount a bpffs on %s: %s", cli.pin_dir,
			       errstr(-errno));
	pr_info("mounted a bpffs on %s\n", cli.pin_dir);
	return 0;
}

bool pin_dir_in_use(void)
{
	const char *subs[] = { "maps", "links" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		struct dirent *de;
		DIR *d;

		pin_path(path, sizeof(path), subs[i], NULL);
		d = opendir(path);
		if (!d)
			continue;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.') {
				closedir(d);
				return true;
			}
		closedir(d);
	}
	return false;
}

int pin_dir_lock(void)
{
	int fd = open(cli.pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		rg_fail(RC_ERR, "cannot open %s: %s", cli.pin_dir, errstr(-errno));
		return -1;
	}
	if (flock(fd, LOCK_EX)) {
		rg_fail(RC_ERR, "cannot lock %s: %s", cli.pin_dir, errstr(-errno));
		close(fd);
		return -1;
	}
	return fd;
}

void pin_dir_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

void pin_dir_remove(void)
{
	char parent[PATH_MAX];

	snprintf(parent, sizeof(parent), "%s", cli.pin_dir);
	dirname(parent);
	/* A bpffs whose parent is not one was mounted by us (pin_dir_ready): take it away too. */
	if (on_bpffs(cli.pin_dir) && !on_bpffs(parent)) {
		if (umount2(cli.pin_dir, UMOUNT_NOFOLLOW))
			pr_warn("cannot unmount the bpffs on %s: %s\n", cli.pin_dir,
				errstr(-errno));
	}
	if (rmdir(cli.pin_dir) && errno != ENOENT)
		pr_info("left %s in place: %s\n", cli.pin_dir, errstr(-errno));
}

void json_print(struct json_object *o)
{
	int flags = isatty(STDOUT_FILENO) ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN;

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

const char *errstr(int err)
{
	return strerror(err < 0 ? -err : err);
}
