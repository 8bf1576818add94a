// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* attach, detach, status: one pinned XDP bpf_link per interface over the shared pinned maps. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if_arp.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include "cmds.h"
#include "load.h"
#include "log.h"
#include "pindir.h"
#include "rstguard.skel.h"
#include "state.h"
#include "util.h"

/* Newer than glibc's <net/if_arp.h>; <linux/if_arp.h> clashes with <net/if.h>. */
#ifndef ARPHRD_RAWIP
#define ARPHRD_RAWIP 519
#endif
#ifndef ARPHRD_IP6GRE
#define ARPHRD_IP6GRE 823
#endif
#define RG_MIN_FLOWS 1024u
#define RG_MAX_FLOWS (1u << 26)

struct target {
	const char *name;
	int ifindex;
	uint32_t l3;
	uint32_t role;
	uint32_t mode;     /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
	uint32_t slot;
	bool had_record;   /* the slot already belonged to this name */
	bool reattach;     /* our link is on it: replace the program in place */
	bool stale_pin;    /* our pin, but its interface is gone or was recreated */
	int link_fd;
	struct rg_iface old;
	uint32_t old_prog_id, new_prog_id;
};

static const char *mode_name(uint32_t mode)
{
	switch (mode) {
	case XDP_FLAGS_DRV_MODE:
		return "native";
	case XDP_FLAGS_SKB_MODE:
		return "skb";
	case XDP_FLAGS_HW_MODE:
		return "hw";
	}
	return "unknown";
}

static const char *role_name(uint32_t role)
{
	return role > 0 && role < RG_ROLE_MAX ? rg_role_names[role] : "unknown";
}

static int parse_role(const char *s, uint32_t *role)
{
	for (uint32_t r = 1; r < RG_ROLE_MAX; r++)
		if (rg_role_names[r] && !strcmp(s, rg_role_names[r])) {
			*role = r;
			return 0;
		}
	return rg_fail(RC_USAGE, "invalid --role '%s': use host, gateway or both", s);
}

static int parse_mode(const char *s, uint32_t *mode)
{
	if (!strcmp(s, "native") || !strcmp(s, "drv"))
		*mode = XDP_FLAGS_DRV_MODE;
	else if (!strcmp(s, "skb") || !strcmp(s, "generic"))
		*mode = XDP_FLAGS_SKB_MODE;
	else
		return rg_fail(RC_USAGE, "invalid --xdp-mode '%s': use native or skb", s);
	return 0;
}

static int link_info(int fd, struct bpf_link_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

static uint32_t prog_id_of(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(prog_fd, &info, &len) ? 0 : info.id;
}

static void prog_name(uint32_t id, char *buf, size_t len)
{
	struct bpf_prog_info info = {};
	__u32 ilen = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	snprintf(buf, len, "?");
	if (fd < 0)
		return;
	if (!bpf_obj_get_info_by_fd(fd, &info, &ilen))
		snprintf(buf, len, "%s", info.name);
	close(fd);
}

/* The device's link type decides whether frames start with an Ethernet header. */
static int detect_l3(const char *name, uint32_t *l3)
{
	struct ifreq ifr = {};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;
	unsigned short type;

	if (s < 0)
		return rg_fail(RC_ERR, "socket: %s", errstr(-errno));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFHWADDR, &ifr))
		err = -errno;
	close(s);
	if (err)
		return rg_fail(RC_ERR, "cannot read the link type of %s: %s", name, errstr(err));
	type = ifr.ifr_hwaddr.sa_family;
	switch (type) {
	case ARPHRD_ETHER:
	case ARPHRD_LOOPBACK:
		*l3 = 0;
		return 0;
	case ARPHRD_NONE:
	case ARPHRD_RAWIP:
	case ARPHRD_TUNNEL:
	case ARPHRD_TUNNEL6:
	case ARPHRD_SIT:
	case ARPHRD_IPGRE:
	case ARPHRD_IP6GRE:
	case ARPHRD_PPP:
		*l3 = 1;
		return 0;
	}
	return rg_fail(RC_USAGE,
		       "%s has link type %u, which rstguard cannot parse (it reads Ethernet frames "
		       "and bare IP packets)",
		       name, type);
}

