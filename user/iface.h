/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Interfaces and their pinned XDP links: attaching, detaching and probing them, for the
 * attach, detach and status commands and for apply. Callers hold the pin dir lock for any
 * change (pin_dir_lock) and have made the pin dir ready. */
#ifndef RG_IFACE_H
#define RG_IFACE_H

#include <bpf/bpf.h>
#include <stdbool.h>
#include <stdint.h>

#include "load.h"
#include "rstguard.h"
#include "state.h"

#define RG_MIN_FLOWS 1024u
#define RG_MAX_FLOWS (1u << 26)

/* One interface to attach. The caller fills name, role, mode and what was given; the rest is
 * worked out by rg_attach. */
struct rg_target {
	const char *name;
	uint32_t role, mode;    /* mode: XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
	bool role_given, mode_given;
	/* Set by rg_attach. */
	int ifindex;
	uint32_t l3, slot;
	bool had_record;        /* the slot already belonged to this name: counters are kept */
	bool reattach;          /* our link is on it: replace the program in place */
	bool stale_pin;         /* our pin, but its interface is gone or was recreated */
	int link_fd;
	struct rg_iface old;
	uint32_t old_prog_id, new_prog_id;
};

/*
 * Attaches every target, or replaces its program in place. Everything that can be refused is
 * refused before anything changes. A request for flow tables of another size than the pinned
 * ones re-creates them first (rg_flows_resize). *done counts the targets attached before a
 * failure; *sizes gets the table sizes in use. 0 or an RC_* after rg_fail().
 */
int rg_attach(struct rg_target *t, int n, const struct rg_flow_sizes *req,
	      struct rg_flow_sizes *sizes, int *done);
void rg_targets_release(struct rg_target *t, int n);
/* Only the refusals of rg_attach (no such interface, a link type it cannot read, another
 * tool's program, a foreign pin, no free slot), changing nothing. 0 or an RC_*. */
int rg_attach_check(struct rg_target *t, int n);

/*
 * New, empty flow tables of the requested sizes in place of the pinned ones, under every
 * attached interface at once; policy, scope and counters stay. Tracked flows start over: the
 * connections they held are picked up again from their next segments, as at a first attach.
 * *resized tells whether anything changed. 0 or an RC_* after rg_fail().
 */
int rg_flows_resize(const struct rg_flow_sizes *want, bool *resized);

/* Detaches an interface's link and removes its pin; with forget, also frees its slot record.
 * st may be NULL (then no record is touched). 0 or an RC_* after rg_fail(). */
int rg_detach_one(const char *name, const struct rg_state *st, bool forget);

/* What the status command calls an attached interface's state. */
struct rg_probe {
	uint32_t link_prog_id, link_ifindex;
	const char *state; /* ok, no-link, bad-link, interface-gone, elsewhere, not-on-interface */
	char runs[64];     /* alone, or a libxdp dispatcher with its program count */
};
void rg_iface_probe(const struct rg_iface *rec, struct rg_probe *p);

int rg_link_info(int fd, struct bpf_link_info *info);
/* Which mode a program id is attached in on an interface, 0 when not attached. */
uint32_t rg_attached_mode(int ifindex, uint32_t prog_id);
/* The slot of the record naming an interface, or -1. */
int rg_find_record(const struct rg_iface *recs, const char *name);

#endif
