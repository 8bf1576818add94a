// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* metrics: the pinned maps rendered as a Prometheus text exposition (format 0.0.4). */
#include "metrics.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "names.h"
#include "state.h"
#include "pindir.h"
#include "util.h"
#include "version.h"


/*
 * Every reason of the counter map belongs to exactly one metric family. The assertion makes a
 * new reason a build error here until it is given its family, so no counter is ever silently
 * missing from the exposition (the DROP_* list drift habit 4 warns about).
 */
_Static_assert(RG_R_MAX == 24, "a new rg_reason needs a metric family: classify it in reason_kind()");

enum fam_kind {
	K_RST,         /* verdicts on RSTs: reason and action labels */
	K_UNPARSED,    /* flags unseen, judged by policy unparsed: reason and action labels */
	K_FRAGMENT,
	K_NON_RST,
	K_MALFORMED,
	K_FLOW_CREATED,
	K_FLOW_INSERT_FAIL,
	K_CHALLENGE,   /* what inexact=challenge did with an RST: one series per result */
};

static int reason_kind(int r)
{
	switch (r) {
	case RG_R_SHORT_FRAGMENT:
	case RG_R_DEEP_CHAIN:
		return K_UNPARSED;
	case RG_R_FRAGMENT:
		return K_FRAGMENT;
	case RG_R_NON_RST:
		return K_NON_RST;
	case RG_R_MALFORMED:
		return K_MALFORMED;
	case RG_R_FLOW_CREATED:
		return K_FLOW_CREATED;
	case RG_R_FLOW_INSERT_FAIL:
		return K_FLOW_INSERT_FAIL;
	case RG_R_CHALLENGE_SENT:
	case RG_R_CHALLENGE_LIMITED:
	case RG_R_CHALLENGE_FALLBACK:
	case RG_R_CHALLENGE_UNROUTED:
		return K_CHALLENGE;
	default:
		return K_RST;
	}
}

/* The counter families fed from the per-CPU stats map. */
static const struct cfam {
	const char *name;
	int kind;
	bool bytes;     /* the bytes column, else packets */
	bool labelled;  /* reason and action labels; else one series per device, actions summed */
	const char *help;
} cfams[] = {
	{ "rstguard_rst_packets_total", K_RST, false, true,
	  "TCP RST packets by verdict reason and action (would_drop: counted, passed, mode=monitor)." },
	{ "rstguard_rst_bytes_total", K_RST, true, true,
	  "Bytes of TCP RST frames as XDP saw them, link-layer header included, by reason and action." },
	{ "rstguard_unparsed_packets_total", K_UNPARSED, false, true,
	  "TCP packets whose flags the parser cannot see (short first fragment, too long a header chain), judged by policy unparsed." },
	{ "rstguard_unparsed_bytes_total", K_UNPARSED, true, true,
	  "Bytes of the frames counted in rstguard_unparsed_packets_total." },
	{ "rstguard_fragment_packets_total", K_FRAGMENT, false, false,
	  "Non-first IP fragments of TCP, always passed (useless without their first fragment)." },
	{ "rstguard_fragment_bytes_total", K_FRAGMENT, true, false,
	  "Bytes of the frames counted in rstguard_fragment_packets_total." },
	{ "rstguard_non_rst_tcp_packets_total", K_NON_RST, false, false,
	  "TCP segments without RST, always passed (they feed the flow table in the gateway role)." },
	{ "rstguard_non_rst_tcp_bytes_total", K_NON_RST, true, false,
	  "Bytes of the frames counted in rstguard_non_rst_tcp_packets_total." },
	{ "rstguard_malformed_packets_total", K_MALFORMED, false, false,
	  "Truncated or inconsistent IP/TCP packets, passed for the kernel to judge." },
	{ "rstguard_malformed_bytes_total", K_MALFORMED, true, false,
	  "Bytes of the frames counted in rstguard_malformed_packets_total." },
	{ "rstguard_flows_created_total", K_FLOW_CREATED, false, false,
	  "Flow-table entries created by segments arriving on the device." },
	{ "rstguard_flow_insert_failures_total", K_FLOW_INSERT_FAIL, false, false,
	  "Flow-table entries that could not be created (the connection goes untracked)." },
	{ "rstguard_challenge_acks_total", K_CHALLENGE, false, false,
	  "Inexact RSTs dropped under inexact=challenge, by result: sent (a challenge ACK went back), "
	  "limited (the flow direction had one within the interval), fallback (XDP_TX cannot send "
	  "here: L3 device), unrouted (the route back is unknown or is not where the RST came from)." },
};

