// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* rstguard bench: every scenario of issue 6 beside its baselines, measured in one run, written
 * as a table (stdout, results.md) and as JSON rows (results.json). */
#define _GNU_SOURCE
#include "bench.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "rstguard.h"
#include "flow_state.h"
#include "rstguard.skel.h"
#include "bench.skel.h"
#include "bench_flows.h"
#include "pkt.h"

#define NSIZES 3
static const uint32_t sizes[NSIZES] = { 1000, 100000, 1000000 };
static const char *const size_names[NSIZES] = { "1k", "100k", "1m" };
#define BIG (NSIZES - 1)

/* Real connections the host-role floods aim at. */
#define NCONN 4
#define SERVER_PORT 179

/* ---- frames ------------------------------------------------------------------------------ */

enum tmpl {
	T_UDP,           /* UDP between tracked-flow addresses: not TCP, passes */
	T_DATA,          /* ACK with 64 bytes of payload, in window for every tracked flow */
	T_RST_FLOW,      /* RST on a tracked flow (generator picks flow and sequence) */
	T_RST_TUPLE_GW,  /* RST from a random client to the tracked flows' server: no such flow */
	T_RST_TUPLE_HOST,/* RST from a random client to the receiver's listening port */
	T_RST_CONN,      /* RST on one of the real connections (generator picks port and sequence) */
	T_RST_INEXACT,   /* RST on a tracked flow, inside the server's window past its RCV.NXT */
	T_MAX
};

struct frame {
	uint8_t buf[256];
	size_t len;
};
static struct frame frames[T_MAX];

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* pkt.c builds TCP only; this is the same Ethernet/IPv4 layout with a UDP header. */
static size_t udp_frame(uint8_t *b)
{
	uint8_t *ip = b + 14, *udp = ip + 20;
	uint32_t s = htonl(BF_CLIENT_ADDR(0)), d = htonl(BF_SERVER_ADDR), sum;
	size_t plen = 18;

	memset(b, 0, 14 + 20 + 8 + plen);
	memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + 8 + plen));
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	put16(ip + 10, (uint16_t)~fold(sum16(0, ip, 20)));
	put16(udp, 5000);
	put16(udp + 2, 5001);
	put16(udp + 4, (uint16_t)(8 + plen));
	sum = sum16(0, ip + 12, 8) + IPPROTO_UDP + 8 + (uint32_t)plen;
	sum = fold(sum16(sum, udp, 8 + plen));
	put16(udp + 6, (uint16_t)~sum ? (uint16_t)~sum : 0xffff);
	return 14 + 20 + 8 + plen;
}

static int build_frames(void)
{
	char cli[INET_ADDRSTRLEN], srv[INET_ADDRSTRLEN], rnd[INET_ADDRSTRLEN];
	uint32_t a;
	struct pktspec data, rst, gw, host, conn, inexact;

	a = htonl(BF_CLIENT_ADDR(0));
	inet_ntop(AF_INET, &a, cli, sizeof(cli));
	a = htonl(BF_SERVER_ADDR);
	inet_ntop(AF_INET, &a, srv, sizeof(srv));
	a = htonl(BF_RANDOM_NET);
	inet_ntop(AF_INET, &a, rnd, sizeof(rnd));

	data = (struct pktspec){ .src = cli, .dst = srv, .sport = BF_CLIENT_PORT(0),
				 .dport = BF_SERVER_PORT, .seq = BF_CLIENT_NXT, .ack = BF_SERVER_NXT,
				 .flags = TF_ACK | TF_PSH, .win = 1024, .payload = 64 };
	rst = (struct pktspec){ .src = cli, .dst = srv, .sport = BF_CLIENT_PORT(0),
				.dport = BF_SERVER_PORT, .seq = 0x5eed0001, .flags = TF_RST };
	inexact = rst;
	inexact.seq = BF_CLIENT_NXT + 1000;
	gw = rst;
	gw.src = rnd;
	gw.sport = 1024;
	host = (struct pktspec){ .src = rnd, .dst = "198.18.0.2", .sport = 1024,
				 .dport = SERVER_PORT, .seq = 0x5eed0001, .flags = TF_RST };
	conn = (struct pktspec){ .src = "198.18.0.1", .dst = "198.18.0.2", .sport = 40000,
				 .dport = SERVER_PORT, .seq = 0x5eed0001, .flags = TF_RST };

	frames[T_UDP].len = udp_frame(frames[T_UDP].buf);
	frames[T_DATA].len = pkt_build(frames[T_DATA].buf, sizeof(frames[0].buf), &data);
	frames[T_RST_FLOW].len = pkt_build(frames[T_RST_FLOW].buf, sizeof(frames[0].buf), &rst);
	frames[T_RST_TUPLE_GW].len = pkt_build(frames[T_RST_TUPLE_GW].buf, sizeof(frames[0].buf), &gw);
	frames[T_RST_TUPLE_HOST].len =
		pkt_build(frames[T_RST_TUPLE_HOST].buf, sizeof(frames[0].buf), &host);
	frames[T_RST_CONN].len = pkt_build(frames[T_RST_CONN].buf, sizeof(frames[0].buf), &conn);
	frames[T_RST_INEXACT].len =
		pkt_build(frames[T_RST_INEXACT].buf, sizeof(frames[0].buf), &inexact);
	for (int t = 0; t < T_MAX; t++)
		if (!frames[t].len)
			return -1;
	return 0;
}

/* IPv4 header and TCP checksums of an Ethernet frame; 0 when both verify. */
static int frame_csum_ok(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14, *l4;
	size_t hl, tot;
	uint32_t s;

	if (len < 34 || fold(sum16(0, ip, (size_t)(ip[0] & 15) * 4)) != 0xffff)
		return 0;
	hl = (size_t)(ip[0] & 15) * 4;
	tot = (size_t)ip[2] << 8 | ip[3];
	l4 = ip + hl;
	s = sum16(0, ip + 12, 8) + ip[9] + (uint32_t)(tot - hl);
	return fold(sum16(s, l4, tot - hl)) == 0xffff;
}

/* ---- flows -------------------------------------------------------------------------------- */

/* Tracked flow i as an established connection, in the layout of bpf/flow_state.h: both
 * directions sent SYN and ACK with window scale 7, each one's ack is the other's seq_end. */
static void flow_kv(uint32_t i, struct rg_flow_key4 *k, struct rg_flow *v, uint32_t now)
{
	memset(k, 0, sizeof(*k));
	memset(v, 0, sizeof(*v));
	/* Client addresses sort below the server's, so the client is direction 0. */
	k->addr[0] = htonl(BF_CLIENT_ADDR(i));
	k->addr[1] = htonl(BF_SERVER_ADDR);
	k->port[0] = htons((uint16_t)BF_CLIENT_PORT(i));
	k->port[1] = htons(BF_SERVER_PORT);
	v->d[0] = (struct rg_dir){ .isn = BF_CLIENT_NXT - 1, .seq_end = BF_CLIENT_NXT,
				   .ack = BF_SERVER_NXT, .max_win = 65535u << 7 };
	v->d[1] = (struct rg_dir){ .isn = BF_SERVER_NXT - 1, .seq_end = BF_SERVER_NXT,
				   .ack = BF_CLIENT_NXT, .max_win = 65535u << 7 };
	v->dflags[0] = v->dflags[1] = RG_D_SYN | RG_D_ACK | (7 << 4);
	v->last_seen = now;
}

/* The presence filter's hash, size and bits, as the program computes them (bpf/flow_state.h). */
static int presence_has(const struct rg_presence_blk *blk, uint32_t mask, uint64_t h)
{
	const struct rg_presence_blk *b = &blk[rg_presence_index(h, mask)];
	struct rg_presence_blk bits;

	rg_presence_bits(h, &bits);
	return (b->w[0] & bits.w[0]) == bits.w[0] && (b->w[1] & bits.w[1]) == bits.w[1];
}

static void presence_add(struct rg_presence_blk *blk, uint32_t mask, uint64_t h)
{
	struct rg_presence_blk *b = &blk[rg_presence_index(h, mask)], bits;

	rg_presence_bits(h, &bits);
	b->w[0] |= bits.w[0];
	b->w[1] |= bits.w[1];
}

/* The program's clock: CLOCK_MONOTONIC (bpf_ktime_get_coarse_ns) in seconds. */
static uint32_t rg_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_sec;
}

static int update_batch(int fd, const void *keys, const void *vals, size_t ksz, size_t vsz,
			uint32_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);

	for (uint32_t off = 0; off < n;) {
		uint32_t cnt = n - off > 65536 ? 65536 : n - off;

		if (bpf_map_update_batch(fd, (const char *)keys + off * ksz,
					 (const char *)vals + off * vsz, &cnt, &o))
			return -errno;
		off += cnt;
	}
	return 0;
}

/* Share of flows that do not exist (random clients as the s5 flood sends) whose presence bit is
 * set anyway: each of those costs a lookup in the cache-cold flow table. */
static double presence_fp;

static double false_positives(const struct rg_presence_blk *blk, uint32_t blocks)
{
	uint32_t hits = 0, n = 1000000, x = 12345;

	for (uint32_t i = 0; i < n; i++) {
		struct rg_flow_key4 k = {};

		x = x * 1664525u + 1013904223u;
		k.addr[0] = htonl(BF_RANDOM_NET | (x >> 8 & BF_RANDOM_MASK));
		k.addr[1] = htonl(BF_SERVER_ADDR);
		k.port[0] = htons((uint16_t)(1024 + (x >> 16) % 64000));
		k.port[1] = htons(BF_SERVER_PORT);
		hits += presence_has(blk, blocks - 1, rg_key_hash((const uint32_t *)&k, sizeof(k) / 4));
	}
	return (double)hits / n;
}

