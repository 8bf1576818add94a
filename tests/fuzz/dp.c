// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The shipped data plane, bpf/rstguard.bpf.c, compiled as plain C against the shim: the code
 * under test is the very same source, only the helpers and maps are user-space fakes. */
#include "rstguard.bpf.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz.h"
#include "shim.h"

/* The definition's pointee types carry what libbpf reads from BTF. */
#define REG(m)                                                                                  \
	shim_map_register(&(m), #m, sizeof(*(m).type) / sizeof(int), sizeof(*(m).key),          \
			  sizeof(*(m).value), sizeof(*(m).max_entries) / sizeof(int))

/* .rodata config is `const volatile`: a plain-C build puts it in a read-only page. The loader
 * writes it between open and load; here the pages are made writable once, and volatile keeps
 * the compiler from folding the initial values into the code. */
static void unprotect(const volatile void *p, size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);
	unsigned long a = (unsigned long)p & ~(unsigned long)(pg - 1);
	unsigned long e = ((unsigned long)p + n + pg - 1) & ~(unsigned long)(pg - 1);

	if (mprotect((void *)a, e - a, PROT_READ | PROT_WRITE)) {
		perror("mprotect .rodata");
		abort();
	}
}

#define SET_RO(var, val) (*(volatile __typeof__(var + 0) *)&(var) = (val))

static __u32 default_timeouts[RG_ST_MAX] = RG_TIMEOUTS_DEFAULT;

void dp_init(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	REG(rg_stats);
	REG(rg_policy);
	REG(rg_ports);
	REG(rg_protect);
	REG(rg_exempt);
	REG(rg_flows4);
	REG(rg_flows6);
	REG(rg_presence);
	REG(rg_recent);
	REG(rg_ifaces);
	REG(rg_dist);
	REG(rg_capcfg);
	REG(rg_capstat);
	REG(rg_chal);
	REG(rg_chal_key);
	shim_map_set_capacity(&rg_flows4, FZ_FLOWS);
	shim_map_set_capacity(&rg_flows6, FZ_FLOWS);
	unprotect(&cfg_role, sizeof(cfg_role));
	unprotect(&cfg_slot, sizeof(cfg_slot));
	unprotect(&cfg_l3, sizeof(cfg_l3));
	unprotect(&cfg_presence_mask, sizeof(cfg_presence_mask));
	unprotect(rg_default_timeouts, sizeof(rg_default_timeouts));
}

void dp_reset(__u32 role, __u32 l3)
{
	__u8 one = 1;

	dp_init();
	shim_reset();
	shim.ip_align = l3 ? 0 : 2;
	SET_RO(cfg_role, role);
	SET_RO(cfg_l3, l3);
	SET_RO(cfg_slot, 0);
	SET_RO(cfg_presence_mask,
	       RG_DEFAULT_FLOWS * RG_PRESENCE_BITS_PER_FLOW / RG_PRESENCE_BLOCK_BITS - 1);
	for (int i = 0; i < RG_ST_MAX; i++)
		SET_RO(rg_default_timeouts[i], default_timeouts[i]);
	rg_clock_offset = 0;
	/* The fixed scope; whether it applies is up to the policy bits. */
	for (int i = 0; i < FZ_NPORTS; i++) {
		__u32 idx = fz_ports[i] >> 6;
		__u64 *w = bpf_map_lookup_elem(&rg_ports, &idx);

		*w |= 1ull << (fz_ports[i] & 63);
	}
	for (int i = 0; i < FZ_NPROTECT; i++) {
		struct rg_prefix_key k = { .prefixlen = fz_protect[i].len };

		memcpy(k.addr, fz_protect[i].addr, 16);
		bpf_map_update_elem(&rg_protect, &k, &one, BPF_ANY);
	}
	for (int i = 0; i < FZ_NEXEMPT; i++) {
		struct rg_prefix_key k = { .prefixlen = fz_exempt[i].len };

		memcpy(k.addr, fz_exempt[i].addr, 16);
		bpf_map_update_elem(&rg_exempt, &k, &one, BPF_ANY);
	}
	dp_policy(0);
}

void dp_policy(__u32 bits)
{
	__u32 k = 0;
	struct rg_policy *p = bpf_map_lookup_elem(&rg_policy, &k);

	p->bits = bits;
	p->generation++;
}

int dp_run(const void *frame, size_t len)
{
	struct xdp_md *ctx = shim_packet_begin(frame, len, 1);
	int r = rstguard_xdp(ctx);

	shim_packet_end();
	return r;
}

struct sum_arg {
	struct fz_counts *c;
};

static void add_counter(const void *key, void *value, void *arg)
{
	struct fz_counts *c = ((struct sum_arg *)arg)->c;
	const struct rg_counter *v = value;
	__u32 idx;

	memcpy(&idx, key, 4);
	/* Only slot 0 is ever used; a count elsewhere is a bug the caller sees as a mismatch. */
	if (idx >= RG_R_MAX) {
		fprintf(stderr, "dp: counter index %u outside slot 0\n", idx);
		abort();
	}
	for (int a = 0; a < RG_ACT_MAX; a++) {
		c->pkts[idx][a] += v->packets[a];
		c->bytes[idx][a] += v->bytes[a];
	}
}

void dp_counts(struct fz_counts *c)
{
	struct sum_arg a = { c };

	memset(c, 0, sizeof(*c));
	shim_map_foreach(&rg_stats, add_counter, &a);
}

int dp_flow4(const struct rg_flow_key4 *k, struct rg_flow *out)
{
	struct rg_flow *f = bpf_map_lookup_elem(&rg_flows4, k);

	if (!f)
		return -1;
	*out = *f;
	return 0;
}

void dp_evict4(const struct rg_flow_key4 *k)
{
	bpf_map_delete_elem(&rg_flows4, k);
}

void dp_evict6(const struct rg_flow_key6 *k)
{
	bpf_map_delete_elem(&rg_flows6, k);
}

int dp_flow6(const struct rg_flow_key6 *k, struct rg_flow *out)
{
	struct rg_flow *f = bpf_map_lookup_elem(&rg_flows6, k);

	if (!f)
		return -1;
	*out = *f;
	return 0;
}