struct slot_data {
	uint32_t slot;
	char name[sizeof(((struct rg_iface *)0)->name) + 1];
	const char *role, *mode;
	int attached;                 /* the pinned XDP link still holds a live device */
	uint64_t attached_ns;
	struct rg_counter sum[RG_R_MAX];
	struct rg_counter *percpu;    /* [RG_R_MAX][ncpu] with --per-cpu, else NULL */
	struct rg_dist dist[RG_DIST_BUCKETS]; /* summed over CPUs, also with --per-cpu */
};

struct snapshot {
	int ncpu;
	int nslots;
	struct slot_data s[RG_MAX_IFACES];
	struct rg_policy pol;
	bool have_flows[2], counted;
	bool have_dist;               /* pins made before the histogram existed have none */
	uint64_t flows[2];
	uint32_t capacity[2];
};

/* The exporter never needs to write: read-only descriptors need only read permission on the
 * pins, so it cannot change the filter even by mistake. */
static int obj_get_ro(const char *path)
{
	LIBBPF_OPTS(bpf_obj_get_opts, o, .file_flags = BPF_F_RDONLY);
	int fd = bpf_obj_get_opts(path, &o);

	return fd < 0 ? -errno : fd;
}

static int open_pins(struct rg_state *st, const char *pin_dir)
{
	return rg_state_open_flags(st, pin_dir, true);
}

/* A link whose device went away keeps its pin but reports ifindex 0. */
static int link_attached(const char *pin_dir, const char *name)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/links/%s", pin_dir, name);
	fd = obj_get_ro(path);
	/* Older kernels insist on O_RDWR for links; a read-write open only needs the same pin. */
	if (fd == -EINVAL) {
		fd = bpf_obj_get(path);
		if (fd < 0)
			fd = -errno;
	}
	if (fd < 0)
		return 0;
	ok = !bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_LINK_TYPE_XDP &&
	     info.xdp.ifindex != 0;
	close(fd);
	return ok;
}

/* One slot's counters, summed over CPUs by the map layer, each CPU's kept when asked. */
static int read_counters(const struct rg_state *st, struct slot_data *d, bool per_cpu)
{
	struct rg_counter *pc = NULL;
	int err;

	memset(d->sum, 0, sizeof(d->sum));
	if (st->fd[RG_M_STATS] < 0)
		return 0;
	if (per_cpu && !(pc = calloc((size_t)RG_R_MAX * st->ncpu, sizeof(*pc))))
		return -ENOMEM;
	err = rg_stats_read_percpu(st, d->slot, d->sum, pc);
	if (err)
		free(pc);
	else
		d->percpu = pc;
	return err;
}

static void snapshot_free(struct snapshot *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nslots; i++)
		free(s->s[i].percpu);
	free(s);
}

static int snapshot_read(const struct rg_metrics_opts *o, struct snapshot *s)
{
	struct rg_iface recs[RG_MAX_IFACES];
	struct rg_state st;
	int err;

	if ((err = open_pins(&st, o->pin_dir)))
		return err;
	s->ncpu = st.ncpu;
	if ((err = rg_policy_read(&st, &s->pol)) || (err = rg_ifaces_read(&st, recs)))
		goto out;
	for (uint32_t i = 0; i < RG_MAX_IFACES; i++) {
		struct slot_data *d = &s->s[s->nslots];

		if (!rg_iface_used(&recs[i]))
			continue;
		d->slot = i;
		/* The record's name need not be NUL-terminated when it fills all 16 bytes. */
		snprintf(d->name, sizeof(d->name), "%.*s", (int)sizeof(recs[i].name), recs[i].name);
		d->role = rg_role_str(recs[i].role);
		d->mode = rg_xdp_mode_str(recs[i].xdp_mode);
		d->attached_ns = recs[i].attached_ns;
		d->attached = link_attached(o->pin_dir, d->name);
		s->nslots++;
		if ((err = read_counters(&st, d, o->per_cpu)))
			goto out;
		if (st.fd[RG_M_DIST] >= 0 && (err = rg_dist_read(&st, i, d->dist)))
			goto out;
	}
	s->have_dist = st.fd[RG_M_DIST] >= 0;
	for (int f = 0; f < 2; f++) {
		int fd = st.fd[f ? RG_M_FLOWS6 : RG_M_FLOWS4];

		if (fd < 0)
			continue;
		s->have_flows[f] = true;
		if ((err = rg_map_max_entries(fd, &s->capacity[f])))
			goto out;
		if (!o->no_flow_count && (err = rg_map_count(fd, &s->flows[f])))
			goto out;
	}
	s->counted = !o->no_flow_count;
out:
	rg_state_close(&st);
	return err;
}