/* Names what holds the interface, so the operator knows which tool to ask. */
static void describe_foreign(int ifindex, const struct bpf_xdp_query_opts *q, char *buf,
			     size_t len)
{
	uint32_t id = q->drv_prog_id ? q->drv_prog_id : q->skb_prog_id ? q->skb_prog_id : q->hw_prog_id;
	const char *mode = q->drv_prog_id ? "native" : q->skb_prog_id ? "skb" : "hw";
	char name[BPF_OBJ_NAME_LEN];
	struct xdp_multiprog *mp;
	size_t n;

	prog_name(id, name, sizeof(name));
	n = snprintf(buf, len, "XDP program '%s' (id %u, %s mode)", name, id, mode);
	mp = xdp_multiprog__get_from_ifindex(ifindex);
	if (mp && !libxdp_get_error(mp)) {
		if (!xdp_multiprog__is_legacy(mp) && n < len) {
			struct xdp_program *p = NULL;

			n += snprintf(buf + n, len - n, ", a libxdp dispatcher running");
			while ((p = xdp_multiprog__next_prog(p, mp)) && n < len)
				n += snprintf(buf + n, len - n, " '%s'", xdp_program__name(p));
		}
		xdp_multiprog__close(mp);
	}
	if (!strcmp(name, RG_PROG_NAME) && n < len)
		snprintf(buf + n, len - n, ", an rstguard program pinned under another --pin-dir");
}

/* Which mode a program id is attached in on an interface, 0 when not attached. */
static uint32_t attached_mode(int ifindex, uint32_t prog_id)
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

static int find_record(const struct rg_iface *recs, const char *name)
{
	for (int i = 0; i < RG_MAX_IFACES; i++)
		if (rg_iface_used(&recs[i]) && !strncmp(recs[i].name, name, sizeof(recs[i].name)))
			return i;
	return -1;
}

/* Everything that can be refused is refused here, before any interface is touched. */
static int preflight(struct target *t, const struct rg_iface *recs, bool *slot_taken,
		     bool role_given, uint32_t role, bool mode_given, uint32_t mode)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	char path[PATH_MAX], what[512];
	struct bpf_link_info info;
	int rec, rc, err;

	t->ifindex = if_nametoindex(t->name);
	if (!t->ifindex)
		return rg_fail(RC_USAGE, "no interface named '%s'", t->name);
	rc = detect_l3(t->name, &t->l3);
	if (rc)
		return rc;

	rec = find_record(recs, t->name);
	t->had_record = rec >= 0;
	if (t->had_record) {
		t->slot = rec;
		t->old = recs[rec];
	} else {
		int i;

		for (i = 0; i < RG_MAX_IFACES; i++)
			if (!rg_iface_used(&recs[i]) && !slot_taken[i])
				break;
		if (i == RG_MAX_IFACES)
			return rg_fail(RC_ERR, "all %d interface slots are in use; detach one first",
				       RG_MAX_IFACES);
		t->slot = i;
	}
	slot_taken[t->slot] = true;

	pin_path(path, sizeof(path), "links", t->name);
	t->link_fd = bpf_obj_get(path);
	if (t->link_fd >= 0 && !pin_is_our_link(path)) {
		close(t->link_fd);
		t->link_fd = -1;
		return rg_fail(RC_ERR, "%s is not a link rstguard pinned; it is left alone: move it "
				       "away, or use another --pin-dir", path);
	}
	if (t->link_fd >= 0) {
		err = link_info(t->link_fd, &info);
		if (!err && info.type == BPF_LINK_TYPE_XDP && info.xdp.ifindex == (__u32)t->ifindex) {
			t->reattach = true;
			t->old_prog_id = info.prog_id;
		} else if (!err && info.type == BPF_LINK_TYPE_XDP && info.xdp.ifindex) {
			/* Live on another device: renamed, or the same name in another netns. */
			close(t->link_fd);
			t->link_fd = -1;
			return rg_fail(RC_ERR,
				       "%s holds a live link on ifindex %u, not on this %s (renamed, or "
				       "in another network namespace): 'rstguard detach %s' there first",
				       path, info.xdp.ifindex, t->name, t->name);
		} else {
			t->stale_pin = true;
			close(t->link_fd);
			t->link_fd = -1;
		}
	} else if (errno != ENOENT) {
		return rg_fail(RC_ERR, "cannot open %s: %s", path, errstr(-errno));
	}

	if (t->reattach) {
		uint32_t cur = t->had_record && t->old.xdp_mode ? t->old.xdp_mode
								: attached_mode(t->ifindex, t->old_prog_id);

		if (mode_given && cur && mode != cur)
			return rg_fail(RC_USAGE,
				       "%s is attached in %s mode; a replacement keeps the mode: "
				       "'rstguard detach %s' first to change it to %s",
				       t->name, mode_name(cur), t->name, mode_name(mode));
		t->mode = cur ? cur : mode;
		t->role = role_given ? role : t->had_record && t->old.role ? t->old.role : role;
		return 0;
	}

	t->mode = mode;
	t->role = role;
	if (bpf_xdp_query(t->ifindex, 0, &q))
		return rg_fail(RC_ERR, "cannot query XDP on %s: %s", t->name, errstr(-errno));
	if (q.drv_prog_id || q.skb_prog_id || q.hw_prog_id) {
		describe_foreign(t->ifindex, &q, what, sizeof(what));
		return rg_fail(RC_ERR,
			       "%s already carries %s that rstguard did not attach; rstguard leaves "
			       "other programs alone: remove it first (xdp-loader unload, or ip link "
			       "set dev %s xdp off)",
			       t->name, what, t->name);
	}
	return 0;
}

