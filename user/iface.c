// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* What an interface's pinned XDP link says about it: the helpers attach, detach, status and
 * apply share. */
#include "iface.h"

#include <errno.h>
#include <limits.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include "util.h"

int rg_link_info(int fd, struct bpf_link_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

uint32_t rg_attached_mode(int ifindex, uint32_t prog_id)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return 0;
	if (q.drv_prog_id == prog_id)
		return XDP_FLAGS_DRV_MODE;
	if (q.skb_prog_id == prog_id)
		return XDP_FLAGS_SKB_MODE;
	if (q.hw_prog_id == prog_id)
		return XDP_FLAGS_HW_MODE;
	return 0;
}

int rg_find_record(const struct rg_iface *recs, const char *name)
{
	for (int i = 0; i < RG_MAX_IFACES; i++)
		if (rg_iface_used(&recs[i]) && !strncmp(recs[i].name, name, sizeof(recs[i].name)))
			return i;
	return -1;
}

/* What actually runs on the interface, as libxdp sees it: our program alone, or a dispatcher. */
static void dispatcher_of(int ifindex, char *buf, size_t len)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);

	if (!mp || libxdp_get_error(mp)) {
		snprintf(buf, len, "unknown");
		return;
	}
	if (xdp_multiprog__is_legacy(mp))
		snprintf(buf, len, "alone");
	else
		snprintf(buf, len, "libxdp dispatcher (%d programs)", xdp_multiprog__program_count(mp));
	xdp_multiprog__close(mp);
}

/* The device the record was made for still exists under its name. */
static bool device_still_here(const struct rg_iface *rec)
{
	char name[IF_NAMESIZE];

	return rec->ifindex && if_indextoname(rec->ifindex, name) &&
	       !strncmp(name, rec->name, sizeof(rec->name));
}

void rg_iface_probe(const struct rg_iface *rec, struct rg_probe *s)
{
	struct bpf_link_info info;
	char path[PATH_MAX], name[sizeof(rec->name) + 1];
	int fd;

	memset(s, 0, sizeof(*s));
	snprintf(s->runs, sizeof(s->runs), "-");
	snprintf(name, sizeof(name), "%.*s", (int)sizeof(rec->name), rec->name);
	pin_path(path, sizeof(path), "links", name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		s->state = "no-link";
		return;
	}
	if (rg_link_info(fd, &info) || info.type != BPF_LINK_TYPE_XDP) {
		s->state = "bad-link";
		close(fd);
		return;
	}
	close(fd);
	s->link_prog_id = info.prog_id;
	s->link_ifindex = info.xdp.ifindex;
	if (!info.xdp.ifindex) {
		/* A link loses its device when the device goes, or when someone detaches it
		 * (bpftool link detach): the device still being there tells the two apart. */
		s->state = device_still_here(rec) ? "no-link" : "interface-gone";
		return;
	}
	/* The name no longer leads to the link's device here: renamed, or in another netns. */
	if (if_nametoindex(name) != info.xdp.ifindex) {
		s->state = "elsewhere";
		return;
	}
	if (rg_attached_mode(info.xdp.ifindex, info.prog_id) == 0) {
		s->state = "not-on-interface";
		return;
	}
	s->state = "ok";
	dispatcher_of(info.xdp.ifindex, s->runs, sizeof(s->runs));
}