/* --- text format ---------------------------------------------------------------------------- */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values escape backslash, double quote and newline; an interface name may hold any of
 * the first two. */
static void label(FILE *f, bool first, const char *key, const char *v)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", key);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

/* A challenge reason's name without its family prefix: "challenge_sent" is result "sent". */
static const char *result_name(int r)
{
	const char *n = rg_reason_names[r];

	return strncmp(n, "challenge_", 10) ? n : n + 10;
}

static void emit_counter_family(FILE *f, const struct cfam *cf, const struct snapshot *s, bool per_cpu)
{
	family(f, cf->name, "counter", cf->help);
	for (int i = 0; i < s->nslots; i++) {
		const struct slot_data *d = &s->s[i];
		int ncpu = per_cpu ? s->ncpu : 1;

		for (int cpu = 0; cpu < ncpu; cpu++) {
			for (int r = 0; r < RG_R_MAX; r++) {
				const struct rg_counter *c;
				char cpubuf[16];
				uint64_t total = 0;

				if (reason_kind(r) != cf->kind)
					continue;
				c = per_cpu ? &d->percpu[(size_t)r * s->ncpu + cpu] : &d->sum[r];
				snprintf(cpubuf, sizeof(cpubuf), "%d", cpu);
				for (int a = 0; a < RG_ACT_MAX; a++) {
					uint64_t v = cf->bytes ? c->bytes[a] : c->packets[a];

					if (!cf->labelled) {
						total += v;
						continue;
					}
					fprintf(f, "%s{", cf->name);
					label(f, true, "device", d->name);
					label(f, false, "reason", rg_reason_names[r]);
					label(f, false, "action", rg_action_names[a]);
					if (per_cpu)
						label(f, false, "cpu", cpubuf);
					fprintf(f, "} %llu\n", (unsigned long long)v);
				}
				if (cf->labelled)
					continue;
				fprintf(f, "%s{", cf->name);
				label(f, true, "device", d->name);
				/* One series per result, not a sum over them. */
				if (cf->kind == K_CHALLENGE)
					label(f, false, "result", result_name(r));
				if (per_cpu)
					label(f, false, "cpu", cpubuf);
				fprintf(f, "} %llu\n", (unsigned long long)total);
			}
		}
	}
}

/* A Prometheus histogram: cumulative buckets with their upper bound in le, then sum and count. */
static void emit_distance(FILE *f, const struct snapshot *s)
{
	static const char *const name = "rstguard_rst_seq_distance_bytes";

	family(f, name, "histogram",
	       "Distance in bytes of judged RSTs' sequence numbers from the reference they were judged against (host role: the socket's RCV.NXT; gateway: the tracked band), log2 buckets.");
	for (int i = 0; i < s->nslots; i++) {
		const struct slot_data *d = &s->s[i];
		uint64_t cum = 0, sum = 0;
		char le[24];

		for (int k = 0; k < RG_DIST_BUCKETS; k++) {
			cum += d->dist[k].count;
			sum += d->dist[k].sum;
			snprintf(le, sizeof(le), "%llu", k ? 1ull << (k - 1) : 0ull);
			fprintf(f, "%s_bucket{", name);
			label(f, true, "device", d->name);
			label(f, false, "le", le);
			fprintf(f, "} %llu\n", (unsigned long long)cum);
		}
		fprintf(f, "%s_bucket{", name);
		label(f, true, "device", d->name);
		label(f, false, "le", "+Inf");
		fprintf(f, "} %llu\n", (unsigned long long)cum);
		fprintf(f, "%s_sum{", name);
		label(f, true, "device", d->name);
		fprintf(f, "} %llu\n", (unsigned long long)sum);
		fprintf(f, "%s_count{", name);
		label(f, true, "device", d->name);
		fprintf(f, "} %llu\n", (unsigned long long)cum);
	}
}

