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
#include "polkeys.h"
#include "rstguard.skel.h"
#include "state.h"
#include "util.h"

/* Is the map one of the set rg_maps_prepare is asked for? */
static bool in_set(const char *name, enum rg_map_set set)
{
	int id = rg_map_id(name);

	return set == RG_MAPS_ALL || (id >= 0 && rg_map_sets[id] == set);
}

/* The flow tables and their presence filter are sized together: the filter's mask is a load-time
 * constant, sized for the larger table (both share it). */
static void size_flow_table(struct rstguard *skel, const struct rg_flow_sizes *sz)
{
	uint32_t blocks = rg_presence_blocks(sz->v4 > sz->v6 ? sz->v4 : sz->v6);

	bpf_map__set_max_entries(skel->maps.rg_flows4, sz->v4);
	bpf_map__set_max_entries(skel->maps.rg_flows6, sz->v6);
	bpf_map__set_max_entries(skel->maps.rg_presence, blocks);
	skel->rodata->cfg_presence_mask = blocks - 1;
}

/*
 * libbpf refuses a mismatched pin with a bare EINVAL. A map's definition cannot change under a
 * live pin, so this is the upgrade case: say which map, which fields differ and what to do, and
 * refuse before anything is created, loaded or attached. The embedded object's own definition
 * is held to the same table first: the two sides of the contract cannot drift apart unseen.
 */
static int check_pinned(struct bpf_map *map, const char *path)
{
	int id = rg_map_id(bpf_map__name(map)), fd, err;
	char diff[512];

	if (id < 0)
		return rg_fail(RC_ERR, "the BPF object has a map %s that bpf/map_names.h does not "
				       "list", bpf_map__name(map));
	err = rg_map_layout_of(id, bpf_map__type(map), bpf_map__key_size(map),
			       bpf_map__value_size(map), bpf_map__map_flags(map),
			       bpf_map__max_entries(map), diff, sizeof(diff));
	if (err)
		return rg_fail(RC_ERR, "this build's map %s differs from what its control plane "
				       "reads (%s)", bpf_map__name(map), diff);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : rg_fail(RC_ERR, "cannot open pinned map %s: %s", path,
						     errstr(-errno));
	err = rg_map_layout(fd, id, diff, sizeof(diff));
	/* The tables' sizes are the request's, which rg_flow_sizes_resolve matched already. */
	if (!err && bpf_map__max_entries(map) != rg_pinned_entries(cli.pin_dir, id))
		snprintf(diff, sizeof(diff), "max entries %u, this build %u",
			 rg_pinned_entries(cli.pin_dir, id), bpf_map__max_entries(map)), err = -EPROTO;
	close(fd);
	if (err == -EPROTO)
		return rg_fail(RC_ERR,
			       "pinned map %s has another layout than this rstguard build expects "
			       "(%s), left by another version? Nothing was changed. The maps cannot "
			       "be migrated in place: 'rstguard detach --all' removes every pin (tracked "
			       "flows, counters and policy with it), then attach again",
			       path, diff);
	if (err)
		return rg_fail(RC_ERR, "cannot inspect pinned map %s: %s", path, errstr(err));
	return 0;
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
		if (!in_set(name, set)) {
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
	struct rg_flow_sizes have = { rg_pinned_entries(cli.pin_dir, RG_M_FLOWS4),
				      rg_pinned_entries(cli.pin_dir, RG_M_FLOWS6) };

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
	struct rg_policy p;
	struct rg_state st;
	int err = rg_state_open(&st, cli.pin_dir);

	rg_pol_default(&p);

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
	pin_path(path, sizeof(path), "maps", rg_map_names[RG_M_POLICY]);
	new_policy = access(path, F_OK) != 0;
	/* New flow tables (a first attach, or a resize: flows start over) start the learning
	 * period again. */
	pin_path(path, sizeof(path), "maps", rg_map_names[RG_M_FLOWS4]);
	new_flows = (set == RG_MAPS_ALL || set == RG_MAPS_FLOWS) && access(path, F_OK) != 0;

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
	return rg_map_id(name) >= 0;
}
