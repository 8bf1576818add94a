// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* attach: one pinned XDP bpf_link per interface over the shared pinned maps. */
#include <bpf/libbpf.h>
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
#include <unistd.h>
#include <xdp/libxdp.h>

#include "audit.h"
#include "cmds.h"
#include "iface.h"
#include "log.h"
#include "names.h"
#include "pindir.h"
#include "schema.h"
#include "rstguard.skel.h"
#include "util.h"

/* Newer than glibc's <net/if_arp.h>; <linux/if_arp.h> clashes with <net/if.h>. */
#ifndef ARPHRD_RAWIP
#define ARPHRD_RAWIP 519
#endif
#ifndef ARPHRD_IP6GRE
#define ARPHRD_IP6GRE 823
#endif

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
	const char *mode = rg_xdp_mode_str(q->drv_prog_id ? XDP_FLAGS_DRV_MODE
				   : q->skb_prog_id ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_HW_MODE);
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

/* Gives the target its slot: the one its name already has, else the first free one. */
static int take_slot(struct rg_target *t, const struct rg_iface *recs, bool *slot_taken)
{
	int rec = rg_find_record(recs, t->name), i;

	t->had_record = rec >= 0;
	if (t->had_record) {
		t->slot = rec;
		t->old = recs[rec];
	} else {
		for (i = 0; i < RG_MAX_IFACES; i++)
			if (!rg_iface_used(&recs[i]) && !slot_taken[i])
				break;
		if (i == RG_MAX_IFACES)
			return rg_fail(RC_ERR, "all %d interface slots are in use; detach one first",
				       RG_MAX_IFACES);
		t->slot = i;
	}
	slot_taken[t->slot] = true;
	return 0;
}

/* Looks at the pin in the target's link place: ours and live here (replace in place), ours
 * but stale (remove it), or someone else's (refuse). */
static int inspect_pin(struct rg_target *t)
{
	struct bpf_link_info info;
	char path[PATH_MAX];
	int err;

	pin_path(path, sizeof(path), "links", t->name);
	t->link_fd = bpf_obj_get(path);
	if (t->link_fd < 0)
		return errno == ENOENT ? 0 : rg_fail(RC_ERR, "cannot open %s: %s", path, errstr(-errno));
	if (!pin_is_our_link(path)) {
		close(t->link_fd);
		t->link_fd = -1;
		return rg_fail(RC_ERR, "%s is not a link rstguard pinned; it is left alone: move it "
				       "away, or use another --pin-dir", path);
	}
	err = rg_link_info(t->link_fd, &info);
	if (!err && info.type == BPF_LINK_TYPE_XDP && info.xdp.ifindex == (__u32)t->ifindex) {
		t->reattach = true;
		t->old_prog_id = info.prog_id;
		return 0;
	}
	close(t->link_fd);
	t->link_fd = -1;
	if (!err && info.type == BPF_LINK_TYPE_XDP && info.xdp.ifindex)
		/* Live on another device: renamed, or the same name in another netns. */
		return rg_fail(RC_ERR,
			       "%s holds a live link on ifindex %u, not on this %s (renamed, or in "
			       "another network namespace): 'rstguard detach %s' there first",
			       path, info.xdp.ifindex, t->name, t->name);
	t->stale_pin = true;
	return 0;
}

/* Everything that can be refused is refused here, before any interface is touched. */
static int preflight(struct rg_target *t, const struct rg_iface *recs, bool *slot_taken)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	char what[512];
	int rc;

	t->ifindex = if_nametoindex(t->name);
	if (!t->ifindex)
		return rg_fail(RC_USAGE, "no interface named '%s'", t->name);
	if ((rc = detect_l3(t->name, &t->l3)) || (rc = take_slot(t, recs, slot_taken)) ||
	    (rc = inspect_pin(t)))
		return rc;

	if (t->reattach) {
		uint32_t cur = t->had_record && t->old.xdp_mode ? t->old.xdp_mode
								: rg_attached_mode(t->ifindex, t->old_prog_id);

		if (t->mode_given && cur && t->mode != cur)
			return rg_fail(RC_USAGE,
				       "%s is attached in %s mode; a replacement keeps the mode: "
				       "'rstguard detach %s' first to change it to %s",
				       t->name, rg_xdp_mode_str(cur), t->name, rg_xdp_mode_str(t->mode));
		t->mode = cur ? cur : t->mode;
		if (!t->role_given && t->had_record && t->old.role)
			t->role = t->old.role;
		return 0;
	}
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