static int write_record(const struct rg_state *st, uint32_t slot, const struct rg_iface *r)
{
	return bpf_map_update_elem(st->fd[RG_M_IFACES], &slot, r, BPF_ANY) ? -errno : 0;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int attach_one(struct target *t, const struct rg_state *st, const struct rg_flow_sizes *sz)
{
	struct rg_iface rec = {}, undo = t->had_record ? t->old : (struct rg_iface){};
	char path[PATH_MAX];
	struct rstguard *skel;
	int prog_fd, link_fd, rc, err;

	pin_path(path, sizeof(path), "links", t->name);
	if (t->stale_pin) {
		link_fd = bpf_obj_get(path);
		if (link_fd >= 0) {
			bpf_link_detach(link_fd);
			close(link_fd);
		}
		unlink(path);
		pr_info("%s: removed a stale link pin (the interface was recreated)\n", t->name);
	}
	rc = rg_load_instance(t->role, t->slot, t->l3, sz, &skel);
	if (rc)
		return rc;
	prog_fd = bpf_program__fd(skel->progs.rstguard_xdp);
	t->new_prog_id = prog_id_of(prog_fd);

	if (!t->had_record && (err = rg_stats_clear(st, t->slot))) {
		rc = rg_fail(RC_ERR, "cannot reset the counters of slot %u: %s", t->slot,
			     errstr(err));
		goto out;
	}
	rec.ifindex = t->ifindex;
	rec.role = t->role;
	rec.xdp_mode = t->mode;
	rec.prog_id = t->new_prog_id;
	/* A replacement never left the interface unfiltered, so "attached since" stays. */
	rec.attached_ns = t->reattach && t->had_record && t->old.attached_ns ? t->old.attached_ns
									    : realtime_ns();
	snprintf(rec.name, sizeof(rec.name), "%s", t->name);
	rec.l3 = t->l3;
	err = write_record(st, t->slot, &rec);
	if (err) {
		rc = rg_fail(RC_ERR, "cannot record slot %u for %s: %s", t->slot, t->name,
			     errstr(err));
		goto out;
	}

	if (t->reattach) {
		/* Atomic: the kernel swaps the program under the link, no packet sees neither. */
		if (bpf_link_update(t->link_fd, prog_fd, NULL)) {
			err = -errno;
			write_record(st, t->slot, &undo);
			rc = rg_fail(RC_ERR, "cannot replace the program on %s: %s", t->name,
				     errstr(err));
		}
		goto out;
	}

	{
		LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = t->mode);

		link_fd = bpf_link_create(prog_fd, t->ifindex, BPF_XDP, &lo);
	}
	if (link_fd < 0) {
		err = -errno;
		write_record(st, t->slot, &undo);
		if (err == -EOPNOTSUPP && t->mode == XDP_FLAGS_DRV_MODE)
			rc = rg_fail(RC_ERR,
				     "%s: the driver has no native XDP support; rstguard does not fall "
				     "back silently: use --xdp-mode skb for generic XDP",
				     t->name);
		else if (err == -EBUSY || err == -EEXIST)
			rc = rg_fail(RC_ERR, "%s: another XDP program was attached meanwhile: %s",
				     t->name, errstr(err));
		else
			rc = rg_fail(RC_ERR, "cannot attach XDP to %s in %s mode: %s", t->name,
				     mode_name(t->mode), errstr(err));
		goto out;
	}
	pin_path(path, sizeof(path), "links", NULL);
	if (mkdir(path, 0700) && errno != EEXIST) {
		err = -errno;
	} else {
		pin_path(path, sizeof(path), "links", t->name);
		err = bpf_obj_pin(link_fd, path) ? -errno : 0;
	}
	/* Without its pin the link dies with this process: the closing fd detaches it. */
	close(link_fd);
	if (err) {
		write_record(st, t->slot, &undo);
		rc = rg_fail(RC_ERR, "cannot pin the link of %s at %s: %s", t->name, path,
			     errstr(err));
	}
out:
	rstguard__destroy(skel);
	return rc;
}

