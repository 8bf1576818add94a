/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The contract between the XDP program and the control plane: map layouts, policy, reasons. */
#ifndef RSTGUARD_H
#define RSTGUARD_H

#include <linux/types.h>
#define _rg_static_assert(c, m) _Static_assert(c, m)

/* Interfaces one pinned instance can serve; each attached interface owns one stats slot. */
#define RG_MAX_IFACES 64
#define RG_DEFAULT_FLOWS 262144
/* Presence filter density: at 16 bits per flow, in 128-bit blocks with four bits per key, a
 * full table answers "present" for about 0.3% of 4-tuples it never saw. */
#define RG_PRESENCE_BITS_PER_FLOW 16
#define RG_PRESENCE_BLOCK_BITS 128
/* Direct-mapped per-CPU cache of recent data-segment ends (host role), see verdict.h. */
#define RG_RECENT_SLOTS 4096
/* Challenge-ACK rate limit slots (challenge.h): one 64-bit word each, shared by every CPU. */
#define RG_CHAL_SLOTS 65536
/* At most one challenge ACK per flow and direction this often, as Linux's tcp_invalid_ratelimit. */
#define RG_CHALLENGE_MS_DEFAULT 500

/* Load-time role of one attached program instance (.rodata). */
enum rg_role {
	RG_ROLE_HOST = 1,    /* judge against local sockets only */
	RG_ROLE_GATEWAY = 2, /* judge against the shared flow table only */
	RG_ROLE_BOTH = 3,    /* local destinations by socket, forwarded ones by flow table */
	RG_ROLE_MAX
};

/* Why a packet got its verdict. The names (rg_reason_names) are stable metric labels. */
enum rg_reason {
	RG_R_VALID = 0,         /* exact RST: passed */
	RG_R_OUT_OF_WINDOW,     /* RST outside the receive window */
	RG_R_INEXACT,           /* RST inside the window but not at RCV.NXT (policy inexact) */
	RG_R_NO_FLOW,           /* no socket, listener only, or no tracked flow (policy unknown) */
	RG_R_ONE_WAY,           /* tracked flow seen in one direction only (policy unknown) */
	RG_R_UNVERIFIED,        /* one-sided flow state contradicted by segments the gateway cannot
				 * tell from forgeries: passed, the endpoint judges */
	RG_R_UNTRACKED,         /* no entry, but the 4-tuple was tracked before (evicted under
				 * table pressure, or expired): passed, the endpoint judges */
	RG_R_LEARNING,          /* no entry during the learning period after the flow table was
				 * created (flows older than rstguard): passed, the endpoint judges */
	RG_R_SYN_SENT_BAD_ACK,  /* RST to SYN-SENT without ACK or with the wrong ACK */
	RG_R_TIMEWAIT,          /* exact RST hitting TIME-WAIT (policy timewait) */
	RG_R_BAD_FLAGS,         /* RST with SYN or FIN */
	RG_R_EXEMPT,            /* RST to or from an exempt prefix: never filtered */
	RG_R_UNPROTECTED,       /* RST outside the protected ports/prefixes: not filtered */
	RG_R_SHORT_FRAGMENT,    /* first fragment too short to show the TCP flags (policy unparsed) */
	RG_R_DEEP_CHAIN,        /* VLAN tags or IPv6 extension headers beyond what the parser
				 * follows (policy unparsed) */
	RG_R_FRAGMENT,          /* non-first fragment: passed, useless without its first */
	RG_R_NON_RST,           /* TCP segment without RST: passed */
	RG_R_MALFORMED,         /* truncated or inconsistent IP/TCP: passed for the stack to judge */
	RG_R_FLOW_CREATED,      /* event: a flow entry was created */
	RG_R_FLOW_INSERT_FAIL,  /* event: a flow entry could not be created */
	/* Events of policy inexact=challenge, each for one inexact RST it dropped: */
	RG_R_CHALLENGE_SENT,    /* answered with a challenge ACK (XDP_TX) */
	RG_R_CHALLENGE_LIMITED, /* no ACK: that flow direction had one within the interval */
	RG_R_CHALLENGE_FALLBACK,/* no ACK: XDP_TX cannot send here (L3 device, frame not resizable) */
	RG_R_CHALLENGE_UNROUTED,/* no ACK: the route back to the RST's source is unknown, or its
				 * next hop is not the neighbour or interface the RST came from */
	RG_R_MAX
};

/* What happened to the packets counted under a reason. */
enum rg_action {
	RG_ACT_PASS = 0,
	RG_ACT_DROP,    /* dropped (enforce mode) */
	RG_ACT_MONITOR, /* would have been dropped; passed because mode=monitor */
	RG_ACT_MAX
};