/* Writes flows [0, n) into an LRU hash of struct rg_flow and, when given, their presence bits.
 * The caller runs on one CPU: an LRU map filled to its size from several CPUs can evict entries
 * stranded in another CPU's free list. */
static int populate(int fd, uint32_t n, int presence_fd, uint32_t blocks)
{
	struct rg_flow_key4 *k = calloc(n, sizeof(*k));
	struct rg_flow *v = calloc(n, sizeof(*v));
	struct rg_presence_blk *bits = NULL;
	uint32_t *idx = NULL, now = rg_clock();
	int err = -ENOMEM;

	if (!k || !v)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		flow_kv(i, &k[i], &v[i], now);
	err = update_batch(fd, k, v, sizeof(*k), sizeof(*v), n);
	if (err || presence_fd < 0)
		goto out;
	bits = calloc(blocks, sizeof(*bits));
	idx = calloc(blocks, sizeof(*idx));
	err = -ENOMEM;
	if (!bits || !idx)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		presence_add(bits, blocks - 1, rg_key_hash((const uint32_t *)&k[i], sizeof(k[i]) / 4));
	for (uint32_t i = 0; i < blocks; i++)
		idx[i] = i;
	err = update_batch(presence_fd, idx, bits, sizeof(*idx), sizeof(*bits), blocks);
	presence_fp = false_positives(bits, blocks);
out:
	free(k);
	free(v);
	free(bits);
	free(idx);
	return err;
}

/* Entries actually in a hash map, read back in batches. */
static long count_entries(int fd, size_t ksz, size_t vsz)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	uint32_t chunk = 65536, cnt, out_batch;
	void *keys = malloc(chunk * ksz), *vals = malloc(chunk * vsz), *in = NULL;
	long total = 0;
	int err;

	if (!keys || !vals) {
		total = -1;
		goto out;
	}
	for (;;) {
		cnt = chunk;
		err = bpf_map_lookup_batch(fd, in, &out_batch, keys, vals, &cnt, &o);
		total += cnt;
		if (err) {
			if (errno != ENOENT)
				total = -1;
			break;
		}
		in = &out_batch;
	}
out:
	free(keys);
	free(vals);
	return total;
}

/* "memlock:" of a map fd: the kernel's accounting of the map's memory. */
static long map_memlock(int fd)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* ---- programs ----------------------------------------------------------------------------- */

static int quiet(enum libbpf_print_level l, const char *fmt, va_list ap)
{
	return l == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

/* Writes a u32 .rodata variable by name through BTF, so that knobs the program may or may not
 * have (cfg_presence_mask) need no skeleton field at compile time. 0 if set, -ENOENT if absent. */
static int set_rodata_u32(struct bpf_object *obj, const char *name, uint32_t val)
{
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	struct bpf_map *m, *ro = NULL;
	size_t sz;
	uint8_t *data;
	int id;

	bpf_object__for_each_map(m, obj) {
		const char *n = bpf_map__name(m);

		if (bpf_map__is_internal(m) && strlen(n) > 7 && !strcmp(n + strlen(n) - 7, ".rodata"))
			ro = m;
	}
	if (!btf || !ro)
		return -ENOENT;
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0)
		return -ENOENT;
	sec = btf__type_by_id(btf, (uint32_t)id);
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, var->name_off), name) || vs->size != 4)
			continue;
		data = (uint8_t *)bpf_map__initial_value(ro, &sz);
		if (!data || vs->offset + 4 > sz)
			return -EINVAL;
		memcpy(data + vs->offset, &val, 4);
		return 0;
	}
	return -ENOENT;
}

/* An LRU hash hands free entries to a CPU in batches of 128 (LOCAL_FREE_TARGET) and evicts to
 * complete the last batch, so a table of N holds N flows only when N is a multiple of 128. */
static uint32_t lru_size(uint32_t flows)
{
	return (flows + 127) / 128 * 128;
}

/* One loaded copy of the shipped object: role and table size are load-time settings. */
struct rg_inst {
	struct rstguard *skel;
	int role;
	uint32_t flows;
	int prog_fd;
	int presence_fd; /* -1 when this version of the program has no presence filter */
	uint32_t pblocks;        /* its size in blocks */
};

static int rg_load(struct rg_inst *r, int role, uint32_t flows, const struct rg_inst *share)
{
	struct bpf_map *pm;
	int err;

	memset(r, 0, sizeof(*r));
	r->role = role;
	r->flows = flows;
	r->presence_fd = -1;
	r->skel = rstguard__open();
	if (!r->skel)
		return -errno;
	r->skel->rodata->cfg_role = (uint32_t)role;
	r->skel->rodata->cfg_slot = 0;
	r->skel->rodata->cfg_l3 = 0;
	bpf_map__set_max_entries(r->skel->maps.rg_flows4, lru_size(flows));
	bpf_map__set_max_entries(r->skel->maps.rg_flows6, lru_size(flows));
	pm = bpf_object__find_map_by_name(r->skel->obj, "rg_presence");
	if (pm) {
		r->pblocks = rg_presence_blocks(flows);
		bpf_map__set_max_entries(pm, r->pblocks);
		if (set_rodata_u32(r->skel->obj, "cfg_presence_mask", r->pblocks - 1)) {
			fprintf(stderr, "bench: rg_presence without cfg_presence_mask\n");
			return -EINVAL;
		}
	}
	/* The host instance shares the gateway's table, as instances on one machine do. */
	if (share) {
		bpf_map__reuse_fd(r->skel->maps.rg_flows4, bpf_map__fd(share->skel->maps.rg_flows4));
		bpf_map__reuse_fd(r->skel->maps.rg_flows6, bpf_map__fd(share->skel->maps.rg_flows6));
		if (pm && share->presence_fd >= 0)
			bpf_map__reuse_fd(pm, share->presence_fd);
	}
	err = rstguard__load(r->skel);
	if (err) {
		fprintf(stderr, "bench: loading rstguard (role %d, %u flows): %s\n", role, flows,
			strerror(-err));
		return err;
	}
	r->prog_fd = bpf_program__fd(r->skel->progs.rstguard_xdp);
	if (pm)
		r->presence_fd = bpf_map__fd(pm);
	return 0;
}

/* Packets counted under one reason (all actions), summed over CPUs, stats slot 0. */
static uint64_t rg_reason_count(struct rg_inst *r, int reason, int ncpu)
{
	struct rg_counter *v = calloc((size_t)ncpu, sizeof(*v));
	uint32_t idx = (uint32_t)reason;
	uint64_t sum = 0;

	if (v && !bpf_map_lookup_elem(bpf_map__fd(r->skel->maps.rg_stats), &idx, v))
		for (int c = 0; c < ncpu; c++)
			for (int a = 0; a < RG_ACT_MAX; a++)
				sum += v[c].packets[a];
	free(v);
	return sum;
}

/* Baseline programs with their lookup table sized for `flows` and the probe array for
 * `probe_words` (a power of two). */
static struct bench *bl_load(uint32_t flows, uint32_t probe_words)
{
	struct bench *b = bench__open();

	if (!b)
		return NULL;
	bpf_map__set_max_entries(b->maps.bl_flows, lru_size(flows));
	bpf_map__set_max_entries(b->maps.bl_probe, probe_words);
	if (bench__load(b)) {
		bench__destroy(b);
		return NULL;
	}
	b->bss->probe_mask = probe_words - 1;
	return b;
}

/* ---- real connections --------------------------------------------------------------------- */

struct conns {
	int n;
	int cfd[NCONN], sfd[NCONN];
};

static int listen_fd = -1;
static uint16_t next_client_port = 40000;

static int tcp_listen(struct bench_env *e)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(SERVER_PORT) };
	int one = 1;

	inet_pton(AF_INET, "198.18.0.2", &a.sin_addr);
	if (enter_ns(e->rcv_ns))
		return -1;
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	enter_ns(e->root_ns);
	if (listen_fd < 0)
		return -1;
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd, (void *)&a, sizeof(a)) || listen(listen_fd, 64)) {
		fprintf(stderr, "bench: listen 198.18.0.2:%d: %s\n", SERVER_PORT, strerror(errno));
		return -1;
	}
	return 0;
}

/* NCONN established connections, generator namespace -> receiver namespace, from consecutive
 * client ports; returns the first port. The program on the receiver must pass handshakes. */
static int conns_open(struct bench_env *e, struct conns *c)
{
	struct sockaddr_in srv = { .sin_family = AF_INET, .sin_port = htons(SERVER_PORT) };
	struct timeval tv = { .tv_sec = 2 };
	int base = next_client_port, one = 1;

	next_client_port += NCONN;
	inet_pton(AF_INET, "198.18.0.2", &srv.sin_addr);
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < NCONN; i++) {
		struct sockaddr_in cli = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(base + i)) };
		struct pollfd p = { .fd = listen_fd, .events = POLLIN };
		int fd;

		inet_pton(AF_INET, "198.18.0.1", &cli.sin_addr);
		if (enter_ns(e->gen_ns))
			return -1;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		enter_ns(e->root_ns);
		if (fd < 0)
			return -1;
		c->cfd[c->n] = fd;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (bind(fd, (void *)&cli, sizeof(cli)) || connect(fd, (void *)&srv, sizeof(srv)) ||
		    poll(&p, 1, 2000) != 1) {
			fprintf(stderr, "bench: connection from port %d: %s\n", base + i, strerror(errno));
			close(fd);
			return -1;
		}
		c->sfd[c->n] = accept(listen_fd, NULL, NULL);
		if (c->sfd[c->n] < 0) {
			close(fd);
			return -1;
		}
		/* A little data each way, so both sockets have moved past their ISNs. */
		if (write(fd, "hello", 5) != 5 || write(c->sfd[c->n], "hello", 5) != 5)
			fprintf(stderr, "bench: warning: write on connection %d failed\n", i);
		c->n++;
	}
	return base;
}