static void remove_stale_pin(const struct rg_target *t)
{
	char path[PATH_MAX];
	int fd;

	pin_path(path, sizeof(path), "links", t->name);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		bpf_link_detach(fd);
		close(fd);
	}
	unlink(path);
	pr_info("%s: removed a stale link pin (the interface was recreated)\n", t->name);
}

static int link_error(const struct rg_target *t, int err)
{
	if (err == -EOPNOTSUPP && t->mode == XDP_FLAGS_DRV_MODE)
		return rg_fail(RC_ERR,
			       "%s: the driver has no native XDP support; rstguard does not fall "
			       "back silently: use --xdp-mode skb for generic XDP",
			       t->name);
	if (err == -EBUSY || err == -EEXIST)
		return rg_fail(RC_ERR, "%s: another XDP program was attached meanwhile: %s", t->name,
			       errstr(err));
	return rg_fail(RC_ERR, "cannot attach XDP to %s in %s mode: %s", t->name,
		       rg_xdp_mode_str(t->mode), errstr(err));
}

/* A new link on the device, pinned; without its pin the link dies with this process. */
static int link_and_pin(const struct rg_target *t, int prog_fd)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = t->mode);
	char path[PATH_MAX];
	int link_fd, err;

	link_fd = bpf_link_create(prog_fd, t->ifindex, BPF_XDP, &lo);
	if (link_fd < 0)
		return link_error(t, -errno);
	pin_path(path, sizeof(path), "links", NULL);
	if (mkdir(path, 0700) && errno != EEXIST) {
		err = -errno;
	} else {
		pin_path(path, sizeof(path), "links", t->name);
		err = bpf_obj_pin(link_fd, path) ? -errno : 0;
	}
	close(link_fd);
	if (err)
		return rg_fail(RC_ERR, "cannot pin the link of %s at %s: %s", t->name, path,
			       errstr(err));
	return 0;
}

static void audit_attach(const struct rg_target *t)
{
	if (!t->reattach) {
		rg_audit("attach %s: role=%s xdp_mode=%s prog_id=%u slot=%u (before: not attached)",
			 t->name, rg_role_str(t->role), rg_xdp_mode_str(t->mode), t->new_prog_id,
			 t->slot);
		return;
	}
	rg_audit("attach %s: program replaced in place: role=%s xdp_mode=%s prog_id=%u (before: "
		 "role=%s prog_id=%u)",
		 t->name, rg_role_str(t->role), rg_xdp_mode_str(t->mode), t->new_prog_id,
		 rg_role_str(t->had_record ? t->old.role : 0), t->old_prog_id);
}

static int attach_one(struct rg_target *t, const struct rg_state *st, const struct rg_flow_sizes *sz)
{
	struct rg_iface rec = {}, undo = t->had_record ? t->old : (struct rg_iface){};
	struct rstguard *skel;
	int prog_fd, rc, err;

	if (t->stale_pin)
		remove_stale_pin(t);
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
									    : rg_realtime_ns();
	snprintf(rec.name, sizeof(rec.name), "%s", t->name);
	rec.l3 = t->l3;
	err = rg_iface_write(st, t->slot, &rec);
	if (err) {
		rc = rg_fail(RC_ERR, "cannot record slot %u for %s: %s", t->slot, t->name,
			     errstr(err));
		goto out;
	}
	if (t->reattach) {
		/* Atomic: the kernel swaps the program under the link, no packet sees neither. */
		if (bpf_link_update(t->link_fd, prog_fd, NULL))
			rc = rg_fail(RC_ERR, "cannot replace the program on %s: %s", t->name,
				     errstr(-errno));
	} else {
		rc = link_and_pin(t, prog_fd);
	}
	if (rc)
		rg_iface_write(st, t->slot, &undo);
	else
		audit_attach(t);
out:
	rstguard__destroy(skel);
	return rc;
}

