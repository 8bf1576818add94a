/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The pin directory: making it, locking changes to it, and removing only what rstguard made. */
#ifndef RG_PINDIR_H
#define RG_PINDIR_H

#include <stdbool.h>

/* Every change to any pin dir is serialised on this file, outside any bpffs. */
#define RG_LOCK_FILE "/run/rstguard.lock"
/* The name the kernel knows the XDP program by: a link pin is ours only when it runs it. */
#define RG_PROG_NAME "rstguard_xdp"

/* The pin dir option itself: absolute, not something other than a directory. 0 or RC_USAGE. */
int pin_dir_check(void);
/*
 * Makes sure the pin directory exists on a bpffs. With create, missing directories are made
 * (and marked as rstguard's) and, when the place is not on a bpffs and we are root, one is
 * mounted there and marked; below /sys/fs/bpf the system bpffs is mounted instead, for good.
 * Call with the lock held when create is set. 0, or an RC_* after rg_fail().
 */
int pin_dir_ready(bool create);
/* 1 when the pin directory holds anything in maps/ or links/. */
bool pin_dir_in_use(void);
/* Serialises changes between concurrent rstguard commands: an fd, or -1 after rg_fail(). */
int pin_dir_lock(void);
void pin_dir_unlock(int fd);
/* Is the pin at path an XDP link running rstguard's program? */
bool pin_is_our_link(const char *path);
/* Unlinks rstguard's own link and map pins (never another tool's), and maps/ and links/ when
 * that empties them. 0 or the first -errno. */
int pins_remove_owned(void);
/* Removes the pin dir when rstguard made it and it holds nothing else, unmounting the bpffs
 * only when rstguard mounted it there itself; never the system bpffs. */
void pin_dir_release(void);

#endif
