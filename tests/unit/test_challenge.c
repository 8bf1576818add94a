// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Policy inexact=challenge in the gateway role: the challenge ACK the program sends back with
 * XDP_TX, checked byte by byte (checksums by the test's own arithmetic), and its rate limit per
 * flow and direction with the program's clock moved. Runs in a network namespace of its own
 * whose routes and neighbours say where each endpoint lives, as a router's would. */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rstguard.skel.h"

/* The router: interface A faces the clients, B the servers. */
static const uint8_t MAC_A[6] = { 0x02, 0, 0, 0, 0xa0, 0 };
static const uint8_t MAC_B[6] = { 0x02, 0, 0, 0, 0xb0, 0 };
static const uint8_t MAC_CLI[6] = { 0x02, 0, 0, 0, 0x01, 0x10 };
static const uint8_t MAC_SRV[6] = { 0x02, 0, 0, 0, 0x01, 0x20 };
static const uint8_t MAC_ATK[6] = { 0x02, 0, 0, 0, 0x66, 0x66 };
static int if_a, if_b;

enum { CLI = 0, SRV = 1 };

/* Addresses of one family. cli sits behind A, srv behind B, both with a neighbour entry;
 * mute is behind B too but has none. */
struct fam {
	int v6;
	const char *name;
	const char *cli, *srv, *mute;
};

static const struct fam fams[2] = {
	{ 0, "v4", "198.18.1.10", "198.19.1.20", "198.19.1.30" },
	{ 1, "v6", "fd00:1::10", "fd00:2::20", "fd00:2::30" },
};

/* Framings: each runs the whole frame check. */
struct framing {
	const char *name;
	int vlans, ipopts, dstopts;
	uint32_t payload;  /* bytes of data the RST carries (the challenge carries none) */
	int frag16;        /* an IPv4 first fragment with only 16 TCP bytes: the frame must grow */
};

static const struct framing framings[] = {
	{ "plain", 0, 0, 0, 0, 0 },
	{ "vlan", .vlans = 1 },
	{ "qinq", .vlans = 2 },
	{ "ip-options", .ipopts = 8 },
	{ "dest-opts", .dstopts = 1 },
	{ "rst-with-data", .vlans = 1, .payload = 37 },
	{ "short-first-fragment", .frag16 = 1 },
};
#define NFRAMINGS (int)(sizeof(framings) / sizeof(framings[0]))

/* ---- namespace ----------------------------------------------------------------------------- */

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	rc = system(cmd);
	if (rc != 0)
		printf("# command failed (%d): %s\n", rc, cmd);
	return rc;
}