/* One PERCPU_ARRAY element, indexed by slot * RG_R_MAX + reason. */
struct rg_counter {
	__u64 packets[RG_ACT_MAX];
	__u64 bytes[RG_ACT_MAX];
};
_rg_static_assert(sizeof(struct rg_counter) == 48, "rg_counter layout");

/* Policy bits. All verdict-relevant knobs live in one 32-bit word that the program reads with a
 * single load, so a policy change can never be seen half-applied. */
enum rg_policy_bits {
	RG_P_MONITOR = 1u << 0,         /* mode=monitor (else enforce) */
	RG_P_INEXACT_PASS = 1u << 1,    /* inexact=pass (else drop) */
	RG_P_UNKNOWN_PASS = 1u << 2,    /* unknown=pass (else drop) */
	RG_P_TIMEWAIT_DROP = 1u << 3,   /* timewait=drop, RFC 1337 (else accept) */
	RG_P_UNPARSED_PASS = 1u << 4,   /* unparsed=pass (else drop) */
	RG_P_INEXACT_CHALLENGE = 1u << 5, /* inexact=challenge: drop, answer with a challenge ACK
					   * (RG_P_INEXACT_PASS wins if both are set) */
	RG_P_HAVE_PORTS = 1u << 8,      /* protected port set is not empty */
	RG_P_HAVE_PREFIXES = 1u << 9,   /* protected prefix set is not empty */
	RG_P_HAVE_EXEMPT = 1u << 10,    /* exempt prefix set is not empty */
};

/* Derived state of a tracked flow; each has its own timeout. */
enum rg_flow_state {
	RG_ST_NONE = 0,
	RG_ST_SYN_SENT,
	RG_ST_SYN_RECV,
	RG_ST_ESTABLISHED,
	RG_ST_ONE_WAY,     /* picked up mid-stream, one direction seen so far */
	RG_ST_FIN_WAIT,    /* at least one FIN seen */
	RG_ST_TIME_WAIT,   /* both FINs seen and acknowledged */
	RG_ST_CLOSED,      /* an accepted RST was seen */
	RG_ST_MAX
};

/* The single element of the policy ARRAY map. */
struct rg_policy {
	__u32 bits;                       /* enum rg_policy_bits */
	__u32 generation;                 /* bumped by every change, for operators */
	__u32 timeout[RG_ST_MAX];         /* seconds per flow state */
	__u32 learning;                   /* seconds after `born` in which RSTs of flows never
					   * seen pass as learning (gateway); 0: none */
	__u32 born;                       /* rstguard clock (CLOCK_MONOTONIC seconds) when the
					   * flow tables were created; not a knob */
	__u32 challenge_ms;               /* inexact=challenge: at most one challenge ACK per flow
					   * and direction this often, ms (0: the default) */
};
_rg_static_assert(sizeof(struct rg_policy) == 52, "rg_policy layout");

/* Long enough to see the keepalives of sessions that predate the filter (BGP's default
 * keepalive is 60 s, its hold time 180 s); the learning key changes it. */
#define RG_LEARNING_DEFAULT 120

/* Protected/exempt prefixes: one LPM trie for both families, IPv4 as ::ffff:a.b.c.d (prefix + 96). */
struct rg_prefix_key {
	__u32 prefixlen;
	__u8 addr[16];
};
_rg_static_assert(sizeof(struct rg_prefix_key) == 20, "rg_prefix_key layout");

/* Protected ports: a 65536-bit bitmap in an ARRAY of 1024 __u64 words. */
#define RG_PORT_WORDS 1024

/* Flow table keys: the endpoint that sorts lower (address, then port) comes first, so both
 * directions of one connection find the same entry; direction 0 is lower -> upper. */
struct rg_flow_key4 {
	__u32 addr[2];  /* network byte order */
	__u16 port[2];  /* network byte order */
};
_rg_static_assert(sizeof(struct rg_flow_key4) == 12, "rg_flow_key4 layout");

struct rg_flow_key6 {
	__u32 addr[2][4];
	__u16 port[2];
};
_rg_static_assert(sizeof(struct rg_flow_key6) == 36, "rg_flow_key6 layout");

/* Per-direction bookkeeping, host byte order sequence numbers. */
struct rg_dir {
	__u32 isn;      /* initial sequence number (0 if picked up mid-stream) */
	__u32 seq_end;  /* highest sequence end sent (SYN and FIN count one) */
	__u32 ack;      /* highest ACK sent: this side's RCV.NXT when it last spoke */
	__u32 max_win;  /* largest window advertised, already scaled */
};