static void emit_head(FILE *f, int up)
{
	family(f, "rstguard_up", "gauge",
	       "1 when the pinned maps could be read, 0 when not (then only rstguard_build_info follows).");
	fprintf(f, "rstguard_up %d\n", up);
	family(f, "rstguard_build_info", "gauge", "Always 1; the version of rstguard in a label.");
	fprintf(f, "rstguard_build_info{");
	label(f, true, "version", rg_version);
	fprintf(f, "} 1\n");
}

static void emit_up(FILE *f, const struct snapshot *s, bool per_cpu, double took)
{
	static const char *const fam_label[2] = { "ipv4", "ipv6" };

	emit_head(f, 1);

	family(f, "rstguard_attached", "gauge",
	       "1 while the device's pinned XDP link is attached to a live device, 0 when the device is gone.");
	for (int i = 0; i < s->nslots; i++) {
		fprintf(f, "rstguard_attached{");
		label(f, true, "device", s->s[i].name);
		label(f, false, "role", s->s[i].role);
		label(f, false, "xdp_mode", s->s[i].mode);
		fprintf(f, "} %d\n", s->s[i].attached);
	}
	family(f, "rstguard_attach_timestamp_seconds", "gauge",
	       "When rstguard last attached to the device (Unix time); a change means its counters restarted.");
	for (int i = 0; i < s->nslots; i++) {
		fprintf(f, "rstguard_attach_timestamp_seconds{");
		label(f, true, "device", s->s[i].name);
		fprintf(f, "} %llu\n", (unsigned long long)(s->s[i].attached_ns / 1000000000ull));
	}

	family(f, "rstguard_policy_info", "gauge", "Always 1; the verdict policy in force as labels.");
	fprintf(f, "rstguard_policy_info{");
	for (int k = 0; k < RG_NKNOBS; k++)
		label(f, k == 0, rg_knobs[k].key, rg_knob_name(&rg_knobs[k], s->pol.bits));
	fprintf(f, "} 1\n");
	family(f, "rstguard_challenge_interval_seconds", "gauge",
	       "inexact=challenge sends at most one challenge ACK per flow and direction this often.");
	fprintf(f, "rstguard_challenge_interval_seconds %.3f\n",
		rg_policy_challenge_ms(&s->pol) / 1000.0);
	family(f, "rstguard_policy_generation", "gauge", "Policy generation, bumped by every policy change.");
	fprintf(f, "rstguard_policy_generation %u\n", s->pol.generation);

	if (s->counted)
		family(f, "rstguard_flows_tracked", "gauge",
		       "Entries in the shared flow table by address family (expired ones count until reused).");
	for (int i = 0; i < 2; i++)
		if (s->have_flows[i] && s->counted)
			fprintf(f, "rstguard_flows_tracked{family=\"%s\"} %llu\n", fam_label[i],
				(unsigned long long)s->flows[i]);
	family(f, "rstguard_flow_table_capacity", "gauge",
	       "Maximum entries of the shared flow table by address family (LRU: the oldest go when full).");
	for (int i = 0; i < 2; i++)
		if (s->have_flows[i])
			fprintf(f, "rstguard_flow_table_capacity{family=\"%s\"} %u\n", fam_label[i],
				s->capacity[i]);

	for (size_t i = 0; i < sizeof(cfams) / sizeof(cfams[0]); i++)
		emit_counter_family(f, &cfams[i], s, per_cpu);
	if (s->have_dist)
		emit_distance(f, s);

	family(f, "rstguard_scrape_duration_seconds", "gauge",
	       "Time taken to read the pinned maps for this exposition.");
	fprintf(f, "rstguard_scrape_duration_seconds %.6f\n", took);
}