static const char *mac_str(const uint8_t *m)
{
	static char b[4][18];
	static int i;

	i = (i + 1) % 4;
	snprintf(b[i], sizeof(b[i]), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
		 m[5]);
	return b[i];
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

/* A router in a fresh namespace (it dies with the process): two veths standing for its
 * interfaces, forwarding on, permanent neighbours for the endpoints. */
static int setup_ns(void)
{
	if (unshare(CLONE_NEWNET)) {
		printf("SKIP: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 77;
	}
	if (system("ip -V >/dev/null 2>&1")) {
		printf("SKIP: ip(8) from iproute2 is missing\n");
		return 77;
	}
	if (sh("ip link add rgca address %s type veth peer name rgca1", mac_str(MAC_A)) ||
	    sh("ip link add rgcb address %s type veth peer name rgcb1", mac_str(MAC_B))) {
		printf("SKIP: cannot create veth pairs\n");
		return 77;
	}
	if (write_file("/proc/sys/net/ipv4/conf/all/forwarding", "1") ||
	    write_file("/proc/sys/net/ipv6/conf/all/forwarding", "1"))
		return 1;
	if (sh("ip link set lo up") || sh("ip link set rgca up") || sh("ip link set rgca1 up") ||
	    sh("ip link set rgcb up") || sh("ip link set rgcb1 up") ||
	    sh("ip addr add 198.18.1.1/24 dev rgca") || sh("ip addr add 198.19.1.1/24 dev rgcb") ||
	    sh("ip -6 addr add fd00:1::1/64 dev rgca nodad") ||
	    sh("ip -6 addr add fd00:2::1/64 dev rgcb nodad"))
		return 1;
	for (int v = 0; v < 2; v++)
		if (sh("ip neigh replace %s lladdr %s dev rgca nud permanent", fams[v].cli,
		       mac_str(MAC_CLI)) ||
		    sh("ip neigh replace %s lladdr %s dev rgcb nud permanent", fams[v].srv,
		       mac_str(MAC_SRV)))
			return 1;
	if_a = (int)if_nametoindex("rgca");
	if_b = (int)if_nametoindex("rgcb");
	return if_a > 0 && if_b > 0 ? 0 : 1;
}

/* ---- the test's own checksum arithmetic (RFC 1071, big-endian words) ----------------------- */

static uint32_t sum_be(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

/* A header whose checksum is right sums to 0xffff with it included. */
static int sum_ok(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- running frames ------------------------------------------------------------------------ */

/* One frame through the program as if it arrived on ifindex; the frame as it leaves (rewritten
 * for XDP_TX) goes to out. Returns the XDP action or -1. */
static int run(struct rg_env *e, const uint8_t *in, size_t len, int ifindex, uint8_t *out,
	       uint32_t *olen)
{
	struct xdp_md ctx = { .data_end = (uint32_t)len, .ingress_ifindex = (uint32_t)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = 4096, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(e->prog_fd, &o))
		return -1;
	*olen = o.data_size_out;
	return (int)o.retval;
}

/* Bytes counted under a reason in all actions, over CPUs. */
static uint64_t reason_bytes(struct rg_env *e, int reason)
{
	struct rg_counter v[512];
	uint32_t k = (uint32_t)reason;
	uint64_t n = 0;

	if (e->ncpu > 512 || bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.rg_stats), &k, v))
		return 0;
	for (int c = 0; c < e->ncpu; c++)
		for (int a = 0; a < RG_ACT_MAX; a++)
			n += v[c].bytes[a];
	return n;
}

/* The rate limit runs on the program's clock in milliseconds. */
static void clock_ms(struct rg_env *e, int64_t ms)
{
	e->skel->bss->rg_clock_offset = ms * 1000000ll;
}

static int set_interval(struct rg_env *e, uint32_t ms)
{
	struct rg_policy p;
	uint32_t k = 0;
	int fd = bpf_map__fd(e->skel->maps.rg_policy);

	if (bpf_map_lookup_elem(fd, &k, &p))
		return -1;
	p.challenge_ms = ms;
	return bpf_map_update_elem(fd, &k, &p, BPF_ANY);
}

/* ---- a modelled connection ----------------------------------------------------------------- */

#define WS 7

/* What the two endpoints know, kept by the test, so the challenge's numbers come from the model
 * and not from reading the flow entry back. */
struct conn {
	const struct fam *f;
	const char *addr[2];
	uint16_t port[2];
	int ifindex[2];          /* where each side's segments reach the router */
	const uint8_t *mac[2];   /* each side's link-layer address */
	uint32_t nxt[2];         /* SND.NXT */
	uint32_t acked[2];       /* last ACK sent: RCV.NXT */
	uint32_t maxwin[2];      /* largest window advertised, as its peer reads it */
	int l3;
};

static void put_macs(uint8_t *frame, const uint8_t *dst, const uint8_t *src)
{
	memcpy(frame, dst, 6);
	memcpy(frame + 6, src, 6);
}

/* Builds a segment of the connection from side `from`, framed as fr says. */
static size_t build(const struct conn *c, int from, const struct framing *fr, uint32_t seq,
		    uint32_t ack, uint8_t flags, uint32_t payload, uint16_t win, uint8_t *buf)
{
	struct pktspec s = {
		.v6 = c->f->v6, .l3 = c->l3, .vlans = fr ? fr->vlans : 0,
		.src = c->addr[from], .dst = c->addr[!from],
		.sport = c->port[from], .dport = c->port[!from],
		.seq = seq, .ack = ack, .flags = flags, .payload = payload, .win = win,
		.has_wscale = 1, .wscale = WS,
	};
	size_t n;

	if (fr && !c->f->v6)
		s.ipopts = fr->ipopts;
	if (fr && c->f->v6 && fr->dstopts) {
		s.ext[0] = 60;
		s.next_ext = 1;
	}
	if (fr && fr->frag16 && !c->f->v6) {
		s.frag_more = 1;
		s.frag_tcp_bytes = 16;
	}
	n = pkt_build(buf, 4096, &s);
	if (n && !c->l3)
		put_macs(buf, from == CLI ? MAC_A : MAC_B, c->mac[from]);
	return n;
}

/* A segment every endpoint really sends: must pass. */
static void seg(struct rg_env *e, struct conn *c, int from, uint8_t flags, uint32_t payload,
		uint16_t win)
{
	uint8_t in[4096], out[4096];
	uint32_t olen;
	uint32_t ack = (flags & TF_ACK) ? c->nxt[!from] : 0;
	size_t n = build(c, from, NULL, c->nxt[from], ack, flags, payload, win, in);
	int r = run(e, in, n, c->ifindex[from], out, &olen);
	uint32_t scaled = (flags & TF_SYN) ? win : (uint32_t)win << WS;

	CHECK(n && r == XDP_PASS, "%s: segment flags %#x from %s passes (XDP %d)", c->f->name,
	      flags, from == CLI ? "client" : "server", r);
	c->nxt[from] += payload + !!(flags & TF_SYN) + !!(flags & TF_FIN);
	if (flags & TF_ACK)
		c->acked[from] = ack;
	if (scaled > c->maxwin[from])
		c->maxwin[from] = scaled;
}

/* Handshake and data both ways; the windows differ so that the challenge's is told apart. */
static void conn_open(struct rg_env *e, struct conn *c, const struct fam *f, uint16_t cport,
		      const char *srv, int l3)
{
	memset(c, 0, sizeof(*c));
	c->f = f;
	c->l3 = l3;
	c->addr[CLI] = f->cli;
	c->addr[SRV] = srv ? srv : f->srv;
	c->port[CLI] = cport;
	c->port[SRV] = 179;
	c->ifindex[CLI] = if_a;
	c->ifindex[SRV] = if_b;
	c->mac[CLI] = MAC_CLI;
	c->mac[SRV] = MAC_SRV;
	c->nxt[CLI] = 0x10000000u + cport * 7919u;
	c->nxt[SRV] = 0xfffffc00u + (cport % 50u) * 16u;  /* wraps during its data */
	seg(e, c, CLI, TF_SYN, 0, 8192);
	seg(e, c, SRV, TF_SYN | TF_ACK, 0, 8192);
	seg(e, c, CLI, TF_ACK, 0, 600);
	seg(e, c, CLI, TF_ACK | TF_PSH, 100, 600);
	seg(e, c, SRV, TF_ACK, 0, 300);
	seg(e, c, SRV, TF_ACK | TF_PSH, 1200, 300);
	seg(e, c, CLI, TF_ACK, 0, 600);
}

/* An inexact RST from side `from`: in the receiver's window, beyond its RCV.NXT. */
static size_t inexact_rst(const struct conn *c, int from, const struct framing *fr, uint8_t *buf)
{
	return build(c, from, fr, c->nxt[from] + 1000, 0, TF_RST, fr ? fr->payload : 0, 0, buf);
}

/* ---- the frame check ----------------------------------------------------------------------- */

/* The challenge an RST from side `from` must draw, field by field, against the input frame. */
static void check_frame(const struct conn *c, int from, const struct framing *fr,
			const uint8_t *in, const uint8_t *out, uint32_t olen,
			const uint8_t *want_dmac, const uint8_t *want_smac, const char *what)
{
	int rcv = !from, v6 = c->f->v6;
	size_t l2 = 14 + 4 * (size_t)fr->vlans, iplen = v6 ? 40 : 20, alen = v6 ? 16 : 4;
	const uint8_t *ip = out + l2, *th = ip + iplen;
	uint8_t src[16], dst[16];
	uint32_t s;
	uint16_t want_win = (uint16_t)(c->maxwin[rcv] >> WS > 0xffff ? 0xffff
								      : c->maxwin[rcv] >> WS);

	inet_pton(v6 ? AF_INET6 : AF_INET, c->addr[rcv], src);
	inet_pton(v6 ? AF_INET6 : AF_INET, c->addr[from], dst);
	CHECK(olen == l2 + iplen + 20, "%s: frame length %u, want %zu (no options, no payload)",
	      what, olen, l2 + iplen + 20);
	if (olen != l2 + iplen + 20)
		return;
	CHECK(!memcmp(out, want_dmac, 6) && !memcmp(out + 6, want_smac, 6),
	      "%s: Ethernet %s <- %s, want %s <- %s", what, mac_str(out), mac_str(out + 6),
	      mac_str(want_dmac), mac_str(want_smac));
	CHECK(!memcmp(out + 12, in + 12, l2 - 12), "%s: VLAN tags and ethertype kept", what);
	if (v6) {
		CHECK(get32(ip) == 0x60000000u, "%s: IPv6 version 6, class 0, flow 0 (%08x)", what,
		      get32(ip));
		CHECK(get16(ip + 4) == 20, "%s: payload length %u, want 20", what, get16(ip + 4));
		CHECK(ip[6] == 6, "%s: next header %u, want TCP", what, ip[6]);
		CHECK(ip[7] == 64, "%s: hop limit %u, want 64", what, ip[7]);
		CHECK(!memcmp(ip + 8, src, 16) && !memcmp(ip + 24, dst, 16),
		      "%s: addresses are the RST's, swapped", what);
	} else {
		CHECK(ip[0] == 0x45 && ip[1] == 0, "%s: version 4, IHL 5, TOS 0 (%02x %02x)", what,
		      ip[0], ip[1]);
		CHECK(get16(ip + 2) == 40, "%s: total length %u, want 40", what, get16(ip + 2));
		CHECK(get16(ip + 4) == 0 && get16(ip + 6) == 0x4000,
		      "%s: ID 0, DF, no fragment (%04x %04x)", what, get16(ip + 4), get16(ip + 6));
		CHECK(ip[8] == 64 && ip[9] == 6, "%s: TTL %u protocol %u, want 64 TCP", what, ip[8],
		      ip[9]);
		CHECK(sum_ok(sum_be(0, ip, 20)), "%s: IPv4 header checksum %04x verifies", what,
		      get16(ip + 10));
		CHECK(!memcmp(ip + 12, src, 4) && !memcmp(ip + 16, dst, 4),
		      "%s: addresses are the RST's, swapped", what);
	}
	CHECK(get16(th) == c->port[rcv] && get16(th + 2) == c->port[from],
	      "%s: ports %u -> %u, want %u -> %u", what, get16(th), get16(th + 2), c->port[rcv],
	      c->port[from]);
	CHECK(get32(th + 4) == c->nxt[rcv], "%s: SEQ %u, want the receiver's SND.NXT %u", what,
	      get32(th + 4), c->nxt[rcv]);
	CHECK(get32(th + 8) == c->acked[rcv], "%s: ACK %u, want the receiver's RCV.NXT %u", what,
	      get32(th + 8), c->acked[rcv]);
	CHECK(th[12] == 0x50 && th[13] == TF_ACK, "%s: data offset 5, flags ACK only (%02x %02x)",
	      what, th[12], th[13]);
	CHECK(get16(th + 14) == want_win, "%s: window %u, want the receiver's %u", what,
	      get16(th + 14), want_win);
	CHECK(get16(th + 18) == 0, "%s: urgent pointer 0", what);
	s = sum_be(0, ip + (v6 ? 8 : 12), 2 * alen) + 6 + 20;
	CHECK(sum_ok(sum_be(s, th, 20)), "%s: TCP checksum %04x verifies", what, get16(th + 16));
}

/* Runs one inexact RST and checks the verdict and the counters: inexact/drop (or `act`) and
 * exactly one challenge event `ev` (none for RG_R_MAX). Returns the XDP action. */
static int challenge_run(struct rg_env *e, const uint8_t *in, size_t n, int ifindex, uint8_t *out,
			 uint32_t *olen, int ev, int act, const char *what)
{
	struct rg_snap b;
	uint64_t bytes0 = reason_bytes(e, RG_R_CHALLENGE_SENT);
	int r, want = ev == RG_R_CHALLENGE_SENT ? XDP_TX : act == RG_ACT_DROP ? XDP_DROP : XDP_PASS;

	env_snap(e, &b);
	r = run(e, in, n, ifindex, out, olen);
	CHECK(r == want, "%s: XDP action %d, want %d", what, r, want);
	CHECK(env_delta(e, &b, RG_R_INEXACT, act) == 1 &&
		      (ev == RG_R_MAX || env_delta(e, &b, ev, RG_ACT_PASS) == 1) &&
		      env_delta_all(e, &b) == 1 + (ev != RG_R_MAX),
	      "%s: counted inexact/%s%s%s, and nothing else", what, rg_action_names[act],
	      ev == RG_R_MAX ? "" : " and ", ev == RG_R_MAX ? "" : rg_reason_names[ev]);
	if (ev == RG_R_CHALLENGE_SENT)
		CHECK(reason_bytes(e, ev) - bytes0 == *olen, "%s: challenge_sent counts %u bytes",
		      what, *olen);
	if (r != XDP_TX)
		CHECK(*olen == n && !memcmp(in, out, n), "%s: nothing sent, frame as it came", what);
	return r;
}

/* ---- cases --------------------------------------------------------------------------------- */

/* Every framing, both directions: the frame field by field. */
static void case_frames(const struct fam *f)
{
	uint8_t in[4096], out[4096];
	uint32_t olen;
	char what[160];
	struct rg_env e;
	struct conn c;

	if (env_open(&e, RG_ROLE_GATEWAY, 0, 1024)) {
		CHECK(0, "%s: load", f->name);
		return;
	}
	env_policy(&e, RG_P_INEXACT_CHALLENGE, 0);
	for (int i = 0; i < NFRAMINGS; i++) {
		const struct framing *fr = &framings[i];

		if ((fr->ipopts || fr->frag16) && f->v6)
			continue;
		if (fr->dstopts && !f->v6)
			continue;
		conn_open(&e, &c, f, (uint16_t)(40000 + i), NULL, 0);
		for (int from = 0; from < 2; from++) {
			size_t n = inexact_rst(&c, from, fr, in);

			snprintf(what, sizeof(what), "%s/%s: inexact RST from the %s", f->name,
				 fr->name, from == CLI ? "client" : "server");
			if (challenge_run(&e, in, n, c.ifindex[from], out, &olen,
					  RG_R_CHALLENGE_SENT, RG_ACT_DROP, what) == XDP_TX)
				check_frame(&c, from, fr, in, out, olen, c.mac[from],
					    from == CLI ? MAC_A : MAC_B, what);
		}
	}
	env_close(&e);
}

/* Where the challenge goes: the route's next hop, never simply the RST's link source. */
static void case_addressing(const struct fam *f)
{
	static const struct framing plain = { "plain", 0, 0, 0, 0, 0 };
	static const struct framing vlan = { "vlan", .vlans = 1 };
	uint8_t in[4096], out[4096];
	uint32_t olen;
	char what[160];
	struct rg_env e;
	struct conn c, m;
	size_t n;

	if (env_open(&e, RG_ROLE_GATEWAY, 0, 1024)) {
		CHECK(0, "%s: load", f->name);
		return;
	}
	env_policy(&e, RG_P_INEXACT_CHALLENGE, 0);
	conn_open(&e, &c, f, 41000, NULL, 0);

	/* A host on the server's segment forging the server with its own link address: the
	 * challenge goes to the server's, which the neighbour table has. */
	n = inexact_rst(&c, SRV, &plain, in);
	memcpy(in + 6, MAC_ATK, 6);
	snprintf(what, sizeof(what), "%s: RST from a foreign link address", f->name);
	if (challenge_run(&e, in, n, if_b, out, &olen, RG_R_CHALLENGE_SENT, RG_ACT_DROP, what) ==
	    XDP_TX)
		check_frame(&c, SRV, &plain, in, out, olen, MAC_SRV, MAC_B, what);

	/* The server's RST arriving on the client side: the way back leaves by another
	 * interface, so nothing goes back where it came from. */
	clock_ms(&e, 1000);
	n = inexact_rst(&c, SRV, &plain, in);
	snprintf(what, sizeof(what), "%s: RST on the interface the route back does not use",
		 f->name);
	challenge_run(&e, in, n, if_a, out, &olen, RG_R_CHALLENGE_UNROUTED, RG_ACT_DROP, what);
	/* Tagged, the route is through a VLAN device, never the XDP one: only the next hop's own
	 * link address is answered. */
	n = inexact_rst(&c, SRV, &vlan, in);
	memcpy(in + 6, MAC_ATK, 6);
	snprintf(what, sizeof(what), "%s: tagged RST from a foreign link address, other side",
		 f->name);
	challenge_run(&e, in, n, if_a, out, &olen, RG_R_CHALLENGE_UNROUTED, RG_ACT_DROP, what);
	/* A server without a neighbour entry: no address to send to. */
	conn_open(&e, &m, f, 41001, f->mute, 0);
	n = inexact_rst(&m, SRV, &plain, in);
	snprintf(what, sizeof(what), "%s: no neighbour entry for the RST's source", f->name);
	challenge_run(&e, in, n, if_b, out, &olen, RG_R_CHALLENGE_UNROUTED, RG_ACT_DROP, what);

	/* None of those armed the limit: 100 ms later the server's RST is answered. */
	clock_ms(&e, 1100);
	n = inexact_rst(&c, SRV, &plain, in);
	snprintf(what, sizeof(what), "%s: unrouted RSTs arm no limit", f->name);
	challenge_run(&e, in, n, if_b, out, &olen, RG_R_CHALLENGE_SENT, RG_ACT_DROP, what);

	/* Tagged and from the next hop itself: answered by swapping the link addresses. */
	clock_ms(&e, 2000);
	n = inexact_rst(&c, SRV, &vlan, in);
	memcpy(in, MAC_A, 6);
	snprintf(what, sizeof(what), "%s: tagged RST from the next hop, other side", f->name);
	if (challenge_run(&e, in, n, if_a, out, &olen, RG_R_CHALLENGE_SENT, RG_ACT_DROP, what) ==
	    XDP_TX)
		check_frame(&c, SRV, &vlan, in, out, olen, MAC_SRV, MAC_A, what);
	env_close(&e);
}

/* One challenge per flow and direction per interval, on the program's clock. */
static void case_limit(const struct fam *f)
{
	uint8_t in[4096], out[4096], in2[4096], back[4096], other[4096];
	uint32_t olen;
	char what[160];
	struct rg_env e;
	struct conn a, b;
	size_t n, n2, nb, no;

	if (env_open(&e, RG_ROLE_GATEWAY, 0, 1024)) {
		CHECK(0, "%s: load", f->name);
		return;
	}
	env_policy(&e, RG_P_INEXACT_CHALLENGE, 0);
	conn_open(&e, &a, f, 42000, NULL, 0);
	conn_open(&e, &b, f, 42001, NULL, 0);
	n = inexact_rst(&a, SRV, NULL, in);
	n2 = inexact_rst(&b, SRV, NULL, in2);
	nb = inexact_rst(&a, CLI, NULL, back);
	no = build(&a, SRV, NULL, a.nxt[SRV] + 3000, 0, TF_RST, 0, 0, other);

#define RUN(buf, len, side, ev, fmt)                                                            \
	do {                                                                                    \
		snprintf(what, sizeof(what), "%s: " fmt, f->name);                             \
		challenge_run(&e, buf, len, side, out, &olen, ev, RG_ACT_DROP, what);          \
	} while (0)

	clock_ms(&e, 0);
	RUN(in, n, if_b, RG_R_CHALLENGE_SENT, "flow A server->client, first: sent");
	RUN(in, n, if_b, RG_R_CHALLENGE_LIMITED, "flow A again at once: limited");
	RUN(other, no, if_b, RG_R_CHALLENGE_LIMITED, "flow A, another sequence number: limited");
	RUN(in2, n2, if_b, RG_R_CHALLENGE_SENT, "flow B, while A is limited: sent");
	RUN(back, nb, if_a, RG_R_CHALLENGE_SENT, "flow A the other way, client->server: sent");
	clock_ms(&e, 400);
	RUN(in, n, if_b, RG_R_CHALLENGE_LIMITED, "flow A after 400 ms: limited");
	RUN(in2, n2, if_b, RG_R_CHALLENGE_LIMITED, "flow B after 400 ms: limited");
	clock_ms(&e, 600);
	RUN(in, n, if_b, RG_R_CHALLENGE_SENT, "flow A after 600 ms: sent");
	RUN(in, n, if_b, RG_R_CHALLENGE_LIMITED, "flow A again at once: limited");
	RUN(back, nb, if_a, RG_R_CHALLENGE_SENT, "flow A client->server after 600 ms: sent");
	/* The interval is policy. */
	CHECK(set_interval(&e, 2000) == 0, "%s: challenge_ms set to 2000", f->name);
	clock_ms(&e, 1800);
	RUN(in, n, if_b, RG_R_CHALLENGE_LIMITED, "interval 2000 ms, 1200 ms later: limited");
	RUN(in2, n2, if_b, RG_R_CHALLENGE_LIMITED, "interval 2000 ms, flow B 1800 ms later: "
	    "limited");
	clock_ms(&e, 2700);
	RUN(in, n, if_b, RG_R_CHALLENGE_SENT, "interval 2000 ms, 2100 ms later: sent");
	CHECK(set_interval(&e, 0) == 0, "%s: challenge_ms back to the default", f->name);
	clock_ms(&e, 3150);
	RUN(in, n, if_b, RG_R_CHALLENGE_LIMITED, "default again, 450 ms later: limited");
	clock_ms(&e, 3250);
	RUN(in, n, if_b, RG_R_CHALLENGE_SENT, "default again, 550 ms later: sent");
#undef RUN
	env_close(&e);
}

/* What else the policy bits and the device make of it. */
static void case_policy(const struct fam *f)
{
	uint8_t in[4096], out[4096];
	uint32_t olen;
	char what[160];
	struct rg_env e;
	struct conn c;
	size_t n;

	if (env_open(&e, RG_ROLE_GATEWAY, 0, 1024)) {
		CHECK(0, "%s: load", f->name);
		return;
	}
	conn_open(&e, &c, f, 43000, NULL, 0);
	n = inexact_rst(&c, SRV, NULL, in);
	env_policy(&e, RG_P_INEXACT_CHALLENGE | RG_P_MONITOR, 0);
	snprintf(what, sizeof(what), "%s: monitor: would drop, nothing sent", f->name);
	challenge_run(&e, in, n, if_b, out, &olen, RG_R_MAX, RG_ACT_MONITOR, what);
	env_policy(&e, RG_P_INEXACT_CHALLENGE | RG_P_INEXACT_PASS, RG_P_MONITOR);
	snprintf(what, sizeof(what), "%s: pass and challenge bits both: pass wins", f->name);
	challenge_run(&e, in, n, if_b, out, &olen, RG_R_MAX, RG_ACT_PASS, what);
	env_policy(&e, 0, RG_P_INEXACT_CHALLENGE | RG_P_INEXACT_PASS);
	snprintf(what, sizeof(what), "%s: inexact=drop: dropped, nothing sent", f->name);
	challenge_run(&e, in, n, if_b, out, &olen, RG_R_MAX, RG_ACT_DROP, what);
	env_close(&e);

	/* An L3 device (tun, IP tunnels) has no link layer to answer on: a plain drop. */
	if (env_open(&e, RG_ROLE_GATEWAY, 1, 1024)) {
		CHECK(0, "%s: load l3", f->name);
		return;
	}
	env_policy(&e, RG_P_INEXACT_CHALLENGE, 0);
	conn_open(&e, &c, f, 43001, NULL, 1);
	n = inexact_rst(&c, SRV, NULL, in);
	snprintf(what, sizeof(what), "%s: L3 device: fallback to a plain drop", f->name);
	challenge_run(&e, in, n, if_b, out, &olen, RG_R_CHALLENGE_FALLBACK, RG_ACT_DROP, what);
	env_close(&e);
}

/* ---- a capture running while challenges go out ---------------------------------------------- */

static struct rg_cap_rec cap_rec;
static int cap_recs;

static int cap_cb(void *ctx, void *data, size_t size)
{
	if (size == sizeof(cap_rec))
		memcpy(&cap_rec, data, size);
	cap_recs++;
	return 0;
}

static uint64_t dist_total(struct rg_env *e)
{
	struct rg_dist v[512];
	uint64_t n = 0;

	for (uint32_t b = 0; b < RG_DIST_BUCKETS && e->ncpu <= 512; b++)
		if (!bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.rg_dist), &b, v))
			for (int c = 0; c < e->ncpu; c++)
				n += v[c].count;
	return n;
}

