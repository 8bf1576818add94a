/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The few kernel socket fields the host role reads, relocated by CO-RE against the running
 * kernel's BTF, so no vmlinux.h is needed and no offset is hard-coded. */
#ifndef RG_KERNEL_SOCK_H
#define RG_KERNEL_SOCK_H

#include <linux/types.h>
#include <bpf/bpf_core_read.h>

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
