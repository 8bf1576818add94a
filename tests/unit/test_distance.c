// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The sequence-distance histogram: crafted RSTs at known distances from the tracked band
 * (gateway role) and from a real socket's RCV.NXT (host role) land in the log2 bucket they
 * belong to, add their distance to the sum, and RSTs judged without a reference add nothing. */
#define _GNU_SOURCE
#include "harness.h"
#include "rstguard.skel.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RG_TCP_RECV_QUEUE 1

struct hist {
	uint64_t count[RG_DIST_BUCKETS], sum;
};

/* Slot 0's histogram, summed over CPUs. */
static void hist_read(struct rg_env *e, struct hist *h)
{
	struct rg_dist *v = calloc((size_t)e->ncpu, sizeof(*v));
	int fd = bpf_map__fd(e->skel->maps.rg_dist);

	memset(h, 0, sizeof(*h));
	for (uint32_t b = 0; v && b < RG_DIST_BUCKETS; b++) {
		if (bpf_map_lookup_elem(fd, &b, v))
			continue;
		for (int c = 0; c < e->ncpu; c++) {
			h->count[b] += v[c].count;
			h->sum += v[c].sum;
		}
	}
	free(v);
}

/* The bucket a distance belongs in, from the definition: 0 alone, then (2^(k-2), 2^(k-1)]. */
static int bucket_of(uint64_t d)
{
	int k = 1;

	if (!d)
		return 0;
	while ((1ull << (k - 1)) < d)
		k++;
	return k;
}

/* The distance of seq from the band [lo, hi] by the definition: outside it, the shorter way
 * round the circle to the nearer edge. */
static uint64_t near_edge(uint32_t seq, uint32_t lo, uint32_t hi)
{
	uint64_t dl = (uint32_t)(seq - lo), dh = (uint32_t)(seq - hi);

	if (dl <= (uint32_t)(hi - lo))
		return 0;
	dl = dl > 0x80000000ull ? (1ull << 32) - dl : dl;
	dh = dh > 0x80000000ull ? (1ull << 32) - dh : dh;
	return dl < dh ? dl : dh;
}

/* Runs s and expects exactly one count, in the bucket of distance d, and d added to the sum;
 * d < 0 expects no count at all. */
static void expect_dist(struct rg_env *e, const char *what, const struct pktspec *s, int64_t d)
{
	struct hist a, b;
	uint64_t moved = 0;
	int k = d < 0 ? -1 : bucket_of((uint64_t)d);

	hist_read(e, &a);
	CHECK(env_run_spec(e, s) >= 0, "%s: test run", what);
	hist_read(e, &b);
	for (int i = 0; i < RG_DIST_BUCKETS; i++)
		moved += b.count[i] - a.count[i];
	if (d < 0) {
		CHECK(moved == 0 && b.sum == a.sum, "%s: no reference, histogram unchanged (%llu counted)",
		      what, (unsigned long long)moved);
		return;
	}
	CHECK(moved == 1 && b.count[k] - a.count[k] == 1,
	      "%s: distance %lld counted once in bucket %d (le %llu); %llu counted", what,
	      (long long)d, k, k ? 1ull << (k - 1) : 0ull, (unsigned long long)moved);
	CHECK(b.sum - a.sum == (uint64_t)d, "%s: sum grew by %lld (grew by %llu)", what, (long long)d,
	      (unsigned long long)(b.sum - a.sum));
}

/* --- gateway: distances from the band [receiver's last ACK, sender's highest end] ---------- */

struct gw {
	int v6;
	const char *c, *s;
	uint16_t cport;
	uint32_t cisn, sisn;
};

static struct pktspec from_srv(const struct gw *g, uint32_t seq, uint8_t flags, uint32_t payload)
{
	return (struct pktspec){ .v6 = g->v6, .src = g->s, .dst = g->c, .sport = 179,
				 .dport = g->cport, .seq = seq, .ack = g->cisn + 1, .flags = flags,
				 .payload = payload };
}

static struct pktspec from_cli(const struct gw *g, uint32_t seq, uint8_t flags)
{
	return (struct pktspec){ .v6 = g->v6, .src = g->c, .dst = g->s, .sport = g->cport,
				 .dport = 179, .seq = seq, .ack = g->sisn + 1, .flags = flags };
}