static void conns_close(struct conns *c)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	for (int i = 0; i < c->n; i++) {
		/* Abort: no TIME-WAIT left behind between runs. */
		setsockopt(c->cfd[i], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(c->cfd[i]);
		close(c->sfd[i]);
	}
	c->n = 0;
}

/* ---- scenarios ---------------------------------------------------------------------------- */

enum prog_kind {
	PK_DROP, PK_PASS, PK_LOOKUP_PASS, PK_LOOKUP_DROP, PK_PROBE, PK_RG_GW, PK_RG_HOST
};
enum target { TG_NONE, TG_PASS90, TG_LOOKUP15, TG_LIVE, TG_NOFLOW, TG_CAPTURE };

struct row {
	const char *id, *title, *role;
	uint32_t flows;
	enum prog_kind prog;
	int size;           /* index into sizes[] for lookup and gateway programs */
	enum tmpl tmpl;
	uint32_t gen_mode, gen_nflows;
	int conns, nft;     /* real connections / nft table during the run */
	int capture;        /* 'rstguard capture' running: flag up, default sampling, a reader */
	/* The empty program this row's rate is compared with: same verdict (so the same fate
	 * after XDP: the stack for passed frames) and same generator work per frame. */
	const char *empty;
	enum target target;
	const char *ref;    /* row the target compares with (lookup-only or nft baseline) */
	uint32_t policy;    /* rstguard policy bits during the row (0: the defaults) */
};

#define SEQ_FLOW (GEN_SEQ | GEN_FLOW)
#define SEQ_CONN (GEN_SEQ | GEN_CONN)
#define SEQ_TUPLE (GEN_SEQ | GEN_TUPLE)
#define M1 1000000

