// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* capture: dropped and would-drop packets, sampled in the data plane, read from its ring buffer
 * and written as a pcap file (NFLOG, the verdict in the prefix) or as one line each. */
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capfmt.h"
#include "cmds.h"
#include "log.h"
#include "pcapout.h"
#include "pindir.h"
#include "state.h"
#include "util.h"

/* A running capture renews its deadline every second; the program stops taking packets this
 * long after the last renewal, so a capture killed without cleaning up stops costing. */
#define LEASE_NS (3 * 1000000000ull)
#define RENEW_NS 1000000000ull
#define POLL_MS 100

/* The reasons reason_drops() in bpf/verdict.h can drop: the only ones a capture can see. */
static const int droppable[] = {
	RG_R_OUT_OF_WINDOW, RG_R_INEXACT, RG_R_NO_FLOW, RG_R_ONE_WAY, RG_R_SYN_SENT_BAD_ACK,
	RG_R_TIMEWAIT, RG_R_BAD_FLAGS, RG_R_SHORT_FRAGMENT, RG_R_DEEP_CHAIN,
};
#define NDROPPABLE (sizeof(droppable) / sizeof(droppable[0]))

struct cap_opts {
	const char *file;   /* -w; "-" is stdout; NULL prints lines */
	uint32_t count;     /* -c; 0 runs until interrupted */
	uint32_t sample;
	uint64_t reasons;   /* bit per reason; 0: all */
	char ifaces[1024];  /* -i as given, comma-joined */
};

struct cap_run {
	struct rg_state st;
	char names[RG_MAX_IFACES][sizeof(((struct rg_iface *)0)->name) + 1];
	uint64_t slots;
	int64_t rt_off;     /* CLOCK_REALTIME minus CLOCK_MONOTONIC, ns */
	struct rg_pcap *dump;
	bool discard;       /* draining what an earlier capture left in the ring */
	uint32_t count;
	uint64_t written, not_ip;
	uint8_t nfl[RG_CAP_SNAPLEN + 256];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int reason_id(const char *name)
{
	for (size_t i = 0; i < NDROPPABLE; i++)
		if (!strcmp(rg_reason_names[droppable[i]], name))
			return droppable[i];
	return -1;
}

static int parse_reasons(const char *arg, uint64_t *mask)
{
	char buf[512], *save = NULL, *tok, list[512];
	size_t n = 0;

	if (strlen(arg) >= sizeof(buf))
		return rg_fail(RC_USAGE, "--reason list too long");
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int r = reason_id(tok);

		if (r >= 0) {
			*mask |= 1ull << r;
			continue;
		}
		for (size_t i = 0; i < NDROPPABLE; i++)
			n += snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
				      rg_reason_names[droppable[i]]);
		return rg_fail(RC_USAGE, "--reason '%s': not a reason anything is dropped for; one "
			       "of %s", tok, list);
	}
	if (!*mask)
		return rg_fail(RC_USAGE, "--reason needs at least one reason");
	return 0;
}

/* -i names against the attached interfaces' slots. */
static int resolve_ifaces(struct cap_run *r, const char *list)
{
	char buf[sizeof(((struct cap_opts *)0)->ifaces)], *save = NULL, *tok, have[1100];
	size_t n = 0;

	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int slot = -1;

		for (int i = 0; i < RG_MAX_IFACES && slot < 0; i++)
			if (r->names[i][0] && !strcmp(r->names[i], tok))
				slot = i;
		if (slot >= 0) {
			r->slots |= 1ull << slot;
			continue;
		}
		for (int i = 0; i < RG_MAX_IFACES; i++)
			if (r->names[i][0])
				n += snprintf(have + n, sizeof(have) - n, "%s%s", n ? ", " : "",
					      r->names[i]);
		return rg_fail(RC_USAGE, "-i %s: rstguard is not attached there (attached: %s)", tok,
			       n ? have : "nothing");
	}
	return 0;
}

static int read_names(struct cap_run *r)
{
	struct rg_iface recs[RG_MAX_IFACES];
	int err = rg_ifaces_read(&r->st, recs);

	if (err)
		return err;
	for (int i = 0; i < RG_MAX_IFACES; i++)
		snprintf(r->names[i], sizeof(r->names[i]), "%.*s", (int)sizeof(recs[i].name),
			 rg_iface_used(&recs[i]) ? recs[i].name : "");
	return 0;
}

