// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Per-packet invariants and the kernel comparison (see check.h). */
#include "check.h"

#include <linux/bpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shim.h"

struct fz_run fz;
struct fz_kernel *fz_kernel;
int fz_replay_mode;
int fz_verbose;

const char *const fz_reason_name[RG_R_MAX + 1] = {
	[RG_R_VALID] = "valid", [RG_R_OUT_OF_WINDOW] = "out_of_window",
	[RG_R_INEXACT] = "inexact", [RG_R_NO_FLOW] = "no_flow", [RG_R_ONE_WAY] = "one_way",
	[RG_R_UNVERIFIED] = "unverified", [RG_R_UNTRACKED] = "untracked",
	[RG_R_LEARNING] = "learning",
	[RG_R_SYN_SENT_BAD_ACK] = "syn_sent_bad_ack", [RG_R_TIMEWAIT] = "timewait",
	[RG_R_BAD_FLAGS] = "bad_flags", [RG_R_EXEMPT] = "exempt",
	[RG_R_UNPROTECTED] = "unprotected", [RG_R_SHORT_FRAGMENT] = "short_fragment",
	[RG_R_DEEP_CHAIN] = "deep_chain", [RG_R_FRAGMENT] = "fragment",
	[RG_R_NON_RST] = "non_rst_tcp", [RG_R_MALFORMED] = "malformed",
	[RG_R_FLOW_CREATED] = "flow_created", [RG_R_FLOW_INSERT_FAIL] = "flow_insert_fail",
	[RG_R_CHALLENGE_SENT] = "challenge_sent", [RG_R_CHALLENGE_LIMITED] = "challenge_limited",
	[RG_R_CHALLENGE_FALLBACK] = "challenge_fallback",
	[RG_R_CHALLENGE_UNROUTED] = "challenge_unrouted",
	[RG_R_MAX] = "(none)",
};

