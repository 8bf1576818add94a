// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The pin directory: where it may be made, who owns what in it, and the lock that serialises
 * every change to it. rstguard removes only what it made and can prove it made. */
#include "pindir.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "load.h"
#include "log.h"
#include "util.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

/* The system's own bpffs: mounted when missing (as bpftool and iproute2 do), never unmounted. */
#define SYS_BPFFS "/sys/fs/bpf"

/*
 * Ownership marks are directories, because a bpffs holds nothing else but pins. Each lives inside
 * the bpffs instance it speaks for, so a bpffs someone else mounted in place of ours never
 * carries our mark, and a mark can never outlive the mount it describes. (A bpffs refuses
 * names with a dot, so they cannot be hidden.)
 */
#define MARK_MOUNTED "rstguard-owns-mount" /* rstguard mounted this bpffs on the pin dir */
#define MARK_MADE "rstguard-owns-dir"      /* rstguard created the pin dir (or its mount point) */

static bool on_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && (unsigned long)st.f_type == BPF_FS_MAGIC;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_sys_bpffs(const char *path)
{
	char real[PATH_MAX];

	return realpath(path, real) && !strcmp(real, SYS_BPFFS);
}

/* A mount root sits on another device than its parent directory. */
static bool is_mount_root(const char *path)
{
	char parent[PATH_MAX + 4];
	struct stat a, b;

	snprintf(parent, sizeof(parent), "%s/..", path);
	return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static void mark_path(char *buf, size_t len, const char *mark)
{
	snprintf(buf, len, "%s/%s", cli.pin_dir, mark);
}

static bool has_mark(const char *mark)
{
	char path[PATH_MAX];

	mark_path(path, sizeof(path), mark);
	return is_dir(path);
}

static int set_mark(const char *mark)
{
	char path[PATH_MAX];

	mark_path(path, sizeof(path), mark);
	return mkdir(path, 0700) && errno != EEXIST ? -errno : 0;
}

static void clear_mark(const char *mark)
{
	char path[PATH_MAX];

	mark_path(path, sizeof(path), mark);
	rmdir(path);
}

/* Creates the missing directories of path; *made tells whether the last one was created here. */
static int mkdir_p(const char *path, bool *made)
{
	char buf[PATH_MAX];

	*made = false;
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
	if (mkdir(buf, 0700) == 0)
		*made = true;
	else if (errno != EEXIST)
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

static bool under_sys_bpffs(const char *path)
{
	size_t n = strlen(SYS_BPFFS);

	return !strncmp(path, SYS_BPFFS, n) && (path[n] == '/' || !path[n]);
}

/* A pin dir below /sys/fs/bpf on a machine that never mounted it: mount the standard bpffs
 * there for everyone, the way bpftool does, and leave it mounted for good. */
static int mount_sys_bpffs(void)
{
	if (!is_dir(SYS_BPFFS) || on_bpffs(SYS_BPFFS))
		return 0;
	if (geteuid() != 0)
		return rg_fail(RC_ERR, "no bpffs is mounted at %s and mounting one needs root",
			       SYS_BPFFS);
	if (mount("bpf", SYS_BPFFS, "bpf", 0, "mode=0700"))
		return rg_fail(RC_ERR, "cannot mount a bpffs on %s: %s", SYS_BPFFS,
			       errstr(-errno));
	pr_info("mounted the system bpffs on %s (it stays mounted)\n", SYS_BPFFS);
	return 0;
}

/* The pin dir is not on a bpffs and nothing above it is: mount a private one there. */
static int mount_own_bpffs(void)
{
	bool made;
	int err;

	if (geteuid() != 0)
		return rg_fail(RC_ERR,
			       "%s is not on a bpffs and mounting one needs root "
			       "(mount -t bpf bpf %s, or pass --pin-dir under /sys/fs/bpf)",
			       cli.pin_dir, cli.pin_dir);
	err = mkdir_p(cli.pin_dir, &made);
	if (err)
		return rg_fail(RC_ERR, "cannot create pin dir %s: %s", cli.pin_dir, errstr(err));
	if (mount("bpf", cli.pin_dir, "bpf", 0, "mode=0700")) {
		err = -errno;
		if (made)
			rmdir(cli.pin_dir);
		return rg_fail(RC_ERR, "cannot mount a bpffs on %s: %s", cli.pin_dir, errstr(err));
	}
	err = set_mark(MARK_MOUNTED);
	if (!err && made)
		err = set_mark(MARK_MADE);
	if (err) {
		umount2(cli.pin_dir, UMOUNT_NOFOLLOW);
		if (made)
			rmdir(cli.pin_dir);
		return rg_fail(RC_ERR, "cannot mark the bpffs on %s as rstguard's: %s", cli.pin_dir,
			       errstr(err));
	}
	pr_info("mounted a bpffs on %s\n", cli.pin_dir);
	return 0;
}

int pin_dir_check(void)
{
	struct stat st;

	if (!cli.pin_dir[0] || cli.pin_dir[0] != '/')
		return rg_fail(RC_USAGE, "--pin-dir must be an absolute path, not '%s'", cli.pin_dir);
	if (strlen(cli.pin_dir) > PATH_MAX - 64)
		return rg_fail(RC_USAGE, "--pin-dir is too long");
	if (stat(cli.pin_dir, &st) == 0 && !S_ISDIR(st.st_mode))
		return rg_fail(RC_USAGE, "pin dir %s is not a directory", cli.pin_dir);
	return 0;
}

int pin_dir_ready(bool create)
{
	char anc[PATH_MAX];
	bool made;
	int rc, err;

	if ((rc = pin_dir_check()))
		return rc;
	if (is_dir(cli.pin_dir) && on_bpffs(cli.pin_dir))
		return 0;
	if (!create) {
		struct stat sb;

		if (stat(cli.pin_dir, &sb) && errno == ENOENT)
			return rg_fail(RC_ABSENT, "rstguard is not attached: %s does not exist",
				       cli.pin_dir);
		if (!is_dir(cli.pin_dir))
			return rg_fail(RC_ERR, "cannot look at pin dir %s: %s", cli.pin_dir,
				       errstr(-errno));
		return rg_fail(RC_ERR, "pin dir %s is not on a bpffs, so nothing can be pinned "
				       "there (mount -t bpf bpf %s, or pass --pin-dir under /sys/fs/bpf)",
			       cli.pin_dir, cli.pin_dir);
	}
	existing_ancestor(cli.pin_dir, anc, sizeof(anc));
	if (!on_bpffs(anc) && under_sys_bpffs(cli.pin_dir) && strcmp(cli.pin_dir, SYS_BPFFS)) {
		if ((rc = mount_sys_bpffs()))
			return rc;
		existing_ancestor(cli.pin_dir, anc, sizeof(anc));
	}
	if (!on_bpffs(anc))
		return mount_own_bpffs();
	err = mkdir_p(cli.pin_dir, &made);
	if (!err && made)
		err = set_mark(MARK_MADE);
	if (err)
		return rg_fail(RC_ERR, "cannot create pin dir %s: %s", cli.pin_dir, errstr(err));
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

/*
 * The lock lives outside the pin dir: a lock on the directory itself would be taken on the
 * filesystem beneath a bpffs by one command and on the bpffs by the next, and an open directory
 * keeps a bpffs busy when another command unmounts it.
 */
int pin_dir_lock(void)
{
	char anc[PATH_MAX];
	int fd = open(RG_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0 && (errno == ENOENT || errno == EROFS)) {
		/* No writable /run (some containers): the pin dir's nearest existing ancestor. */
		existing_ancestor(cli.pin_dir, anc, sizeof(anc));
		fd = open(anc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0) {
		rg_fail(RC_ERR, "cannot open the lock %s: %s%s", RG_LOCK_FILE, errstr(-errno),
			errno == EACCES ? " (a change needs root)" : "");
		return -1;
	}
	if (flock(fd, LOCK_EX)) {
		rg_fail(RC_ERR, "cannot lock %s: %s", RG_LOCK_FILE, errstr(-errno));
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

/* --- what is ours ------------------------------------------------------------------------- */

static bool prog_named(uint32_t id, const char *name)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);
	bool ok;

	if (fd < 0)
		return false;
	ok = !bpf_obj_get_info_by_fd(fd, &info, &len) && !strncmp(info.name, name, 15);
	close(fd);
	return ok;
}

bool pin_is_our_link(const char *path)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);
	bool ok;

	if (fd < 0)
		return false;
	ok = !bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_LINK_TYPE_XDP &&
	     prog_named(info.prog_id, RG_PROG_NAME);
	close(fd);
	return ok;
}

/* A map pin is ours when its name is one this build pins and the kernel object is a map of
 * that name (the kernel keeps the first 15 characters). */
static bool pin_is_our_map(const char *path, const char *name)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd;
	bool ok;

	if (!rg_map_is_ours(name))
		return false;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return false;
	ok = !bpf_obj_get_info_by_fd(fd, &info, &len) && info.id &&
	     !strncmp(info.name, name, 15);
	close(fd);
	return ok;
}

/* Unlinks the pins of one subdirectory that are ours, then the subdirectory if that left it
 * empty. Foreign pins stay, and so does the directory holding them. */
static int remove_owned_in(const char *sub, bool links)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	int err = 0, kept = 0;
	DIR *d;

	pin_path(dir, sizeof(dir), sub, NULL);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		bool ours;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ours = links ? pin_is_our_link(path) : pin_is_our_map(path, de->d_name);
		if (!ours) {
			pr_info("left %s in place: rstguard did not pin it\n", path);
			kept++;
			continue;
		}
		if (unlink(path) && !err)
			err = -errno;
	}
	closedir(d);
	if (!kept && rmdir(dir) && !err)
		err = -errno;
	return err;
}