static void emit(struct cap_run *r, const struct rg_cap_meta *m, const struct rg_pkt_view *v,
		 const uint8_t *frame)
{
	size_t n;

	if (!r->dump) {
		if (cli.json) {
			struct json_object *o = rg_cap_json(m, v);

			printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
			json_object_put(o);
		} else {
			rg_cap_print_text(stdout, m, v);
		}
		r->written++;
		return;
	}
	n = rg_nflog_record(r->nfl, sizeof(r->nfl), m, v, frame);
	if (!n) {
		r->not_ip++;
		return;
	}
	rg_pcap_write(r->dump, m->realtime_ns, r->nfl, n, n + (m->len - m->caplen));
	r->written++;
}

static int on_record(void *ctx, void *data, size_t size)
{
	const struct rg_cap_rec *rec = data;
	struct cap_run *r = ctx;
	struct rg_cap_meta m = {};
	struct rg_pkt_view v;
	char ifname[24];

	if (r->discard || size < sizeof(*rec) || (r->count && r->written >= r->count))
		return 0;
	m.realtime_ns = rec->ts_ns + r->rt_off;
	m.caplen = rec->caplen < RG_CAP_SNAPLEN ? rec->caplen : RG_CAP_SNAPLEN;
	m.len = rec->len < m.caplen ? m.caplen : rec->len;
	m.ifindex = rec->ifindex;
	m.dist = rec->dist;
	m.reason = rec->reason < RG_R_MAX ? rg_reason_names[rec->reason] : "unknown";
	m.action = rec->action < RG_ACT_MAX ? rg_action_names[rec->action] : "unknown";
	/* An interface attached after the capture started has no name here yet. */
	if (rec->slot < RG_MAX_IFACES && !r->names[rec->slot][0])
		read_names(r);
	if (rec->slot < RG_MAX_IFACES && r->names[rec->slot][0]) {
		m.iface = r->names[rec->slot];
	} else {
		snprintf(ifname, sizeof(ifname), "if%u", rec->ifindex);
		m.iface = ifname;
	}
	rg_pkt_view(rec->data, m.caplen, rec->l3, &v);
	emit(r, &m, &v, rec->data);
	return 0;
}

/* Only one capture reads the ring buffer: a live one renews its deadline every second. */
static int start(struct cap_run *r, const struct cap_opts *o)
{
	struct rg_cap_cfg cur, cfg = {
		.active = 1, .sample = o->sample, .burst = RG_CAP_BURST_DEFAULT,
		.pid = (uint32_t)getpid(), .reasons = o->reasons, .slots = r->slots,
	};
	int lock = pin_dir_lock(), err;

	if (lock < 0)
		return RC_ERR;
	err = rg_capcfg_read(&r->st, &cur);
	if (!err && cur.active && cur.until_ns > clock_ns(CLOCK_MONOTONIC)) {
		pin_dir_unlock(lock);
		return rg_fail(RC_ERR, "a capture is already running (pid %u): only one at a time "
			       "can read the ring buffer", cur.pid);
	}
	if (!err)
		err = rg_capstat_reset(&r->st);
	cfg.until_ns = clock_ns(CLOCK_MONOTONIC) + LEASE_NS;
	if (!err)
		err = rg_capcfg_write(&r->st, &cfg);
	pin_dir_unlock(lock);
	if (err)
		return rg_fail(RC_ERR, "cannot start the capture: %s", errstr(err));
	return 0;
}

/* Renews the deadline; RC_ERR when another capture took over (ours had lapsed). */
static int renew(struct cap_run *r)
{
	struct rg_cap_cfg cfg;
	int err = rg_capcfg_read(&r->st, &cfg);

	if (!err && (!cfg.active || cfg.pid != (uint32_t)getpid()))
		return rg_fail(RC_ERR, "the capture was stopped or taken over by pid %u", cfg.pid);
	cfg.until_ns = clock_ns(CLOCK_MONOTONIC) + LEASE_NS;
	if (!err)
		err = rg_capcfg_write(&r->st, &cfg);
	return err ? rg_fail(RC_ERR, "cannot renew the capture: %s", errstr(err)) : 0;
}

static void finish_capture(struct cap_run *r)
{
	struct rg_cap_cfg cfg;

	if (!rg_capcfg_read(&r->st, &cfg) && cfg.active && cfg.pid == (uint32_t)getpid()) {
		cfg.active = 0;
		rg_capcfg_write(&r->st, &cfg);
	}
}

static int output_failed(struct cap_run *r)
{
	if (r->dump)
		return rg_pcap_flush(r->dump);
	return fflush(stdout) || ferror(stdout);
}