int rg_attach(struct rg_target *t, int n, const struct rg_flow_sizes *req,
	      struct rg_flow_sizes *sizes, int *done)
{
	bool slot_taken[RG_MAX_IFACES] = {}, resized;
	struct rg_iface recs[RG_MAX_IFACES];
	struct rg_state st;
	int rc = 0;

	*done = 0;
	memset(recs, 0, sizeof(recs));
	if (!rg_state_open(&st, cli.pin_dir)) {
		rg_ifaces_read(&st, recs);
		rg_state_close(&st);
	}
	for (int i = 0; i < n; i++)
		if ((rc = preflight(&t[i], recs, slot_taken)))
			return rc;
	if ((rc = rg_flows_resize(req, &resized)))
		return rc;
	if ((rc = rg_maps_prepare(RG_MAPS_ALL, req, sizes)))
		return rc;
	if (rg_state_open(&st, cli.pin_dir))
		return rg_fail(RC_ERR, "cannot open the pinned maps under %s/maps", cli.pin_dir);
	for (int i = 0; i < n && !rc; i++) {
		rc = attach_one(&t[i], &st, sizes);
		if (!rc)
			(*done)++;
	}
	rg_state_close(&st);
	return rc;
}

int rg_attach_check(struct rg_target *t, int n)
{
	bool slot_taken[RG_MAX_IFACES] = {};
	struct rg_iface recs[RG_MAX_IFACES];
	struct rg_state st;
	int rc = 0;

	memset(recs, 0, sizeof(recs));
	if (!rg_state_open(&st, cli.pin_dir)) {
		rg_ifaces_read(&st, recs);
		rg_state_close(&st);
	}
	for (int i = 0; i < n && !rc; i++)
		rc = preflight(&t[i], recs, slot_taken);
	rg_targets_release(t, n);
	return rc;
}

void rg_targets_release(struct rg_target *t, int n)
{
	for (int i = 0; t && i < n; i++)
		if (t[i].link_fd >= 0) {
			close(t[i].link_fd);
			t[i].link_fd = -1;
		}
}

/* --- the command ------------------------------------------------------------------------- */

static struct json_object *target_json(const struct rg_target *t)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(t->name));
	json_object_object_add(o, "ifindex", json_object_new_int(t->ifindex));
	json_object_object_add(o, "slot", json_object_new_int(t->slot));
	json_object_object_add(o, "role", json_object_new_string(rg_role_str(t->role)));
	json_object_object_add(o, "xdp_mode", json_object_new_string(rg_xdp_mode_str(t->mode)));
	json_object_object_add(o, "l3", json_object_new_boolean(t->l3));
	json_object_object_add(o, "prog_id", json_object_new_int64(t->new_prog_id));
	json_object_object_add(o, "replaced", json_object_new_boolean(t->reattach));
	if (t->reattach)
		json_object_object_add(o, "replaced_prog_id", json_object_new_int64(t->old_prog_id));
	json_object_object_add(o, "attach", json_object_new_string("bpf_link"));
	return o;
}

static void print_result(const struct rg_target *t, int done, const struct rg_flow_sizes *sizes)
{
	struct json_object *out, *arr;

	if (!cli.json) {
		for (int i = 0; i < done; i++) {
			if (t[i].reattach)
				printf("%s: replaced program %u with %u (%s, %s mode, slot %u)\n",
				       t[i].name, t[i].old_prog_id, t[i].new_prog_id,
				       rg_role_str(t[i].role), rg_xdp_mode_str(t[i].mode), t[i].slot);
			else
				printf("%s: attached program %u (%s, %s mode%s, slot %u)\n", t[i].name,
				       t[i].new_prog_id, rg_role_str(t[i].role),
				       rg_xdp_mode_str(t[i].mode), t[i].l3 ? ", L3 device" : "",
				       t[i].slot);
		}
		return;
	}
	out = json_object_new_object();
	arr = json_object_new_array();
	for (int i = 0; i < done; i++)
		json_object_array_add(arr, target_json(&t[i]));
	json_object_object_add(out, "interfaces", arr);
	json_object_object_add(out, "flow_table", rg_json_flow_table(sizes, NULL));
	json_print(out);
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
	       "  --flows N         IPv4 flow table size (default %u, %u-%u). Another size than the\n"
	       "                    shared table's re-creates it under every interface: policy,\n"
	       "                    scope and counters stay, tracked flows start over\n"
	       "  --flows6 N        IPv6 flow table size (default: as --flows), likewise\n",
	       RG_DEFAULT_FLOWS, RG_MIN_FLOWS, RG_MAX_FLOWS);
}