static const struct row rows[] = {
	/* The limit of the path, once per kind of generated traffic. */
	{ .id = "b_empty_drop", .title = "empty XDP program, XDP_DROP, RST on tracked flows",
	  .prog = PK_DROP, .tmpl = T_RST_FLOW, .gen_mode = SEQ_FLOW, .gen_nflows = M1,
	  .empty = "b_empty_drop" },
	{ .id = "b_empty_drop_conn", .title = "empty XDP program, XDP_DROP, RST on real sockets",
	  .prog = PK_DROP, .tmpl = T_RST_CONN, .gen_mode = SEQ_CONN, .empty = "b_empty_drop_conn" },
	{ .id = "b_empty_drop_rand", .title = "empty XDP program, XDP_DROP, RST random 4-tuples",
	  .prog = PK_DROP, .tmpl = T_RST_TUPLE_HOST, .gen_mode = SEQ_TUPLE,
	  .empty = "b_empty_drop_rand" },
	{ .id = "b_empty_pass", .title = "empty XDP program, XDP_PASS, UDP into the stack",
	  .prog = PK_PASS, .tmpl = T_UDP, .empty = "b_empty_pass" },
	{ .id = "b_empty_pass_data", .title = "empty XDP program, XDP_PASS, TCP data into the stack",
	  .prog = PK_PASS, .tmpl = T_DATA, .gen_mode = GEN_FLOW, .gen_nflows = M1,
	  .empty = "b_empty_pass_data" },
	/* One random lookup in a table like rg_flows4: the memory-latency limit. */
	{ .id = "b_lookup_1k", .title = "one hash lookup only, 1K flows, data, XDP_PASS",
	  .flows = 1000, .prog = PK_LOOKUP_PASS, .size = 0, .tmpl = T_DATA, .gen_mode = GEN_FLOW,
	  .gen_nflows = 1000, .empty = "b_empty_pass_data" },
	{ .id = "b_lookup_100k", .title = "one hash lookup only, 100K flows, data, XDP_PASS",
	  .flows = 100000, .prog = PK_LOOKUP_PASS, .size = 1, .tmpl = T_DATA, .gen_mode = GEN_FLOW,
	  .gen_nflows = 100000, .empty = "b_empty_pass_data" },
	{ .id = "b_lookup_1m", .title = "one hash lookup only, 1M flows, data, XDP_PASS",
	  .flows = M1, .prog = PK_LOOKUP_PASS, .size = 2, .tmpl = T_DATA, .gen_mode = GEN_FLOW,
	  .gen_nflows = M1, .empty = "b_empty_pass_data" },
	{ .id = "b_lookup_rst_1m", .title = "one hash lookup only, 1M flows, RST flood, XDP_DROP",
	  .flows = M1, .prog = PK_LOOKUP_DROP, .size = 2, .tmpl = T_RST_FLOW, .gen_mode = SEQ_FLOW,
	  .gen_nflows = M1, .empty = "b_empty_drop" },
	{ .id = "b_probe_rand", .title = "one random read in an array the size of rg_presence at "
	  "1M flows, RST random 4-tuples, XDP_DROP", .flows = M1, .prog = PK_PROBE, .size = 2,
	  .tmpl = T_RST_TUPLE_GW, .gen_mode = SEQ_TUPLE, .empty = "b_empty_drop_rand" },
	/* What the floods cost without rstguard. */
	{ .id = "b_stack_live", .title = "kernel stack alone (XDP_PASS), RST flood at 4 live sockets",
	  .prog = PK_PASS, .tmpl = T_RST_CONN, .gen_mode = SEQ_CONN, .conns = 1,
	  .empty = "b_empty_drop_conn" },
	{ .id = "b_stack_rand", .title = "kernel stack alone (XDP_PASS), RST flood random 4-tuples",
	  .prog = PK_PASS, .tmpl = T_RST_TUPLE_HOST, .gen_mode = SEQ_TUPLE,
	  .empty = "b_empty_drop_rand" },
	{ .id = "b_nft_live", .title = "nftables ct state invalid drop, RST flood at 4 live sockets",
	  .prog = PK_PASS, .tmpl = T_RST_CONN, .gen_mode = SEQ_CONN, .conns = 1, .nft = 1,
	  .empty = "b_empty_drop_conn" },
	{ .id = "b_nft_rand", .title = "nftables ct state invalid drop, RST flood random 4-tuples",
	  .prog = PK_PASS, .tmpl = T_RST_TUPLE_HOST, .gen_mode = SEQ_TUPLE, .nft = 1,
	  .empty = "b_empty_drop_rand" },

	{ .id = "s1", .title = "non-TCP (UDP) traffic passing through", .role = "gateway",
	  .flows = M1, .prog = PK_RG_GW, .size = 2, .tmpl = T_UDP, .empty = "b_empty_pass",
	  .target = TG_PASS90 },
	{ .id = "s1", .title = "non-TCP (UDP) traffic passing through", .role = "host",
	  .flows = M1, .prog = PK_RG_HOST, .size = 2, .tmpl = T_UDP, .empty = "b_empty_pass",
	  .target = TG_PASS90 },
	{ .id = "s2", .title = "data packets of established flows, spread over 1K flows",
	  .role = "gateway", .flows = 1000, .prog = PK_RG_GW, .size = 0, .tmpl = T_DATA,
	  .gen_mode = GEN_FLOW, .gen_nflows = 1000, .empty = "b_empty_pass_data",
	  .target = TG_LOOKUP15, .ref = "b_lookup_1k" },
	{ .id = "s2", .title = "data packets of established flows, spread over 100K flows",
	  .role = "gateway", .flows = 100000, .prog = PK_RG_GW, .size = 1, .tmpl = T_DATA,
	  .gen_mode = GEN_FLOW, .gen_nflows = 100000, .empty = "b_empty_pass_data",
	  .target = TG_LOOKUP15, .ref = "b_lookup_100k" },
	{ .id = "s2", .title = "data packets of established flows, spread over 1M flows",
	  .role = "gateway", .flows = M1, .prog = PK_RG_GW, .size = 2, .tmpl = T_DATA,
	  .gen_mode = GEN_FLOW, .gen_nflows = M1, .empty = "b_empty_pass_data",
	  .target = TG_LOOKUP15, .ref = "b_lookup_1m" },
	{ .id = "s3", .title = "RST flood, random seq, at 4 live flows, 1M tracked",
	  .role = "gateway", .flows = M1, .prog = PK_RG_GW, .size = 2, .tmpl = T_RST_FLOW,
	  .gen_mode = SEQ_FLOW, .gen_nflows = NCONN, .empty = "b_empty_drop", .target = TG_LIVE,
	  .ref = "b_nft_live" },
	{ .id = "s4", .title = "RST flood, random seq, at 4 established sockets", .role = "host",
	  .flows = M1, .prog = PK_RG_HOST, .size = 2, .tmpl = T_RST_CONN, .gen_mode = SEQ_CONN,
	  .conns = 1, .empty = "b_empty_drop_conn", .target = TG_LIVE, .ref = "b_nft_live" },
	/* The same floods while a capture runs with its default sampling, beside the rows above. */
	{ .id = "s3c", .title = "RST flood at 4 live flows, 1M tracked, capture running",
	  .role = "gateway", .flows = M1, .prog = PK_RG_GW, .size = 2, .tmpl = T_RST_FLOW,
	  .gen_mode = SEQ_FLOW, .gen_nflows = NCONN, .empty = "b_empty_drop", .capture = 1,
	  .target = TG_CAPTURE, .ref = "s3" },
	{ .id = "s4c", .title = "RST flood at 4 established sockets, capture running", .role = "host",
	  .flows = M1, .prog = PK_RG_HOST, .size = 2, .tmpl = T_RST_CONN, .gen_mode = SEQ_CONN,
	  .conns = 1, .empty = "b_empty_drop_conn", .capture = 1, .target = TG_CAPTURE,
	  .ref = "s4" },
	{ .id = "s5", .title = "RST flood for flows that do not exist (random 4-tuples), 1M tracked",
	  .role = "gateway", .flows = M1, .prog = PK_RG_GW, .size = 2, .tmpl = T_RST_TUPLE_GW,
	  .gen_mode = SEQ_TUPLE, .empty = "b_empty_drop_rand", .target = TG_NOFLOW,
	  .ref = "b_nft_rand" },
	{ .id = "s5", .title = "RST flood for sockets that do not exist (random 4-tuples)",
	  .role = "host", .flows = M1, .prog = PK_RG_HOST, .size = 2, .tmpl = T_RST_TUPLE_HOST,
	  .gen_mode = SEQ_TUPLE, .empty = "b_empty_drop_rand", .target = TG_NOFLOW,
	  .ref = "b_nft_rand" },
	{ .id = "s6", .title = "RST flood spread across all 1M tracked flows", .role = "gateway",
	  .flows = M1, .prog = PK_RG_GW, .size = 2, .tmpl = T_RST_FLOW, .gen_mode = SEQ_FLOW,
	  .gen_nflows = M1, .empty = "b_empty_drop", .target = TG_LOOKUP15,
	  .ref = "b_lookup_rst_1m" },
	/* In-window, inexact RSTs at live flows: dropped, or dropped and answered with a challenge
	 * ACK at most every 500 ms per flow and direction (the rest limited). */
	{ .id = "s7", .title = "inexact RST flood at 4 live flows, 1M tracked, inexact=drop",
	  .role = "gateway", .flows = M1, .prog = PK_RG_GW, .size = 2, .tmpl = T_RST_INEXACT,
	  .gen_mode = GEN_INEXACT | GEN_FLOW, .gen_nflows = NCONN,
	  .empty = "b_empty_drop" },
	{ .id = "s7", .title = "inexact RST flood at 4 live flows, 1M tracked, inexact=challenge",
	  .role = "gateway", .flows = M1, .prog = PK_RG_GW, .size = 2, .tmpl = T_RST_INEXACT,
	  .gen_mode = GEN_INEXACT | GEN_FLOW, .gen_nflows = NCONN,
	  .empty = "b_empty_drop", .policy = RG_P_INEXACT_CHALLENGE },
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* What was measured for a row: one value per round, then the best (or median) of them. */
struct res {
	double rx[16], wall[16], share[16], tx[16], drop[16], prog_ns[16], gen_ns[16];
	int nres;
	uint64_t reasons[RG_R_MAX]; /* rstguard rows: verdict reasons counted over all rounds */
	uint64_t nft_drops, frames; /* nft rows: packets the rule dropped / frames received */
	uint64_t cap_matched, cap_records, cap_lost, cap_read; /* capture rows, all rounds */
	double test_run_ns;
	double m_rx, m_wall, m_share, m_tx, m_drop, m_prog, m_gen;
};
static struct res results[NROWS];
#define RES(r) (&results[(r) - rows])

static struct rg_inst rg_gw[NSIZES], rg_host;
static struct bench *bl[NSIZES];
static const char *nft_table = "rgbench";

static const struct row *find_row(const char *id)
{
	for (size_t i = 0; i < NROWS; i++)
		if (!strcmp(rows[i].id, id))
			return &rows[i];
	return NULL;
}

static int row_prog(const struct row *r, struct bench_env *e)
{
	switch (r->prog) {
	case PK_DROP:
		return bpf_program__fd(e->gen->progs.base_drop);
	case PK_PASS:
		return bpf_program__fd(e->gen->progs.base_pass);
	case PK_LOOKUP_PASS:
		return bpf_program__fd(bl[r->size]->progs.base_lookup_pass);
	case PK_LOOKUP_DROP:
		return bpf_program__fd(bl[r->size]->progs.base_lookup_drop);
	case PK_PROBE:
		return bpf_program__fd(bl[r->size]->progs.base_probe_drop);
	case PK_RG_GW:
		return rg_gw[r->size].prog_fd;
	case PK_RG_HOST:
		return rg_host.prog_fd;
	}
	return -1;
}

static struct rg_inst *row_rg(const struct row *r)
{
	if (r->prog == PK_RG_GW)
		return &rg_gw[r->size];
	return r->prog == PK_RG_HOST ? &rg_host : NULL;
}

/* Packets counted under every reason, summed over CPUs (stats slot 0). */
static void rg_reasons(struct rg_inst *r, int ncpu, uint64_t *out)
{
	for (int k = 0; k < RG_R_MAX; k++)
		out[k] = rg_reason_count(r, k, ncpu);
}

/* Packets the nft rule dropped so far (its counter), or 0. */
static uint64_t nft_counter(struct bench_env *e)
{
	char cmd[256], line[512];
	unsigned long long n = 0;
	FILE *p;

	if (enter_ns(e->rcv_ns))
		return 0;
	snprintf(cmd, sizeof(cmd), "nft list chain inet %s pre 2>/dev/null", nft_table);
	p = popen(cmd, "r");
	enter_ns(e->root_ns);
	while (p && fgets(line, sizeof(line), p)) {
		char *c = strstr(line, "counter packets ");

		if (c)
			n = strtoull(c + 16, NULL, 10);
	}
	if (p)
		pclose(p);
	return n;
}

static int nft(struct bench_env *e, int add)
{
	int rc;

	if (enter_ns(e->rcv_ns))
		return -1;
	/* prerouting, right after conntrack (-200): the earliest an nft rule can see ct state. */
	if (add)
		rc = run_cmd("nft 'add table inet %s; add chain inet %s pre { type filter hook "
			     "prerouting priority -150; policy accept; }; add rule inet %s pre ct "
			     "state invalid counter drop'", nft_table, nft_table, nft_table);
	else
		rc = run_cmd("nft delete table inet %s", nft_table);
	enter_ns(e->root_ns);
	if (rc)
		fprintf(stderr, "bench: nft %s table %s failed\n", add ? "add" : "delete", nft_table);
	return rc ? -1 : 0;
}

/* ---- a capture running beside a flood -------------------------------------------------------
 * What 'rstguard capture' does to the program, without the CLI: the flag up with the default
 * sampling, and a thread draining the ring buffer as the capture's reader would. */

struct cap_reader {
	struct ring_buffer *rb;
	pthread_t th;
	atomic_int stop;
	uint64_t read;
};

static int cap_count(void *ctx, void *data, size_t size)
{
	((struct cap_reader *)ctx)->read++;
	return 0;
}

static void *cap_drain(void *arg)
{
	struct cap_reader *c = arg;

	while (!atomic_load(&c->stop)) {
		ring_buffer__poll(c->rb, 100);
		ring_buffer__consume(c->rb);
	}
	return NULL;
}

static int cap_set(struct rg_inst *r, int ncpu, int active)
{
	struct rg_cap_cfg cfg = { .active = (uint32_t)active, .burst = RG_CAP_BURST_DEFAULT,
				  .sample = RG_CAP_SAMPLE_DEFAULT, .pid = (uint32_t)getpid() };
	struct rg_cap_stat *zero = calloc((size_t)ncpu, sizeof(*zero));
	struct timespec ts;
	uint32_t k = 0;
	int err = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	cfg.until_ns = ((uint64_t)ts.tv_sec + 3600) * 1000000000ull;
	if (active && zero)
		err = bpf_map_update_elem(bpf_map__fd(r->skel->maps.rg_capstat), &k, zero, BPF_ANY);
	free(zero);
	if (!err)
		err = bpf_map_update_elem(bpf_map__fd(r->skel->maps.rg_capcfg), &k, &cfg, BPF_ANY);
	return err;
}

static int cap_begin(struct bench_env *e, struct rg_inst *r, struct cap_reader *c)
{
	memset(c, 0, sizeof(*c));
	c->rb = ring_buffer__new(bpf_map__fd(r->skel->maps.rg_capring), cap_count, c, NULL);
	if (!c->rb || cap_set(r, e->ncpu, 1)) {
		fprintf(stderr, "bench: cannot start the capture\n");
		ring_buffer__free(c->rb);
		c->rb = NULL;
		return -1;
	}
	if (pthread_create(&c->th, NULL, cap_drain, c)) {
		cap_set(r, e->ncpu, 0);
		ring_buffer__free(c->rb);
		c->rb = NULL;
		return -1;
	}
	return 0;
}

static void cap_end(struct bench_env *e, struct rg_inst *r, struct cap_reader *c, struct res *m)
{
	struct rg_cap_stat *v = calloc((size_t)e->ncpu, sizeof(*v));
	uint32_t k = 0;

	if (!c->rb)
		return;
	cap_set(r, e->ncpu, 0);
	atomic_store(&c->stop, 1);
	pthread_join(c->th, NULL);
	ring_buffer__consume(c->rb);
	if (v && !bpf_map_lookup_elem(bpf_map__fd(r->skel->maps.rg_capstat), &k, v))
		for (int i = 0; i < e->ncpu; i++) {
			m->cap_matched += v[i].matched;
			m->cap_records += v[i].records;
			m->cap_lost += v[i].lost;
		}
	m->cap_read += c->read;
	free(v);
	ring_buffer__free(c->rb);
	c->rb = NULL;
}

/* A row's policy on its rstguard instance (0: the defaults). A challenge ACK is sent only where
 * the router's FIB has the way back: forwarding on in the receiver for the row, and the
 * generator's address is a permanent neighbour (run.sh). interval_ms 0: the default. */
static int row_policy(struct bench_env *e, const struct row *r, uint32_t bits, uint32_t interval_ms)
{
	struct rg_inst *ri = row_rg(r);
	struct rg_policy p;
	uint32_t k = 0;
	int fd, rc;

	if (!ri || !r->policy)
		return 0;
	fd = bpf_map__fd(ri->skel->maps.rg_policy);
	if (bpf_map_lookup_elem(fd, &k, &p))
		return -1;
	p.bits = bits;
	p.challenge_ms = interval_ms;
	p.generation++;
	if (bpf_map_update_elem(fd, &k, &p, BPF_ANY) || enter_ns(e->rcv_ns))
		return -1;
	rc = run_cmd("sysctl -qw net.ipv4.ip_forward=%d", bits ? 1 : 0);
	enter_ns(e->root_ns);
	return rc ? -1 : 0;
}

/* A flood of random sequence numbers at a few flows sometimes lands inside a band exactly, as
 * it would for a real forger: that reset is valid, closes its flow, and the flow then ages out.
 * Each row starts again from the live flows it is meant to measure. The table is full, so each
 * write evicts its least recently used entry, which may be one of these: all are written
 * whether present or not. */
static int refresh_live_flows(const struct row *r)
{
	struct rg_inst *ri = row_rg(r);
	uint32_t now = rg_clock();

	if (!ri || r->prog != PK_RG_GW)
		return 0;
	for (uint32_t i = 0; i < NCONN; i++) {
		struct rg_flow_key4 k;
		struct rg_flow v;

		flow_kv(i, &k, &v, now);
		if (bpf_map_update_elem(bpf_map__fd(ri->skel->maps.rg_flows4), &k, &v, BPF_ANY))
			return -1;
	}
	return 0;
}

static int measure_row(struct bench_env *e, const struct row *r)
{
	struct cap_reader cap = { 0 };
	const struct frame *f = &frames[r->tmpl];
	struct gen_cfg g = { .mode = r->gen_mode, .nflows = r->gen_nflows, .nconn = NCONN };
	struct res *m = RES(r);
	struct conns c = { 0 };
	struct live_res lr;
	uint64_t before[RG_R_MAX], after[RG_R_MAX];
	int fd = row_prog(r, e), err = -1;

	if (e->verbose)
		fprintf(stderr, "  %-18s %-8s %s\n", r->id, r->role ? r->role : "-", r->title);
	if (attach_rcv(e, fd))
		return -1;
	/* nft first: conntrack must see the handshakes to know the connections. */
	if (r->nft && nft(e, 1))
		return -1;
	if (r->conns) {
		int base = conns_open(e, &c);

		if (base < 0)
			goto out;
		g.conn_port = (uint32_t)base;
	}
	if (row_policy(e, r, r->policy, 0) || refresh_live_flows(r))
		goto out;
	if (row_rg(r))
		rg_reasons(row_rg(r), e->ncpu, before);
	if (r->capture && cap_begin(e, row_rg(r), &cap))
		goto out;
	err = live_measure(e, fd, f->buf, f->len, &g, &lr);
	if (r->capture)
		cap_end(e, row_rg(r), &cap, m);
	if (row_rg(r)) {
		rg_reasons(row_rg(r), e->ncpu, after);
		for (int k = 0; k < RG_R_MAX; k++)
			m->reasons[k] += after[k] - before[k];
	}
	if (r->nft) {
		m->nft_drops += nft_counter(e);
		m->frames += lr.frames;
	}
	if (!err && m->nres < 16) {
		m->wall[m->nres] = lr.wall_mpps;
		m->share[m->nres] = lr.cpu_share;
		m->rx[m->nres] = lr.rx_mpps;
		m->tx[m->nres] = lr.tx_mpps;
		m->drop[m->nres] = lr.drop_mpps;
		m->prog_ns[m->nres] = lr.prog_ns;
		m->gen_ns[m->nres] = lr.gen_ns;
		m->nres++;
	}
out:
	conns_close(&c);
	if (r->nft)
		nft(e, 0);
	if (row_policy(e, r, 0, 0))
		err = -1;
	return err;
}

/* The program alone on the row's template frame. Repetitions run on one buffer, so a challenge
 * would rewrite it for the next: under a challenge policy a first run sends the flow's one, and
 * with the interval at its longest every repetition is the limited path, as in a flood. */
static double test_run_rg(struct bench_env *e, const struct row *r)
{
	const struct frame *f = &frames[r->tmpl];
	double ns;

	if (r->policy && (row_policy(e, r, r->policy, 0) ||
			  test_run_ns(e, row_prog(r, e), f->buf, f->len, 1) < 0 ||
			  row_policy(e, r, r->policy, 60000)))
		return -1;
	ns = test_run_ns(e, row_prog(r, e), f->buf, f->len, 2000000);
	if (row_policy(e, r, 0, 0))
		return -1;
	return ns;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double t[64];

	if (n <= 0)
		return 0;
	if (n > 64)
		n = 64;
	memcpy(t, v, (size_t)n * sizeof(*t));
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* Largest (hi) or smallest positive value. */
static double best(const double *v, int n, int hi)
{
	double b = 0;

	for (int i = 0; i < n; i++)
		if (v[i] > 0 && (b == 0 || (hi ? v[i] > b : v[i] < b)))
			b = v[i];
	return b;
}

/* ---- checks before measuring -------------------------------------------------------------- */

/* The generator's rewritten frames must carry correct checksums, or the stack baselines would
 * measure checksum drops. Runs it (not live) on each template in every mode it is used with. */
static int check_generator(struct bench_env *e)
{
	int fd = bpf_program__fd(e->gen->progs.gen_redirect);
	uint8_t out[256];

	for (size_t i = 0; i < NROWS; i++) {
		const struct frame *f = &frames[rows[i].tmpl];

		if (rows[i].tmpl == T_UDP) {
			/* Not rewritten by the generator; the same pseudo-header sum covers UDP. */
			if (!frame_csum_ok(f->buf, f->len)) {
				fprintf(stderr, "bench: UDP template checksum wrong\n");
				return -1;
			}
			continue;
		}
		e->gen->bss->gen_mode = rows[i].gen_mode;
		e->gen->bss->gen_nflows = rows[i].gen_nflows ? rows[i].gen_nflows : 1;
		e->gen->bss->gen_nconn = NCONN;
		e->gen->bss->gen_conn_port = 40000;
		for (int k = 0; k < 64; k++) {
			LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->buf,
				    .data_size_in = (uint32_t)f->len, .data_out = out,
				    .data_size_out = sizeof(out), .repeat = 1);

			if (bpf_prog_test_run_opts(fd, &o) || o.retval != XDP_REDIRECT ||
			    !frame_csum_ok(out, o.data_size_out)) {
				fprintf(stderr, "bench: generator frame for %s has a bad checksum\n",
					rows[i].id);
				return -1;
			}
			/* An inexact RST must sit where the flows' receiver calls it inexact. */
			if ((rows[i].gen_mode & GEN_INEXACT) &&
			    get32(out + 14 + 20 + 4) - (BF_CLIENT_NXT + 1) >= BF_INEXACT_SPAN) {
				fprintf(stderr, "bench: generator frame for %s has sequence %u, not "
					"past %u within %u\n", rows[i].id, get32(out + 38),
					BF_CLIENT_NXT, BF_INEXACT_SPAN);
				return -1;
			}
		}
	}
	return 0;
}

/* The populated table must look like live flows to the program: an RST with an arbitrary
 * sequence number on flow 0 is judged against the flow (out of window or inexact), never "no
 * flow", which is what a wrong key layout, presence bit or clock would give. */
static int check_flows(struct bench_env *e)
{
	for (int s = 0; s < NSIZES; s++) {
		struct rg_inst *r = &rg_gw[s];
		uint64_t oow = rg_reason_count(r, RG_R_OUT_OF_WINDOW, e->ncpu);
		uint64_t nof = rg_reason_count(r, RG_R_NO_FLOW, e->ncpu);
		uint64_t exp = rg_reason_count(r, RG_R_INEXACT, e->ncpu);

		if (test_run_ns(e, r->prog_fd, frames[T_RST_FLOW].buf, frames[T_RST_FLOW].len, 1) < 0)
			return -1;
		oow = rg_reason_count(r, RG_R_OUT_OF_WINDOW, e->ncpu) - oow;
		nof = rg_reason_count(r, RG_R_NO_FLOW, e->ncpu) - nof;
		exp = rg_reason_count(r, RG_R_INEXACT, e->ncpu) - exp;
		if (oow + exp == 0 || nof) {
			fprintf(stderr, "bench: populated flow not seen by the %u-flow gateway program "
				"(out_of_window %llu, inexact %llu, no_flow %llu)\n", r->flows,
				(unsigned long long)oow, (unsigned long long)exp,
				(unsigned long long)nof);
			return -1;
		}
		/* The inexact rows' template, judged inexact. */
		uint64_t before[RG_R_MAX], after[RG_R_MAX];

		rg_reasons(r, e->ncpu, before);
		if (test_run_ns(e, r->prog_fd, frames[T_RST_INEXACT].buf,
				frames[T_RST_INEXACT].len, 1) < 0)
			return -1;
		rg_reasons(r, e->ncpu, after);
		/* test_run_ns runs the frame a few times: every one of them must be inexact. */
		uint64_t all = 0;

		for (int k = 0; k < RG_R_MAX; k++)
			all += after[k] - before[k];
		if (!all || after[RG_R_INEXACT] - before[RG_R_INEXACT] != all) {
			fprintf(stderr, "bench: the inexact template is not inexact for the %u-flow "
				"gateway program:", r->flows);
			for (int k = 0; k < RG_R_MAX; k++)
				if (after[k] != before[k])
					fprintf(stderr, " %s", rg_reason_names[k]);
			fprintf(stderr, "\n");
			return -1;
		}
	}
	return 0;
}

/* Sum of the named counters in /proc/net/snmp and /proc/net/netstat of the receiver namespace
 * ("Tcp:InCsumErrors"...): header lines name the fields, the next line holds the values. */
static long long stack_counter(struct bench_env *e, const char *const *names, int n)
{
	const char *files[] = { "/proc/thread-self/net/snmp", "/proc/thread-self/net/netstat" };
	char hdr[4096], val[4096];
	long long sum = 0;

	if (enter_ns(e->rcv_ns))
		return -1;
	for (int fi = 0; fi < 2; fi++) {
		FILE *f = fopen(files[fi], "r");

		while (f && fgets(hdr, sizeof(hdr), f) && fgets(val, sizeof(val), f)) {
			char *hs, *vs, *h = strtok_r(hdr, " \n", &hs), *v = strtok_r(val, " \n", &vs);
			char prefix[32];

			snprintf(prefix, sizeof(prefix), "%s", h ? h : "");
			while ((h = strtok_r(NULL, " \n", &hs)) && (v = strtok_r(NULL, " \n", &vs))) {
				char full[96];

				snprintf(full, sizeof(full), "%s%s", prefix, h);
				for (int k = 0; k < n; k++)
					if (!strcmp(full, names[k]))
						sum += atoll(v);
			}
		}
		if (f)
			fclose(f);
	}
	enter_ns(e->root_ns);
	return sum;
}

static const char *const csum_counters[] = { "Tcp:InCsumErrors", "IpExt:InCsumErrors",
					     "Udp:InCsumErrors" };

/* ---- report ------------------------------------------------------------------------------- */

struct verdict {
	const char *text;  /* the target as written */
	int applies, met;
	char detail[96];
};

static double ratio_to_empty(const struct row *r)
{
	const struct row *em = find_row(r->empty);

	return em && RES(em)->m_rx > 0 ? RES(r)->m_rx / RES(em)->m_rx : 0;
}

/* Time per packet this program adds over the empty one with the same generator work: the
 * generator and veth costs, shared by both on the one CPU, cancel out. */
static double added_ns(const struct row *r)
{
	const struct row *em = find_row(r->empty);

	if (!em || RES(em)->m_rx <= 0 || RES(r)->m_rx <= 0)
		return 0;
	return 1e3 / RES(r)->m_rx - 1e3 / RES(em)->m_rx;
}

/* What the program did with the traffic: its most frequent reason, or the nft rule's share. */
static void main_verdict(const struct row *r, char *b, size_t n)
{
	const struct res *m = RES(r);
	uint64_t total = 0;
	int shown[RG_R_FLOW_CREATED] = { 0 };

	b[0] = 0;
	if (r->nft && m->frames)
		snprintf(b, n, "nft dropped %.1f%%", 100.0 * (double)m->nft_drops / (double)m->frames);
	if (!row_rg(r))
		return;
	for (int k = 0; k < RG_R_FLOW_CREATED; k++)
		total += m->reasons[k];
	if (!total) {
		snprintf(b, n, "not TCP: uncounted");
		return;
	}
	/* The three most frequent reasons that make up at least 0.1% each. */
	for (int i = 0; i < 3; i++) {
		int best = -1;

		for (int k = 0; k < RG_R_FLOW_CREATED; k++)
			if (!shown[k] && (best < 0 || m->reasons[k] > m->reasons[best]))
				best = k;
		if (best < 0 || (i && m->reasons[best] * 1000 < total))
			break;
		shown[best] = 1;
		snprintf(b + strlen(b), n - strlen(b), "%s%s %.1f%%", i ? ", " : "",
			 rg_reason_names[best], 100.0 * (double)m->reasons[best] / (double)total);
	}
	if (r->capture)
		snprintf(b + strlen(b), n - strlen(b), "; captured %llu of %llu, %llu lost",
			 (unsigned long long)m->cap_read, (unsigned long long)m->cap_matched,
			 (unsigned long long)m->cap_lost);
	if (m->reasons[RG_R_CHALLENGE_SENT] + m->reasons[RG_R_CHALLENGE_LIMITED])
		snprintf(b + strlen(b), n - strlen(b), ", %llu challenge ACKs sent, %llu limited",
			 (unsigned long long)m->reasons[RG_R_CHALLENGE_SENT],
			 (unsigned long long)m->reasons[RG_R_CHALLENGE_LIMITED]);
}

/* bpf_stats adds two clock reads around every run; the empty program's figure is that
 * overhead alone, so it is taken off every program's (the row's own empty, same window). */
static double prog_net(const struct row *r)
{
	const struct row *em = find_row(r->empty);
	double v = RES(r)->m_prog - (em ? RES(em)->m_prog : 0);

	if (RES(r)->m_prog <= 0)
		return 0;
	return v > 0.1 ? v : 0.1;
}

static void judge(const struct row *r, struct verdict *v)
{
	const struct row *ref = r->ref ? find_row(r->ref) : NULL;
	double ratio = ratio_to_empty(r), x, add;

	memset(v, 0, sizeof(*v));
	v->text = "";
	if (RES(r)->nres == 0)
		return;
	switch (r->target) {
	case TG_NONE:
		return;
	case TG_PASS90:
		v->text = ">= 0.90 x empty";
		v->applies = 1;
		v->met = ratio >= 0.9;
		snprintf(v->detail, sizeof(v->detail), "%.2f x empty", ratio);
		return;
	case TG_NOFLOW:
		/* 0.55: the specification's 0.5 with a margin over run-to-run noise. The nft figure
		 * is for the record: the flood nft sees is the same, its work per packet is not. */
		v->text = ">= 0.55 x empty";
		v->applies = 1;
		v->met = ratio >= 0.55;
		snprintf(v->detail, sizeof(v->detail), "%.2f x empty; added ns %.1f x less than nft",
			 ratio, ref && added_ns(r) > 0 ? added_ns(ref) / added_ns(r) : 0);
		return;
	case TG_LIVE:
		/* By rate (the specification's 5 x nft) and by cost added over the empty program (6 x
		 * less than nft's): the second is what the comparison would be on a path whose fixed
		 * cost is far below this harness's generator + veth. */
		x = ref && RES(ref)->m_rx > 0 ? RES(r)->m_rx / RES(ref)->m_rx : 0;
		add = ref && added_ns(r) > 0 ? added_ns(ref) / added_ns(r) : 0;
		v->text = ">= 0.60 x empty, added ns 6 x < nft";
		v->applies = 1;
		v->met = ratio >= 0.6 && add >= 6;
		snprintf(v->detail, sizeof(v->detail), "%.2f x empty, %.1f x nft; added ns %.1f x less",
			 ratio, x, add);
		return;
	case TG_CAPTURE:
		/* A capture should cost a flood little: the sampled records are few, the rest
		 * pays a clock read and a few per-CPU counters. */
		x = ref && RES(ref)->m_rx > 0 ? RES(r)->m_rx / RES(ref)->m_rx : 0;
		v->text = ">= 0.90 x no capture";
		v->applies = 1;
		v->met = x >= 0.9;
		snprintf(v->detail, sizeof(v->detail), "%.2f x %s without capture; +%.1f ns", x,
			 r->ref, ref && RES(ref)->m_rx > 0 && RES(r)->m_rx > 0 ?
			 1e3 / RES(r)->m_rx - 1e3 / RES(ref)->m_rx : 0);
		return;
	case TG_LOOKUP15:
		x = ref && prog_net(ref) > 0 ? prog_net(r) / prog_net(ref) : 0;
		v->text = "<= 1.5 x lookup-only prog ns";
		v->applies = 1;
		v->met = x > 0 && x <= 1.5;
		/* The +ns ratio beside it: bpf_stats' clock reads serialise around each run, so they
		 * expose miss latency the pipeline otherwise overlaps with the next packet. */
		snprintf(v->detail, sizeof(v->detail), "%.2f x %s; %.2f x by +ns", x, r->ref,
			 ref && added_ns(ref) > 0 ? added_ns(r) / added_ns(ref) : 0);
		return;
	}
}

static void fmt_num(char *b, size_t n, double v, const char *f)
{
	if (v != 0)
		snprintf(b, n, f, v);
	else
		snprintf(b, n, "-");
}

/* With the receiver on its own CPU, a ring that never overflowed means the generator, not the
 * program, set the rate. (In softirq mode both share one CPU and the ring cannot overflow.) */
static int gen_bound(const struct bench_env *e, const struct row *r)
{
	return e->napi_cpu >= 0 && RES(r)->m_tx > 0 && RES(r)->m_drop < 0.02 * RES(r)->m_rx;
}

struct memory {
	double flows4, presence, flows6;  /* bytes per entry of the 1M table */
	long present;                     /* flows found in the table after the fill */
};

static void report(const struct bench_env *e, const char *outdir, const struct memory *mem,
		   double runtime, const char *machine, const char *note, long long csum_errors)
{
	double shares[NROWS];
	int nsh = 0;
	char load[64] = "?";
	FILE *lf = fopen("/proc/loadavg", "r");

	if (lf && fgets(load, sizeof(load), lf))
		load[strcspn(load, " ")] = 0;
	if (lf)
		fclose(lf);
	for (size_t i = 0; i < NROWS; i++)
		if (results[i].nres)
			shares[nsh++] = results[i].m_share;
	char path[512];
	FILE *md, *js;
	int met = 0, missed = 0;

	snprintf(path, sizeof(path), "%s/results.md", outdir);
	md = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/results.json", outdir);
	js = fopen(path, "w");
	if (!md || !js) {
		fprintf(stderr, "bench: cannot write results in %s\n", outdir);
		if (md)
			fclose(md);
		if (js)
			fclose(js);
		return;
	}
	fprintf(md, "# rstguard bench\n\n%s; load average %s at the end; the path got %.0f%% of "
		    "its CPU (median), the rest went to other work on the machine.  \n%s\n\n",
		machine, load, 100 * median(shares, nsh), note);
	fprintf(md, "| id | scenario | role | flows | Mpps | ns/pkt | +ns | prog ns | test_run ns | "
		    "x empty | target | result | verdicts |\n"
		    "|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|---|\n");
	printf("\n%-18s %-7s %7s %6s %7s %7s %7s %7s %6s  %-35s %s\n", "id", "role", "flows",
	       "Mpps", "ns/pkt", "+ns", "prog_ns", "testrun", "xempty", "target", "result");
	fprintf(js, "[\n");
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];
		const struct res *m = RES(r);
		const char *role = r->role ? r->role : "-";
		double ratio = ratio_to_empty(r), add = added_ns(r), pn = prog_net(r);
		char mpps[16], nspp[16], adds[16], pns[16], trn[16], fl[16], res[160], mv[192];
		char rounds[256] = "";
		struct verdict v;

		if (!m->nres)
			continue;
		for (int k = 0; k < m->nres; k++)
			snprintf(rounds + strlen(rounds), sizeof(rounds) - strlen(rounds), "%s%.3f",
				 k ? ", " : "", m->rx[k]);
		judge(r, &v);
		main_verdict(r, mv, sizeof(mv));
		fmt_num(mpps, sizeof(mpps), m->m_rx, "%.2f");
		fmt_num(nspp, sizeof(nspp), m->m_rx > 0 ? 1e3 / m->m_rx : 0, "%.1f");
		fmt_num(adds, sizeof(adds), strcmp(r->id, r->empty) ? add : 0, "%+.1f");
		fmt_num(pns, sizeof(pns), pn, "%.1f");
		fmt_num(trn, sizeof(trn), m->test_run_ns, "%.0f");
		fmt_num(fl, sizeof(fl), r->flows, "%.0f");
		snprintf(res, sizeof(res), "%s%s%s%s%s", v.applies ? (v.met ? "met" : "MISSED") : "",
			 v.applies ? " (" : "", v.applies ? v.detail : "", v.applies ? ")" : "",
			 gen_bound(e, r) ? " gen-bound" : "");
		if (v.applies)
			v.met ? met++ : missed++;
		printf("%-18s %-7s %7s %6s %7s %7s %7s %7s %6.2f  %-35s %s\n", r->id, role, fl, mpps,
		       nspp, adds, pns, trn, ratio, v.text, res);
		fprintf(md, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %s | %s |\n",
			r->id, r->title, role, fl, mpps, nspp, adds, pns, trn, ratio, v.text, res, mv);
		fprintf(js, "  {\"scenario\": \"%s\", \"title\": \"%s\", \"role\": \"%s\", "
			    "\"flows\": %u, \"mpps\": %.3f, \"ns_per_pkt\": %.1f, "
			    "\"ratio_to_empty\": %.3f, \"empty\": \"%s\", \"added_ns\": %.1f, "
			    "\"prog_ns\": %.1f, \"prog_ns_raw\": %.1f, \"test_run_ns\": %.0f, "
			    "\"wall_mpps\": %.3f, \"cpu_share\": %.2f, \"gen_ns\": %.1f, "
			    "\"tx_mpps\": %.3f, \"ring_drop_mpps\": %.3f, \"rounds\": %d, "
			    "\"mpps_rounds\": [%s], "
			    "\"verdicts\": \"%s\", \"target\": \"%s\", \"result\": \"%s\", \"met\": %s},\n",
			r->id, r->title, role, r->flows, m->m_rx, m->m_rx > 0 ? 1e3 / m->m_rx : 0,
			ratio, r->empty, add, pn, m->m_prog, m->test_run_ns, m->m_wall, m->m_share,
			m->m_gen, m->m_tx, m->m_drop, m->nres, rounds, mv, v.text, v.detail,
			v.applies ? (v.met ? "true" : "false") : "null");
	}
	{
		double total = mem->flows4 + mem->presence;
		int ok = total > 0 && total <= 128;

		printf("\nmap memory per tracked IPv4 flow at 1M flows: %.1f bytes (rg_flows4 %.1f + "
		       "presence filter %.1f), target <= 128: %s; rg_flows6 sized alike adds %.1f "
		       "per slot; %ld of %u flows present after the fill\n", total, mem->flows4,
		       mem->presence, ok ? "met" : "MISSED", mem->flows6, mem->present, sizes[BIG]);
		fprintf(md, "\nMap memory per tracked IPv4 flow at 1M flows (kernel memlock / "
			    "max_entries): **%.1f bytes** (rg_flows4 %.1f + presence filter %.1f), "
			    "target <= 128: **%s**. rg_flows6, sized alike, adds %.1f bytes per slot. "
			    "%ld of %u flows present after the fill.\n", total, mem->flows4,
			mem->presence, ok ? "met" : "MISSED", mem->flows6, mem->present, sizes[BIG]);
		fprintf(js, "  {\"scenario\": \"m_flow_bytes\", \"title\": \"map memory per tracked "
			    "IPv4 flow (memlock / max_entries)\", \"role\": \"gateway\", \"flows\": "
			    "%u, \"bytes_per_flow\": %.1f, \"flows4_bytes\": %.1f, "
			    "\"presence_bytes\": %.1f, \"flows6_bytes\": %.1f, \"target\": \"<= 128\", "
			    "\"met\": %s}\n]\n", sizes[BIG], total, mem->flows4, mem->presence,
			mem->flows6, ok ? "true" : "false");
		ok ? met++ : missed++;
	}
	fprintf(md, "\n**Mpps**: frames the receiver's XDP program handled (veth rx counter) per "
		    "second of CPU time the path got (%s), best of the rounds: what it would do "
		    "with the CPU to itself (`mpps_rounds` in the JSON has every round); the wall-clock rate and the CPU share are in the JSON. "
		    "**ns/pkt**: its inverse. **+ns**: time per packet added over the empty program "
		    "of the same traffic (`empty` in the JSON); generator and veth costs cancel. "
		    "**prog ns**: run time per packet of the program alone in that live traffic "
		    "(kernel bpf_stats in a separate window, so with the real key spread and its cache "
		    "misses), less the empty program's figure, which is the statistics' own clock "
		    "reads. **test_run ns**: BPF_PROG_TEST_RUN over one fixed frame, hot cache. "
		    "**x empty**: Mpps over the empty program with the same verdict and the same "
		    "generated traffic. **verdicts**: rstguard's three most frequent reasons (those "
		    "of at least 0.1%%).\n",
		e->napi_cpu >= 0 ? "the receiver's NAPI thread on its own CPU; *gen-bound* marks "
				   "rows where the generator, not the receiver, set the rate" :
				   "generator thread plus its CPU's ksoftirqd: the receiver's NAPI runs "
				   "in the softirq after each generated batch on the same CPU, so ns/pkt "
				   "is generator + veth + program and ratios to the empty program "
				   "understate the program's own share");
	if (presence_fp > 0)
		fprintf(md, "\nPresence filter at 1M flows: %.1f%% of random 4-tuples (the s5 flood) find "
			    "their bit set and go on to a flow-table lookup.\n", 100 * presence_fp);
	fprintf(md, "\nChecksum errors counted by the receiver's stack during the run: %lld (the "
		    "generated frames are valid, so the stack baselines measure real processing).\n",
		csum_errors);
	fprintf(md, "\nTargets met: %d, missed: %d. Run time %.0f s.\n", met, missed, runtime);
	if (presence_fp > 0)
		printf("presence filter false positives for random 4-tuples at 1M flows: %.1f%%\n",
		       100 * presence_fp);
	printf("stack checksum errors: %lld; the path got %.0f%% of its CPU (median), load average "
	       "%s at the end\n", csum_errors, 100 * median(shares, nsh), load);
	printf("\ntargets met: %d, missed: %d; run time %.0f s; %s/results.md, results.json\n", met,
	       missed, runtime, outdir);
	fclose(md);
	fclose(js);
}

