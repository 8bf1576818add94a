/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The fake kernel behind the plain-C build of bpf/: maps, clock, sockets, FIB answer, packet. */
#ifndef RG_FUZZ_SHIM_H
#define RG_FUZZ_SHIM_H

#include <linux/types.h>
#include <stddef.h>

/* One seeded socket. Addresses and ports in network order, as the program's lookup tuple has
 * them: saddr/sport is the remote end (the packet's source), daddr/dport the local one. */
struct shim_sock {
	int wildcard;           /* matches every lookup (single-frame fuzzing) */
	int v6;
	__u32 saddr[4], daddr[4];
	__u16 sport, dport;
	__u8 state;             /* kernel TCP state, 1..12 (include/net/tcp_states.h) */
	__u32 rcv_nxt, snd_nxt, snd_una, rcv_wup, rcv_wnd;
	__u8 num_sacks;
	__u32 sack_start[4], sack_end[4];
	__u8 tw_substate;       /* timewait socket: TIME_WAIT (6) or FIN_WAIT2 (5) */
	__u32 tw_rcv_nxt, tw_rcv_wnd;
	__u32 req_rcv_nxt, req_rcv_wnd;
};

#define SHIM_MAX_SOCKS 4

struct shim_state {
	__u64 now_ns;           /* bpf_ktime_get_coarse_ns() */
	long fib_ret;           /* what bpf_fib_lookup() answers */
	int fail_updates;       /* hash-map updates left to fail with -ENOMEM (fault injection) */
	int ip_align;           /* NET_IP_ALIGN: 2 with an Ethernet header, so IP sits 4-aligned */
	struct shim_sock socks[SHIM_MAX_SOCKS];
	int nsocks;
	/* Per packet, reset by shim_packet_begin(). */
	int sk_refs;            /* lookups not yet released */
	int sk_found;           /* lookups that returned a socket */
	int fib_calls;
};
extern struct shim_state shim;

/* Map registry: dp.c registers every map of the program with the sizes its definition says. */
void shim_map_register(void *def, const char *name, __u32 type, __u32 key_size, __u32 value_size,
		       __u32 max_entries);
void shim_map_set_capacity(void *def, __u32 max_entries);
/* Drops every element of every map (and all sockets); the next run starts from nothing. */
void shim_reset(void);
/* Iterates a map's elements: returns the number visited. */
int shim_map_foreach(void *def, void (*fn)(const void *key, void *value, void *arg), void *arg);

/* Places the frame in a buffer below 4 GiB (xdp_md has 32-bit data pointers) whose every byte
 * outside [data, data_end) is poisoned for AddressSanitizer; returns the context to pass. */
struct xdp_md *shim_packet_begin(const void *frame, size_t len, __u32 ingress_ifindex);
/* Ends a run: aborts if a socket reference leaked; frees what eviction deferred (RCU). */
void shim_packet_end(void);

#endif
