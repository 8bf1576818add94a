/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Every map of the program, in one place. Names stay under 15 characters (kernel object names). */
#ifndef RG_MAPS_H
#define RG_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "rstguard.h"
#include "map_names.h"

/* Shared by every attached interface: the control plane pins these and reuses them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RG_MAX_IFACES * RG_R_MAX);
	__type(key, __u32);
	__type(value, struct rg_counter);
} rg_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rg_policy);
} rg_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RG_PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} rg_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rg_prefix_key);
	__type(value, __u8);
} rg_protect SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rg_prefix_key);
	__type(value, __u8);
} rg_exempt SEC(".maps");

/* Sized by the control plane (--flows) before load. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RG_DEFAULT_FLOWS);
	__type(key, struct rg_flow_key4);
	__type(value, struct rg_flow);
} rg_flows4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RG_DEFAULT_FLOWS);
	__type(key, struct rg_flow_key6);
	__type(value, struct rg_flow);
} rg_flows6 SEC(".maps");

/* Bits per hash of a canonical flow key, set when the flow is created, never cleared: an RST
 * whose bits are not all set has no flow, known without touching the (cache-cold) flow table.
 * Sized by the control plane with the table: RG_PRESENCE_BITS_PER_FLOW bits per flow in blocks
 * of RG_PRESENCE_BLOCK_BITS, a power of two of them. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RG_DEFAULT_FLOWS * RG_PRESENCE_BITS_PER_FLOW / RG_PRESENCE_BLOCK_BITS);
	__type(key, __u32);
	__type(value, struct rg_presence_blk);
} rg_presence SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RG_RECENT_SLOTS);
	__type(key, __u32);
	__type(value, struct rg_recent);
} rg_recent SEC(".maps");

/* Challenge-ACK rate limit (challenge.h): per slot, the tag of the flow direction challenged
 * there last and when. Slots are picked by a keyed hash of the 4-tuple and direction; one map
 * shared by every CPU, so a flow's limit holds whichever CPU its RSTs arrive on. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RG_CHAL_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} rg_chal SEC(".maps");

/* The secret key of that hash, drawn by the program the first time it needs one. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rg_chal_key SEC(".maps");

/* Slot descriptions for the control plane; the program never reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RG_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct rg_iface);
} rg_ifaces SEC(".maps");

/* Sequence distances of judged RSTs, log2 buckets per interface slot (capture.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RG_MAX_IFACES * RG_DIST_BUCKETS);
	__type(key, __u32);
	__type(value, struct rg_dist);
} rg_dist SEC(".maps");

/* 'rstguard capture': its settings, the per-CPU sampling state, and the records (capture.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rg_cap_cfg);
} rg_capcfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rg_cap_stat);
} rg_capstat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RG_CAP_RING_BYTES);
} rg_capring SEC(".maps");

/* Every map the control plane pins by name is declared above under that name. */
#define RG_MAP_DECLARED(id, name, set) _Static_assert(sizeof(name) > 0, #name " is declared");
RG_PINNED_MAPS(RG_MAP_DECLARED)
#undef RG_MAP_DECLARED

#endif