static int loop(struct cap_run *r, struct ring_buffer *rb)
{
	uint64_t renewed = clock_ns(CLOCK_MONOTONIC);
	int n, rc = RC_OK;

	while (!stop && !(r->count && r->written >= r->count)) {
		n = ring_buffer__poll(rb, POLL_MS);
		if (n < 0 && n != -EINTR) {
			rc = rg_fail(RC_ERR, "cannot read the ring buffer: %s", errstr(n));
			break;
		}
		/* poll consumes only after a wakeup, and the kernel skips those while we lag. */
		ring_buffer__consume(rb);
		if (output_failed(r)) {
			rc = rg_fail(RC_ERR, "cannot write %s: %s", r->dump ? "the pcap file" : "stdout",
				     strerror(errno));
			break;
		}
		if (clock_ns(CLOCK_MONOTONIC) - renewed >= RENEW_NS) {
			if ((rc = renew(r)))
				break;
			renewed = clock_ns(CLOCK_MONOTONIC);
		}
	}
	return rc;
}

static void summary(struct cap_run *r, const struct cap_opts *o)
{
	struct rg_cap_stat s;

	rg_capstat_read(&r->st, &s);
	if (cli.json) {
		struct json_object *j = json_object_new_object(), *w = json_object_new_object();

		json_object_object_add(w, "captured", json_u64(r->written));
		json_object_object_add(w, "matched", json_u64(s.matched));
		json_object_object_add(w, "sampled", json_u64(s.records));
		json_object_object_add(w, "lost", json_u64(s.lost));
		json_object_object_add(w, "not_ip", json_u64(r->not_ip));
		json_object_object_add(w, "sample", json_object_new_int64(o->sample));
		json_object_object_add(w, "burst", json_object_new_int64(RG_CAP_BURST_DEFAULT));
		json_object_object_add(j, "summary", w);
		if (r->dump && o->file && !strcmp(o->file, "-"))
			fprintf(stderr, "%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		else
			json_print(j);
		return;
	}
	fprintf(stderr, "%llu packets captured\n%llu dropped or would-drop packets matched, %llu "
		"sampled, %llu lost (ring buffer full)\n", (unsigned long long)r->written,
		(unsigned long long)s.matched, (unsigned long long)s.records,
		(unsigned long long)s.lost);
	if (r->not_ip)
		fprintf(stderr, "%llu frames without an IP header were left out of the pcap file\n",
			(unsigned long long)r->not_ip);
}

static int open_output(struct cap_run *r, const char *file)
{
	char why[256];

	r->dump = rg_pcap_open(file, RG_DLT_NFLOG, why, sizeof(why));
	if (!r->dump)
		return rg_fail(RC_ERR, "cannot write %s: %s", file, why);
	return 0;
}

static void run_close(struct cap_run *r)
{
	rg_pcap_close(r->dump);
	rg_state_close(&r->st);
}

static int capture(const struct cap_opts *o)
{
	static struct cap_run r;
	struct sigaction sa = { .sa_handler = on_signal };
	struct ring_buffer *rb = NULL;
	int rc, err;

	if ((rc = pin_dir_ready(false)))
		return rc;
	if ((err = rg_state_open(&r.st, cli.pin_dir)))
		return rg_fail(RC_ERR, "nothing attached: no pinned maps under %s/maps (%s)",
			       cli.pin_dir, errstr(err));
	r.count = o->count;
	if (r.st.fd[RG_M_CAPCFG] < 0 || r.st.fd[RG_M_CAPRING] < 0 || r.st.fd[RG_M_CAPSTAT] < 0) {
		rc = rg_fail(RC_ERR, "the attached filter predates capture: attach again to replace "
			     "it with this rstguard's program");
		goto out;
	}
	if ((err = read_names(&r))) {
		rc = rg_fail(RC_ERR, "cannot read the interface slots: %s", errstr(err));
		goto out;
	}
	if (o->ifaces[0] && (rc = resolve_ifaces(&r, o->ifaces)))
		goto out;
	if (o->file && (rc = open_output(&r, o->file)))
		goto out;
	rb = ring_buffer__new(r.st.fd[RG_M_CAPRING], on_record, &r, NULL);
	if (!rb) {
		rc = rg_fail(RC_ERR, "cannot map the ring buffer: %s", errstr(-errno));
		goto out;
	}
	/* Records a killed capture left behind are not this capture's. */
	r.discard = true;
	ring_buffer__consume(rb);
	r.discard = false;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	r.rt_off = (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
	if ((rc = start(&r, o)))
		goto out;
	if (!cli.json) {
		char how[64] = "every packet";

		if (o->sample > 1)
			snprintf(how, sizeof(how), "all up to %u a second per CPU, then 1 in %u",
				 RG_CAP_BURST_DEFAULT, o->sample);
		fprintf(stderr, "capturing dropped and would-drop packets on %s (%s)%s%s; Ctrl-C "
			"ends it\n", o->ifaces[0] ? o->ifaces : "every interface", how,
			o->file ? ", writing " : "", o->file ? o->file : "");
	}
	rc = loop(&r, rb);
	finish_capture(&r);
	/* What was submitted before the flag went down. */
	ring_buffer__consume(rb);
	if (output_failed(&r) && !rc)
		rc = rg_fail(RC_ERR, "cannot write the output: %s", strerror(errno));
	summary(&r, o);
out:
	ring_buffer__free(rb);
	run_close(&r);
	return rc;
}

static void capture_usage(void)
{
	printf("Usage: rstguard capture [-w FILE] [-c COUNT] [-i IFACE[,IFACE...]] [--reason R,...]\n"
	       "                        [--sample N] [-j] [--pin-dir DIR]\n"
	       "\n"
	       "Captures packets rstguard drops (or would drop, mode=monitor), sampled in the data\n"
	       "plane: on each CPU every packet up to %u a second, then one in N.\n"
	       "  -w FILE       write a pcap file (link type NFLOG; the prefix of each packet says\n"
	       "                \"IFACE REASON ACTION\"), '-' for stdout; else one line per packet\n"
	       "  -c COUNT      stop after COUNT packets (default: until Ctrl-C)\n"
	       "  -i IFACE      only packets arriving on IFACE (repeatable, or a comma list)\n"
	       "  --reason R,.. only these reasons (out_of_window, inexact, no_flow, one_way,\n"
	       "                syn_sent_bad_ack, timewait, bad_flags, short_fragment, deep_chain)\n"
	       "  --sample N    one in N once the per-CPU burst is used up (default %u; 1: all)\n"
	       "  -j            one JSON object per packet, and a summary object at the end\n"
	       "One capture at a time. With none running, a dropped packet costs one flag check.\n",
	       RG_CAP_BURST_DEFAULT, RG_CAP_SAMPLE_DEFAULT);
}

static int add_iface(struct cap_opts *o, const char *arg)
{
	size_t n = strlen(o->ifaces);

	if (!*arg || n + strlen(arg) + 2 > sizeof(o->ifaces))
		return rg_fail(RC_USAGE, "-i needs an interface name");
	snprintf(o->ifaces + n, sizeof(o->ifaces) - n, "%s%s", n ? "," : "", arg);
	return 0;
}

int do_capture(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "write", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'c' },
		{ "interface", required_argument, NULL, 'i' },
		{ "reason", required_argument, NULL, 'R' },
		{ "sample", required_argument, NULL, 'S' },
		RG_COMMON_LONGOPTS,
		{}
	};
	struct cap_opts o = { .sample = RG_CAP_SAMPLE_DEFAULT };
	int c, rc;

	while ((c = getopt_long(argc, argv, ":w:c:i:" RG_COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (common_opt(c, optarg))
			continue;
		switch (c) {
		case 'h':
			capture_usage();
			return RC_OK;
		case 'w':
			if (!*optarg)
				return rg_fail(RC_USAGE, "-w needs a file name ('-' for stdout)");
			o.file = optarg;
			break;
		case 'c':
			if (parse_u32(optarg, 1, UINT32_MAX, &o.count))
				return rg_fail(RC_USAGE, "invalid -c '%s': a count from 1", optarg);
			break;
		case 'i':
			if ((rc = add_iface(&o, optarg)))
				return rc;
			break;
		case 'R':
			if ((rc = parse_reasons(optarg, &o.reasons)))
				return rc;
			break;
		case 'S':
			if (parse_u32(optarg, 1, 1000000000, &o.sample))
				return rg_fail(RC_USAGE, "invalid --sample '%s': one in N, N from 1 to "
					       "1000000000", optarg);
			break;
		default:
			return bad_opt("capture", c, argv);
		}
	}
	if (optind < argc)
		return rg_fail(RC_USAGE, "capture takes no arguments ('%s')", argv[optind]);
	return capture(&o);
}
