// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Creates the shared pinned maps once and loads every per-interface program instance on them. */
#include "load.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flow_state.h"
#include "log.h"
#include "rstguard.skel.h"
#include "state.h"
#include "util.h"

static const char *const policy_maps[] = { "rg_policy", "rg_ports", "rg_protect", "rg_exempt" };

static bool is_policy_map(const char *name)
{
	for (size_t i = 0; i < sizeof(policy_maps) / sizeof(policy_maps[0]); i++)
		if (!strcmp(name, policy_maps[i]))
			return true;
	return false;
}

static uint32_t pinned_entries(const char *map)
{
	char path[PATH_MAX];
	uint32_t n = 0;
	int fd;

	pin_path(path, sizeof(path), "maps", map);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (rg_map_max_entries(fd, &n))
		n = 0;
	close(fd);
	return n;
}

/* The flow tables and their presence filter are sized together: the filter's mask is a load-time
 * constant, sized for the larger table (both share it). */
static void size_flow_table(struct rstguard *skel, const struct rg_flow_sizes *sz)
{
	uint32_t words = rg_presence_words(sz->v4 > sz->v6 ? sz->v4 : sz->v6);

	bpf_map__set_max_entries(skel->maps.rg_flows4, sz->v4);
	bpf_map__set_max_entries(skel->maps.rg_flows6, sz->v6);
	bpf_map__set_max_entries(skel->maps.rg_presence, words);
	skel->rodata->cfg_presence_mask = words - 1;
}

/* Appends "what pinned N, this build M" to buf when the two differ; returns the new length. */
static size_t note_diff(char *buf, size_t len, size_t n, const char *what, unsigned long long have,
			unsigned long long want, bool hex)
{
	if (have == want || n >= len)
		return n;
	return n + snprintf(buf + n, len - n, hex ? "%s%s 0x%llx, this build 0x%llx"
						  : "%s%s %llu, this build %llu",
			    n ? "; " : "", what, have, want);
}

static const char *map_type_str(unsigned int t)
{
	const char *s = libbpf_bpf_map_type_str(t);

	return s ? s : "unknown";
}

/*
 * libbpf refuses a mismatched pin with a bare EINVAL. A map's definition cannot change under a
 * live pin, so this is the upgrade case: say which map, which fields differ and what to do, and
 * refuse before anything is created, loaded or attached.
 */
static int check_pinned(struct bpf_map *map, const char *path)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path), err = 0;
	char diff[512] = "";
	size_t n = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : rg_fail(RC_ERR, "cannot open pinned map %s: %s", path,
						     errstr(-errno));
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = rg_fail(RC_ERR, "cannot inspect pinned map %s: %s", path, errstr(-errno));
		goto out;
	}
	if (info.type != bpf_map__type(map))
		n += snprintf(diff + n, sizeof(diff) - n, "type %s, this build %s",
			      map_type_str(info.type), map_type_str(bpf_map__type(map)));
	n = note_diff(diff, sizeof(diff), n, "key size", info.key_size, bpf_map__key_size(map),
		      false);
	n = note_diff(diff, sizeof(diff), n, "value size", info.value_size,
		      bpf_map__value_size(map), false);
	n = note_diff(diff, sizeof(diff), n, "max entries", info.max_entries,
		      bpf_map__max_entries(map), false);
	n = note_diff(diff, sizeof(diff), n, "flags", info.map_flags, bpf_map__map_flags(map), true);
	if (n)
		err = rg_fail(RC_ERR,
			      "pinned map %s has another layout than this rstguard build expects "
			      "(%s), left by another version? Nothing was changed. The maps cannot "
			      "be migrated in place: 'rstguard detach --all' removes every pin (tracked "
			      "flows, counters and policy with it), then attach again",
			      path, diff);
out:
	close(fd);
	return err;
}

/* Points every shared map at its pin, so libbpf reuses what exists and pins what it creates. */
static int set_pins(struct rstguard *skel, enum rg_map_set set, bool check)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int err;

	bpf_object__for_each_map(map, skel->obj) {
		const char *name = bpf_map__name(map);

		/* .rodata/.bss belong to one instance: they carry its slot, role and clock. */
		if (bpf_map__is_internal(map))
			continue;
		if (set == RG_MAPS_POLICY && !is_policy_map(name)) {
			bpf_map__set_autocreate(map, false);
			continue;
		}
		pin_path(path, sizeof(path), "maps", name);
		if (check && (err = check_pinned(map, path)))
			return err;
		if (check)
			pr_debug("%s %s\n", access(path, F_OK) ? "creating" : "reusing", path);
		err = bpf_map__set_pin_path(map, path);
		if (err)
			return rg_fail(RC_ERR, "cannot set pin path %s: %s", path, errstr(err));
	}
	return 0;
}