int rg_metrics_render(const struct rg_metrics_opts *o, char **buf, size_t *len, int *read_err)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	uint64_t t0 = rg_monotonic_ns();
	FILE *f;
	int err;

	*buf = NULL;
	*len = 0;
	if (!s)
		return -ENOMEM;
	err = snapshot_read(o, s);
	*read_err = err;
	f = open_memstream(buf, len);
	if (!f) {
		snapshot_free(s);
		return -ENOMEM;
	}
	/* A failure halfway (a map gone between two reads) shows as down, never as half a scrape. */
	if (err)
		emit_head(f, 0);
	else
		emit_up(f, s, o->per_cpu, (rg_monotonic_ns() - t0) / 1e9);
	snapshot_free(s);
	if (ferror(f) | fclose(f)) {
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* --- rstguard metrics ----------------------------------------------------------------------- */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * node_exporter's textfile collector may read the file at any moment: the exposition goes to a
 * hidden temporary file in the same directory (so rename() cannot cross filesystems, and the
 * collector skips names not ending in .prom), reaches the disk, and replaces the file in one step.
 */
static int write_atomic(const char *path, const char *buf, size_t len)
{
	char d[PATH_MAX], b[PATH_MAX], tmp[PATH_MAX];
	int fd, dfd, err;

	if (snprintf(d, sizeof(d), "%s", path) >= (int)sizeof(d) ||
	    snprintf(b, sizeof(b), "%s", path) >= (int)sizeof(b))
		return rg_fail(RC_USAGE, "output path too long");
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(d), basename(b)) >= (int)sizeof(tmp))
		return rg_fail(RC_USAGE, "output path too long");
	fd = mkstemp(tmp);
	if (fd < 0)
		return rg_fail(RC_ERR, "cannot create a temporary file beside %s: %s", path,
			       errstr(-errno));
	/* mkstemp makes 0600; the collector usually runs as another user. */
	err = fchmod(fd, 0644) ? -errno : 0;
	if (!err)
		err = write_all(fd, buf, len);
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return rg_fail(RC_ERR, "cannot write %s: %s", path, errstr(err));
	}
	/* The rename itself is durable only once the directory is. */
	dfd = open(dirname(strcpy(d, path)), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return RC_OK;
}

static void metrics_usage(void)
{
	printf("Usage: rstguard metrics [-o FILE] [--per-cpu] [--no-flow-count] [--pin-dir DIR]\n"
	       "\n"
	       "Prints the Prometheus exposition (text format 0.0.4) of the pinned maps once, the\n"
	       "same that 'rstguard serve' answers. With -o FILE it is written atomically (temporary\n"
	       "file in the same directory, fsync, rename), for node_exporter's textfile collector.\n"
	       "--per-cpu        label the counters with the CPU instead of summing them\n"
	       "--no-flow-count  leave out rstguard_flows_tracked: counting visits every entry,\n"
	       "                 about 0.4 s per million tracked flows\n"
	       "When the pins cannot be read the exposition says rstguard_up 0 (exit status 0).\n");
}

int do_metrics(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "per-cpu", no_argument, NULL, 'C' },
		{ "no-flow-count", no_argument, NULL, 'N' },
		RG_COMMON_LONGOPTS,
		{}
	};
	struct rg_metrics_opts mo = {};
	const char *out = NULL;
	int c, rc, err, read_err;
	size_t len;
	char *buf;

	while ((c = getopt_long(argc, argv, ":o:" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		switch (c) {
		case 'h':
			metrics_usage();
			return RC_OK;
		case 'o':
			if (!*optarg)
				return rg_fail(RC_USAGE, "-o needs a file name");
			out = optarg;
			break;
		case 'C':
			mo.per_cpu = true;
			break;
		case 'N':
			mo.no_flow_count = true;
			break;
		default:
			return bad_opt("metrics", c, argv);
		}
	}
	if (optind < argc)
		return rg_fail(RC_USAGE, "metrics takes no arguments ('%s')", argv[optind]);
	if (cli.json)
		return rg_fail(RC_USAGE, "metrics prints the Prometheus text format, not JSON: leave "
					 "out -j ('rstguard stats -j' has the counters as JSON)");
	if ((rc = pin_dir_check()))
		return rc;
	mo.pin_dir = cli.pin_dir;
	err = rg_metrics_render(&mo, &buf, &len, &read_err);
	if (err)
		return rg_fail(RC_ERR, "cannot render the metrics: %s", errstr(err));
	if (read_err)
		pr_warn("cannot read the pinned maps under %s/maps (%s): rstguard_up is 0\n",
			cli.pin_dir, errstr(read_err));
	if (out) {
		rc = write_atomic(out, buf, len);
	} else {
		rc = RC_OK;
		if ((err = write_all(STDOUT_FILENO, buf, len)))
			rc = rg_fail(RC_ERR, "cannot write the metrics: %s", errstr(err));
	}
	free(buf);
	return rc;
}
