// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* BPF_PROG_TEST_RUN harness over the same skeleton the binary ships. */
#include "harness.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>

#include "rstguard.skel.h"

int t_pass, t_fail;

int t_summary(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, t_pass, t_fail);
	return t_fail ? 1 : 0;
}

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("RG_TEST_VERBOSE"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

int env_open(struct rg_env *e, int role, int l3, uint32_t flows)
{
	int err;

	memset(e, 0, sizeof(*e));
	libbpf_set_print(quiet_print);
	e->ncpu = libbpf_num_possible_cpus();
	e->skel = rstguard__open();
	if (!e->skel)
		return -errno;
	e->skel->rodata->cfg_role = role;
	e->skel->rodata->cfg_l3 = l3;
	e->skel->rodata->cfg_slot = 0;
	if (flows) {
		bpf_map__set_max_entries(e->skel->maps.rg_flows4, flows);
		bpf_map__set_max_entries(e->skel->maps.rg_flows6, flows);
	}
	err = rstguard__load(e->skel);
	if (err) {
		rstguard__destroy(e->skel);
		e->skel = NULL;
		return err;
	}
	e->prog_fd = bpf_program__fd(e->skel->progs.rstguard_xdp);
	return 0;
}

void env_close(struct rg_env *e)
{
	if (e->skel)
		rstguard__destroy(e->skel);
	e->skel = NULL;
}

int env_run(struct rg_env *e, const uint8_t *frame, size_t len)
{
	uint8_t out[4096];
	struct xdp_md ctx_in = { .data_end = (uint32_t)len, .ingress_ifindex = (uint32_t)e->ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

	if (e->ifindex) {
		opts.ctx_in = &ctx_in;
		opts.ctx_size_in = sizeof(ctx_in);
	}
	if (bpf_prog_test_run_opts(e->prog_fd, &opts))
		return -1;
	return (int)opts.retval;
}

int env_run_spec(struct rg_env *e, const struct pktspec *s)
{
	uint8_t buf[4096];
	size_t n = pkt_build(buf, sizeof(buf), s);

	if (!n)
		return -1;
	return env_run(e, buf, n);
}

void env_snap(struct rg_env *e, struct rg_snap *s)
{
	struct rg_counter *vals = calloc((size_t)e->ncpu, sizeof(*vals));
	int fd = bpf_map__fd(e->skel->maps.rg_stats);

	memset(s, 0, sizeof(*s));
	for (uint32_t r = 0; vals && r < RG_R_MAX; r++) {
		if (bpf_map_lookup_elem(fd, &r, vals))
			continue;
		for (int c = 0; c < e->ncpu; c++)
			for (int a = 0; a < RG_ACT_MAX; a++)
				s->pkts[r][a] += vals[c].packets[a];
	}
	free(vals);
}

uint64_t env_delta(struct rg_env *e, const struct rg_snap *before, int reason, int act)
{
	struct rg_snap now;

	env_snap(e, &now);
	return now.pkts[reason][act] - before->pkts[reason][act];
}

uint64_t env_delta_all(struct rg_env *e, const struct rg_snap *before)
{
	struct rg_snap now;
	uint64_t sum = 0;

	env_snap(e, &now);
	for (int r = 0; r < RG_R_MAX; r++)
		for (int a = 0; a < RG_ACT_MAX; a++)
			sum += now.pkts[r][a] - before->pkts[r][a];
	return sum;
}

static int policy_rw(struct rg_env *e, struct rg_policy *p, int write)
{
	uint32_t k = 0;
	int fd = bpf_map__fd(e->skel->maps.rg_policy);

	return write ? bpf_map_update_elem(fd, &k, p, BPF_ANY) : bpf_map_lookup_elem(fd, &k, p);
}

int env_policy(struct rg_env *e, uint32_t set, uint32_t clear)
{
	struct rg_policy p;

	if (policy_rw(e, &p, 0))
		return -1;
	p.bits = (p.bits | set) & ~clear;
	p.generation++;
	return policy_rw(e, &p, 1);
}

int env_timeout(struct rg_env *e, int state, uint32_t seconds)
{
	struct rg_policy p;

	if (state < 0 || state >= RG_ST_MAX || policy_rw(e, &p, 0))
		return -1;
	p.timeout[state] = seconds;
	return policy_rw(e, &p, 1);
}

void env_clock(struct rg_env *e, int64_t seconds)
{
	e->skel->bss->rg_clock_offset = seconds * 1000000000ll;
}

int env_protect_port(struct rg_env *e, uint16_t port)
{
	uint32_t idx = port >> 6;
	uint64_t w = 0;
	int fd = bpf_map__fd(e->skel->maps.rg_ports);

	if (bpf_map_lookup_elem(fd, &idx, &w))
		return -1;
	w |= 1ull << (port & 63);
	if (bpf_map_update_elem(fd, &idx, &w, BPF_ANY))
		return -1;
	return env_policy(e, RG_P_HAVE_PORTS, 0);
}

int env_prefix(struct rg_env *e, const char *which, const char *cidr)
{
	struct rg_prefix_key k = {};
	char addr[64];
	const char *slash = strchr(cidr, '/');
	int plen, fd, exempt = !strcmp(which, "exempt");
	uint8_t one = 1;

	if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
		return -1;
	memcpy(addr, cidr, (size_t)(slash - cidr));
	addr[slash - cidr] = 0;
	plen = atoi(slash + 1);
	if (strchr(addr, ':')) {
		if (inet_pton(AF_INET6, addr, k.addr) != 1)
			return -1;
		k.prefixlen = (uint32_t)plen;
	} else {
		k.addr[10] = k.addr[11] = 0xff;
		if (inet_pton(AF_INET, addr, &k.addr[12]) != 1)
			return -1;
		k.prefixlen = (uint32_t)plen + 96;
	}
	fd = bpf_map__fd(exempt ? e->skel->maps.rg_exempt : e->skel->maps.rg_protect);
	if (bpf_map_update_elem(fd, &k, &one, BPF_ANY))
		return -1;
	return env_policy(e, exempt ? RG_P_HAVE_EXEMPT : RG_P_HAVE_PREFIXES, 0);
}

int env_flow(struct rg_env *e, const struct pktspec *s, struct rg_flow *out)
{
	const char *src = s->src ? s->src : (s->v6 ? "fd00::1" : "198.18.0.1");
	const char *dst = s->dst ? s->dst : (s->v6 ? "fd00::2" : "198.18.0.2");
	uint16_t sp = htons(s->sport ? s->sport : 40000), dp = htons(s->dport ? s->dport : 179);

	if (s->v6) {
		struct rg_flow_key6 k = {};
		uint8_t a[16], b[16];
		int c;

		inet_pton(AF_INET6, src, a);
		inet_pton(AF_INET6, dst, b);
		c = memcmp(a, b, 16);
		if (c > 0 || (c == 0 && ntohs(sp) > ntohs(dp))) {
			memcpy(k.addr[0], b, 16);
			memcpy(k.addr[1], a, 16);
			k.port[0] = dp;
			k.port[1] = sp;
		} else {
			memcpy(k.addr[0], a, 16);
			memcpy(k.addr[1], b, 16);
			k.port[0] = sp;
			k.port[1] = dp;
		}
		return bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.rg_flows6), &k, out);
	} else {
		struct rg_flow_key4 k = {};
		uint32_t a, b;

		inet_pton(AF_INET, src, &a);
		inet_pton(AF_INET, dst, &b);
		if (ntohl(a) > ntohl(b) || (a == b && ntohs(sp) > ntohs(dp))) {
			k.addr[0] = b;
			k.addr[1] = a;
			k.port[0] = dp;
			k.port[1] = sp;
		} else {
			k.addr[0] = a;
			k.addr[1] = b;
			k.port[0] = sp;
			k.port[1] = dp;
		}
		return bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.rg_flows4), &k, out);
	}
}
