/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The Prometheus exposition of the pinned maps, shared by the 'metrics' and 'serve' commands. */
#ifndef RG_METRICS_H
#define RG_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/* Where 'serve' listens unless told otherwise: loopback only, on a port of the range the
 * Prometheus project hands out to exporters (9100-9999). */
#define RG_METRICS_DEFAULT_ADDR "127.0.0.1"
#define RG_METRICS_DEFAULT_PORT 9477
#define RG_METRICS_DEFAULT_PATH "/metrics"
#define RG_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct rg_metrics_opts {
	const char *pin_dir;
	bool per_cpu;       /* counters carry a cpu label instead of being summed over CPUs */
	bool no_flow_count; /* leave out rstguard_flows_tracked: counting walks the whole table */
};

/*
 * Reads the pinned maps once and renders the text exposition format 0.0.4 into a malloc'd,
 * NUL-terminated buffer. When the pins cannot be read the exposition still succeeds, with
 * rstguard_up 0, and *read_err holds the -errno of that failure (0 when up). Returns 0, or
 * -ENOMEM when no buffer could be made at all.
 */
int rg_metrics_render(const struct rg_metrics_opts *o, char **buf, size_t *len, int *read_err);

int do_metrics(int argc, char **argv);
int do_serve(int argc, char **argv);

#endif