/* Parses the options into the request; the interfaces are what is left in argv. */
static int parse_attach(int argc, char **argv, struct rg_target *proto, struct rg_flow_sizes *req)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "xdp-mode", required_argument, NULL, 'm' },
		{ "flows", required_argument, NULL, 'f' },
		{ "flows6", required_argument, NULL, 'F' },
		RG_COMMON_LONGOPTS,
		{}
	};
	int c;

	while ((c = getopt_long(argc, argv, ":" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		switch (c) {
		case 'h':
			attach_usage();
			return -1;
		case 'r':
			if (rg_role_parse(optarg, &proto->role))
				return rg_fail(RC_USAGE, "invalid --role '%s': use host, gateway or both",
					       optarg);
			proto->role_given = true;
			break;
		case 'm':
			if (rg_xdp_mode_parse(optarg, &proto->mode))
				return rg_fail(RC_USAGE, "invalid --xdp-mode '%s': use native or skb",
					       optarg);
			proto->mode_given = true;
			break;
		case 'f':
		case 'F':
			if (parse_u32(optarg, RG_MIN_FLOWS, RG_MAX_FLOWS, c == 'f' ? &req->v4 : &req->v6))
				return rg_fail(RC_USAGE, "invalid --flows%s '%s': a number from %u to %u",
					       c == 'f' ? "" : "6", optarg, RG_MIN_FLOWS, RG_MAX_FLOWS);
			break;
		default:
			return bad_opt("attach", c, argv);
		}
	}
	return 0;
}

/* Names that cannot be interfaces, given twice, or missing: refused before anything is made. */
static int check_names(struct rg_target *t, int n)
{
	for (int i = 0; i < n; i++) {
		if (strlen(t[i].name) >= IFNAMSIZ)
			return rg_fail(RC_USAGE, "'%s' is not an interface name (too long)", t[i].name);
		for (int j = 0; j < i; j++)
			if (!strcmp(t[i].name, t[j].name))
				return rg_fail(RC_USAGE, "interface %s given twice", t[i].name);
	}
	for (int i = 0; i < n; i++)
		if (!if_nametoindex(t[i].name))
			return rg_fail(RC_USAGE, "no interface named '%s'", t[i].name);
	return 0;
}

int do_attach(int argc, char **argv)
{
	struct rg_target proto = { .role = RG_ROLE_BOTH, .mode = XDP_FLAGS_DRV_MODE, .link_fd = -1 };
	struct rg_flow_sizes req = {}, sizes = {};
	struct rg_target *t = NULL;
	int n, rc, lock = -1, done = 0;
	bool fresh = false;

	rc = parse_attach(argc, argv, &proto, &req);
	if (rc)
		return rc < 0 ? RC_OK : rc;
	n = argc - optind;
	if (n <= 0)
		return rg_fail(RC_USAGE, "attach needs at least one interface; see 'rstguard attach --help'");
	t = calloc(n, sizeof(*t));
	if (!t)
		return rg_fail(RC_ERR, "out of memory");
	for (int i = 0; i < n; i++) {
		t[i] = proto;
		t[i].name = argv[optind + i];
	}
	/* Cheap checks of the arguments first, so bad input never creates a pin dir. */
	if ((rc = check_names(t, n)) || (rc = pin_dir_check()))
		goto out;
	if ((lock = pin_dir_lock()) < 0) {
		rc = RC_ERR;
		goto out;
	}
	if ((rc = pin_dir_ready(true)))
		goto out;
	fresh = !pin_dir_in_use();
	rc = rg_attach(t, n, &req, &sizes, &done);
	if (rc && done)
		pr_warn("%d of %d interfaces were attached before the failure\n", done, n);
	if (!rc || !cli.json)
		print_result(t, done, &sizes);
out:
	rg_targets_release(t, n);
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
