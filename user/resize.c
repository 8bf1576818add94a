// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Flow tables of another size under every attached interface at once, keeping policy, scope
 * and counters (the maps that hold them are not touched). */
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "iface.h"
#include "log.h"
#include "rstguard.skel.h"
#include "util.h"

/* The maps a resize replaces: a table's presence filter is sized with it. */
static const int swapped[] = { RG_M_FLOWS4, RG_M_FLOWS6, RG_M_PRESENCE };
#define NSWAP 3

/* A live link of ours and what its instance was loaded with. */
struct live {
	int link_fd, old_prog_fd;
	uint32_t slot;
	struct rg_iface rec;
	bool switched;
};

/* Every attached interface whose link still holds its device, with the program it runs now
 * (kept open to switch back to if the resize fails halfway). */
static int collect_live(struct live *lv, int *n)
{
	struct rg_iface recs[RG_MAX_IFACES];
	struct bpf_link_info info;
	char path[PATH_MAX];
	struct rg_state st;
	int err;

	*n = 0;
	if ((err = rg_state_open(&st, cli.pin_dir)))
		return err == -ENOENT ? 0 : err;
	err = rg_ifaces_read(&st, recs);
	rg_state_close(&st);
	if (err)
		return err;
	for (uint32_t i = 0; i < RG_MAX_IFACES; i++) {
		struct live *l = &lv[*n];
		char name[sizeof(recs[i].name) + 1];

		if (!rg_iface_used(&recs[i]))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)sizeof(recs[i].name), recs[i].name);
		pin_path(path, sizeof(path), "links", name);
		l->link_fd = bpf_obj_get(path);
		if (l->link_fd < 0)
			continue;
		if (rg_link_info(l->link_fd, &info) || info.type != BPF_LINK_TYPE_XDP ||
		    !info.xdp.ifindex || (l->old_prog_fd = bpf_prog_get_fd_by_id(info.prog_id)) < 0) {
			/* A link without a device runs nothing: it keeps the old tables until it
			 * is detached, harmlessly. */
			close(l->link_fd);
			continue;
		}
		l->slot = i;
		l->rec = recs[i];
		l->switched = false;
		(*n)++;
	}
	return 0;
}

static void release_live(struct live *lv, int n)
{
	for (int i = 0; i < n; i++) {
		close(lv[i].link_fd);
		close(lv[i].old_prog_fd);
	}
}

/* Puts the old tables back in place of the new ones, and the old programs on the links. */
static void roll_back(const int *old_fd, struct live *lv, int n)
{
	char path[PATH_MAX];

	for (int i = 0; i < n; i++)
		if (lv[i].switched)
			bpf_link_update(lv[i].link_fd, lv[i].old_prog_fd, NULL);
	for (int i = 0; i < NSWAP; i++) {
		pin_path(path, sizeof(path), "maps", rg_map_names[swapped[i]]);
		unlink(path);
		if (old_fd[i] >= 0 && bpf_obj_pin(old_fd[i], path))
			pr_warn("cannot restore the pin %s: %s\n", path, errstr(-errno));
	}
}

/* Loads a new instance for a live link (it finds the new tables at their pins) and swaps it
 * in: bpf_link_update is atomic, no packet sees neither program. */
static int switch_link(struct live *l, const struct rg_flow_sizes *want)
{
	struct rg_state st;
	struct rstguard *skel;
	int rc;

	rc = rg_load_instance(l->rec.role, l->slot, l->rec.l3, want, &skel);
	if (rc)
		return rc;
	if (bpf_link_update(l->link_fd, bpf_program__fd(skel->progs.rstguard_xdp), NULL)) {
		rc = rg_fail(RC_ERR, "cannot replace the program on %.16s: %s", l->rec.name,
			     errstr(-errno));
	} else {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		l->switched = true;
		if (!bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.rstguard_xdp), &info, &len) &&
		    !rg_state_open(&st, cli.pin_dir)) {
			l->rec.prog_id = info.id;
			rg_iface_write(&st, l->slot, &l->rec);
			rg_state_close(&st);
		}
	}
	rstguard__destroy(skel);
	return rc;
}

int rg_flows_resize(const struct rg_flow_sizes *req, bool *resized)
{
	struct rg_flow_sizes have = { rg_pinned_entries(cli.pin_dir, RG_M_FLOWS4), rg_pinned_entries(cli.pin_dir, RG_M_FLOWS6) };
	struct rg_flow_sizes want, got;
	int old_fd[NSWAP], nlive = 0, rc = 0, err;
	static struct live lv[RG_MAX_IFACES];
	char path[PATH_MAX];

	*resized = false;
	if (!have.v4 || !have.v6)
		return 0; /* nothing pinned yet: the tables are made at the requested size */
	want.v4 = req->v4 ? req->v4 : have.v4;
	want.v6 = req->v6 ? req->v6 : have.v6;
	if (want.v4 == have.v4 && want.v6 == have.v6)
		return 0;
	if ((err = collect_live(lv, &nlive)))
		return rg_fail(RC_ERR, "cannot read the attached interfaces: %s", errstr(err));
	for (int i = 0; i < NSWAP; i++) {
		pin_path(path, sizeof(path), "maps", rg_map_names[swapped[i]]);
		old_fd[i] = bpf_obj_get(path);
		unlink(path);
	}
	/* The new tables take the old pins' places; the running programs keep the old ones. */
	rc = rg_maps_prepare(RG_MAPS_FLOWS, &want, &got);
	for (int i = 0; i < nlive && !rc; i++)
		rc = switch_link(&lv[i], &want);
	if (rc)
		roll_back(old_fd, lv, nlive);
	else
		rg_audit("flow tables resized: ipv4 %u, ipv6 %u entries (before: ipv4 %u, ipv6 %u); "
			 "%d interfaces switched to them, tracked flows start over", want.v4, want.v6,
			 have.v4, have.v6, nlive);
	for (int i = 0; i < NSWAP; i++)
		if (old_fd[i] >= 0)
			close(old_fd[i]);
	release_live(lv, nlive);
	if (!rc) {
		*resized = true;
		pr_warn("flow tables resized to %u (IPv4) and %u (IPv6) entries under %d interfaces; "
			"policy, scope and counters kept, tracked flows start over (connections are "
			"picked up again from their next segments)\n", want.v4, want.v6, nlive);
	}
	return rc;
}