static void gw_case(struct rg_env *e, const struct gw *g, const char *name)
{
	struct pktspec syn = from_cli(g, g->cisn, TF_SYN), synack, ack, data, fin;
	uint32_t lo = g->sisn + 1, hi = g->sisn + 1 + 100; /* the band once 100 bytes are unacked */
	char what[128];
	static const struct {
		const char *name;
		int64_t off;   /* from hi when >= 0 reference is hi, see below */
		int below;     /* measured down from lo instead */
	} cases[] = {
		{ "at the band's top", 0, 0 }, { "1 past", 1, 0 }, { "2 past", 2, 0 },
		{ "3 past", 3, 0 }, { "4 past", 4, 0 }, { "5 past", 5, 0 }, { "1 Ki past", 1024, 0 },
		{ "1 Ki + 1 past", 1025, 0 }, { "1 below", 1, 1 }, { "64 Ki below", 65536, 1 },
		{ "64 Ki + 7 below", 65543, 1 }, { "1 Gi past", 1ll << 30, 0 },
	};

	syn.has_wscale = 1;
	syn.wscale = 7;
	synack = from_srv(g, g->sisn, TF_SYN | TF_ACK, 0);
	synack.has_wscale = 1;
	synack.wscale = 7;
	ack = from_cli(g, g->cisn + 1, TF_ACK);
	env_run_spec(e, &syn);
	env_run_spec(e, &synack);
	env_run_spec(e, &ack);
	/* 100 bytes from the server the client has not acknowledged: the band is [lo, hi]. */
	data = from_srv(g, lo, TF_ACK, 100);
	env_run_spec(e, &data);

	snprintf(what, sizeof(what), "%s: inside the band", name);
	expect_dist(e, what, &(struct pktspec){ .v6 = g->v6, .src = g->s, .dst = g->c, .sport = 179,
						 .dport = g->cport, .seq = lo + 50, .flags = TF_RST }, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t seq = cases[i].below ? lo - (uint32_t)cases[i].off : hi + (uint32_t)cases[i].off;
		struct pktspec r = from_srv(g, seq, TF_RST, 0);

		snprintf(what, sizeof(what), "%s: RST %s", name, cases[i].name);
		expect_dist(e, what, &r, cases[i].off);
	}
	/* Every bucket edge, on both sides of each power of two, from above the band: the
	 * nearer edge is hi, or lo the other way round the circle. */
	for (int k = 0; k < 32; k++) {
		for (int64_t adj = -1; adj <= 1; adj++) {
			uint64_t off = (1ull << k) + (uint64_t)adj;
			uint32_t seq = hi + (uint32_t)off;
			struct pktspec r = from_srv(g, seq, TF_RST, 0);

			if (!off)
				continue;
			snprintf(what, sizeof(what), "%s: RST 2^%d%+lld past", name, k, (long long)adj);
			expect_dist(e, what, &r, (int64_t)near_edge(seq, lo, hi));
		}
	}
	/* Half way round the circle: the nearer edge is lo, 2^31 - 100 away. */
	snprintf(what, sizeof(what), "%s: RST half the sequence space away", name);
	expect_dist(e, what, &(struct pktspec){ .v6 = g->v6, .src = g->s, .dst = g->c, .sport = 179,
						 .dport = g->cport, .seq = hi + 0x80000000u,
						 .flags = TF_RST }, 0x80000000ll - 100);
	/* The other direction: the client's band is the single point cisn + 1. */
	snprintf(what, sizeof(what), "%s: client RST 7 past its band", name);
	expect_dist(e, what, &(struct pktspec){ .v6 = g->v6, .src = g->c, .dst = g->s,
						 .sport = g->cport, .dport = 179,
						 .seq = g->cisn + 1 + 7, .flags = TF_RST }, 7);
	/* No reference: an RST with SYN, one for a flow nobody tracks. */
	snprintf(what, sizeof(what), "%s: SYN+RST", name);
	expect_dist(e, what, &(struct pktspec){ .v6 = g->v6, .src = g->s, .dst = g->c, .sport = 179,
						 .dport = g->cport, .seq = hi,
						 .flags = TF_RST | TF_SYN }, -1);
	snprintf(what, sizeof(what), "%s: RST for an untracked 4-tuple", name);
	expect_dist(e, what, &(struct pktspec){ .v6 = g->v6, .src = g->s, .dst = g->c, .sport = 178,
						 .dport = g->cport, .seq = hi, .flags = TF_RST }, -1);
	/* After the server's FIN the band's lower edge is one less (RCV.NXT-1 is accepted). */
	fin = from_srv(g, hi, TF_FIN | TF_ACK, 0);
	env_run_spec(e, &fin);
	snprintf(what, sizeof(what), "%s: after FIN, RST at lo - 1 is inside", name);
	expect_dist(e, what, &(struct pktspec){ .v6 = g->v6, .src = g->s, .dst = g->c, .sport = 179,
						 .dport = g->cport, .seq = lo - 1, .flags = TF_RST }, 0);
	snprintf(what, sizeof(what), "%s: after FIN, RST at lo - 3 is 2 away", name);
	expect_dist(e, what, &(struct pktspec){ .v6 = g->v6, .src = g->s, .dst = g->c, .sport = 179,
						 .dport = g->cport, .seq = lo - 3, .flags = TF_RST }, 2);
}