void fz_fail(const char *fmt, ...)
{
	va_list ap;

	printf("MISMATCH [%s role=%u l3=%u policy=0x%x packet %d]: ", fz.target ? fz.target : "?",
	       fz.role, fz.l3, fz.bits, fz.step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	fz.failed = 1;
	if (!fz_replay_mode)
		abort();
}

const char *fz_known_list;

int fz_known(const char *id)
{
	const char *l = fz_known_list ? fz_known_list : getenv("FZ_KNOWN");
	size_t n = strlen(id);

	for (const char *p = l; p && (p = strstr(p, id)); p += n)
		if ((p == l || p[-1] == ',' || p[-1] == ' ') && (p[n] == 0 || p[n] == ',' || p[n] == ' '))
			return 1;
	return 0;
}

void fz_begin(const char *target, __u32 role, __u32 l3, __u32 bits)
{
	memset(&fz, 0, sizeof(fz));
	fz.target = target;
	fz.role = role;
	fz.l3 = l3;
	fz.bits = bits;
	dp_reset(role, l3);
	dp_policy(bits);
	if (fz_kernel)
		fz_kernel->begin(role, l3, bits);
}

void fz_set_policy(__u32 bits)
{
	fz.bits = bits;
	dp_policy(bits);
	if (fz_kernel)
		fz_kernel->policy(bits);
}

static int is_event(int r)
{
	return r == RG_R_FLOW_CREATED || r == RG_R_FLOW_INSERT_FAIL ||
	       (r >= RG_R_CHALLENGE_SENT && r <= RG_R_CHALLENGE_UNROUTED);
}

int fz_key4(const struct mpkt *p, struct rg_flow_key4 *k)
{
	int c = memcmp(p->saddr, p->daddr, 4);
	int dir = c > 0 || (c == 0 && p->sport > p->dport);
	__u16 sp = (__u16)(p->sport << 8 | p->sport >> 8), dp = (__u16)(p->dport << 8 | p->dport >> 8);

	memset(k, 0, sizeof(*k));
	memcpy(&k->addr[0], dir ? p->daddr : p->saddr, 4);
	memcpy(&k->addr[1], dir ? p->saddr : p->daddr, 4);
	k->port[0] = dir ? dp : sp;
	k->port[1] = dir ? sp : dp;
	return dir;
}

int fz_key6(const struct mpkt *p, struct rg_flow_key6 *k)
{
	int c = memcmp(p->saddr, p->daddr, 16);
	int dir = c > 0 || (c == 0 && p->sport > p->dport);
	__u16 sp = (__u16)(p->sport << 8 | p->sport >> 8), dp = (__u16)(p->dport << 8 | p->dport >> 8);

	memset(k, 0, sizeof(*k));
	memcpy(k->addr[0], dir ? p->daddr : p->saddr, 16);
	memcpy(k->addr[1], dir ? p->saddr : p->daddr, 16);
	k->port[0] = dir ? dp : sp;
	k->port[1] = dir ? sp : dp;
	return dir;
}

static void dump_flow(const char *who, int found, const struct rg_flow *f)
{
	if (!found) {
		printf("    %s: no entry\n", who);
		return;
	}
	printf("    %s: d0{isn %u end %u ack %u win %u fl 0x%02x} d1{isn %u end %u ack %u win %u "
	       "fl 0x%02x} seen %u ff 0x%x pend 0x%x\n", who, f->d[0].isn, f->d[0].seq_end,
	       f->d[0].ack, f->d[0].max_win, f->dflags[0], f->d[1].isn, f->d[1].seq_end,
	       f->d[1].ack, f->d[1].max_win, f->dflags[1], f->last_seen, f->fflags, f->pending);
}

/* The same frame through the kernel's copy: same action, same counters, same flow entry. */
static void compare_kernel(const __u8 *f, size_t n, const struct mpkt *mp, int xdp,
			   const struct fz_counts *d)
{
	struct fz_counts kd;
	int kx;

	/* After a packet the kernel skipped or judged another way, its flow table may differ
	 * for reasons of the harness alone: the rest of the input is not compared. */
	if (fz.kernel_apart) {
		fz.uncompared++;
		return;
	}
	kx = fz_kernel->step(f, n, shim.now_ns, &kd);
	if (kx < 0 || shim.sk_found) {
		/* Skipped (short frame, FIB answer of another kind), or judged here against a
		 * seeded socket the kernel's namespace does not have. */
		fz.uncompared++;
		fz.kernel_apart = mp->cls == M_TCP;
		return;
	}
	fz.compared++;
	if (kx != xdp)
		fz_fail("kernel action %d, user-space build %d", kx, xdp);
	for (int r = 0; r < RG_R_MAX; r++)
		for (int a = 0; a < RG_ACT_MAX; a++)
			if (kd.pkts[r][a] != d->pkts[r][a] || kd.bytes[r][a] != d->bytes[r][a])
				fz_fail("counter %s/%d: kernel +%llu pkts +%llu bytes, user-space "
					"+%llu pkts +%llu bytes", fz_reason_name[r], a,
					(unsigned long long)kd.pkts[r][a],
					(unsigned long long)kd.bytes[r][a],
					(unsigned long long)d->pkts[r][a],
					(unsigned long long)d->bytes[r][a]);
	if (mp->cls == M_TCP && fz.role != RG_ROLE_HOST) {
		struct rg_flow a, b;
		int fa, fb;

		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		if (mp->v6) {
			struct rg_flow_key6 k;

			fz_key6(mp, &k);
			fa = dp_flow6(&k, &a) == 0;
			fb = fz_kernel->flow6(&k, &b) == 0;
		} else {
			struct rg_flow_key4 k;

			fz_key4(mp, &k);
			fa = dp_flow4(&k, &a) == 0;
			fb = fz_kernel->flow4(&k, &b) == 0;
		}
		if (fa != fb || (fa && memcmp(&a, &b, sizeof(a)))) {
			fz_fail("flow entry differs between kernel and user-space build");
			dump_flow("user-space", fa, &a);
			dump_flow("kernel", fb, &b);
		}
	}
}

int fz_step(const __u8 *f, size_t n, struct mpkt *mp, struct fz_obs *o)
{
	struct fz_counts before, after, d;
	int nonev = 0, judged = 0, expect = RG_R_MAX, drops;

	m_parse(f, n, fz.l3, mp);
	dp_counts(&before);
	o->xdp = dp_run(f, n);
	o->sk_found = shim.sk_found;
	dp_counts(&after);
	o->reason = RG_R_MAX;
	o->act = -1;
	o->event = -1;
	for (int r = 0; r < RG_R_MAX; r++)
		for (int a = 0; a < RG_ACT_MAX; a++) {
			d.pkts[r][a] = after.pkts[r][a] - before.pkts[r][a];
			d.bytes[r][a] = after.bytes[r][a] - before.bytes[r][a];
		}
	if (fz_kernel)
		compare_kernel(f, n, mp, o->xdp, &d);
	if (fz_verbose) {
		int r0 = -1, a0 = -1;

		for (int r = 0; r < RG_R_MAX; r++)
			for (int a = 0; a < RG_ACT_MAX; a++)
				if (d.pkts[r][a] && !is_event(r)) {
					r0 = r;
					a0 = a;
				}
		printf("  #%d t=%llu class %d flags 0x%02x seq %u ack %u win %u len %u ws %u -> %s/%d "
		       "xdp %d%s\n", fz.step, (unsigned long long)(shim.now_ns / 1000000000ull),
		       mp->cls, mp->flags, mp->seq, mp->ack, mp->win, mp->payload, mp->wscale,
		       r0 < 0 ? "-" : fz_reason_name[r0], a0, o->xdp, shim.sk_found ? " (socket)" : "");
		if (mp->cls == M_TCP && fz.role != RG_ROLE_HOST) {
			struct rg_flow fl;
			int found;

			if (mp->v6) {
				struct rg_flow_key6 k;

				printf("    dir %d", fz_key6(mp, &k));
				found = dp_flow6(&k, &fl) == 0;
			} else {
				struct rg_flow_key4 k;

				printf("    dir %d", fz_key4(mp, &k));
				found = dp_flow4(&k, &fl) == 0;
			}
			dump_flow("", found, &fl);
		}
	}

	if (o->xdp != XDP_PASS && o->xdp != XDP_DROP)
		fz_fail("XDP action %d is neither PASS nor DROP", o->xdp);
	/* Exactly one reason per packet (none for non-TCP), bytes = frame length; events apart. */
	for (int r = 0; r < RG_R_MAX; r++)
		for (int a = 0; a < RG_ACT_MAX; a++) {
			if (!d.pkts[r][a] && !d.bytes[r][a])
				continue;
			if (is_event(r)) {
				if (d.pkts[r][a] != 1 || d.bytes[r][a] || a != RG_ACT_PASS || o->event >= 0)
					fz_fail("event %s/%d counted +%llu pkts +%llu bytes",
						fz_reason_name[r], a, (unsigned long long)d.pkts[r][a],
						(unsigned long long)d.bytes[r][a]);
				o->event = r;
				continue;
			}
			nonev++;
			if (d.pkts[r][a] != 1 || d.bytes[r][a] != n)
				fz_fail("reason %s/%d counted +%llu pkts +%llu bytes for a %zu-byte frame",
					fz_reason_name[r], a, (unsigned long long)d.pkts[r][a],
					(unsigned long long)d.bytes[r][a], n);
			o->reason = r;
			o->act = a;
		}
	if (mp->cls == M_NOT_TCP) {
		if (nonev || o->event >= 0 || o->xdp != XDP_PASS)
			fz_fail("non-TCP frame (by the model) counted %s, action %d",
				fz_reason_name[o->reason], o->xdp);
		return 0;
	}
	if (nonev != 1) {
		fz_fail("%d reasons counted for one packet (model class %d)", nonev, mp->cls);
		return 0;
	}
	drops = m_drops(o->reason, fz.bits);
	if (o->act != (drops ? ((fz.bits & RG_P_MONITOR) ? RG_ACT_MONITOR : RG_ACT_DROP) : RG_ACT_PASS))
		fz_fail("reason %s counted as act %d under policy 0x%x", fz_reason_name[o->reason],
			o->act, fz.bits);
	if ((o->xdp == XDP_DROP) != (o->act == RG_ACT_DROP))
		fz_fail("action %d but counted act %d", o->xdp, o->act);
	if (o->event >= 0 && !(mp->cls == M_TCP && !(mp->flags & M_RST) && fz.role != RG_ROLE_HOST))
		fz_fail("flow event %s for a packet that is not tracked", fz_reason_name[o->event]);

	switch (mp->cls) {
	case M_FRAGMENT:
		expect = RG_R_FRAGMENT;
		break;
	case M_MALFORMED:
		expect = RG_R_MALFORMED;
		break;
	case M_SHORT_FRAGMENT:
	case M_DEEP_CHAIN:
		expect = m_scope(mp, fz.bits, 0);
		if (expect == RG_R_MAX)
			expect = mp->cls == M_SHORT_FRAGMENT ? RG_R_SHORT_FRAGMENT : RG_R_DEEP_CHAIN;
		break;
	default:
		if (!(mp->flags & M_RST)) {
			expect = RG_R_NON_RST;
			break;
		}
		expect = m_scope(mp, fz.bits, 1);
		if (expect == RG_R_MAX && (mp->flags & (M_SYN | M_FIN)))
			expect = RG_R_BAD_FLAGS;
		judged = expect == RG_R_MAX;
	}
	if (judged) {
		switch (o->reason) {
		case RG_R_VALID: case RG_R_OUT_OF_WINDOW: case RG_R_INEXACT: case RG_R_NO_FLOW:
		case RG_R_ONE_WAY: case RG_R_UNVERIFIED: case RG_R_UNTRACKED: case RG_R_LEARNING:
		case RG_R_SYN_SENT_BAD_ACK: case RG_R_TIMEWAIT:
			break;
		default:
			fz_fail("in-scope RST judged %s, not an acceptance reason",
				fz_reason_name[o->reason]);
		}
		return 1;
	}
	fz_expect(o, expect, "parse/scope/flags");
	return 0;
}

void fz_evict(const struct mpkt *mp)
{
	if (mp->v6) {
		struct rg_flow_key6 k;

		fz_key6(mp, &k);
		dp_evict6(&k);
		if (fz_kernel && !fz.kernel_apart)
			fz_kernel->evict6(&k);
	} else {
		struct rg_flow_key4 k;

		fz_key4(mp, &k);
		dp_evict4(&k);
		if (fz_kernel && !fz.kernel_apart)
			fz_kernel->evict4(&k);
	}
}

void fz_expect(const struct fz_obs *o, int reason, const char *why)
{
	if (o->reason != reason)
		fz_fail("%s: expected %s, got %s", why, fz_reason_name[reason],
			fz_reason_name[o->reason]);
}