/* dflags: low nibble flags, high nibble window shift (15 = no window-scale option) */
#define RG_D_SYN 0x1   /* sent a SYN */
#define RG_D_ACK 0x2   /* sent a segment with ACK: .ack is valid */
#define RG_D_FIN 0x4   /* sent a FIN */
#define RG_D_RST 0x8   /* sent an accepted RST */
#define RG_D_WS_NONE 15
#define RG_F_MIDSTREAM 0x1 /* picked up without a handshake: window scale unknown */
#define RG_F_WS_UNKNOWN 0x2 /* the SYNs' options were not kept (re-open) or not known */
#define RG_F_CONTESTED 0x4  /* while one-sided, segments contradicted each other (see flow.h) */
#define RG_F_RESTARTED 0x8  /* restarted by a contest: a FIN may have been lost (see flow.h) */
#define RG_PEND_DIR0 0x1   /* d[0].isn holds a SYN seen on a live flow */
#define RG_PEND_DIR1 0x2   /* d[1].isn holds a SYN seen on a live flow */
#define RG_PEND_SYNACK 0x4 /* the other side answered with a SYN-ACK (its isn): uncertain */

/* 40 bytes keeps an IPv4 flow under 128 bytes of map memory with the LRU hash overhead. */
struct rg_flow {
	struct rg_dir d[2];
	__u32 last_seen;  /* seconds, rstguard clock */
	__u8 dflags[2];   /* written only by packets of that direction */
	__u8 fflags;      /* RG_F_*, written at creation, re-open and contests */
	__u8 pending;     /* RG_PEND_*: a new handshake seen on this live 4-tuple (flow.h) */
};
_rg_static_assert(sizeof(struct rg_flow) == 40, "rg_flow layout");

/* One element of the presence filter: a key's bits all fall in one block, one cache line. The
 * size is part of the layout check, which keeps a filter written by an older hash (64-bit
 * blocks) from being read with this one after an upgrade. */
struct rg_presence_blk {
	__u64 w[2];
};
_rg_static_assert(sizeof(struct rg_presence_blk) * 8 == RG_PRESENCE_BLOCK_BITS, "presence block");

/* One element of the per-CPU recent-data cache. */
struct rg_recent {
	__u32 tag;      /* hash of the 4-tuple */
	__u32 seq_end;  /* end of the last data segment seen for it */
};

/* Describes one stats slot, written by the control plane at attach; read-only for the program. */
struct rg_iface {
	__u32 ifindex;
	__u32 role;        /* enum rg_role */
	__u32 xdp_mode;    /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
	__u32 prog_id;
	__u64 attached_ns; /* CLOCK_REALTIME at attach */
	char name[16];
	__u32 l3;          /* device has no Ethernet header */
	__u32 pad;
};
_rg_static_assert(sizeof(struct rg_iface) == 48, "rg_iface layout");

/* Default per-state timeouts, seconds (as nf_conntrack's, where it has one); a 0 in the policy
 * map means this default. */
#define RG_TIMEOUTS_DEFAULT { 0, 120, 60, 432000, 120, 120, 120, 10 }

#ifndef __bpf__
/* Names beside their enums; tests check that none is missing. */
static const char *const rg_reason_names[RG_R_MAX] __attribute__((unused)) = {
	[RG_R_VALID] = "valid",
	[RG_R_OUT_OF_WINDOW] = "out_of_window",
	[RG_R_INEXACT] = "inexact",
	[RG_R_NO_FLOW] = "no_flow",
	[RG_R_ONE_WAY] = "one_way",
	[RG_R_UNVERIFIED] = "unverified",
	[RG_R_UNTRACKED] = "untracked",
	[RG_R_LEARNING] = "learning",
	[RG_R_SYN_SENT_BAD_ACK] = "syn_sent_bad_ack",
	[RG_R_TIMEWAIT] = "timewait",
	[RG_R_BAD_FLAGS] = "bad_flags",
	[RG_R_EXEMPT] = "exempt",
	[RG_R_UNPROTECTED] = "unprotected",
	[RG_R_SHORT_FRAGMENT] = "short_fragment",
	[RG_R_DEEP_CHAIN] = "deep_chain",
	[RG_R_FRAGMENT] = "fragment",
	[RG_R_NON_RST] = "non_rst_tcp",
	[RG_R_MALFORMED] = "malformed",
	[RG_R_FLOW_CREATED] = "flow_created",
	[RG_R_FLOW_INSERT_FAIL] = "flow_insert_fail",
	[RG_R_CHALLENGE_SENT] = "challenge_sent",
	[RG_R_CHALLENGE_LIMITED] = "challenge_limited",
	[RG_R_CHALLENGE_FALLBACK] = "challenge_fallback",
	[RG_R_CHALLENGE_UNROUTED] = "challenge_unrouted",
};
static const char *const rg_action_names[RG_ACT_MAX] __attribute__((unused)) = {
	[RG_ACT_PASS] = "pass",
	[RG_ACT_DROP] = "drop",
	[RG_ACT_MONITOR] = "would_drop",
};
static const char *const rg_state_names[RG_ST_MAX] __attribute__((unused)) = {
	[RG_ST_NONE] = "none",
	[RG_ST_SYN_SENT] = "syn_sent",
	[RG_ST_SYN_RECV] = "syn_recv",
	[RG_ST_ESTABLISHED] = "established",
	[RG_ST_ONE_WAY] = "one_way",
	[RG_ST_FIN_WAIT] = "fin_wait",
	[RG_ST_TIME_WAIT] = "time_wait",
	[RG_ST_CLOSED] = "closed",
};
static const char *const rg_role_names[RG_ROLE_MAX] __attribute__((unused)) = {
	[RG_ROLE_HOST] = "host",
	[RG_ROLE_GATEWAY] = "gateway",
	[RG_ROLE_BOTH] = "both",
};
#endif