static void gateway(void)
{
	static const struct gw gws[] = {
		{ 0, "198.18.0.1", "198.18.0.2", 40000, 1000, 5000 },
		{ 1, "fd00::1", "fd00::2", 40001, 1000, 5000 },
		/* The band wraps past 2^32: distances are taken round the circle. */
		{ 0, "198.18.0.1", "198.18.0.2", 40002, 0xfffffff0u, 0xffffffc0u },
	};
	static const char *const names[] = { "gateway v4", "gateway v6", "gateway v4 wrapping" };
	struct rg_env e;
	int err = env_open(&e, RG_ROLE_GATEWAY, 0, 1024);

	CHECK(err == 0, "gateway role loads: %s", strerror(-err));
	if (err)
		return;
	/* Monitor mode: the verdicts leave the flows as they are between the cases. */
	env_policy(&e, RG_P_MONITOR, 0);
	for (size_t i = 0; i < sizeof(gws) / sizeof(gws[0]); i++)
		gw_case(&e, &gws[i], names[i]);
	/* Enforce mode counts the same way. */
	env_policy(&e, 0, RG_P_MONITOR);
	expect_dist(&e, "gateway v4, enforce: RST 4 past",
		    &(struct pktspec){ .src = "198.18.0.2", .dst = "198.18.0.1", .sport = 179,
				       .dport = 40000, .seq = 5001 + 100 + 1 + 4, .flags = TF_RST },
		    4);
	env_close(&e);
}

/* --- host: distances from the socket's own RCV.NXT ----------------------------------------- */

static int tcp_pair(int *cfd, int *sfd, uint16_t *cport, uint16_t *sport)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, l) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&a, &l))
		return -1;
	*sport = ntohs(a.sin_port);
	*cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (*cfd < 0 || connect(*cfd, (struct sockaddr *)&a, sizeof(a)))
		return -1;
	*sfd = accept(lfd, NULL, NULL);
	close(lfd);
	if (*sfd < 0 || getsockname(*cfd, (struct sockaddr *)&a, &l))
		return -1;
	*cport = ntohs(a.sin_port);
	return 0;
}

/* The kernel's RCV.NXT of a socket, through TCP_REPAIR (left again without a window probe). */
static int rcv_nxt_of(int fd, uint32_t *nxt)
{
	int on = TCP_REPAIR_ON, off = TCP_REPAIR_OFF_NO_WP, q = RG_TCP_RECV_QUEUE, err = 0;
	socklen_t l = sizeof(*nxt);

	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		return -1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	    getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, nxt, &l))
		err = -1;
	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
	return err;
}

static void host(void)
{
	static const struct {
		const char *name;
		int64_t off;
	} cases[] = {
		{ "at RCV.NXT", 0 }, { "5 past", 5 }, { "3 before", -3 }, { "70000 past", 70000 },
		{ "1 Mi before", -(1 << 20) }, { "2^31 past", 0x80000000ll },
	};
	struct rg_env e;
	uint16_t cport = 0, sport = 0;
	uint32_t nxt = 0;
	int cfd = -1, sfd = -1, err;
	char what[96];

	if (unshare(CLONE_NEWNET) || system("ip link set lo up >/dev/null 2>&1")) {
		printf("# no private network namespace: host role cases skipped\n");
		return;
	}
	CHECK(tcp_pair(&cfd, &sfd, &cport, &sport) == 0, "host: a connection on loopback");
	CHECK(rcv_nxt_of(sfd, &nxt) == 0, "host: the server's RCV.NXT through TCP_REPAIR");
	err = env_open(&e, RG_ROLE_HOST, 0, 1024);
	CHECK(err == 0, "host role loads: %s", strerror(-err));
	if (err)
		goto out;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pktspec r = { .src = "127.0.0.1", .dst = "127.0.0.1", .sport = cport,
				     .dport = sport, .seq = nxt + (uint32_t)cases[i].off,
				     .flags = TF_RST };

		snprintf(what, sizeof(what), "host: RST %s", cases[i].name);
		expect_dist(&e, what, &r, cases[i].off < 0 ? -cases[i].off : cases[i].off);
	}
	expect_dist(&e, "host: RST with no socket", &(struct pktspec){ .src = "127.0.0.1",
		    .dst = "127.0.0.1", .sport = cport, .dport = (uint16_t)(sport ^ 1), .seq = nxt,
		    .flags = TF_RST }, -1);
	env_close(&e);
out:
	close(cfd);
	close(sfd);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK(bucket_of(0) == 0 && bucket_of(1) == 1 && bucket_of(2) == 2 && bucket_of(3) == 3 &&
	      bucket_of(4) == 3 && bucket_of(5) == 4 && bucket_of(0x80000000ull) == 32,
	      "the test's own bucket rule");
	gateway();
	host();
	return t_summary("distance");
}
