/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The few kernel socket fields the host role reads, relocated by CO-RE against the running
 * kernel's BTF, so no vmlinux.h is needed and no offset is hard-coded. */
#ifndef RG_KERNEL_SOCK_H
#define RG_KERNEL_SOCK_H

#include <linux/types.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#define RG_CORE __attribute__((preserve_access_index))

struct tcp_sack_block {
	__u32 start_seq;
	__u32 end_seq;
} RG_CORE;

struct tcp_options_received {
	__u8 num_sacks;
} RG_CORE;

struct tcp_sock {
	__u32 rcv_nxt;
	__u32 snd_nxt;
	__u32 snd_una;
	__u32 rcv_wup;
	__u32 rcv_wnd;
	struct tcp_options_received rx_opt;
	struct tcp_sack_block selective_acks[4];
} RG_CORE;

/* Since 6.x the timewait rcv_nxt and the request window live in sock_common unions; older
 * kernels kept them in their own structs (the ___old flavours, picked with field_exists). */
struct sock_common {
	__u32 skc_rcv_wnd;
	__u32 skc_tw_rcv_nxt;
} RG_CORE;

struct inet_timewait_sock {
	struct sock_common __tw_common;
	volatile unsigned char tw_substate;
} RG_CORE;

struct tcp_timewait_sock {
	struct inet_timewait_sock tw_sk;
	__u32 tw_rcv_wnd;
} RG_CORE;

struct tcp_timewait_sock___old {
	__u32 tw_rcv_nxt;
} RG_CORE;

struct request_sock {
	struct sock_common __req_common;
} RG_CORE;

struct request_sock___old {
	__u32 rsk_rcv_wnd;
} RG_CORE;

struct inet_request_sock {
	struct request_sock req;
} RG_CORE;

struct tcp_request_sock {
	struct inet_request_sock req;
	__u32 rcv_nxt;
} RG_CORE;

/* include/net/tcp_states.h */
enum {
	RG_TCP_ESTABLISHED = 1,
	RG_TCP_SYN_SENT,
	RG_TCP_SYN_RECV,
	RG_TCP_FIN_WAIT1,
	RG_TCP_FIN_WAIT2,
	RG_TCP_TIME_WAIT,
	RG_TCP_CLOSE,
	RG_TCP_CLOSE_WAIT,
	RG_TCP_LAST_ACK,
	RG_TCP_LISTEN,
	RG_TCP_CLOSING,
	RG_TCP_NEW_SYN_RECV,
};

/*
 * The receiving device, read live from the kernel for the host view (verdict.h, host_view).
 * The XDP context is a struct xdp_buff in every mode (native, generic, BPF_PROG_TEST_RUN); its
 * rxq->dev is the device the frame arrived on. The reads go through bpf_probe_read_kernel (a
 * privileged program may hand the context's address to it), so the object still loads on kernels
 * without kfuncs, and every offset is relocated against the running kernel's BTF.
 */
struct list_head {
	struct list_head *next;
} RG_CORE;

struct net_device;

/* net/core/dev.c: one entry of a device's list of upper devices. */
struct netdev_adjacent {
	struct net_device *dev;
	_Bool master;
	struct list_head list;
} RG_CORE;

struct net_device {
	struct {
		struct list_head upper;
	} adj_list;
	const unsigned char *dev_addr;
} RG_CORE;

struct xdp_rxq_info {
	struct net_device *dev;
} RG_CORE;

struct xdp_buff {
	struct xdp_rxq_info *rxq;
} RG_CORE;

/* Upper devices compared before giving up (then the answer is "an upper may take it"). */
#define RG_UPPERS_MAX 16

enum rg_dev_answer {
	RG_DEV_OWN = 0,   /* only the device's own stack receives this frame */
	RG_DEV_UPPER,     /* an upper device (or another host) may receive it, or we cannot tell */
};

#ifdef __bpf__
/* A device's link-layer address as a number, in the byte order dst_mac() uses; ~0 (no 48-bit
 * address) when it cannot be read. */
static __always_inline __u64 dev_mac(struct net_device *dev)
{
	const unsigned char *a = BPF_CORE_READ(dev, dev_addr);
	__u64 m = 0;

	if (!a || bpf_probe_read_kernel(&m, 6, a))
		return ~0ull;
	return m;
}

/*
 * Does the device the frame came in on hand a frame sent to link address dmac to its own stack
 * alone? Without upper devices it does: a frame for another address it receives (promiscuous
 * mode) is one its stack discards, so no socket acts on it either. With uppers, not when an
 * upper may take it: a master (bridge, bond, team, VRF, Open vSwitch) takes every frame of its
 * port; any other upper (macvlan, macvtap, ipvlan, VLAN, macsec) takes the frames sent to its own
 * address, which for ipvlan, VLAN and passthru macvlan is the lower device's own; and a frame for
 * an address that is not the device's own may be an upper's. On an L3 device (l3) there is no
 * address to compare: any upper at all makes the answer RG_DEV_UPPER. The upper list is read
 * live, so uppers created after attach count at once. The common case, no upper, costs three
 * reads.
 */
__noinline int rg_dev_view(struct xdp_md *ctx, __u64 dmac, int l3)
{
	struct xdp_buff *xb = (void *)ctx;
	struct list_head *head, *pos;
	struct net_device *dev;

	if (!ctx)
		return RG_DEV_UPPER;
	dev = BPF_CORE_READ(xb, rxq, dev);
	if (!dev)
		return RG_DEV_UPPER;
	head = &dev->adj_list.upper;
	pos = BPF_CORE_READ(dev, adj_list.upper.next);
	if (pos == head)
		return RG_DEV_OWN;
	if (l3 || dev_mac(dev) != dmac)
		return RG_DEV_UPPER;
	for (int i = 0; i < RG_UPPERS_MAX; i++) {
		struct netdev_adjacent *adj;

		if (pos == head)
			return RG_DEV_OWN;
		if (!pos)
			return RG_DEV_UPPER;
		adj = (void *)pos - bpf_core_field_offset(struct netdev_adjacent, list);
		if (BPF_CORE_READ(adj, master) || dev_mac(BPF_CORE_READ(adj, dev)) == dmac)
			return RG_DEV_UPPER;
		pos = BPF_CORE_READ(adj, list.next);
	}
	return RG_DEV_UPPER;
}
#else
/* The plain-C build (tests/fuzz) models a device without upper devices. */
static inline int rg_dev_view(struct xdp_md *ctx, __u64 dmac, int l3)
{
	return RG_DEV_OWN;
}
#endif

static __always_inline __u32 tw_rcv_nxt(struct tcp_timewait_sock *tw)
{
	struct tcp_timewait_sock___old *old = (void *)tw;

	if (bpf_core_field_exists(old->tw_rcv_nxt))
		return old->tw_rcv_nxt;
	return tw->tw_sk.__tw_common.skc_tw_rcv_nxt;
}

static __always_inline __u32 req_rcv_wnd(struct tcp_request_sock *req)
{
	struct request_sock___old *old = (void *)req;

	if (bpf_core_field_exists(old->rsk_rcv_wnd))
		return old->rsk_rcv_wnd;
	return req->req.req.__req_common.skc_rcv_wnd;
}

#endif
