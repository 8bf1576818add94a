// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Helper and map implementations for the plain-C data plane, strict where the kernel is strict
 * (reference counting, bounds) so the sanitizers see what the verifier would have refused. */
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <bpf/bpf_helpers.h>
#include "kernel_sock.h"
#include "rstguard.h"
#include "shim.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define RG_ASAN 1
#endif
#endif
#ifndef RG_ASAN
#define ASAN_POISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#endif

struct shim_state shim;

#define SHIM_MAX_MAPS 24
#define SHIM_BUCKETS 1024
#define SHIM_MAX_KEY 40

struct elem {
	struct elem *next;
	__u64 stamp;            /* LRU order: last lookup or update */
	__u8 key[SHIM_MAX_KEY];
	void *value;            /* malloc'd, exactly value_size bytes, so ASan sees overruns */
};

struct map {
	void *def;
	const char *name;
	__u32 type, key_size, value_size, max_entries, count;
	struct elem *bucket[SHIM_BUCKETS];
};

static struct map maps[SHIM_MAX_MAPS];
static int nmaps;
static __u64 lru_clock;
/* Values replaced or evicted during a run stay readable until it ends, as under RCU. */
static void *deferred[4096];
static int ndeferred;

static void die(const char *what)
{
	fprintf(stderr, "shim: %s\n", what);
	abort();
}

static struct map *map_of(const void *def)
{
	for (int i = 0; i < nmaps; i++)
		if (maps[i].def == def)
			return &maps[i];
	die("unknown map");
	return NULL;
}

void shim_map_register(void *def, const char *name, __u32 type, __u32 key_size, __u32 value_size,
		       __u32 max_entries)
{
	struct map *m;

	for (int i = 0; i < nmaps; i++)
		if (maps[i].def == def)
			return;
	if (nmaps == SHIM_MAX_MAPS || key_size > SHIM_MAX_KEY)
		die("map registry full or key too large");
	m = &maps[nmaps++];
	memset(m, 0, sizeof(*m));
	m->def = def;
	m->name = name;
	m->type = type;
	m->key_size = key_size;
	m->value_size = value_size;
	m->max_entries = max_entries;
}

void shim_map_set_capacity(void *def, __u32 max_entries)
{
	map_of(def)->max_entries = max_entries;
}

static void defer_free(void *p)
{
	if (ndeferred == (int)(sizeof(deferred) / sizeof(deferred[0])))
		die("too many deferred frees in one run");
	deferred[ndeferred++] = p;
}

static void map_clear(struct map *m)
{
	for (int b = 0; b < SHIM_BUCKETS; b++) {
		struct elem *e = m->bucket[b], *n;

		for (; e; e = n) {
			n = e->next;
			free(e->value);
			free(e);
		}
		m->bucket[b] = NULL;
	}
	m->count = 0;
}

void shim_reset(void)
{
	for (int i = 0; i < nmaps; i++)
		map_clear(&maps[i]);
	for (int i = 0; i < ndeferred; i++)
		free(deferred[i]);
	ndeferred = 0;
	memset(&shim, 0, sizeof(shim));
}

int shim_map_foreach(void *def, void (*fn)(const void *key, void *value, void *arg), void *arg)
{
	struct map *m = map_of(def);
	int n = 0;

	for (int b = 0; b < SHIM_BUCKETS; b++)
		for (struct elem *e = m->bucket[b]; e; e = e->next, n++)
			fn(e->key, e->value, arg);
	return n;
}

static __u32 key_hash(const struct map *m, const void *key)
{
	const __u8 *k = key;
	__u32 h = 2166136261u;

	for (__u32 i = 0; i < m->key_size; i++)
		h = (h ^ k[i]) * 16777619u;
	return h % SHIM_BUCKETS;
}

static struct elem *find(struct map *m, const void *key)
{
	for (struct elem *e = m->bucket[key_hash(m, key)]; e; e = e->next)
		if (!memcmp(e->key, key, m->key_size))
			return e;
	return NULL;
}

