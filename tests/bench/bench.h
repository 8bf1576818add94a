/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Shared declarations of the rstguard bench: namespaces, the live-frame path, timing helpers. */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

struct bench; /* skeleton of bench.bpf.c: generator and baselines */

/* What run.sh set up, and the knobs of one run. */
struct bench_env {
	int root_ns, gen_ns, rcv_ns;     /* namespace fds */
	const char *gen_ns_name, *rcv_ns_name;
	const char *gen_if, *rcv_if;     /* veth ends */
	int gen_ifindex, rcv_ifindex;    /* each in its own namespace */
	int ncpu;
	int gen_cpu;                     /* CPU of the generator thread */
	int napi_cpu;                    /* CPU of the receiver's NAPI thread; -1: softirq, same CPU */
	double warmup_s, window_s, stats_s;
	int batch;                       /* live-frame batch size */
	int repeat;                      /* frames per live BPF_PROG_TEST_RUN call */
	int nl_rcv;                      /* rtnetlink socket inside the receiver namespace */
	int softirqd_pid;                /* ksoftirqd of the generator's CPU */
	int napi_pid;                    /* receiver's NAPI thread, threaded mode only */
	struct bench *gen;               /* owns the generator program */
	int verbose;
};

/* One live measurement on the receiver. */
struct live_res {
	double rx_mpps;   /* frames the receiver's XDP program saw per CPU second of the path */
	double wall_mpps; /* the same per wall-clock second */
	double cpu_share; /* CPU seconds the path got per wall second */
	double tx_mpps;   /* frames the generator sent */
	double drop_mpps; /* frames the veth could not queue: the receiver was the bottleneck */
	double prog_ns;   /* run time per packet of the program under test (bpf_stats), 0 if n/a */
	double gen_ns;    /* run time per packet of the generator program itself */
	uint64_t frames;  /* frames received from generator start to stop */
};

/* Generator settings for one run; mirrors the globals of bench.bpf.c. */
struct gen_cfg {
	uint32_t mode, nflows, nconn, conn_port;
};

double now_s(void);
int enter_ns(int fd);
int pin_cpu(int cpu);
/* Runs a shell command in the calling thread's network namespace; returns its exit status. */
int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Opens the namespaces and the netlink socket; leaves the calling thread in the root namespace. */
int live_init(struct bench_env *e);
/* Native-mode XDP on the receiver's veth, replacing what was there. */
int attach_rcv(struct bench_env *e, int prog_fd);
void detach_rcv(struct bench_env *e);
/* Moves the receiver's NAPI poll to its own kernel thread on e->napi_cpu (needs XDP attached). */
int napi_thread_setup(struct bench_env *e);
/* Runs the generator with frame over the current receiver program (attached by the caller) and
 * measures; prog_fd is the attached program, for its run-time statistics. */
int live_measure(struct bench_env *e, int prog_fd, const uint8_t *frame, size_t len,
		 const struct gen_cfg *g, struct live_res *r);
/* ns per run of prog over `repeat` BPF_PROG_TEST_RUN repetitions of one frame (best of 3), run
 * in the receiver namespace with the veth as ingress device; < 0 on error. */
double test_run_ns(struct bench_env *e, int prog_fd, const uint8_t *frame, size_t len, int repeat);

#endif