static void describe_machine(const struct bench_env *e, int rounds, char *b, size_t n)
{
	char model[128] = "unknown CPU", line[256], load[64] = "";
	struct utsname u;
	FILE *f;

	uname(&u);
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && c) {
			snprintf(model, sizeof(model), "%s", c + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	f = fopen("/proc/loadavg", "r");
	if (f && fgets(load, sizeof(load), f))
		load[strcspn(load, " ")] = 0;
	if (f)
		fclose(f);
	snprintf(b, n, "Linux %s, %d x %s, load average %s at start; generator on CPU %d, receiver "
		 "NAPI %s; native XDP on veth; best of %d round(s) of %.1f s", u.release, e->ncpu,
		 model, load, e->gen_cpu,
		 e->napi_cpu >= 0 ? "thread on its own CPU" : "in softirq on the same CPU", rounds,
		 e->window_s);
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: rg_bench --gen-ns NS --rcv-ns NS --gen-if IF --rcv-if IF [--out DIR]\n"
		"                [--nft-table NAME] [--rounds N] [--window SECONDS] [--napi-cpu CPU]\n"
		"                [--only ID[:ROLE],...] [--batch N] [--note TEXT] [-v]\n"
		"  --napi-cpu CPU  receiver NAPI in a thread pinned to CPU (default: softirq, which\n"
		"                  on 2-CPU VMs is far faster than a woken thread)\n");
}