static struct json_object *target_json(const struct target *t)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(t->name));
	json_object_object_add(o, "ifindex", json_object_new_int(t->ifindex));
	json_object_object_add(o, "slot", json_object_new_int(t->slot));
	json_object_object_add(o, "role", json_object_new_string(role_name(t->role)));
	json_object_object_add(o, "xdp_mode", json_object_new_string(mode_name(t->mode)));
	json_object_object_add(o, "l3", json_object_new_boolean(t->l3));
	json_object_object_add(o, "prog_id", json_object_new_int64(t->new_prog_id));
	json_object_object_add(o, "replaced", json_object_new_boolean(t->reattach));
	if (t->reattach)
		json_object_object_add(o, "replaced_prog_id", json_object_new_int64(t->old_prog_id));
	json_object_object_add(o, "attach", json_object_new_string("bpf_link"));
	return o;
}

static void attach_usage(void)
{
	printf("Usage: rstguard attach IFACE... [--role host|gateway|both] [--xdp-mode native|skb]\n"
	       "                        [--flows N] [--flows6 N] [-j] [-v] [--pin-dir DIR]\n"
	       "\n"
	       "Attaches the filter to each interface and returns; it stays in place (pinned links\n"
	       "and maps under the pin dir). All interfaces share one flow table and one policy.\n"
	       "Attaching to an attached interface replaces its program atomically and keeps\n"
	       "flows, policy and counters; options left out keep their current value there.\n"
	       "\n"
	       "  --role ROLE       host: judge RSTs against local sockets; gateway: against the\n"
	       "                    shared flow table; both (default): local destinations by socket,\n"
	       "                    forwarded ones by flow table\n"
	       "  --xdp-mode MODE   native (default; fails rather than falling back) or skb\n"
	       "  --flows N         IPv4 flow table size when it is created (default %u, %u-%u)\n"
	       "  --flows6 N        IPv6 flow table size when it is created (default: as --flows)\n",
	       RG_DEFAULT_FLOWS, RG_MIN_FLOWS, RG_MAX_FLOWS);
}

