// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* detach: removes rstguard's link from interfaces; --all removes every pin of rstguard's. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "cmds.h"
#include "iface.h"
#include "log.h"
#include "names.h"
#include "pindir.h"
#include "util.h"

int rg_detach_one(const char *name, const struct rg_state *st, bool forget)
{
	struct rg_iface recs[RG_MAX_IFACES], before = {};
	char path[PATH_MAX];
	int fd, rec = -1, err = 0;

	pin_path(path, sizeof(path), "links", name);
	if (access(path, F_OK) == 0 && !pin_is_our_link(path))
		return rg_fail(RC_ERR, "%s is not a link rstguard pinned; it is left alone", path);
	if (st && !rg_ifaces_read(st, recs) && (rec = rg_find_record(recs, name)) >= 0)
		before = recs[rec];
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		/* Detaching, not just unpinning: another holder of the link must not keep it on. */
		if (bpf_link_detach(fd) && errno != ENOLINK)
			err = -errno;
		close(fd);
	}
	if (err)
		return rg_fail(RC_ERR, "cannot detach %s: %s", name, errstr(err));
	if (unlink(path) && errno != ENOENT)
		return rg_fail(RC_ERR, "cannot remove %s: %s", path, errstr(-errno));
	if (forget && rec >= 0) {
		struct rg_iface zero = {};

		rg_iface_write(st, rec, &zero);
	}
	rg_audit("detach %s: not attached%s (before: role=%s xdp_mode=%s prog_id=%u)", name,
		 forget ? "" : ", its slot and counters kept for a new attach",
		 rg_role_str(before.role), rg_xdp_mode_str(before.xdp_mode), before.prog_id);
	return 0;
}

static void detach_usage(void)
{
	printf("Usage: rstguard detach IFACE... | --all  [-j] [-v] [--pin-dir DIR]\n"
	       "\n"
	       "Removes rstguard's program from each interface. Tracked flows, policy and the other\n"
	       "interfaces stay. --all detaches every interface and removes every pin (maps, policy\n"
	       "and flows are gone). Programs and pins of other tools are never touched.\n");
}

/* The interfaces that have a link pin of ours. */
static int our_links(char ***names, int *n)
{
	char path[PATH_MAX], lp[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;

	pin_path(path, sizeof(path), "links", NULL);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		char **more;

		snprintf(lp, sizeof(lp), "%s/%s", path, de->d_name);
		if (de->d_name[0] == '.' || !pin_is_our_link(lp))
			continue;
		more = realloc(*names, sizeof(**names) * (*n + 1));
		if (!more)
			break;
		*names = more;
		(*names)[(*n)++] = strdup(de->d_name);
	}
	if (d)
		closedir(d);
	return 0;
}

static int nothing_attached(void)
{
	struct json_object *out;

	rg_clear_error();
	if (cli.json) {
		out = json_object_new_object();
		json_object_object_add(out, "detached", json_object_new_array());
		json_object_object_add(out, "pins_removed", json_object_new_boolean(true));
		json_print(out);
	} else {
		printf("nothing attached under %s\n", cli.pin_dir);
	}
	return RC_OK;
}

/* Arguments that are not interfaces rstguard holds are refused before anything is done. */
static int check_args(int n, char **args)
{
	char path[PATH_MAX];
	struct stat sb;

	for (int i = 0; i < n; i++) {
		if (strlen(args[i]) >= IFNAMSIZ || strchr(args[i], '/'))
			return rg_fail(RC_USAGE, "'%s' is not an interface name", args[i]);
		pin_path(path, sizeof(path), "links", args[i]);
		if (stat(path, &sb)) {
			if (errno == EACCES)
				return rg_fail(RC_ERR, "cannot look at %s: %s", path, errstr(-errno));
			return rg_fail(RC_USAGE, "%s is not attached by rstguard (no %s)", args[i], path);
		}
	}
	return 0;
}

int do_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		RG_COMMON_LONGOPTS,
		{}
	};
	struct json_object *out, *arr;
	struct rg_state st;
	bool all = false, have_st;
	int c, n, rc = 0, lock, err, nnames = 0;
	char **names = NULL;

	while ((c = getopt_long(argc, argv, ":" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		switch (c) {
		case 'h':
			detach_usage();
			return RC_OK;
		case 'a':
			all = true;
			break;
		default:
			return bad_opt("detach", c, argv);
		}
	}
	n = argc - optind;
	if (all && n)
		return rg_fail(RC_USAGE, "give interfaces or --all, not both");
	if (!all && !n)
		return rg_fail(RC_USAGE, "detach needs interfaces or --all; see 'rstguard detach --help'");
	if ((rc = pin_dir_check()) || (rc = check_args(n, argv + optind)))
		return rc;
	if ((lock = pin_dir_lock()) < 0)
		return RC_ERR;
	if ((rc = pin_dir_ready(false))) {
		pin_dir_unlock(lock);
		return all && rc == RC_ABSENT ? nothing_attached() : rc;
	}
	have_st = rg_state_open(&st, cli.pin_dir) == 0;
	if (all)
		our_links(&names, &nnames);
	else
		for (int i = 0; i < n; i++) {
			names = realloc(names, sizeof(*names) * (nnames + 1));
			names[nnames++] = strdup(argv[optind + i]);
		}
	arr = json_object_new_array();
	for (int i = 0; i < nnames && !rc; i++) {
		rc = rg_detach_one(names[i], have_st ? &st : NULL, true);
		if (!rc) {
			json_object_array_add(arr, json_object_new_string(names[i]));
			if (!cli.json)
				printf("%s: detached\n", names[i]);
		}
	}
	if (have_st)
		rg_state_close(&st);
	if (!rc && all && (err = pins_remove_owned()))
		rc = rg_fail(RC_ERR, "cannot remove the pins under %s: %s", cli.pin_dir, errstr(err));
	if (!rc && all) {
		pin_dir_release();
		rg_audit("detach --all: every interface detached, rstguard's pins under %s removed "
			 "(policy, scope, flows and counters with them)", cli.pin_dir);
	}
	pin_dir_unlock(lock);
	if (!rc && all && !cli.json)
		printf("removed rstguard's pins under %s\n", cli.pin_dir);
	if (!rc && cli.json) {
		out = json_object_new_object();
		json_object_object_add(out, "detached", arr);
		json_object_object_add(out, "pins_removed", json_object_new_boolean(all));
		json_print(out);
	} else {
		json_object_put(arr);
	}
	for (int i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	return rc;
}