int rg_flow_sizes_resolve(const struct rg_flow_sizes *req, struct rg_flow_sizes *out)
{
	struct rg_flow_sizes have = { pinned_entries("rg_flows4"), pinned_entries("rg_flows6") };

	for (int v6 = 0; v6 < 2; v6++) {
		uint32_t h = v6 ? have.v6 : have.v4, r = v6 ? req->v6 : req->v4;

		if (r && h && r != h)
			return rg_fail(RC_USAGE,
				       "the shared %s flow table already has %u entries; --flows%s %u "
				       "cannot resize it while it is in use: leave out --flows%s, or "
				       "'rstguard detach --all' first (that drops tracked flows and "
				       "policy)", v6 ? "IPv6" : "IPv4", h, v6 ? "6" : "", r,
				       v6 ? "6" : "");
	}
	out->v4 = have.v4 ? have.v4 : req->v4 ? req->v4 : RG_DEFAULT_FLOWS;
	out->v6 = have.v6 ? have.v6 : req->v6 ? req->v6 : out->v4;
	return 0;
}

static int write_default_policy(void)
{
	struct rg_policy p = { .bits = 0, .generation = 1, .timeout = RG_TIMEOUTS_DEFAULT,
			       .learning = RG_LEARNING_DEFAULT };
	struct rg_state st;
	int err = rg_state_open(&st, cli.pin_dir);

	if (!err) {
		err = rg_policy_write(&st, &p);
		rg_state_close(&st);
	}
	if (err)
		return rg_fail(RC_ERR, "cannot write the default policy: %s", errstr(err));
	return 0;
}

/* The learning period runs from the flow tables' creation, not the policy's: policy can be set
 * before the first attach. Not a policy change, so the generation stays. */
static int stamp_born(void)
{
	struct rg_policy p;
	struct rg_state st;
	int err = rg_state_open(&st, cli.pin_dir);

	if (!err) {
		err = rg_policy_read(&st, &p);
		if (!err) {
			p.born = rg_clock_now();
			err = rg_policy_write(&st, &p);
		}
		rg_state_close(&st);
	}
	if (err)
		return rg_fail(RC_ERR, "cannot start the learning period: %s", errstr(err));
	return 0;
}

int rg_maps_prepare(enum rg_map_set set, const struct rg_flow_sizes *req,
		    struct rg_flow_sizes *out)
{
	char path[PATH_MAX];
	struct rstguard *skel;
	struct bpf_program *prog;
	bool new_policy, new_flows;
	int rc, err;

	if ((rc = rg_flow_sizes_resolve(req, out)))
		return rc;
	pin_path(path, sizeof(path), "maps", "rg_policy");
	new_policy = access(path, F_OK) != 0;
	pin_path(path, sizeof(path), "maps", "rg_flows4");
	new_flows = set == RG_MAPS_ALL && access(path, F_OK) != 0;

	skel = rstguard__open();
	if (!skel)
		return rg_fail(RC_ERR, "cannot open the embedded BPF object: %s", errstr(-errno));
	size_flow_table(skel, out);
	/* Only the maps are wanted here; each interface loads its own program later. */
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, false);
	rc = set_pins(skel, set, true);
	if (!rc) {
		err = rstguard__load(skel);
		if (err)
			rc = rg_fail(RC_ERR, "cannot create the shared maps under %s/maps: %s%s",
				     cli.pin_dir, errstr(err),
				     err == -EPERM ? " (needs root: CAP_BPF and CAP_NET_ADMIN)"
				     : rg_log_verbosity ? "" : " (-v shows libbpf's reasons)");
	}
	rstguard__destroy(skel);
	if (!rc && new_policy)
		rc = write_default_policy();
	if (!rc && new_flows)
		rc = stamp_born();
	return rc;
}

int rg_load_instance(uint32_t role, uint32_t slot, uint32_t l3, const struct rg_flow_sizes *sz,
		     struct rstguard **out)
{
	struct rstguard *skel;
	int rc, err;

	*out = NULL;
	skel = rstguard__open();
	if (!skel)
		return rg_fail(RC_ERR, "cannot open the embedded BPF object: %s", errstr(-errno));
	skel->rodata->cfg_role = role;
	skel->rodata->cfg_slot = slot;
	skel->rodata->cfg_l3 = l3;
	size_flow_table(skel, sz);
	rc = set_pins(skel, RG_MAPS_ALL, false);
	if (!rc) {
		err = rstguard__load(skel);
		if (err)
			rc = rg_fail(RC_ERR, "cannot load the XDP program: %s%s", errstr(err),
				     rg_log_verbosity ? "" : " (-v shows libbpf's reasons)");
	}
	if (rc) {
		rstguard__destroy(skel);
		return rc;
	}
	*out = skel;
	return 0;
}

bool rg_map_is_ours(const char *name)
{
	static char names[32][BPF_OBJ_NAME_LEN];
	static int n = -1;
	struct rstguard *skel;
	struct bpf_map *map;

	/* The embedded object is the one list of what rstguard pins; read it once. */
	if (n < 0) {
		n = 0;
		skel = rstguard__open();
		if (skel) {
			bpf_object__for_each_map(map, skel->obj) {
				if (bpf_map__is_internal(map) || n >= 32)
					continue;
				snprintf(names[n++], sizeof(names[0]), "%s", bpf_map__name(map));
			}
			rstguard__destroy(skel);
		}
	}
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}