static struct elem *insert(struct map *m, const void *key)
{
	struct elem *e = calloc(1, sizeof(*e));
	__u32 b = key_hash(m, key);

	if (!e)
		die("out of memory");
	e->value = calloc(1, m->value_size);
	if (!e->value)
		die("out of memory");
	memcpy(e->key, key, m->key_size);
	e->next = m->bucket[b];
	m->bucket[b] = e;
	m->count++;
	return e;
}

/* Unlinks e; its value lives on until the run ends. */
static void unlink_elem(struct map *m, struct elem *e)
{
	struct elem **pp = &m->bucket[key_hash(m, e->key)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	m->count--;
	defer_free(e->value);
	free(e);
}

static int is_array(const struct map *m)
{
	return m->type == BPF_MAP_TYPE_ARRAY || m->type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

/* LPM trie key: __u32 prefixlen then the data bytes; longest stored prefix that covers it. */
static struct elem *lpm_find(struct map *m, const void *key)
{
	const __u8 *k = key;
	__u32 klen, dlen = m->key_size - 4, best_len = 0;
	struct elem *best = NULL;

	memcpy(&klen, k, 4);
	if (klen > dlen * 8)
		return NULL;
	for (int b = 0; b < SHIM_BUCKETS; b++) {
		for (struct elem *e = m->bucket[b]; e; e = e->next) {
			__u32 plen;
			int ok = 1;

			memcpy(&plen, e->key, 4);
			if (plen > klen || (best && plen <= best_len))
				continue;
			for (__u32 bit = 0; bit < plen && ok; bit++) {
				__u8 mask = 0x80 >> (bit % 8);

				ok = (e->key[4 + bit / 8] & mask) == (k[4 + bit / 8] & mask);
			}
			if (ok) {
				best = e;
				best_len = plen;
			}
		}
	}
	return best;
}

void *bpf_map_lookup_elem(void *def, const void *key)
{
	struct map *m = map_of(def);
	struct elem *e;

	if (m->type == BPF_MAP_TYPE_LPM_TRIE) {
		e = lpm_find(m, key);
		return e ? e->value : NULL;
	}
	if (is_array(m)) {
		__u32 idx;

		memcpy(&idx, key, 4);
		if (idx >= m->max_entries)
			return NULL;
		/* Arrays always have every element: created zeroed on first touch. */
		e = find(m, key);
		if (!e)
			e = insert(m, key);
		return e->value;
	}
	e = find(m, key);
	if (!e)
		return NULL;
	e->stamp = ++lru_clock;
	return e->value;
}

static void evict_lru(struct map *m)
{
	struct elem *old = NULL;

	for (int b = 0; b < SHIM_BUCKETS; b++)
		for (struct elem *e = m->bucket[b]; e; e = e->next)
			if (!old || e->stamp < old->stamp)
				old = e;
	if (old)
		unlink_elem(m, old);
}

long bpf_map_update_elem(void *def, const void *key, const void *value, __u64 flags)
{
	struct map *m = map_of(def);
	struct elem *e;

	if (flags > BPF_EXIST)
		return -EINVAL;
	if (is_array(m)) {
		__u32 idx;

		memcpy(&idx, key, 4);
		if (idx >= m->max_entries)
			return -E2BIG;
		if (flags == BPF_NOEXIST)
			return -EEXIST;
		e = find(m, key);
		if (!e)
			e = insert(m, key);
		memcpy(e->value, value, m->value_size);
		return 0;
	}
	if (shim.fail_updates > 0) {
		shim.fail_updates--;
		return -ENOMEM;
	}
	e = find(m, key);
	if (e && flags == BPF_NOEXIST)
		return -EEXIST;
	if (!e && flags == BPF_EXIST)
		return -ENOENT;
	if (e) {
		/* The kernel swaps in a new element; a pointer to the old one still reads the old
		 * value until the grace period ends. */
		void *nv = malloc(m->value_size);

		if (!nv)
			die("out of memory");
		memcpy(nv, value, m->value_size);
		defer_free(e->value);
		e->value = nv;
	} else {
		if (m->count >= m->max_entries) {
			if (m->type != BPF_MAP_TYPE_LRU_HASH)
				return -E2BIG;
			evict_lru(m);
		}
		e = insert(m, key);
		memcpy(e->value, value, m->value_size);
	}
	e->stamp = ++lru_clock;
	return 0;
}

long bpf_map_delete_elem(void *def, const void *key)
{
	struct map *m = map_of(def);
	struct elem *e;

	if (is_array(m))
		return -EINVAL;
	e = find(m, key);
	if (!e)
		return -ENOENT;
	unlink_elem(m, e);
	return 0;
}

__u64 bpf_ktime_get_coarse_ns(void)
{
	return shim.now_ns;
}

__u64 bpf_ktime_get_ns(void)
{
	return shim.now_ns;
}

/* The capture's ring buffer: records are made and thrown away (nothing reads them here). */
void *bpf_ringbuf_reserve(void *ringbuf, __u64 size, __u64 flags)
{
	if (flags || !size || size > (1u << 16))
		die("bpf_ringbuf_reserve: bad arguments");
	return calloc(1, size);
}

void bpf_ringbuf_submit(void *data, __u64 flags)
{
	if (flags & ~(__u64)(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP))
		die("bpf_ringbuf_submit: bad flags");
	free(data);
}

/* Records are freed at once, so the ring is always empty. */
__u64 bpf_ringbuf_query(void *ringbuf, __u64 flags)
{
	if (flags != BPF_RB_AVAIL_DATA && flags != BPF_RB_RING_SIZE && flags != BPF_RB_CONS_POS &&
	    flags != BPF_RB_PROD_POS)
		die("bpf_ringbuf_query: bad flags");
	return flags == BPF_RB_RING_SIZE ? RG_CAP_RING_BYTES : 0;
}

void bpf_ringbuf_discard(void *data, __u64 flags)
{
	free(data);
}

long bpf_loop(__u32 nr_loops, void *callback_fn, void *callback_ctx, __u64 flags)
{
	long (*cb)(__u64, void *) = (long (*)(__u64, void *))callback_fn;
	__u32 i;

	if (flags || nr_loops > (1u << 23))
		return -EINVAL;
	for (i = 0; i < nr_loops; i++) {
		if (cb(i, callback_ctx)) {
			i++;
			break;
		}
	}
	return i;
}

/* ---- packet ------------------------------------------------------------------------------- */

#define PKT_AREA 65536
#define PKT_HEADROOM 256
static __u8 *pkt_area;
static struct xdp_md *cur_ctx;

long bpf_xdp_load_bytes(struct xdp_md *ctx, __u32 offset, void *buf, __u32 len)
{
	__u32 size;

	if (ctx != cur_ctx)
		die("bpf_xdp_load_bytes: foreign context");
	size = ctx->data_end - ctx->data;
	if (offset > 0xffff || len > 0xffff || len == 0)
		return -EFAULT;
	if (offset + len > size)
		return -EINVAL;
	memcpy(buf, (void *)(unsigned long)ctx->data + offset, len);
	return 0;
}

long bpf_xdp_store_bytes(struct xdp_md *ctx, __u32 offset, void *buf, __u32 len)
{
	__u32 size;

	if (ctx != cur_ctx)
		die("bpf_xdp_store_bytes: foreign context");
	size = ctx->data_end - ctx->data;
	if (offset > 0xffff || len > 0xffff || len == 0)
		return -EFAULT;
	if (offset + len > size)
		return -EINVAL;
	memcpy((void *)(unsigned long)ctx->data + offset, buf, len);
	return 0;
}

/* As the kernel: at least an Ethernet header stays, growth is zeroed, and the frame may reach
 * the end of its buffer (a page for veth and most drivers). */
long bpf_xdp_adjust_tail(struct xdp_md *ctx, int delta)
{
	__u8 *data, *end, *nend;

	if (ctx != cur_ctx)
		die("bpf_xdp_adjust_tail: foreign context");
	data = (__u8 *)(unsigned long)ctx->data;
	end = (__u8 *)(unsigned long)ctx->data_end;
	nend = end + delta;
	if (nend < data + 14 || nend > pkt_area + PKT_AREA)
		return -EINVAL;
	if (nend > end) {
		ASAN_UNPOISON_MEMORY_REGION(end, nend - end);
		memset(end, 0, nend - end);
	} else {
		ASAN_POISON_MEMORY_REGION(nend, end - nend);
	}
	ctx->data_end = (__u32)(unsigned long)nend;
	return 0;
}

/* Deterministic, so that a replayed input takes the same path. */
__u32 bpf_get_prandom_u32(void)
{
	static __u32 x = 0x2545f491;

	x = x * 1664525u + 1013904223u;
	return x;
}

struct xdp_md *shim_packet_begin(const void *frame, size_t len, __u32 ingress_ifindex)
{
	__u8 *data;

	if (!pkt_area) {
		/* xdp_md carries 32-bit pointers: the buffer must live below 4 GiB. */
		pkt_area = mmap(NULL, PKT_AREA, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (pkt_area == MAP_FAILED)
			die("mmap MAP_32BIT");
	}
	if (len > PKT_AREA - PKT_HEADROOM)
		die("frame too large");
	if (!cur_ctx)
		cur_ctx = malloc(sizeof(*cur_ctx));
	ASAN_UNPOISON_MEMORY_REGION(pkt_area, PKT_AREA);
	/* Drivers leave NET_IP_ALIGN bytes so the IP header is aligned; the parser's struct
	 * accesses are aligned exactly then, and UBSan checks that they stay so. */
	data = pkt_area + PKT_HEADROOM + shim.ip_align;
	memcpy(data, frame, len);
	/* Everything but the frame is out of bounds: ASan reports any byte read outside it. */
	ASAN_POISON_MEMORY_REGION(pkt_area, PKT_AREA);
	ASAN_UNPOISON_MEMORY_REGION(data, len);
	memset(cur_ctx, 0, sizeof(*cur_ctx));
	cur_ctx->data = (__u32)(unsigned long)data;
	cur_ctx->data_meta = cur_ctx->data;
	cur_ctx->data_end = (__u32)(unsigned long)(data + len);
	cur_ctx->ingress_ifindex = ingress_ifindex;
	shim.sk_refs = 0;
	shim.sk_found = 0;
	shim.fib_calls = 0;
	return cur_ctx;
}

void shim_packet_end(void)
{
	if (shim.sk_refs)
		die("socket reference leaked (bpf_sk_release missing)");
	for (int i = 0; i < ndeferred; i++)
		free(deferred[i]);
	ndeferred = 0;
}

/* ---- sockets ------------------------------------------------------------------------------ */

/* What a lookup hands out: a private copy, freed by bpf_sk_release, so a use after release or
 * a double release is a sanitizer report and a missing release a leak report. */
struct fake_sk {
	struct bpf_sock sk;
	struct tcp_sock tp;
	struct tcp_timewait_sock tw;
	struct tcp_request_sock req;
	__u32 magic;
};
#define FAKE_MAGIC 0x5ca1ab1e

static int tuple_match(const struct shim_sock *s, const struct bpf_sock_tuple *t, __u32 size)
{
	if (s->wildcard)
		return 1;
	if (size == sizeof(t->ipv4))
		return !s->v6 && s->saddr[0] == t->ipv4.saddr && s->daddr[0] == t->ipv4.daddr &&
		       s->sport == t->ipv4.sport && s->dport == t->ipv4.dport;
	return s->v6 && !memcmp(s->saddr, t->ipv6.saddr, 16) && !memcmp(s->daddr, t->ipv6.daddr, 16) &&
	       s->sport == t->ipv6.sport && s->dport == t->ipv6.dport;
}

struct bpf_sock *bpf_skc_lookup_tcp(void *ctx, struct bpf_sock_tuple *tuple, __u32 tuple_size,
				    __u64 netns, __u64 flags)
{
	struct fake_sk *f;
	const struct shim_sock *s = NULL;

	if (ctx != cur_ctx || !tuple)
		die("bpf_skc_lookup_tcp: bad arguments");
	if (tuple_size != sizeof(tuple->ipv4) && tuple_size != sizeof(tuple->ipv6))
		return NULL;
	if (flags)
		return NULL;
	for (int i = 0; i < shim.nsocks && !s; i++)
		if (tuple_match(&shim.socks[i], tuple, tuple_size))
			s = &shim.socks[i];
	if (!s)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		die("out of memory");
	f->magic = FAKE_MAGIC;
	f->sk.family = s->v6 ? 10 : 2;
	f->sk.type = 1;
	f->sk.protocol = 6;
	f->sk.state = s->state;
	f->tp.rcv_nxt = s->rcv_nxt;
	f->tp.snd_nxt = s->snd_nxt;
	f->tp.snd_una = s->snd_una;
	f->tp.rcv_wup = s->rcv_wup;
	f->tp.rcv_wnd = s->rcv_wnd;
	f->tp.rx_opt.num_sacks = s->num_sacks;
	for (int i = 0; i < 4; i++) {
		f->tp.selective_acks[i].start_seq = s->sack_start[i];
		f->tp.selective_acks[i].end_seq = s->sack_end[i];
	}
	f->tw.tw_sk.tw_substate = s->tw_substate;
	f->tw.tw_sk.__tw_common.skc_tw_rcv_nxt = s->tw_rcv_nxt;
	f->tw.tw_rcv_wnd = s->tw_rcv_wnd;
	f->req.rcv_nxt = s->req_rcv_nxt;
	f->req.req.req.__req_common.skc_rcv_wnd = s->req_rcv_wnd;
	shim.sk_refs++;
	shim.sk_found++;
	return &f->sk;
}

static struct fake_sk *fake_of(void *sk)
{
	struct fake_sk *f = sk;

	if (!f || f->magic != FAKE_MAGIC)
		die("not a socket from bpf_skc_lookup_tcp");
	return f;
}

long bpf_sk_release(void *sock)
{
	struct fake_sk *f = fake_of(sock);

	if (shim.sk_refs <= 0)
		die("bpf_sk_release without a reference");
	shim.sk_refs--;
	f->magic = 0;
	free(f);
	return 0;
}

/* The casts succeed exactly where the kernel's do: full sockets, timewait, request socks. */
struct tcp_sock *bpf_skc_to_tcp_sock(void *sk)
{
	struct fake_sk *f;

	if (!sk)
		return NULL;
	f = fake_of(sk);
	if (f->sk.state == RG_TCP_TIME_WAIT || f->sk.state == RG_TCP_NEW_SYN_RECV)
		return NULL;
	return &f->tp;
}

struct tcp_timewait_sock *bpf_skc_to_tcp_timewait_sock(void *sk)
{
	struct fake_sk *f;

	if (!sk)
		return NULL;
	f = fake_of(sk);
	return f->sk.state == RG_TCP_TIME_WAIT ? &f->tw : NULL;
}

struct tcp_request_sock *bpf_skc_to_tcp_request_sock(void *sk)
{
	struct fake_sk *f;

	if (!sk)
		return NULL;
	f = fake_of(sk);
	return f->sk.state == RG_TCP_NEW_SYN_RECV ? &f->req : NULL;
}

long bpf_fib_lookup(void *ctx, struct bpf_fib_lookup *params, int plen, __u32 flags)
{
	if (ctx != cur_ctx || !params || plen != (int)sizeof(*params))
		die("bpf_fib_lookup: bad arguments");
	shim.fib_calls++;
	return shim.fib_ret;
}