int pins_remove_owned(void)
{
	int err = remove_owned_in("links", true);
	int err2 = remove_owned_in("maps", false);

	return err ? err : err2;
}

/* Anything in the pin dir besides our marks (maps/ and links/ are gone once emptied). */
static bool holds_foreign(void)
{
	struct dirent *de;
	bool foreign = false;
	DIR *d = opendir(cli.pin_dir);

	if (!d)
		return true;
	/* Names with a dot are the kernel's own (maps.debug, progs.debug): no pin can have one. */
	while ((de = readdir(d)))
		if (!strchr(de->d_name, '.') && strcmp(de->d_name, MARK_MOUNTED) &&
		    strcmp(de->d_name, MARK_MADE))
			foreign = true;
	closedir(d);
	return foreign;
}

void pin_dir_release(void)
{
	bool mounted, made;

	if (!on_bpffs(cli.pin_dir) || is_sys_bpffs(cli.pin_dir))
		return;
	mounted = has_mark(MARK_MOUNTED) && is_mount_root(cli.pin_dir);
	made = has_mark(MARK_MADE);
	if (!mounted && !made)
		return;
	if (holds_foreign()) {
		pr_info("left %s in place: it holds entries rstguard did not make\n", cli.pin_dir);
		return;
	}
	if (mounted) {
		/* The marks go with the bpffs instance; the mount point beneath stays ours if made. */
		if (umount2(cli.pin_dir, UMOUNT_NOFOLLOW)) {
			pr_warn("cannot unmount the bpffs on %s: %s\n", cli.pin_dir, errstr(-errno));
			return;
		}
	} else {
		clear_mark(MARK_MADE);
	}
	if (made && rmdir(cli.pin_dir) && errno != ENOENT)
		pr_info("left %s in place: %s\n", cli.pin_dir, errstr(-errno));
}