/* --- capture and sequence-distance histogram (bpf/capture.h, user/capture.c) ------------------ */

/* log2 buckets of an RST's distance in bytes from the reference it was judged against: bucket 0
 * holds distance 0, bucket k (1..32) distances in (2^(k-2), 2^(k-1)], so its upper bound is
 * 2^(k-1). Sequence space is modular: no distance exceeds 2^31. */
#define RG_DIST_BUCKETS 33
/* No reference: the RST was not judged against a sequence number (no socket, SYN-SENT, ...). */
#define RG_DIST_NONE 0xffffffffu

/* One PERCPU_ARRAY element, indexed by slot * RG_DIST_BUCKETS + bucket. */
struct rg_dist {
	__u64 count;
	__u64 sum;      /* of the distances counted here, bytes */
};
_rg_static_assert(sizeof(struct rg_dist) == 16, "rg_dist layout");

/* Bytes of each captured frame copied into its record. */
#define RG_CAP_SNAPLEN 256
/* Records buffered between the program and the capturing process (a power of two of pages). */
#define RG_CAP_RING_BYTES (1u << 20)
/* Default sampling: every packet while a CPU takes fewer than BURST a second, then one in
 * SAMPLE. At 10 Mpps that is about 10,000 records a second; at attack rates a person can read,
 * everything. */
#define RG_CAP_BURST_DEFAULT 200
#define RG_CAP_SAMPLE_DEFAULT 1000

/* The single element of rg_capcfg, written by 'rstguard capture' only. With active 0 the program
 * reads nothing else: a dropped packet then pays one load and one branch. */
struct rg_cap_cfg {
	__u32 active;
	__u32 sample;   /* after the burst, one packet in `sample` (1: all) */
	__u32 burst;    /* packets per second and CPU taken before sampling starts */
	__u32 pid;      /* the capturing process, so a second capture can tell it is running */
	__u64 reasons;  /* bit per enum rg_reason to take; 0: every reason */
	__u64 slots;    /* bit per interface slot to take; 0: every slot */
	__u64 until_ns; /* CLOCK_MONOTONIC; the capture renews it every second. Past it nothing more
			 * is taken, so a capture killed without cleaning up stops costing */
};
_rg_static_assert(sizeof(struct rg_cap_cfg) == 40, "rg_cap_cfg layout");

/* The single element of the per-CPU rg_capstat: sampling state and what happened, per CPU. */
struct rg_cap_stat {
	__u64 win_ns;   /* start of the current one-second window (coarse clock) */
	__u32 taken;    /* packets taken in that window */
	__u32 skipped;  /* packets passed over since the last one taken after the burst */
	__u64 matched;  /* packets the filters matched */
	__u64 records;  /* records written to the ring buffer */
	__u64 lost;     /* records the ring buffer had no room for */
};
_rg_static_assert(sizeof(struct rg_cap_stat) == 40, "rg_cap_stat layout");

/* One ring buffer record: a dropped or would-drop packet and its verdict. */
struct rg_cap_rec {
	__u64 ts_ns;     /* CLOCK_MONOTONIC */
	__u32 ifindex;   /* ingress device */
	__u32 len;       /* frame length */
	__u32 dist;      /* sequence distance from the reference, or RG_DIST_NONE */
	__u16 caplen;    /* bytes of the frame in data */
	__u8 slot;       /* interface slot of the program that judged it */
	__u8 reason;     /* enum rg_reason */
	__u8 action;     /* enum rg_action: drop or would_drop */
	__u8 l3;         /* the frame starts at the IP header (no Ethernet) */
	__u8 pad[6];
	__u8 data[RG_CAP_SNAPLEN];
};
_rg_static_assert(sizeof(struct rg_cap_rec) == 32 + RG_CAP_SNAPLEN, "rg_cap_rec layout");

#endif