/* The capture records the RST as it came, not the ACK its frame becomes, and the distance
 * histogram counts it once. */
static void case_capture(const struct fam *f)
{
	struct rg_cap_cfg cfg = { .active = 1, .sample = 1, .pid = 1 };
	uint8_t in[4096], out[4096];
	struct ring_buffer *rb;
	struct timespec ts;
	uint32_t olen, k = 0;
	uint64_t d0;
	char what[160];
	struct rg_env e;
	struct conn c;
	size_t n;

	if (env_open(&e, RG_ROLE_GATEWAY, 0, 1024)) {
		CHECK(0, "%s: load", f->name);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	cfg.until_ns = ((uint64_t)ts.tv_sec + 60) * 1000000000ull;
	bpf_map_update_elem(bpf_map__fd(e.skel->maps.rg_capcfg), &k, &cfg, BPF_ANY);
	rb = ring_buffer__new(bpf_map__fd(e.skel->maps.rg_capring), cap_cb, NULL, NULL);
	env_policy(&e, RG_P_INEXACT_CHALLENGE, 0);
	conn_open(&e, &c, f, 43002, NULL, 0);
	n = inexact_rst(&c, SRV, NULL, in);
	d0 = dist_total(&e);
	cap_recs = 0;
	snprintf(what, sizeof(what), "%s: challenge sent while a capture runs", f->name);
	challenge_run(&e, in, n, if_b, out, &olen, RG_R_CHALLENGE_SENT, RG_ACT_DROP, what);
	if (rb)
		ring_buffer__consume(rb);
	CHECK(rb && cap_recs == 1 && cap_rec.caplen == n && !memcmp(cap_rec.data, in, n) &&
	      cap_rec.reason == RG_R_INEXACT && cap_rec.action == RG_ACT_DROP && cap_rec.dist == 1000,
	      "%s: captured once, the RST as it came (inexact, drop, distance 1000), not the ACK "
	      "(%d records, caplen %u, distance %u)", what, cap_recs, cap_rec.caplen, cap_rec.dist);
	CHECK(dist_total(&e) - d0 == 1, "%s: the histogram counts it once", what);
	ring_buffer__free(rb);
	env_close(&e);
}

int main(void)
{
	int rc = setup_ns();

	if (rc == 77)
		return 77;
	if (rc) {
		CHECK(0, "namespace setup");
		return t_summary("challenge");
	}
	for (int v = 0; v < 2; v++) {
		case_frames(&fams[v]);
		case_addressing(&fams[v]);
		case_limit(&fams[v]);
		case_policy(&fams[v]);
		case_capture(&fams[v]);
	}
	return t_summary("challenge");
}
