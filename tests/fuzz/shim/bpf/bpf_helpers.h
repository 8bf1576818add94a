/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Stands in for libbpf's bpf_helpers.h when bpf/ is compiled as plain C: same macros, helpers
 * as ordinary functions implemented in tests/fuzz/shim.c. */
#ifndef RG_SHIM_BPF_HELPERS_H
#define RG_SHIM_BPF_HELPERS_H

#include <linux/types.h>
#include <stddef.h> /* NULL, as libbpf's header provides it */

/* BTF-style map definitions become plain structs of typed pointers: the pointee types carry
 * type, key, value and size, which dp.c reads back with sizeof to register each map. */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]

/* Sections mean nothing to the host build; "used" keeps LICENSE and friends from warnings. */
#define SEC(name) __attribute__((used))

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif

struct bpf_sock;
struct bpf_sock_tuple;
struct bpf_fib_lookup;
struct tcp_sock;
struct tcp_timewait_sock;
struct tcp_request_sock;
struct xdp_md;

/* Helper names the data plane calls, renamed so they never collide with libbpf's user-space API
 * of the same names (bpf_map_lookup_elem(fd, ...)), which the replay runner links too. */
#define bpf_map_lookup_elem shim_map_lookup_elem
#define bpf_map_update_elem shim_map_update_elem
#define bpf_map_delete_elem shim_map_delete_elem

void *bpf_map_lookup_elem(void *map, const void *key);
long bpf_map_update_elem(void *map, const void *key, const void *value, __u64 flags);
long bpf_map_delete_elem(void *map, const void *key);
__u64 bpf_ktime_get_coarse_ns(void);
__u64 bpf_ktime_get_ns(void);
long bpf_xdp_load_bytes(struct xdp_md *ctx, __u32 offset, void *buf, __u32 len);
long bpf_xdp_store_bytes(struct xdp_md *ctx, __u32 offset, void *buf, __u32 len);
long bpf_xdp_adjust_tail(struct xdp_md *ctx, int delta);
__u32 bpf_get_prandom_u32(void);
long bpf_loop(__u32 nr_loops, void *callback_fn, void *callback_ctx, __u64 flags);
struct bpf_sock *bpf_skc_lookup_tcp(void *ctx, struct bpf_sock_tuple *tuple, __u32 tuple_size,
				    __u64 netns, __u64 flags);
long bpf_sk_release(void *sock);
struct tcp_sock *bpf_skc_to_tcp_sock(void *sk);
struct tcp_timewait_sock *bpf_skc_to_tcp_timewait_sock(void *sk);
struct tcp_request_sock *bpf_skc_to_tcp_request_sock(void *sk);
long bpf_fib_lookup(void *ctx, struct bpf_fib_lookup *params, int plen, __u32 flags);
void *bpf_ringbuf_reserve(void *ringbuf, __u64 size, __u64 flags);
void bpf_ringbuf_submit(void *data, __u64 flags);
__u64 bpf_ringbuf_query(void *ringbuf, __u64 flags);
void bpf_ringbuf_discard(void *data, __u64 flags);

#endif