int do_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "xdp-mode", required_argument, NULL, 'm' },
		{ "flows", required_argument, NULL, 'f' },
		{ "flows6", required_argument, NULL, 'F' },
		RG_COMMON_LONGOPTS,
		{}
	};
	uint32_t role = RG_ROLE_BOTH, mode = XDP_FLAGS_DRV_MODE;
	struct rg_flow_sizes req = {}, sizes;
	bool role_given = false, mode_given = false, slot_taken[RG_MAX_IFACES] = {};
	struct rg_iface recs[RG_MAX_IFACES];
	struct json_object *out = NULL, *arr = NULL;
	struct target *t = NULL;
	struct rg_state st;
	int c, n, rc = 0, lock = -1, done = 0;
	bool fresh = false;

	while ((c = getopt_long(argc, argv, ":" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		switch (c) {
		case 'h':
			attach_usage();
			return RC_OK;
		case 'r':
			if ((rc = parse_role(optarg, &role)))
				return rc;
			role_given = true;
			break;
		case 'm':
			if ((rc = parse_mode(optarg, &mode)))
				return rc;
			mode_given = true;
			break;
		case 'f':
		case 'F':
			if (parse_u32(optarg, RG_MIN_FLOWS, RG_MAX_FLOWS, c == 'f' ? &req.v4 : &req.v6))
				return rg_fail(RC_USAGE, "invalid --flows%s '%s': a number from %u to %u",
					       c == 'f' ? "" : "6", optarg, RG_MIN_FLOWS, RG_MAX_FLOWS);
			break;
		default:
			return bad_opt("attach", c, argv);
		}
	}
	n = argc - optind;
	if (n <= 0)
		return rg_fail(RC_USAGE, "attach needs at least one interface; see 'rstguard attach --help'");
	t = calloc(n, sizeof(*t));
	if (!t)
		return rg_fail(RC_ERR, "out of memory");
	for (int i = 0; i < n; i++) {
		t[i].name = argv[optind + i];
		t[i].link_fd = -1;
		if (strlen(t[i].name) >= IFNAMSIZ) {
			rc = rg_fail(RC_USAGE, "'%s' is not an interface name (too long)", t[i].name);
			goto out;
		}
		for (int j = 0; j < i; j++)
			if (!strcmp(t[i].name, t[j].name)) {
				rc = rg_fail(RC_USAGE, "interface %s given twice", t[i].name);
				goto out;
			}
	}
	/* Cheap checks of the arguments first, so bad input never creates a pin dir. */
	for (int i = 0; i < n; i++)
		if (!if_nametoindex(t[i].name)) {
			rc = rg_fail(RC_USAGE, "no interface named '%s'", t[i].name);
			goto out;
		}
	if ((rc = pin_dir_check()))
		goto out;
	if ((lock = pin_dir_lock()) < 0) {
		rc = RC_ERR;
		goto out;
	}
	if ((rc = pin_dir_ready(true)))
		goto out;
	fresh = !pin_dir_in_use();
	if ((rc = rg_flow_sizes_resolve(&req, &sizes)))
		goto out;
	memset(recs, 0, sizeof(recs));
	if (!rg_state_open(&st, cli.pin_dir)) {
		rg_ifaces_read(&st, recs);
		rg_state_close(&st);
	}
	for (int i = 0; i < n; i++)
		if ((rc = preflight(&t[i], recs, slot_taken, role_given, role, mode_given, mode)))
			goto out;

	if ((rc = rg_maps_prepare(RG_MAPS_ALL, &req, &sizes)))
		goto out;
	if (rg_state_open(&st, cli.pin_dir)) {
		rc = rg_fail(RC_ERR, "cannot open the pinned maps under %s/maps", cli.pin_dir);
		goto out;
	}
	for (int i = 0; i < n && !rc; i++) {
		rc = attach_one(&t[i], &st, &sizes);
		if (!rc)
			done++;
	}
	rg_state_close(&st);
	if (rc && done)
		pr_warn("%d of %d interfaces were attached before the failure\n", done, n);

	if (cli.json && !rc) {
		out = json_object_new_object();
		arr = json_object_new_array();
		for (int i = 0; i < done; i++)
			json_object_array_add(arr, target_json(&t[i]));
		json_object_object_add(out, "interfaces", arr);
		json_object_object_add(out, "flow_table_size", json_object_new_int64(sizes.v4));
		json_object_object_add(out, "flow_table_size6", json_object_new_int64(sizes.v6));
		json_print(out);
	} else if (!cli.json) {
		for (int i = 0; i < done; i++) {
			if (t[i].reattach)
				printf("%s: replaced program %u with %u (%s, %s mode, slot %u)\n",
				       t[i].name, t[i].old_prog_id, t[i].new_prog_id,
				       role_name(t[i].role), mode_name(t[i].mode), t[i].slot);
			else
				printf("%s: attached program %u (%s, %s mode%s, slot %u)\n", t[i].name,
				       t[i].new_prog_id, role_name(t[i].role), mode_name(t[i].mode),
				       t[i].l3 ? ", L3 device" : "", t[i].slot);
		}
	}
out:
	for (int i = 0; t && i < n; i++)
		if (t[i].link_fd >= 0)
			close(t[i].link_fd);
	/* A failed first attach leaves none of its pins, pin dir or bpffs mount behind; whatever
	 * else is there stays. */
	if (rc && fresh && !done && lock >= 0) {
		pins_remove_owned();
		if (!pin_dir_in_use())
			pin_dir_release();
	}
	pin_dir_unlock(lock);
	free(t);
	return rc;
}

/* --- detach ------------------------------------------------------------------------------- */

static int detach_one(const char *name, const struct rg_state *st, bool have_st)
{
	struct rg_iface recs[RG_MAX_IFACES];
	char path[PATH_MAX];
	int fd, rec, err = 0;

	pin_path(path, sizeof(path), "links", name);
	if (access(path, F_OK) == 0 && !pin_is_our_link(path))
		return rg_fail(RC_ERR, "%s is not a link rstguard pinned; it is left alone", path);
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
	if (have_st && !rg_ifaces_read(st, recs) && (rec = find_record(recs, name)) >= 0) {
		struct rg_iface zero = {};

		write_record(st, rec, &zero);
	}
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

int do_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		RG_COMMON_LONGOPTS,
		{}
	};
	struct json_object *out, *arr;
	char path[PATH_MAX];
	struct rg_state st;
	bool all = false, have_st;
	int c, n, rc = 0, lock, err;
	char **names = NULL;
	int nnames = 0;

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

	for (int i = 0; i < n; i++) {
		struct stat sb;

		if (strlen(argv[optind + i]) >= IFNAMSIZ || strchr(argv[optind + i], '/'))
			return rg_fail(RC_USAGE, "'%s' is not an interface name", argv[optind + i]);
		pin_path(path, sizeof(path), "links", argv[optind + i]);
		if (stat(path, &sb))
			return rg_fail(RC_USAGE, "%s is not attached by rstguard (no %s)",
				       argv[optind + i], path);
	}
	if ((rc = pin_dir_check()))
		return rc;
	if ((lock = pin_dir_lock()) < 0)
		return RC_ERR;
	if (pin_dir_ready(false)) {
		pin_dir_unlock(lock);
		if (!all)
			return RC_ERR;
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
	have_st = rg_state_open(&st, cli.pin_dir) == 0;

	if (all) {
		DIR *d;
		struct dirent *de;

		pin_path(path, sizeof(path), "links", NULL);
		d = opendir(path);
		while (d && (de = readdir(d))) {
			char lp[PATH_MAX + 256];

			snprintf(lp, sizeof(lp), "%s/%s", path, de->d_name);
			if (de->d_name[0] == '.' || !pin_is_our_link(lp))
				continue;
			names = realloc(names, sizeof(*names) * (nnames + 1));
			names[nnames++] = strdup(de->d_name);
		}
		if (d)
			closedir(d);
	} else {
		names = calloc(n, sizeof(*names));
		for (int i = 0; i < n; i++)
			names[nnames++] = strdup(argv[optind + i]);
	}
	arr = json_object_new_array();
	for (int i = 0; i < nnames && !rc; i++) {
		rc = detach_one(names[i], &st, have_st);
		if (!rc) {
			json_object_array_add(arr, json_object_new_string(names[i]));
			if (!cli.json)
				printf("%s: detached\n", names[i]);
		}
	}
	if (have_st)
		rg_state_close(&st);
	if (!rc && all) {
		err = pins_remove_owned();
		if (err)
			rc = rg_fail(RC_ERR, "cannot remove the pins under %s: %s", cli.pin_dir,
				     errstr(err));
	}
	if (!rc && all)
		pin_dir_release();
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

/* --- status ------------------------------------------------------------------------------- */

struct iface_status {
	struct rg_iface rec;
	uint32_t slot;
	uint32_t link_prog_id;
	uint32_t link_ifindex;
	const char *state;
	char runs[64];
};

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

static void probe_iface(struct iface_status *s)
{
	struct bpf_link_info info;
	char path[PATH_MAX];
	int fd;

	snprintf(s->runs, sizeof(s->runs), "-");
	pin_path(path, sizeof(path), "links", s->rec.name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		s->state = "no-link";
		return;
	}
	if (link_info(fd, &info) || info.type != BPF_LINK_TYPE_XDP) {
		s->state = "bad-link";
		close(fd);
		return;
	}
	close(fd);
	s->link_prog_id = info.prog_id;
	s->link_ifindex = info.xdp.ifindex;
	if (!info.xdp.ifindex) {
		s->state = "interface-gone";
		return;
	}
	/* The name no longer leads to the link's device here: renamed, or in another netns. */
	if (if_nametoindex(s->rec.name) != info.xdp.ifindex) {
		s->state = "elsewhere";
		return;
	}
	if (attached_mode(info.xdp.ifindex, info.prog_id) == 0) {
		s->state = "not-on-interface";
		return;
	}
	s->state = "ok";
	dispatcher_of(info.xdp.ifindex, s->runs, sizeof(s->runs));
}

static void status_usage(void)
{
	printf("Usage: rstguard status [-j] [-v] [--pin-dir DIR]\n"
	       "\n"
	       "Shows each attached interface (role, XDP mode, program id, attached since, whether\n"
	       "it runs alone or under a libxdp dispatcher), the shared flow table's fill and the\n"
	       "policy generation.\n");
}

int do_status(int argc, char **argv)
{
	static const struct option opts[] = { RG_COMMON_LONGOPTS, {} };
	struct iface_status s[RG_MAX_IFACES];
	struct rg_iface recs[RG_MAX_IFACES];
	struct json_object *o, *arr, *ft;
	uint64_t n4 = 0, n6 = 0;
	uint32_t max4 = 0, max6 = 0;
	struct rg_policy pol = {};
	struct rg_state st;
	bool attached;
	int c, ns = 0, err;
	char when[64];

	while ((c = getopt_long(argc, argv, ":" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		if (c == 'h') {
			status_usage();
			return RC_OK;
		}
		return bad_opt("status", c, argv);
	}
	if (optind < argc)
		return rg_fail(RC_USAGE, "status takes no arguments ('%s')", argv[optind]);

	if ((err = pin_dir_check()))
		return err;
	attached = !pin_dir_ready(false) && !(err = rg_state_open(&st, cli.pin_dir));
	rg_clear_error();
	if (attached) {
		if ((err = rg_policy_read(&st, &pol)) || (err = rg_ifaces_read(&st, recs))) {
			rg_state_close(&st);
			return rg_fail(RC_ERR, "cannot read the pinned maps: %s", errstr(err));
		}
		if (st.fd[RG_M_FLOWS4] >= 0)
			rg_map_max_entries(st.fd[RG_M_FLOWS4], &max4);
		if (st.fd[RG_M_FLOWS6] >= 0)
			rg_map_max_entries(st.fd[RG_M_FLOWS6], &max6);
		rg_flows_count(&st, &n4, &n6);
		rg_state_close(&st);
		for (int i = 0; i < RG_MAX_IFACES; i++) {
			if (!rg_iface_used(&recs[i]))
				continue;
			memset(&s[ns], 0, sizeof(s[ns]));
			s[ns].rec = recs[i];
			s[ns].slot = i;
			probe_iface(&s[ns]);
			ns++;
		}
	}

	if (cli.json) {
		o = json_object_new_object();
		json_object_object_add(o, "pin_dir", json_object_new_string(cli.pin_dir));
		json_object_object_add(o, "attach", json_object_new_string("bpf_link"));
		json_object_object_add(o, "policy_generation",
				       attached ? json_object_new_int64(pol.generation) : NULL);
		ft = json_object_new_object();
		json_object_object_add(ft, "max_entries", json_object_new_int64(max4));
		json_object_object_add(ft, "ipv4", json_u64(n4));
		json_object_object_add(ft, "ipv6", json_u64(n6));
		json_object_object_add(ft, "ipv6_max_entries", json_object_new_int64(max6));
		json_object_object_add(o, "flow_table", ft);
		arr = json_object_new_array();
		for (int i = 0; i < ns; i++) {
			struct json_object *e = json_object_new_object();

			format_time_ns(s[i].rec.attached_ns, true, when, sizeof(when));
			json_object_object_add(e, "name", json_object_new_string(s[i].rec.name));
			json_object_object_add(e, "ifindex", json_object_new_int64(s[i].rec.ifindex));
			json_object_object_add(e, "slot", json_object_new_int(s[i].slot));
			json_object_object_add(e, "role", json_object_new_string(role_name(s[i].rec.role)));
			json_object_object_add(e, "xdp_mode",
					       json_object_new_string(mode_name(s[i].rec.xdp_mode)));
			json_object_object_add(e, "prog_id", json_object_new_int64(s[i].link_prog_id));
			json_object_object_add(e, "l3", json_object_new_boolean(s[i].rec.l3));
			json_object_object_add(e, "attached_since", json_object_new_string(when));
			json_object_object_add(e, "attached_since_unix",
					       json_object_new_int64(s[i].rec.attached_ns / 1000000000ull));
			json_object_object_add(e, "attach", json_object_new_string("bpf_link"));
			json_object_object_add(e, "runs", json_object_new_string(s[i].runs));
			json_object_object_add(e, "dispatcher",
					       json_object_new_boolean(!strncmp(s[i].runs, "libxdp", 6)));
			json_object_object_add(e, "state", json_object_new_string(s[i].state));
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "interfaces", arr);
		json_print(o);
		return RC_OK;
	}

	printf("pin dir      %s\n", cli.pin_dir);
	if (!attached) {
		printf("nothing attached\n");
		return RC_OK;
	}
	printf("policy       generation %u ('rstguard policy show' for details)\n", pol.generation);
	printf("flow table   IPv4 %llu/%u, IPv6 %llu/%u, shared by all interfaces\n",
	       (unsigned long long)n4, max4, (unsigned long long)n6, max6);
	printf("attach       one pinned bpf_link per interface (%s/links)\n", cli.pin_dir);
	if (!ns) {
		printf("no interfaces attached\n");
		return RC_OK;
	}
	printf("\n%-15s %4s %-8s %-6s %6s %-3s %-23s %-8s %s\n", "IFACE", "SLOT", "ROLE", "MODE",
	       "PROG", "L3", "ATTACHED SINCE", "RUNS", "STATE");
	for (int i = 0; i < ns; i++) {
		format_time_ns(s[i].rec.attached_ns, false, when, sizeof(when));
		printf("%-15s %4u %-8s %-6s %6u %-3s %-23s %-8s %s\n", s[i].rec.name, s[i].slot,
		       role_name(s[i].rec.role), mode_name(s[i].rec.xdp_mode), s[i].link_prog_id,
		       s[i].rec.l3 ? "yes" : "no", when, s[i].runs, s[i].state);
	}
	return RC_OK;
}
