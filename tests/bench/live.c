// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The live-frame path: a generator thread in one namespace, the program under test on the veth
 * peer in the other, and the receiver's own counters read over a fixed window. */
#define _GNU_SOURCE
#include "bench.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.skel.h"

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* setns() is per thread: each thread enters the namespace its sockets and devices live in. */
int enter_ns(int fd)
{
	if (setns(fd, CLONE_NEWNET)) {
		fprintf(stderr, "bench: setns: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

int run_cmd(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Kernel thread whose name is exactly comm, or 0. */
static int find_kthread(const char *comm, size_t prefix_len)
{
	char path[300], c[64];
	struct dirent *d;
	DIR *dir = opendir("/proc");
	int found = 0;

	while (dir && !found && (d = readdir(dir))) {
		int pid = atoi(d->d_name);
		FILE *f;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(c, sizeof(c), f)) {
			c[strcspn(c, "\n")] = 0;
			if (prefix_len ? !strncmp(c, comm, prefix_len) : !strcmp(c, comm))
				found = pid;
		}
		fclose(f);
	}
	if (dir)
		closedir(dir);
	return found;
}

/* Time a task has spent on a CPU, ns (first field of schedstat: exact, not tick-sampled). */
static uint64_t task_runtime(int pid, int tid)
{
	char path[128];
	unsigned long long ns = 0;
	FILE *f;

	if (pid <= 0)
		return 0;
	if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns;
}

static int open_ns(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "bench: open %s: %s\n", path, strerror(errno));
	return fd;
}

int live_init(struct bench_env *e)
{
	e->root_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	e->gen_ns = open_ns(e->gen_ns_name);
	e->rcv_ns = open_ns(e->rcv_ns_name);
	if (e->root_ns < 0 || e->gen_ns < 0 || e->rcv_ns < 0)
		return -1;
	if (enter_ns(e->gen_ns))
		return -1;
	e->gen_ifindex = (int)if_nametoindex(e->gen_if);
	if (enter_ns(e->rcv_ns))
		return -1;
	e->rcv_ifindex = (int)if_nametoindex(e->rcv_if);
	/* A netlink socket belongs to the namespace it was created in, whoever reads it later. */
	e->nl_rcv = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (enter_ns(e->root_ns))
		return -1;
	{
		char name[32];

		snprintf(name, sizeof(name), "ksoftirqd/%d", e->gen_cpu);
		e->softirqd_pid = find_kthread(name, 0);
	}
	if (!e->gen_ifindex || !e->rcv_ifindex || e->nl_rcv < 0) {
		fprintf(stderr, "bench: veth %s/%s not found in %s/%s\n", e->gen_if, e->rcv_if,
			e->gen_ns_name, e->rcv_ns_name);
		return -1;
	}
	return 0;
}

/* The veth's 64-bit counters. On veth rx_packets counts every frame the receive NAPI handed to
 * the XDP program, whatever its verdict, and rx_dropped the frames the generator could not
 * queue because the ring was full. */
static int link_stats(struct bench_env *e, struct rtnl_link_stats64 *st)
{
	static uint32_t seq;
	struct {
		struct nlmsghdr n;
		struct ifinfomsg i;
	} req = {
		.n = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_GETLINK,
		       .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = ++seq },
		.i = { .ifi_family = AF_UNSPEC, .ifi_index = e->rcv_ifindex },
	};
	char buf[16384];
	ssize_t n;

	if (send(e->nl_rcv, &req, req.n.nlmsg_len, 0) < 0)
		return -1;
	for (;;) {
		n = recv(e->nl_rcv, buf, sizeof(buf), 0);
		if (n < 0)
			return -1;
		for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			struct rtattr *a;
			int len;

			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -1;
			if (h->nlmsg_type != RTM_NEWLINK)
				continue;
			a = (void *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct ifinfomsg)));
			len = (int)h->nlmsg_len - NLMSG_LENGTH(sizeof(struct ifinfomsg));
			for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
				if (a->rta_type == IFLA_STATS64) {
					memcpy(st, RTA_DATA(a), sizeof(*st));
					return 0;
				}
			}
			return -1;
		}
	}
}

int attach_rcv(struct bench_env *e, int prog_fd)
{
	int err;

	if (enter_ns(e->rcv_ns))
		return -1;
	err = bpf_xdp_attach(e->rcv_ifindex, prog_fd, XDP_FLAGS_DRV_MODE, NULL);
	enter_ns(e->root_ns);
	if (err)
		fprintf(stderr, "bench: attach XDP (native) to %s: %s\n", e->rcv_if, strerror(-err));
	return err;
}