/* Rows to run: those named, plus the baselines they are compared with. */
static void select_rows(const char *only, int *sel)
{
	for (size_t i = 0; i < NROWS; i++) {
		char list[256], *tok, *save = NULL;

		sel[i] = !only;
		snprintf(list, sizeof(list), "%s", only ? only : "");
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char idrole[64];

			snprintf(idrole, sizeof(idrole), "%s:%s", rows[i].id,
				 rows[i].role ? rows[i].role : "-");
			if (!strcmp(tok, rows[i].id) || !strcmp(tok, idrole))
				sel[i] = 1;
		}
	}
	/* To a fixed point: a reference row brings its own empty baseline. */
	for (int changed = 1; changed;) {
		changed = 0;
		for (size_t i = 0; i < NROWS; i++) {
			if (!sel[i])
				continue;
			for (size_t k = 0; k < NROWS; k++)
				if (!sel[k] && (!strcmp(rows[k].id, rows[i].empty) ||
						(rows[i].ref && !strcmp(rows[k].id, rows[i].ref))))
					sel[k] = changed = 1;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "gen-ns", required_argument, NULL, 'G' }, { "rcv-ns", required_argument, NULL, 'R' },
		{ "gen-if", required_argument, NULL, 'g' }, { "rcv-if", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' }, { "nft-table", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'k' }, { "window", required_argument, NULL, 'w' },
		{ "napi-cpu", required_argument, NULL, 'c' }, { "only", required_argument, NULL, 'O' },
		{ "note", required_argument, NULL, 'N' }, { "verbose", no_argument, NULL, 'v' },
		{ "batch", required_argument, NULL, 'b' },
		{ 0 },
	};
	struct bench_env e = { .warmup_s = 0.2, .window_s = 0.6, .stats_s = 0.25, .batch = 64,
			       .repeat = 1 << 17, .gen_cpu = 0, .napi_cpu = -1 };
	const char *outdir = "build/bench", *only = NULL, *note = "";
	int rounds = 5, opt, sel[NROWS];
	double t_start = now_s();
	long long csum0;
	struct memory mem = { 0 };
	char machine[512];
	cpu_set_t all;

	while ((opt = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (opt) {
		case 'G': e.gen_ns_name = optarg; break;
		case 'R': e.rcv_ns_name = optarg; break;
		case 'g': e.gen_if = optarg; break;
		case 'r': e.rcv_if = optarg; break;
		case 'o': outdir = optarg; break;
		case 'n': nft_table = optarg; break;
		case 'k': rounds = atoi(optarg); break;
		case 'w': e.window_s = atof(optarg); break;
		case 'c': e.napi_cpu = atoi(optarg); break;
		case 'O': only = optarg; break;
		case 'N': note = optarg; break;
		case 'b': e.batch = atoi(optarg); break;
		case 'v': e.verbose = 1; break;
		default: usage(); return 2;
		}
	}
	if (!e.gen_ns_name || !e.rcv_ns_name || !e.gen_if || !e.rcv_if || rounds < 1 ||
	    rounds > 16 || e.window_s <= 0 || e.batch < 1 || e.batch > 256) {
		usage();
		return 2;
	}
	libbpf_set_print(quiet);
	e.ncpu = libbpf_num_possible_cpus();
	if (e.napi_cpu >= e.ncpu)
		e.napi_cpu = e.ncpu - 1;
	select_rows(only, sel);
	describe_machine(&e, rounds, machine, sizeof(machine));
	if (live_init(&e) || build_frames())
		return 1;

	/* Baseline programs and the generator; one lookup-only copy per table size. */
	e.gen = bl_load(1024, 1);
	if (!e.gen) {
		fprintf(stderr, "bench: loading bench.bpf.o failed\n");
		return 1;
	}
	if (check_generator(&e))
		return 1;

	/* Fill from one CPU (see populate). */
	pin_cpu(0);
	for (int s = 0; s < NSIZES; s++) {
		int err;

		fprintf(stderr, "bench: loading and filling the %s-flow tables\n", size_names[s]);
		if (rg_load(&rg_gw[s], RG_ROLE_GATEWAY, sizes[s], NULL))
			return 1;
		/* Without a presence filter in rstguard, the probe is sized as one would be. */
		/* The probe reads 64-bit words from an array of the filter's size in bytes. */
		bl[s] = bl_load(sizes[s], rg_presence_blocks(sizes[s]) *
						  (RG_PRESENCE_BLOCK_BITS / 64));
		if (!bl[s]) {
			fprintf(stderr, "bench: loading bench.bpf.o for %u flows failed\n", sizes[s]);
			return 1;
		}
		err = populate(bpf_map__fd(rg_gw[s].skel->maps.rg_flows4), sizes[s],
			       rg_gw[s].presence_fd, rg_gw[s].pblocks);
		if (!err)
			err = populate(bpf_map__fd(bl[s]->maps.bl_flows), sizes[s], -1, 0);
		if (err) {
			fprintf(stderr, "bench: filling %u flows: %s\n", sizes[s], strerror(-err));
			return 1;
		}
	}
	CPU_ZERO(&all);
	for (int c = 0; c < e.ncpu; c++)
		CPU_SET(c, &all);
	sched_setaffinity(0, sizeof(all), &all);
	if (rg_load(&rg_host, RG_ROLE_HOST, sizes[BIG], &rg_gw[BIG]))
		return 1;
	{
		int f4 = bpf_map__fd(rg_gw[BIG].skel->maps.rg_flows4);
		int f6 = bpf_map__fd(rg_gw[BIG].skel->maps.rg_flows6);
		double n = lru_size(sizes[BIG]);

		mem.present = count_entries(f4, sizeof(struct rg_flow_key4), sizeof(struct rg_flow));
		mem.flows4 = (double)map_memlock(f4) / n;
		mem.flows6 = (double)map_memlock(f6) / n;
		if (rg_gw[BIG].presence_fd >= 0)
			mem.presence = (double)map_memlock(rg_gw[BIG].presence_fd) / n;
	}
	if (check_flows(&e) || tcp_listen(&e))
		return 1;

	/* The first attach creates the veth's XDP NAPI; only then can it get a thread. */
	if (attach_rcv(&e, bpf_program__fd(e.gen->progs.base_drop)) || napi_thread_setup(&e))
		return 1;
	fprintf(stderr, "bench: %s\n", machine);

	csum0 = stack_counter(&e, csum_counters, 3);
	/* Rounds interleave all rows, so slow drift in machine load hits every row alike. */
	for (int k = 0; k < rounds; k++) {
		fprintf(stderr, "bench: round %d/%d\n", k + 1, rounds);
		for (size_t i = 0; i < NROWS; i++)
			if (sel[i] && measure_row(&e, &rows[i]))
				fprintf(stderr, "bench: %s (%s) failed this round\n", rows[i].id,
					rows[i].role ? rows[i].role : "-");
	}
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];
		struct res *m = RES(r);

		/* Best of the rounds: other work on a shared machine (the other vCPU may be this
		 * core's SMT sibling) only ever slows a round down, even per CPU second. */
		m->m_rx = best(m->rx, m->nres, 1);
		m->m_wall = best(m->wall, m->nres, 1);
		m->m_share = median(m->share, m->nres);
		m->m_tx = best(m->tx, m->nres, 1);
		m->m_drop = median(m->drop, m->nres);
		m->m_prog = best(m->prog_ns, m->nres, 0);
		m->m_gen = best(m->gen_ns, m->nres, 0);
		/* The program alone on one fixed frame; the stack rows have no program of their own. */
		if (m->nres && (r->prog != PK_PASS || !strncmp(r->id, "b_empty", 7)))
			m->test_run_ns = test_run_rg(&e, r);
	}
	detach_rcv(&e);
	report(&e, outdir, &mem, now_s() - t_start, machine, note,
	       stack_counter(&e, csum_counters, 3) - csum0);
	return 0;
}