void detach_rcv(struct bench_env *e)
{
	if (enter_ns(e->rcv_ns))
		return;
	bpf_xdp_detach(e->rcv_ifindex, XDP_FLAGS_DRV_MODE, NULL);
	enter_ns(e->root_ns);
}

/*
 * In softirq mode the receiver's NAPI poll runs on the generator's CPU right after each batch,
 * so the measured time per packet is generator plus receiver. A threaded NAPI pinned to the
 * other CPU gives the receiver a CPU of its own, as a NIC queue has: the rate is then the
 * receiver's, as long as the generator outruns it (the veth ring overflows: drop_mpps > 0).
 */
int napi_thread_setup(struct bench_env *e)
{
	char prefix[64];
	cpu_set_t set;

	if (e->napi_cpu < 0)
		return 0;
	if (run_cmd("ip netns exec %s sh -c 'echo 1 > /sys/class/net/%s/threaded'", e->rcv_ns_name,
		    e->rcv_if)) {
		fprintf(stderr, "bench: threaded NAPI not available, receiver runs in softirq\n");
		e->napi_cpu = -1;
		return 0;
	}
	/* The kthread is "napi/<dev>-<id>", cut to 15 characters. */
	snprintf(prefix, sizeof(prefix), "napi/%s-", e->rcv_if);
	prefix[15] = 0;
	e->napi_pid = find_kthread(prefix, strlen(prefix));
	CPU_ZERO(&set);
	CPU_SET(e->napi_cpu, &set);
	if (!e->napi_pid || sched_setaffinity(e->napi_pid, sizeof(set), &set)) {
		fprintf(stderr, "bench: NAPI thread of %s not found or not pinned\n", e->rcv_if);
		return -1;
	}
	return 0;
}

struct gen_thread {
	struct bench_env *e;
	const uint8_t *frame;
	size_t len;
	atomic_int stop;
	atomic_uint_fast64_t sent;
	atomic_int tid;
	int err;
};

static void *gen_main(void *arg)
{
	struct gen_thread *g = arg;
	struct bench_env *e = g->e;
	int fd = bpf_program__fd(e->gen->progs.gen_redirect);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = g->frame, .data_size_in = (uint32_t)g->len,
		    .repeat = e->repeat, .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		    .batch_size = (uint32_t)e->batch);

	/* Live frames start at the loopback device of the caller's namespace, so the redirect
	 * target's ifindex is resolved in the generator namespace. */
	atomic_store(&g->tid, (int)syscall(SYS_gettid));
	if (enter_ns(e->gen_ns) || pin_cpu(e->gen_cpu)) {
		g->err = -1;
		return NULL;
	}
	while (!atomic_load(&g->stop)) {
		if (bpf_prog_test_run_opts(fd, &o)) {
			g->err = -errno;
			break;
		}
		atomic_fetch_add(&g->sent, (uint64_t)e->repeat);
	}
	return NULL;
}

static int prog_stats(int fd, uint64_t *cnt, uint64_t *ns)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -1;
	*cnt = info.run_cnt;
	*ns = info.run_time_ns;
	return 0;
}

/*
 * CPU time of the path: in softirq mode the generator thread (which also runs the receiver's
 * NAPI poll in the softirq after each batch; without IRQ time accounting that time is charged
 * to it) plus its CPU's ksoftirqd, which takes over when softirqs pile up; in threaded mode the
 * receiver's NAPI thread alone. Rates per CPU second of it do not drop when other work on a
 * shared machine takes the CPU away, as rates per wall second do.
 */
static uint64_t path_runtime(struct bench_env *e, int tid)
{
	if (e->napi_cpu >= 0)
		return task_runtime(e->napi_pid, 0);
	return task_runtime(getpid(), tid) + task_runtime(e->softirqd_pid, 0);
}

int live_measure(struct bench_env *e, int prog_fd, const uint8_t *frame, size_t len,
		 const struct gen_cfg *c, struct live_res *r)
{
	uint64_t cpu0, cpu1;
	struct gen_thread g = { .e = e, .frame = frame, .len = len };
	struct rtnl_link_stats64 sa, s0, s1, sb;
	uint64_t tx0, tx1, c0 = 0, c1 = 0, n0 = 0, n1 = 0, gc0 = 0, gc1 = 0, gn0 = 0, gn1 = 0;
	int gfd = bpf_program__fd(e->gen->progs.gen_redirect);
	double t0, t1;
	pthread_t th;
	int sfd, err = 0;

	memset(r, 0, sizeof(*r));
	if (link_stats(e, &sa))
		return -1;
	e->gen->bss->gen_ifindex = (uint32_t)e->gen_ifindex;
	e->gen->bss->gen_mode = c->mode;
	e->gen->bss->gen_nflows = c->nflows ? c->nflows : 1;
	e->gen->bss->gen_nconn = c->nconn ? c->nconn : 1;
	e->gen->bss->gen_conn_port = c->conn_port;
	if (pthread_create(&th, NULL, gen_main, &g))
		return -1;
	sleep_s(e->warmup_s);

	t0 = now_s();
	tx0 = atomic_load(&g.sent);
	cpu0 = path_runtime(e, atomic_load(&g.tid));
	if (link_stats(e, &s0))
		err = -1;
	sleep_s(e->window_s);
	t1 = now_s();
	tx1 = atomic_load(&g.sent);
	cpu1 = path_runtime(e, atomic_load(&g.tid));
	if (link_stats(e, &s1))
		err = -1;

	/* Run-time accounting costs two clock reads per run, so it gets its own shorter window
	 * after the rate was taken without it. */
	sfd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (sfd >= 0) {
		prog_stats(prog_fd, &c0, &n0);
		prog_stats(gfd, &gc0, &gn0);
		sleep_s(e->stats_s);
		prog_stats(prog_fd, &c1, &n1);
		prog_stats(gfd, &gc1, &gn1);
		close(sfd);
	}
	atomic_store(&g.stop, 1);
	pthread_join(th, NULL);
	if (!link_stats(e, &sb))
		r->frames = sb.rx_packets - sa.rx_packets;
	if (g.err) {
		fprintf(stderr, "bench: live BPF_PROG_TEST_RUN: %s\n", strerror(-g.err));
		return -1;
	}
	if (err) {
		fprintf(stderr, "bench: reading %s counters failed\n", e->rcv_if);
		return -1;
	}
	r->wall_mpps = (double)(s1.rx_packets - s0.rx_packets) / (t1 - t0) / 1e6;
	r->cpu_share = (double)(cpu1 - cpu0) / 1e9 / (t1 - t0);
	/* Without schedstat (no CPU times) the wall-clock rate is all there is. */
	r->rx_mpps = cpu1 > cpu0 ? (double)(s1.rx_packets - s0.rx_packets) / ((double)(cpu1 - cpu0) / 1e3)
				 : r->wall_mpps;
	r->drop_mpps = (double)(s1.rx_dropped - s0.rx_dropped) / (t1 - t0) / 1e6;
	r->tx_mpps = (double)(tx1 - tx0) / (t1 - t0) / 1e6;
	if (c1 > c0)
		r->prog_ns = (double)(n1 - n0) / (double)(c1 - c0);
	if (gc1 > gc0)
		r->gen_ns = (double)(gn1 - gn0) / (double)(gc1 - gc0);
	if (e->verbose)
		fprintf(stderr, "    rx %.2f Mpps per CPU s (%.2f per wall s, CPU share %.2f), tx %.2f, "
			"ring-drop %.2f, prog %.1f ns, generator %.1f ns\n", r->rx_mpps, r->wall_mpps,
			r->cpu_share, r->tx_mpps, r->drop_mpps, r->prog_ns, r->gen_ns);
	return 0;
}

double test_run_ns(struct bench_env *e, int prog_fd, const uint8_t *frame, size_t len, int repeat)
{
	struct xdp_md ctx = { .data_end = (uint32_t)len, .ingress_ifindex = (uint32_t)e->rcv_ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (uint32_t)len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);
	double best = -1;

	/* In the receiver namespace: the host role looks sockets up in the ingress device's. */
	if (enter_ns(e->rcv_ns))
		return -1;
	for (int i = 0; i < 3; i++) {
		o.duration = 0;
		if (bpf_prog_test_run_opts(prog_fd, &o)) {
			fprintf(stderr, "bench: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
			best = -1;
			break;
		}
		if (best < 0 || o.duration < best)
			best = o.duration;
	}
	enter_ns(e->root_ns);
	return best;
}
