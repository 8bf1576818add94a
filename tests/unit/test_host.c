// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Host and both roles judged against real kernel TCP sockets in a private network namespace. */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Not in glibc's netinet/tcp.h: the queue selectors of TCP_REPAIR_QUEUE (linux/tcp.h). */
#define RG_TCP_RECV_QUEUE 1

#define ALL_POLICY (RG_P_MONITOR | RG_P_INEXACT_PASS | RG_P_UNKNOWN_PASS | RG_P_TIMEWAIT_DROP | \
		    RG_P_UNPARSED_PASS | RG_P_INEXACT_CHALLENGE)

/* Addresses of one family: two local endpoints on lo, and addresses routed into a veth that
 * nobody answers on (a SYN to them stays in SYN-SENT, a forwarded flow passes "through" us). */
struct fam {
	int v6;
	const char *name;
	const char *c, *s;      /* local client and server (both on lo) */
	const char *far;        /* routed to rgv0, silent */
	const char *peer;       /* a fake remote peer whose frames we inject on lo */
	const char *fwd_a;      /* a forwarded flow: both ends routed to rgv0 */
};

static const struct fam fams[2] = {
	{ 0, "v4", "198.18.0.1", "198.18.0.2", "198.19.0.9", "198.19.3.5", "198.19.1.5" },
	{ 1, "v6", "fd00::1", "fd00::2", "fd00:99::9", "fd00:99::35", "fd00:99::15" },
};

static int lo_ifindex;

/* ---- namespace ------------------------------------------------------------------------- */

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

static int write_sysctl(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

/* A fresh namespace dies with the process, so nothing needs tearing down. */
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
	if (sh("ip link set lo up") || sh("ip addr add 198.18.0.1/32 dev lo") ||
	    sh("ip addr add 198.18.0.2/32 dev lo") || sh("ip -6 addr add fd00::1/128 dev lo nodad") ||
	    sh("ip -6 addr add fd00::2/128 dev lo nodad"))
		return 1;
	/* No dummy module on these VMs: a veth pair stands in. ARP off, so frames to the silent
	 * addresses leave at once (a SYN would otherwise wait for neighbour resolution, unseen). */
	if (sh("ip link add rgv0 type veth peer name rgv1")) {
		printf("SKIP: cannot create a veth pair\n");
		return 77;
	}
	if (sh("ip link set rgv0 arp off up") ||
	    sh("ip link set rgv1 up") || sh("ip route add 198.19.0.0/16 dev rgv0") ||
	    sh("ip -6 route add fd00:99::/64 dev rgv0"))
		return 1;
	/* Injected frames come from addresses routed elsewhere: no reverse-path filter. */
	write_sysctl("/proc/sys/net/ipv4/conf/all/rp_filter", "0");
	write_sysctl("/proc/sys/net/ipv4/conf/default/rp_filter", "0");
	write_sysctl("/proc/sys/net/ipv4/conf/lo/rp_filter", "0");
	lo_ifindex = (int)if_nametoindex("lo");
	return lo_ifindex > 0 ? 0 : 1;
}

static int set_forwarding(int on)
{
	const char *v = on ? "1" : "0";

	return write_sysctl("/proc/sys/net/ipv4/ip_forward", v) |
	       write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", v);
}

static void settle(void);

/* ---- the wire: an AF_PACKET sniffer on every interface of the namespace ------------------ */

/* What one direction of a TCP connection put on the wire. */
struct wdir {
	int v6;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t isn, end, ack;  /* first SYN's seq, highest seq end, latest ack */
	int syn, fin, has_ack;
};

#define WIRE_MAX 512
static struct wdir wire[WIRE_MAX];
static int nwire, sniff_fd = -1;

static int seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static void wire_note(int v6, const uint8_t *src, const uint8_t *dst, const uint8_t *th,
		      uint32_t l4len)
{
	size_t alen = v6 ? 16 : 4;
	uint16_t sport = (uint16_t)(th[0] << 8 | th[1]), dport = (uint16_t)(th[2] << 8 | th[3]);
	uint32_t seq = (uint32_t)th[4] << 24 | th[5] << 16 | th[6] << 8 | th[7];
	uint32_t ack = (uint32_t)th[8] << 24 | th[9] << 16 | th[10] << 8 | th[11];
	uint32_t doff = (th[12] >> 4) * 4u, end;
	uint8_t fl = th[13];
	struct wdir *w = NULL;

	if (doff < 20 || doff > l4len)
		return;
	end = seq + (l4len - doff) + !!(fl & TF_SYN) + !!(fl & TF_FIN);
	for (int i = 0; i < nwire; i++)
		if (wire[i].v6 == v6 && wire[i].sport == sport && wire[i].dport == dport &&
		    !memcmp(wire[i].src, src, alen) && !memcmp(wire[i].dst, dst, alen))
			w = &wire[i];
	if (!w) {
		if (nwire == WIRE_MAX)
			return;
		w = &wire[nwire++];
		memset(w, 0, sizeof(*w));
		w->v6 = v6;
		memcpy(w->src, src, alen);
		memcpy(w->dst, dst, alen);
		w->sport = sport;
		w->dport = dport;
		w->end = end;
	}
	/* Keep the first SYN's ISN: retransmissions repeat it anyway. */
	if ((fl & TF_SYN) && !w->syn) {
		w->syn = 1;
		w->isn = seq;
	}
	if (seq_lt(w->end, end))
		w->end = end;
	if (fl & TF_ACK) {
		if (!w->has_ack || seq_lt(w->ack, ack))
			w->ack = ack;
		w->has_ack = 1;
	}
	if (fl & TF_FIN)
		w->fin = 1;
}

/* Parses the Ethernet frames lo and veth hand to packet sockets (our own traffic has no
 * extension headers or VLANs). Lengths come from the IP header: GSO frames on lo are large. */
static void wire_frame(const uint8_t *f, size_t n)
{
	const uint8_t *ip = f + 14;

	if (n < 14 + 40)
		return;
	if (f[12] == 0x08 && f[13] == 0x00) {
		uint32_t hl = (ip[0] & 15) * 4u, tot = (uint32_t)ip[2] << 8 | ip[3];

		if (ip[9] != IPPROTO_TCP || hl < 20 || tot < hl + 20 || n < 14 + hl + 20)
			return;
		wire_note(0, ip + 12, ip + 16, ip + hl, tot - hl);
	} else if (f[12] == 0x86 && f[13] == 0xdd) {
		uint32_t plen = (uint32_t)ip[4] << 8 | ip[5];

		if (ip[6] != IPPROTO_TCP || plen < 20 || n < 14 + 40 + 20)
			return;
		wire_note(1, ip + 8, ip + 24, ip + 40, plen);
	}
}

static void wire_drain(void)
{
	uint8_t buf[256];

	for (;;) {
		ssize_t n = recv(sniff_fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0)
			break;
		wire_frame(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf));
	}
}

static struct wdir *wire_find(int v6, const char *src, uint16_t sport, const char *dst,
			      uint16_t dport)
{
	uint8_t a[16], b[16];
	size_t alen = v6 ? 16 : 4;

	inet_pton(v6 ? AF_INET6 : AF_INET, src, a);
	inet_pton(v6 ? AF_INET6 : AF_INET, dst, b);
	for (int i = 0; i < nwire; i++)
		if (wire[i].v6 == v6 && wire[i].sport == sport && wire[i].dport == dport &&
		    !memcmp(wire[i].src, a, alen) && !memcmp(wire[i].dst, b, alen))
			return &wire[i];
	return NULL;
}

/* Loopback delivers within the sending syscall's softirq; a short pause covers the rest. */
static void settle(void)
{
	usleep(30000);
	wire_drain();
}

/* Sends a built frame into lo as if it had arrived from a peer. lo's own MAC is all zeros and
 * eth_type_trans() would mark any other destination PACKET_OTHERHOST, which IP discards. */
static int inject_frame(uint8_t *buf, size_t n, int v6)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = lo_ifindex,
				   .sll_halen = 6 };

	memset(buf, 0, 12);
	sll.sll_protocol = htons(v6 ? 0x86dd : 0x0800);
	return sendto(sniff_fd, buf, n, 0, (struct sockaddr *)&sll, sizeof(sll)) == (ssize_t)n ? 0 : -1;
}

static int inject(const struct pktspec *s)
{
	uint8_t buf[4096];
	size_t n = pkt_build(buf, sizeof(buf), s);

	return n ? inject_frame(buf, n, s->v6) : -1;
}

/* Rewrites an IPv4 header's total length and fragment field, and its checksum. */
static void ip4_refrag(uint8_t *ip, uint16_t tot, uint16_t frag)
{
	uint32_t sum = 0;

	ip[2] = tot >> 8;
	ip[3] = tot & 0xff;
	ip[6] = frag >> 8;
	ip[7] = frag & 0xff;
	ip[10] = ip[11] = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)ip[i] << 8 | ip[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
}

/* ---- sockets --------------------------------------------------------------------------- */

static socklen_t mkaddr(int v6, const char *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *s6 = (void *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, a, &s6->sin6_addr);
		return sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (void *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, a, &s4->sin_addr);
		return sizeof(*s4);
	}
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &l))
		return 0;
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
						 ((struct sockaddr_in *)&ss)->sin_port);
}

static int tcp_bound(int v6, const char *addr, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t l = mkaddr(v6, addr, 0, &ss);
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&ss, l)) {
		close(fd);
		return -1;
	}
	*port = local_port(fd);
	return fd;
}

/* A port of addr that no socket uses. */
static uint16_t unused_port(int v6, const char *addr)
{
	uint16_t p = 0;
	int fd = tcp_bound(v6, addr, &p);

	if (fd >= 0)
		close(fd);
	return p;
}

struct conn {
	const struct fam *f;
	int cfd, sfd;
	uint16_t cport, sport;
};

static int conn_open(struct conn *k, const struct fam *f, int lfd, uint16_t lport)
{
	struct sockaddr_storage ss;
	socklen_t l = mkaddr(f->v6, f->s, lport, &ss);

	memset(k, 0, sizeof(*k));
	k->f = f;
	k->sport = lport;
	k->cfd = tcp_bound(f->v6, f->c, &k->cport);
	k->sfd = -1;
	if (k->cfd < 0 || connect(k->cfd, (struct sockaddr *)&ss, l))
		return -1;
	k->sfd = accept(lfd, NULL, NULL);
	return k->sfd < 0 ? -1 : 0;
}

static void conn_close(struct conn *k)
{
	if (k->cfd >= 0)
		close(k->cfd);
	if (k->sfd >= 0)
		close(k->sfd);
	k->cfd = k->sfd = -1;
}

/* Writes n bytes on one end and reads them all on the other. */
static int xfer(int from, int to, size_t n)
{
	char buf[4096];
	size_t got = 0;

	memset(buf, 'x', sizeof(buf));
	if (n > sizeof(buf) || write(from, buf, n) != (ssize_t)n)
		return -1;
	while (got < n) {
		ssize_t r = read(to, buf, sizeof(buf));

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* The kernel's own RCV.NXT and receive window through TCP_REPAIR, as a cross-check of the
 * values read from the wire. Repair mode is left without a window probe. */
static int repair_read(int fd, uint32_t *rcv_nxt, struct tcp_repair_window *rw)
{
	int on = TCP_REPAIR_ON, off = TCP_REPAIR_OFF_NO_WP, q = RG_TCP_RECV_QUEUE, err = 0;
	socklen_t l = sizeof(*rcv_nxt), lw = sizeof(*rw);

	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		return -1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	    getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, rcv_nxt, &l) ||
	    getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, rw, &lw))
		err = -1;
	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
	return err;
}

static int tcp_state_fd(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l))
		return -1;
	return ti.tcpi_state;
}

/* State of a socket (also timewait and request sockets, which have no fd) from /proc/net/tcp*,
 * which shows this namespace's sockets. */
static int proc_state(int v6, uint16_t lport, uint16_t rport)
{
	FILE *f = fopen(v6 ? "/proc/net/tcp6" : "/proc/net/tcp", "r");
	char line[512], la[80], ra[80];
	unsigned st;
	int res = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *lp, *rp;

		if (sscanf(line, " %*d: %79s %79s %x", la, ra, &st) != 3)
			continue;
		lp = strchr(la, ':');
		rp = strchr(ra, ':');
		if (lp && rp && strtoul(lp + 1, NULL, 16) == lport && strtoul(rp + 1, NULL, 16) == rport) {
			res = (int)st;
			break;
		}
	}
	fclose(f);
	return res;
}

/* ---- verdict checks -------------------------------------------------------------------- */

static const char *xdp_name(int r)
{
	switch (r) {
	case XDP_ABORTED: return "ABORTED";
	case XDP_DROP: return "DROP";
	case XDP_PASS: return "PASS";
	case -1: return "run-failed";
	default: return "?";
	}
}

/* Runs a built frame as lo delivers it: lo's own MAC is all zeros, and the host view passes a
 * frame to another link address as one an upper device may take. */
static int run_spec(struct rg_env *e, const struct pktspec *s)
{
	uint8_t buf[4096];
	size_t n = pkt_build(buf, sizeof(buf), s);

	if (!n)
		return -1;
	if (!s->l3)
		memset(buf, 0, 12);
	return env_run(e, buf, n);
}

/* Runs one frame and checks both the verdict and that exactly one counter, reason/act, moved. */
static void expect(struct rg_env *e, const struct pktspec *s, int verdict, int reason, int act,
		   const char *fmt, ...)
{
	struct rg_snap b, a;
	char what[200], got[400] = "";
	uint64_t total = 0;
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	env_snap(e, &b);
	r = run_spec(e, s);
	env_snap(e, &a);
	for (int i = 0; i < RG_R_MAX; i++)
		for (int j = 0; j < RG_ACT_MAX; j++) {
			uint64_t d = a.pkts[i][j] - b.pkts[i][j];

			/* Tracking a non-RST segment may also count a flow event (both role). */
			if (!(s->flags & TF_RST) &&
			    (i == RG_R_FLOW_CREATED || i == RG_R_FLOW_INSERT_FAIL))
				d = 0;
			total += d;
			if (d)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), " %s/%s=%llu",
					 rg_reason_names[i], rg_action_names[j], (unsigned long long)d);
		}
	CHECK(r == verdict && a.pkts[reason][act] - b.pkts[reason][act] == 1 && total == 1,
	      "%s: got %s [%s ], want %s [%s/%s] (seq %u ack %u flags 0x%x)", what, xdp_name(r), got,
	      xdp_name(verdict), rg_reason_names[reason], rg_action_names[act], s->seq, s->ack,
	      s->flags);
}

/* An RST from (src, sport) to (dst, dport). */
static struct pktspec rst(const struct fam *f, const char *src, uint16_t sport, const char *dst,
			  uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags)
{
	struct pktspec s = { .v6 = f->v6, .src = src, .dst = dst, .sport = sport, .dport = dport,
			     .seq = seq, .ack = ack, .flags = flags, .win = 0 };

	return s;
}

static void policy(struct rg_env *e, uint32_t bits)
{
	CHECK(env_policy(e, bits, ALL_POLICY & ~bits) == 0, "policy 0x%x set", bits);
}

/* ---- host role cases ------------------------------------------------------------------- */

/* ESTABLISHED: exact, inexact, out of window, bad flags, monitor, and the recent-data rule. */
static void case_established(struct rg_env *e, const struct fam *f, int lfd, uint16_t lport)
{
	struct conn k;
	struct wdir *sc, *cs;
	struct tcp_repair_window rw = {};
	uint32_t nxt, rnxt = 0, snxt = 0, cnxt;
	struct pktspec s, d;

	if (conn_open(&k, f, lfd, lport)) {
		CHECK(0, "%s established: connection: %s", f->name, strerror(errno));
		return;
	}
	CHECK(xfer(k.sfd, k.cfd, 1000) == 0 && xfer(k.cfd, k.sfd, 500) == 0, "%s data moved",
	      f->name);
	settle();
	sc = wire_find(f->v6, f->s, k.sport, f->c, k.cport);
	cs = wire_find(f->v6, f->c, k.cport, f->s, k.sport);
	CHECK(sc && cs && sc->syn && cs->syn, "%s established: handshake seen on the wire", f->name);
	if (!sc || !cs)
		goto out;
	nxt = sc->end;   /* the client's RCV.NXT: everything the server sent */
	cnxt = cs->end;  /* the server's RCV.NXT */
	CHECK(nxt == sc->isn + 1 + 1000, "%s wire: server sent SYN + 1000 bytes", f->name);
	CHECK(repair_read(k.cfd, &rnxt, &rw) == 0 && rnxt == nxt,
	      "%s TCP_REPAIR rcv_nxt %u == wire %u", f->name, rnxt, nxt);
	{
		struct tcp_repair_window rw2;

		CHECK(repair_read(k.sfd, &snxt, &rw2) == 0 && snxt == cnxt,
		      "%s TCP_REPAIR server rcv_nxt %u == wire %u", f->name, snxt, cnxt);
	}
	/* The in-window offsets below must really be inside [rcv_wup, rcv_wup + rcv_wnd]. */
	CHECK(rw.rcv_wnd > 4096 && !seq_lt(nxt + 300, rw.rcv_wup) &&
	      seq_lt(nxt + 300, rw.rcv_wup + rw.rcv_wnd),
	      "%s window wup %u wnd %u holds nxt+300", f->name, rw.rcv_wup, rw.rcv_wnd);

	s = rst(f, f->s, k.sport, f->c, k.cport, nxt, cnxt, TF_RST | TF_ACK);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s established exact RST", f->name);
	s.flags = TF_RST;
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s established exact RST without ACK",
	       f->name);
	s.flags = TF_RST | TF_ACK;
	s.ack = 12345;  /* the ACK field is not examined in synchronized states */
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s exact RST, arbitrary ack", f->name);
	s.ack = cnxt;

	s.seq = nxt + 1;
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s rcv_nxt+1 inexact", f->name);
	s.seq = nxt + 300;
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s rcv_nxt+300 inexact", f->name);
	policy(e, RG_P_INEXACT_PASS);
	expect(e, &s, XDP_PASS, RG_R_INEXACT, RG_ACT_PASS, "%s inexact, inexact=pass", f->name);
	/* A full socket challenges by itself (RFC 5961 in Linux): the RST goes to the kernel. */
	policy(e, RG_P_INEXACT_CHALLENGE);
	expect(e, &s, XDP_PASS, RG_R_INEXACT, RG_ACT_PASS, "%s inexact, inexact=challenge: to the "
	       "kernel", f->name);
	policy(e, 0);

	s.seq = nxt + 0x40000000;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s far ahead: out of window",
	       f->name);
	s.seq = rw.rcv_wup - 0x20000;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s behind rcv_wup: out of window",
	       f->name);
	s.seq = rw.rcv_wup + rw.rcv_wnd + 0x10000;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s past the right edge",
	       f->name);
	policy(e, RG_P_MONITOR);
	s.seq = nxt + 0x40000000;
	expect(e, &s, XDP_PASS, RG_R_OUT_OF_WINDOW, RG_ACT_MONITOR, "%s monitor mode passes",
	       f->name);
	policy(e, 0);

	s.seq = nxt;
	s.flags = TF_RST | TF_SYN;
	expect(e, &s, XDP_DROP, RG_R_BAD_FLAGS, RG_ACT_DROP, "%s SYN+RST", f->name);
	s.flags = TF_RST | TF_FIN | TF_ACK;
	expect(e, &s, XDP_DROP, RG_R_BAD_FLAGS, RG_ACT_DROP, "%s RST+FIN", f->name);

	/* The other direction: the client resets the server. */
	s = rst(f, f->c, k.cport, f->s, k.sport, cnxt, nxt, TF_RST | TF_ACK);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s exact RST to the server", f->name);
	s.seq = cnxt + 0x40000000;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s blind RST to the server",
	       f->name);

	/* Recent data: the server's next 200 bytes and its RST arrive back to back, the RST
	 * reaches XDP while the socket's rcv_nxt still stands before that data. */
	s = rst(f, f->s, k.sport, f->c, k.cport, nxt + 200, cnxt, TF_RST | TF_ACK);
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s RST at unseen data's end: inexact",
	       f->name);
	/* Data of the other direction must not vouch for this one. */
	d = rst(f, f->c, k.cport, f->s, k.sport, nxt, cnxt, TF_ACK | TF_PSH);
	d.payload = 200;  /* ends at nxt+200 too, in the wrong direction */
	expect(e, &d, XDP_PASS, RG_R_NON_RST, RG_ACT_PASS, "%s client data frame", f->name);
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP,
	       "%s other direction's data does not vouch", f->name);
	d = rst(f, f->s, k.sport, f->c, k.cport, nxt, cnxt, TF_ACK | TF_PSH);
	d.payload = 200;
	expect(e, &d, XDP_PASS, RG_R_NON_RST, RG_ACT_PASS, "%s server data frame", f->name);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s RST at the recent data's end",
	       f->name);
	s.seq = nxt + 199;
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s recent data end - 1: inexact",
	       f->name);
	s.seq = nxt;
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s rcv_nxt still exact", f->name);
	/* A FIN also ends a segment the stack may not have consumed yet. */
	d.payload = 0;
	d.seq = nxt + 200;
	d.flags = TF_ACK | TF_FIN;
	expect(e, &d, XDP_PASS, RG_R_NON_RST, RG_ACT_PASS, "%s server FIN frame", f->name);
	s.seq = nxt + 201;
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s RST after the recent FIN", f->name);
	/* A frame with no payload leaves the remembered end alone. */
	d.flags = TF_ACK;
	d.seq = nxt + 5000;
	expect(e, &d, XDP_PASS, RG_R_NON_RST, RG_ACT_PASS, "%s pure ACK frame", f->name);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s pure ACK does not overwrite", f->name);
	/* Recent data far outside the window does not widen it. */
	d = rst(f, f->s, k.sport, f->c, k.cport, nxt + 0x40000000, cnxt, TF_ACK | TF_PSH);
	d.payload = 100;
	expect(e, &d, XDP_PASS, RG_R_NON_RST, RG_ACT_PASS, "%s forged far data frame", f->name);
	s.seq = nxt + 0x40000000 + 100;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP,
	       "%s RST after out-of-window data: out of window", f->name);
	CHECK(tcp_state_fd(k.cfd) == TCP_ESTABLISHED, "%s client still established", f->name);
out:
	conn_close(&k);
	settle();
}

/* No socket at all, and a listener without a connection: the stack would discard both. */
static void case_no_socket(struct rg_env *e, const struct fam *f, uint16_t lport)
{
	uint16_t p = unused_port(f->v6, f->c), q = unused_port(f->v6, f->c);
	struct pktspec s = rst(f, f->s, lport, f->c, p, 0x12345678, 1, TF_RST | TF_ACK);

	expect(e, &s, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP, "%s no socket: no_flow", f->name);
	policy(e, RG_P_UNKNOWN_PASS);
	expect(e, &s, XDP_PASS, RG_R_NO_FLOW, RG_ACT_PASS, "%s no socket, unknown=pass", f->name);
	policy(e, 0);
	s = rst(f, f->c, q, f->s, lport, 0x12345678, 0, TF_RST);
	expect(e, &s, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP, "%s RST to a listener: no_flow",
	       f->name);
	s.flags = TF_RST | TF_ACK;
	expect(e, &s, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP, "%s RST+ACK to a listener: no_flow",
	       f->name);
}

/* SYN-SENT: a connect() to an address whose SYN vanishes into the veth. */
static void case_syn_sent(struct rg_env *e, const struct fam *f)
{
	struct sockaddr_storage ss;
	socklen_t l = mkaddr(f->v6, f->far, 80, &ss);
	uint16_t cport;
	int fd = tcp_bound(f->v6, f->c, &cport), rc;
	struct wdir *w;
	struct pktspec s;
	uint32_t isn;

	if (fd < 0) {
		CHECK(0, "%s syn-sent: socket", f->name);
		return;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	rc = connect(fd, (struct sockaddr *)&ss, l);
	CHECK(rc < 0 && errno == EINPROGRESS, "%s connect to a silent address is in progress (%s)",
	      f->name, strerror(errno));
	settle();
	w = wire_find(f->v6, f->c, cport, f->far, 80);
	CHECK(w && w->syn, "%s the SYN was seen on the wire", f->name);
	CHECK(tcp_state_fd(fd) == TCP_SYN_SENT, "%s socket in SYN-SENT (%d)", f->name,
	      tcp_state_fd(fd));
	if (!w) {
		close(fd);
		return;
	}
	isn = w->isn;
	s = rst(f, f->far, 80, f->c, cport, 0, isn + 1, TF_RST | TF_ACK);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s SYN-SENT, ack = ISN+1", f->name);
	s.seq = 0xdeadbeef;  /* sequence is not checked in SYN-SENT */
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s SYN-SENT, any seq", f->name);
	s.ack = isn + 2;
	expect(e, &s, XDP_DROP, RG_R_SYN_SENT_BAD_ACK, RG_ACT_DROP, "%s SYN-SENT ack ISN+2",
	       f->name);
	s.ack = isn;
	expect(e, &s, XDP_DROP, RG_R_SYN_SENT_BAD_ACK, RG_ACT_DROP, "%s SYN-SENT ack ISN", f->name);
	s.ack = isn + 0x40000000;
	expect(e, &s, XDP_DROP, RG_R_SYN_SENT_BAD_ACK, RG_ACT_DROP, "%s SYN-SENT ack far off",
	       f->name);
	s.ack = isn + 1;
	s.flags = TF_RST;
	expect(e, &s, XDP_DROP, RG_R_SYN_SENT_BAD_ACK, RG_ACT_DROP, "%s SYN-SENT RST without ACK",
	       f->name);
	s.flags = TF_RST | TF_ACK | TF_SYN;
	expect(e, &s, XDP_DROP, RG_R_BAD_FLAGS, RG_ACT_DROP, "%s SYN-SENT SYN+RST", f->name);
	close(fd);
}

/* An orphaned FIN-WAIT-2 (timewait socket, substate FIN-WAIT-2), its peer in CLOSE-WAIT, then
 * the same 4-tuple in TIME-WAIT after the peer closes too. */
static void case_close_wait(struct rg_env *e, const struct fam *f, int lfd, uint16_t lport)
{
	struct conn k;
	struct wdir *sc, *cs;
	struct pktspec s;
	uint32_t snxt, cnxt;
	int st;

	if (conn_open(&k, f, lfd, lport)) {
		CHECK(0, "%s close-wait: connection", f->name);
		conn_close(&k);
		return;
	}
	xfer(k.sfd, k.cfd, 300);
	xfer(k.cfd, k.sfd, 100);
	close(k.cfd);
	k.cfd = -1;
	/* The server may delay its ACK of our FIN: until it comes the orphan is in FIN-WAIT-1
	 * (a full socket); the FIN-WAIT-2 timewait socket is what this case is about. */
	for (int i = 0; i < 100 && proc_state(f->v6, k.cport, k.sport) != TCP_FIN_WAIT2; i++)
		usleep(10000);
	settle();
	cs = wire_find(f->v6, f->c, k.cport, f->s, k.sport);
	sc = wire_find(f->v6, f->s, k.sport, f->c, k.cport);
	CHECK(cs && cs->fin && sc, "%s client FIN on the wire", f->name);
	if (!cs || !sc)
		goto out;
	snxt = cs->end;  /* server's RCV.NXT, FIN included */
	cnxt = sc->end;
	CHECK(tcp_state_fd(k.sfd) == TCP_CLOSE_WAIT, "%s server in CLOSE-WAIT (%d)", f->name,
	      tcp_state_fd(k.sfd));
	st = proc_state(f->v6, k.cport, k.sport);
	CHECK(st == TCP_FIN_WAIT2, "%s orphaned client in FIN-WAIT-2 (%d)", f->name, st);

	s = rst(f, f->c, k.cport, f->s, k.sport, snxt - 1, cnxt, TF_RST | TF_ACK);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s CLOSE-WAIT rcv_nxt-1", f->name);
	s.seq = snxt;
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s CLOSE-WAIT rcv_nxt", f->name);
	s.seq = snxt - 2;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s CLOSE-WAIT rcv_nxt-2",
	       f->name);
	s.seq = snxt + 100;
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s CLOSE-WAIT in window", f->name);

	/* The orphan lives as a timewait socket; RFC 1337 does not apply to FIN-WAIT-2. */
	s = rst(f, f->s, k.sport, f->c, k.cport, cnxt, snxt, TF_RST | TF_ACK);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s orphan FIN-WAIT-2 exact", f->name);
	policy(e, RG_P_TIMEWAIT_DROP);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s FIN-WAIT-2 exact, timewait=drop",
	       f->name);
	policy(e, 0);
	s.seq = cnxt + 100;
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s orphan FIN-WAIT-2 in window",
	       f->name);
	/* The timewait socket would take it (no RFC 5961 there): dropped, no challenge. */
	policy(e, RG_P_INEXACT_CHALLENGE);
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s orphan FIN-WAIT-2 in window, "
	       "inexact=challenge", f->name);
	policy(e, 0);
	s.seq = cnxt + 0x40000000;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s orphan FIN-WAIT-2 blind",
	       f->name);

	/* Now the server closes: the orphan moves to TIME-WAIT, the server is gone after LAST-ACK. */
	close(k.sfd);
	k.sfd = -1;
	settle();
	sc = wire_find(f->v6, f->s, k.sport, f->c, k.cport);
	CHECK(sc && sc->fin, "%s server FIN on the wire", f->name);
	st = proc_state(f->v6, k.cport, k.sport);
	CHECK(st == TCP_TIME_WAIT, "%s client now in TIME-WAIT (%d)", f->name, st);
	if (!sc)
		goto out;
	cnxt = sc->end;
	s = rst(f, f->s, k.sport, f->c, k.cport, cnxt, snxt, TF_RST | TF_ACK);
	expect(e, &s, XDP_PASS, RG_R_TIMEWAIT, RG_ACT_PASS, "%s TIME-WAIT (from orphan) exact",
	       f->name);
	s = rst(f, f->c, k.cport, f->s, k.sport, snxt, cnxt, TF_RST | TF_ACK);
	expect(e, &s, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP, "%s RST to the closed server", f->name);
out:
	conn_close(&k);
}

/* Both sides close; the side that closed first ends in TIME-WAIT (RFC 1337's case). */
static void case_time_wait(struct rg_env *e, const struct fam *f, int lfd, uint16_t lport)
{
	struct conn k;
	struct wdir *sc, *cs;
	struct pktspec s;
	char b[16];
	int st;

	if (conn_open(&k, f, lfd, lport)) {
		CHECK(0, "%s time-wait: connection", f->name);
		conn_close(&k);
		return;
	}
	xfer(k.sfd, k.cfd, 700);
	shutdown(k.cfd, SHUT_WR);
	CHECK(read(k.sfd, b, sizeof(b)) == 0, "%s server sees EOF", f->name);
	close(k.sfd);
	k.sfd = -1;
	CHECK(read(k.cfd, b, sizeof(b)) == 0, "%s client sees EOF", f->name);
	close(k.cfd);
	k.cfd = -1;
	settle();
	st = proc_state(f->v6, k.cport, k.sport);
	CHECK(st == TCP_TIME_WAIT, "%s active closer in TIME-WAIT (%d)", f->name, st);
	CHECK(proc_state(f->v6, k.sport, k.cport) < 0, "%s passive closer gone (%d)", f->name,
	      proc_state(f->v6, k.sport, k.cport));
	sc = wire_find(f->v6, f->s, k.sport, f->c, k.cport);
	cs = wire_find(f->v6, f->c, k.cport, f->s, k.sport);
	CHECK(sc && sc->fin && cs && cs->fin, "%s both FINs on the wire", f->name);
	if (!sc || !cs)
		return;
	CHECK(sc->end == sc->isn + 1 + 700 + 1, "%s server sent SYN, 700 bytes, FIN", f->name);
	s = rst(f, f->s, k.sport, f->c, k.cport, sc->end, cs->end, TF_RST | TF_ACK);
	expect(e, &s, XDP_PASS, RG_R_TIMEWAIT, RG_ACT_PASS, "%s TIME-WAIT exact, timewait=accept",
	       f->name);
	policy(e, RG_P_TIMEWAIT_DROP);
	expect(e, &s, XDP_DROP, RG_R_TIMEWAIT, RG_ACT_DROP, "%s TIME-WAIT exact, timewait=drop",
	       f->name);
	policy(e, RG_P_TIMEWAIT_DROP | RG_P_MONITOR);
	expect(e, &s, XDP_PASS, RG_R_TIMEWAIT, RG_ACT_MONITOR, "%s TIME-WAIT drop in monitor mode",
	       f->name);
	policy(e, 0);
	s.seq = sc->end - 1;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s TIME-WAIT rcv_nxt-1", f->name);
	s.seq = sc->end + 100;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s TIME-WAIT inexact", f->name);
	s.seq = sc->end;
	s.flags = TF_RST | TF_SYN;
	expect(e, &s, XDP_DROP, RG_R_BAD_FLAGS, RG_ACT_DROP, "%s TIME-WAIT SYN+RST", f->name);
}

/* SYN-RECEIVED (a request socket) and then SACK: a peer made of injected frames, whose
 * replies vanish into the veth, so nothing completes behind our back. */
static void case_request_and_sack(struct rg_env *e, const struct fam *f, int lfd, uint16_t lport)
{
	const uint32_t pisn = 0xfffffd00;  /* the peer's ISN: the data below wraps 2^32 */
	const uint16_t pport = 40001;
	struct pktspec syn = { .v6 = f->v6, .src = f->peer, .dst = f->s, .sport = pport,
			       .dport = lport, .seq = pisn, .flags = TF_SYN, .sackok = 1,
			       .has_wscale = 1, .wscale = 7 };
	struct pktspec s, a;
	struct wdir *w;
	uint32_t sisn, nxt = pisn + 1;
	int st, cfd = -1;
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };

	CHECK(inject(&syn) == 0, "%s injected SYN", f->name);
	settle();
	w = wire_find(f->v6, f->s, lport, f->peer, pport);
	CHECK(w && w->syn && w->ack == nxt, "%s SYN-ACK to the fake peer on the wire", f->name);
	st = proc_state(f->v6, lport, pport);
	CHECK(st == TCP_SYN_RECV, "%s request socket in SYN-RECV (%d)", f->name, st);
	if (!w)
		return;
	sisn = w->isn;

	s = rst(f, f->peer, pport, f->s, lport, nxt, sisn + 1, TF_RST | TF_ACK);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s SYN-RECV exact", f->name);
	s.seq = nxt + 100;
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s SYN-RECV in window", f->name);
	/* tcp_check_req resets on any in-window RST: dropped, no challenge. */
	policy(e, RG_P_INEXACT_CHALLENGE);
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s SYN-RECV in window, "
	       "inexact=challenge", f->name);
	policy(e, 0);
	s.seq = nxt + 0x40000000;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s SYN-RECV blind", f->name);
	s.seq = nxt - 1;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s SYN-RECV at the peer's ISN",
	       f->name);

	/* Complete the handshake, then send 100 bytes 1000 bytes ahead: the server SACKs them. */
	a = syn;
	a.flags = TF_ACK;
	a.seq = nxt;
	a.ack = sisn + 1;
	a.win = 1000;
	CHECK(inject(&a) == 0, "%s injected ACK", f->name);
	settle();
	if (poll(&pfd, 1, 1000) == 1)
		cfd = accept(lfd, NULL, NULL);
	CHECK(cfd >= 0, "%s handshake with the fake peer completed", f->name);
	if (cfd < 0)
		return;
	a.flags = TF_ACK | TF_PSH;
	a.seq = nxt + 1000;
	a.payload = 100;
	CHECK(inject(&a) == 0, "%s injected out-of-order data", f->name);
	settle();
	w = wire_find(f->v6, f->s, lport, f->peer, pport);
	CHECK(w && w->ack == nxt, "%s server still acks %u (%u)", f->name, nxt, w ? w->ack : 0);
	{
		uint32_t rn = 0;
		struct tcp_repair_window rw;

		CHECK(repair_read(cfd, &rn, &rw) == 0 && rn == nxt, "%s TCP_REPAIR rcv_nxt %u == %u",
		      f->name, rn, nxt);
	}
	s = rst(f, f->peer, pport, f->s, lport, nxt + 1100, sisn + 1, TF_RST | TF_ACK);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s RST at the SACK block's right edge",
	       f->name);
	s.seq = nxt + 1000;
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s RST at the SACK block's left edge",
	       f->name);
	s.seq = nxt + 1099;
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s RST inside the SACK block", f->name);
	s.seq = nxt;
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s RST at rcv_nxt with a SACK hole",
	       f->name);

	/* The peer's FIN at rcv_nxt: CLOSE-WAIT; our shutdown then makes it LAST-ACK, where
	 * rcv_nxt-1 (the FIN's own sequence) is still accepted. */
	a.flags = TF_ACK | TF_FIN;
	a.seq = nxt;
	a.payload = 0;
	CHECK(inject(&a) == 0, "%s injected FIN", f->name);
	settle();
	CHECK(tcp_state_fd(cfd) == TCP_CLOSE_WAIT, "%s server in CLOSE-WAIT (%d)", f->name,
	      tcp_state_fd(cfd));
	shutdown(cfd, SHUT_WR);
	settle();
	CHECK(tcp_state_fd(cfd) == TCP_LAST_ACK, "%s server in LAST-ACK (%d)", f->name,
	      tcp_state_fd(cfd));
	s.seq = nxt;
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s LAST-ACK rcv_nxt-1", f->name);
	s.seq = nxt + 1;
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s LAST-ACK rcv_nxt", f->name);
	s.seq = nxt - 1;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s LAST-ACK rcv_nxt-2", f->name);
	close(cfd);
}

/* A connection with an injected peer; returns the accepted fd and the server's ISN. */
static int fake_open(const struct fam *f, int lfd, uint16_t lport, uint16_t pport, uint32_t pisn,
		     uint32_t *sisn)
{
	struct pktspec syn = { .v6 = f->v6, .src = f->peer, .dst = f->s, .sport = pport,
			       .dport = lport, .seq = pisn, .flags = TF_SYN, .sackok = 1 };
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	struct wdir *w;

	if (inject(&syn))
		return -1;
	settle();
	w = wire_find(f->v6, f->s, lport, f->peer, pport);
	if (!w || !w->syn)
		return -1;
	*sisn = w->isn;
	syn.flags = TF_ACK;
	syn.seq = pisn + 1;
	syn.ack = w->isn + 1;
	if (inject(&syn) || poll(&pfd, 1, 1000) != 1)
		return -1;
	return accept(lfd, NULL, NULL);
}

/* CLOSING: both FINs crossed (ours vanished into the veth, so the peer never acked it). */
static void case_closing(struct rg_env *e, const struct fam *f, int lfd, uint16_t lport)
{
	const uint16_t pport = 40002;
	const uint32_t pisn = 0x00abcdef;
	uint32_t sisn = 0, nxt = pisn + 1;
	int fd = fake_open(f, lfd, lport, pport, pisn, &sisn);
	struct pktspec fin = { .v6 = f->v6, .src = f->peer, .dst = f->s, .sport = pport,
			       .dport = lport, .sackok = 1 }, s;

	CHECK(fd >= 0, "%s closing: handshake with the fake peer", f->name);
	if (fd < 0)
		return;
	shutdown(fd, SHUT_WR);
	settle();
	CHECK(tcp_state_fd(fd) == TCP_FIN_WAIT1, "%s server in FIN-WAIT-1 (%d)", f->name,
	      tcp_state_fd(fd));
	fin.seq = nxt;
	fin.ack = sisn + 1;  /* does not acknowledge the server's FIN */
	fin.flags = TF_ACK | TF_FIN;
	CHECK(inject(&fin) == 0, "%s injected crossing FIN", f->name);
	settle();
	CHECK(tcp_state_fd(fd) == TCP_CLOSING, "%s server in CLOSING (%d)", f->name,
	      tcp_state_fd(fd));
	s = rst(f, f->peer, pport, f->s, lport, nxt, sisn + 1, TF_RST | TF_ACK);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s CLOSING rcv_nxt-1", f->name);
	s.seq = nxt + 1;
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s CLOSING rcv_nxt", f->name);
	s.seq = nxt + 100;
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s CLOSING in window", f->name);
	s.seq = nxt - 1;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s CLOSING rcv_nxt-2", f->name);
	close(fd);
}

/*
 * Why a first fragment needs 16 TCP bytes, not 14, for its flags byte to count: the stack trims
 * every fragment with MF to a multiple of 8 (ip_frag_queue: end &= ~7), so of a 14-byte first
 * fragment it keeps 8 and takes bytes 8.. (the flags included) from the next fragment. Here a
 * first fragment showing ACK and a second one carrying RST reset a real connection; the
 * program must not have passed the first as a harmless non-RST segment.
 */
static void case_frag_trim(struct rg_env *e, int lfd, uint16_t lport)
{
	const struct fam *f = &fams[0];
	const uint16_t pport = 40005;
	const uint32_t pisn = 0x2000;
	uint32_t sisn = 0;
	int fd = fake_open(f, lfd, lport, pport, pisn, &sisn);
	struct pktspec r = rst(f, f->peer, pport, f->s, lport, pisn + 1, 0, TF_RST | TF_ACK);
	uint8_t full[256], f1[256], f2[256];
	size_t n, tl;

	CHECK(fd >= 0, "frag-trim: handshake with the fake peer");
	if (fd < 0)
		return;
	r.ack = sisn + 1;
	r.sackok = 1;  /* timestamps, as the rest of this connection */
	n = pkt_build(full, sizeof(full), &r);
	tl = n - 34;
	memcpy(f1, full, 34 + 14);
	f1[34 + 13] = TF_ACK;
	ip4_refrag(f1 + 14, 20 + 14, 0x2000);
	memcpy(f2, full, 34);
	memcpy(f2 + 34, full + 34 + 8, tl - 8);
	ip4_refrag(f2 + 14, (uint16_t)(20 + tl - 8), 1);

	{
		struct rg_snap b;
		int v;

		env_snap(e, &b);
		v = env_run(e, f1, 34 + 14);
		CHECK(v == XDP_DROP && env_delta(e, &b, RG_R_SHORT_FRAGMENT, RG_ACT_DROP) == 1,
		      "14-byte first fragment showing ACK is short_fragment, not non_rst (%s)",
		      xdp_name(v));
		CHECK(env_run(e, f2, 34 + tl - 8) == XDP_PASS, "second fragment passes");
	}
	CHECK(tcp_state_fd(fd) == TCP_ESTABLISHED, "frag-trim: established before");
	CHECK(inject_frame(f1, 34 + 14, 0) == 0 && inject_frame(f2, 34 + tl - 8, 0) == 0,
	      "fragments injected");
	settle();
	{
		char c;
		ssize_t rr = read(fd, &c, 1);

		CHECK(rr < 0 && errno == ECONNRESET,
		      "kernel reassembled an RST from the second fragment's flags (read %zd, %s)", rr,
		      rr < 0 ? strerror(errno) : "-");
	}
	close(fd);
}

/* Inserts `tags` 802.1Q tags with VLAN id 0 (priority tags) after the MAC addresses. */
static size_t add_prio_tags(uint8_t *buf, size_t n, int tags, uint16_t tpid)
{
	memmove(buf + 12 + 4 * (size_t)tags, buf + 12, n - 12);
	for (int i = 0; i < tags; i++) {
		buf[12 + 4 * i] = tpid >> 8;
		buf[13 + 4 * i] = tpid & 0xff;
		buf[14 + 4 * i] = 0;
		buf[15 + 4 * i] = 0;
	}
	return n + 4 * (size_t)tags;
}

/*
 * Priority tags: a tag with VLAN id 0 for which no VLAN device exists is stripped by
 * __netif_receive_skb_core (check_vlan_id), and again for every further VID-0 tag inside it,
 * until IP is reached: on a host with no VLAN configuration at all, an RST under any number
 * of such tags reaches TCP. The program must judge it however many tags there are.
 */
static void case_prio_tags(struct rg_env *e, const struct fam *f, int lfd, uint16_t lport)
{
	const uint16_t pport = (uint16_t)(40010 + f->v6);
	const uint32_t pisn = 0x3000;
	uint32_t sisn = 0;
	int fd = fake_open(f, lfd, lport, pport, pisn, &sisn);
	struct pktspec r = rst(f, f->peer, pport, f->s, lport, pisn + 1, 0, TF_RST | TF_ACK);
	uint8_t buf[4096];
	size_t n;

	CHECK(fd >= 0, "%s prio tags: handshake with the fake peer", f->name);
	if (fd < 0)
		return;
	r.ack = sisn + 1;
	r.sackok = 1;
	for (int tags = 1; tags <= 4; tags++)
		for (int ad = 0; ad < 2; ad++) {
			struct rg_snap b;
			int v;

			r.seq = pisn + 1 + 0x40000000;  /* blind */
			n = pkt_build(buf, sizeof(buf), &r);
			n = add_prio_tags(buf, n, tags, ad ? 0x88a8 : 0x8100);
			env_snap(e, &b);
			v = env_run(e, buf, n);
			CHECK(v == XDP_DROP && env_delta(e, &b, RG_R_OUT_OF_WINDOW, RG_ACT_DROP) == 1,
			      "%s blind RST under %d VID-0 %s tags judged: %s, %llu counted", f->name,
			      tags, ad ? "802.1ad" : "802.1Q", xdp_name(v),
			      (unsigned long long)env_delta_all(e, &b));
		}
	/* The stack's side: an exact RST under four priority tags resets the connection. */
	r.seq = pisn + 1;
	n = pkt_build(buf, sizeof(buf), &r);
	n = add_prio_tags(buf, n, 4, 0x8100);
	CHECK(tcp_state_fd(fd) == TCP_ESTABLISHED, "%s prio tags: established before", f->name);
	CHECK(inject_frame(buf, n, f->v6) == 0, "%s RST under 4 VID-0 tags injected", f->name);
	settle();
	{
		char c;
		ssize_t rr = read(fd, &c, 1);

		CHECK(rr < 0 && errno == ECONNRESET,
		      "%s the stack acts on an RST under 4 VID-0 tags (read %zd, %s)", f->name, rr,
		      rr < 0 ? strerror(errno) : "-");
	}
	close(fd);
}

/* Dual-stack sockets: an AF_INET6 socket carrying an IPv4 connection (v4-mapped addresses)
 * is found by an IPv4 lookup, at both ends. */
static void case_mapped(struct rg_env *e, int lfd4, uint16_t lport4)
{
	const struct fam *f = &fams[0];
	struct sockaddr_storage ss;
	socklen_t l;
	int off = 0, lfd, cfd, sfd;
	uint16_t lport = 0, cport;
	struct wdir *sc, *cs;
	struct pktspec s;

	/* Server side: a "::" listener accepting IPv4. */
	lfd = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	l = mkaddr(1, "::", 0, &ss);
	CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&ss, l) == 0 && listen(lfd, 4) == 0,
	      "dual-stack listener");
	lport = local_port(lfd);
	cfd = tcp_bound(0, f->c, &cport);
	l = mkaddr(0, f->s, lport, &ss);
	CHECK(cfd >= 0 && connect(cfd, (struct sockaddr *)&ss, l) == 0, "v4 connect to ::");
	sfd = accept(lfd, NULL, NULL);
	CHECK(sfd >= 0 && xfer(cfd, sfd, 64) == 0 && xfer(sfd, cfd, 32) == 0, "v4-mapped data");
	settle();
	cs = wire_find(0, f->c, cport, f->s, lport);
	sc = wire_find(0, f->s, lport, f->c, cport);
	if (cs && sc) {
		s = rst(f, f->c, cport, f->s, lport, cs->end, sc->end, TF_RST | TF_ACK);
		expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "v4-mapped server socket exact");
		s.seq = cs->end + 0x40000000;
		expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "v4-mapped server blind");
	} else {
		CHECK(0, "v4-mapped connection on the wire");
	}
	close(cfd);
	close(sfd);
	close(lfd);

	/* Client side: an AF_INET6 socket connecting to ::ffff:198.18.0.2. */
	cfd = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(cfd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	l = mkaddr(1, "::ffff:198.18.0.1", 0, &ss);
	CHECK(cfd >= 0 && bind(cfd, (struct sockaddr *)&ss, l) == 0, "v4-mapped client bind");
	cport = local_port(cfd);
	l = mkaddr(1, "::ffff:198.18.0.2", lport4, &ss);
	CHECK(connect(cfd, (struct sockaddr *)&ss, l) == 0, "v4-mapped client connect");
	sfd = accept(lfd4, NULL, NULL);
	CHECK(sfd >= 0 && xfer(sfd, cfd, 48) == 0, "v4-mapped client data");
	settle();
	cs = wire_find(0, f->c, cport, f->s, lport4);
	sc = wire_find(0, f->s, lport4, f->c, cport);
	if (cs && sc) {
		s = rst(f, f->s, lport4, f->c, cport, sc->end, cs->end, TF_RST | TF_ACK);
		expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "v4-mapped client socket exact");
		s.seq = sc->end + 100;
		expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "v4-mapped client inexact");
	} else {
		CHECK(0, "v4-mapped client connection on the wire");
	}
	close(cfd);
	if (sfd >= 0)
		close(sfd);
}

/* ---- both role ------------------------------------------------------------------------- */

/* Replays a handshake (and some data) of a -> b through the program, for the flow table. */
static void replay(struct rg_env *e, const struct fam *f, const char *a, uint16_t ap,
		   const char *b, uint16_t bp, uint32_t aisn, uint32_t bisn)
{
	struct pktspec syn = { .v6 = f->v6, .src = a, .dst = b, .sport = ap, .dport = bp,
			       .seq = aisn, .flags = TF_SYN, .has_wscale = 1, .wscale = 7 };
	struct pktspec sa = { .v6 = f->v6, .src = b, .dst = a, .sport = bp, .dport = ap,
			      .seq = bisn, .ack = aisn + 1, .flags = TF_SYN | TF_ACK,
			      .has_wscale = 1, .wscale = 7 };
	struct pktspec ack = { .v6 = f->v6, .src = a, .dst = b, .sport = ap, .dport = bp,
			       .seq = aisn + 1, .ack = bisn + 1, .flags = TF_ACK, .win = 512 };
	struct pktspec data = sa;

	CHECK(run_spec(e, &syn) == XDP_PASS && run_spec(e, &sa) == XDP_PASS &&
	      run_spec(e, &ack) == XDP_PASS, "%s replayed handshake passes", f->name);
	data.flags = TF_ACK | TF_PSH;
	data.seq = bisn + 1;
	data.payload = 100;
	data.win = 512;
	CHECK(run_spec(e, &data) == XDP_PASS, "%s replayed data passes", f->name);
	ack.ack = bisn + 101;
	CHECK(run_spec(e, &ack) == XDP_PASS, "%s replayed ack passes", f->name);
}

static void case_both(struct rg_env *e, const struct fam *f, int lfd, uint16_t lport)
{
	struct pktspec s;
	struct rg_flow fl;
	uint16_t nosock = unused_port(f->v6, f->c);
	struct conn k;
	struct wdir *sc;

	/* A host that forwards nothing: everything it receives is for itself. */
	CHECK(set_forwarding(0) == 0, "forwarding off");
	s = rst(f, f->fwd_a, 40000, f->far, 179, 5000, 0, TF_RST);
	expect(e, &s, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP,
	       "%s both, forwarding off: non-local dst is ours, no socket", f->name);
	CHECK(set_forwarding(1) == 0, "forwarding on");

	/* Local destination with a socket: judged by the socket, no flow table entry needed. */
	if (conn_open(&k, f, lfd, lport) == 0) {
		xfer(k.sfd, k.cfd, 100);
		settle();
		sc = wire_find(f->v6, f->s, k.sport, f->c, k.cport);
		CHECK(sc != NULL, "%s both: connection on the wire", f->name);
		if (sc) {
			s = rst(f, f->s, k.sport, f->c, k.cport, sc->end, 0, TF_RST);
			expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s both, local socket exact",
			       f->name);
			s.seq = sc->end + 0x40000000;
			expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP,
			       "%s both, local socket blind", f->name);
		}
	} else {
		CHECK(0, "%s both: connection", f->name);
	}
	conn_close(&k);

	/* Local destination, no socket, but a flow table entry that would call the RST exact:
	 * a missing socket is conclusive for our own addresses. */
	replay(e, f, f->peer, 40400, f->c, nosock, 1000, 9000);
	CHECK(env_flow(e, &(struct pktspec){ .v6 = f->v6, .src = f->peer, .dst = f->c,
					     .sport = 40400, .dport = nosock }, &fl) == 0,
	      "%s flow to a local port without socket is tracked", f->name);
	s = rst(f, f->peer, 40400, f->c, nosock, 1001, 0, TF_RST);
	expect(e, &s, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP,
	       "%s both, local dst without socket: no_flow despite a tracked flow", f->name);

	/* Forwarded, never seen: the flow-table path, no_flow under policy unknown. */
	s = rst(f, f->far, 179, f->fwd_a, 40001, 7777, 0, TF_RST);
	expect(e, &s, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP, "%s both, forwarded untracked", f->name);
	policy(e, RG_P_UNKNOWN_PASS);
	expect(e, &s, XDP_PASS, RG_R_NO_FLOW, RG_ACT_PASS, "%s both, forwarded untracked, pass",
	       f->name);
	policy(e, 0);

	/* Forwarded and tracked: no local socket, yet never dropped for lacking one. */
	replay(e, f, f->fwd_a, 40000, f->far, 179, 1000, 9000);
	s = rst(f, f->far, 179, f->fwd_a, 40000, 9101, 0, TF_RST);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s both, forwarded tracked exact",
	       f->name);
	s.seq = 9101 + 0x40000000;
	expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP, "%s both, forwarded blind",
	       f->name);
	replay(e, f, f->fwd_a, 40002, f->far, 179, 1000, 9000);
	s = rst(f, f->far, 179, f->fwd_a, 40002, 9101 + 3000, 0, TF_RST);
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s both, forwarded inexact", f->name);
	s = rst(f, f->fwd_a, 40002, f->far, 179, 1001, 0, TF_RST);
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s both, forwarded exact other way",
	       f->name);

	/* A wildcard listener of our own on the forwarded flow's port: the socket lookup matches
	 * it whatever the destination, and a listener must not make the RST look local. */
	{
		struct sockaddr_storage ss;
		socklen_t l = mkaddr(f->v6, f->v6 ? "::" : "0.0.0.0", 0, &ss);
		int on = 1, wl = socket(f->v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
		uint16_t wport;

		if (f->v6)
			setsockopt(wl, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
		CHECK(wl >= 0 && bind(wl, (struct sockaddr *)&ss, l) == 0 && listen(wl, 4) == 0,
		      "%s wildcard listener", f->name);
		wport = local_port(wl);
		replay(e, f, f->fwd_a, 40003, f->far, wport, 3000, 7000);
		s = rst(f, f->fwd_a, 40003, f->far, wport, 3001, 0, TF_RST);
		expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS,
		       "%s both, forwarded exact to a port we listen on too", f->name);
		s.seq = 3001 + 0x40000000;
		expect(e, &s, XDP_DROP, RG_R_OUT_OF_WINDOW, RG_ACT_DROP,
		       "%s both, forwarded blind to a port we listen on too", f->name);
		s = rst(f, f->peer, 40004, f->c, wport, 3001, 0, TF_RST);
		expect(e, &s, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP,
		       "%s both, local RST to our wildcard listener", f->name);
		close(wl);
	}
}

/* The host role never consults the flow table: forwarded traffic is not its business, a
 * forwarded RST finds no socket. */
static void case_host_forwarded(struct rg_env *e, const struct fam *f)
{
	struct pktspec s;

	replay(e, f, f->fwd_a, 41000, f->far, 179, 1000, 9000);
	s = rst(f, f->far, 179, f->fwd_a, 41000, 9101, 0, TF_RST);
	expect(e, &s, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP, "%s host role, forwarded RST: no_flow",
	       f->name);
}


/* ---- the recent-data cache under forged data (anchored entries) ------------------------- */

/* bpf/verdict.h tuple_hash and the slot it picks, over the same network-order words. */
static uint32_t recent_slot_of(const struct fam *f, const char *src, uint16_t sport,
			       const char *dst, uint16_t dport)
{
	uint32_t sa[4] = { 0 }, da[4] = { 0 }, h;
	uint16_t sp = htons(sport), dp = htons(dport);

	inet_pton(f->v6 ? AF_INET6 : AF_INET, src, sa);
	inet_pton(f->v6 ? AF_INET6 : AF_INET, dst, da);
	h = sa[0] ^ da[0] ^ ((uint32_t)sp << 16 | dp);
	if (f->v6)
		h ^= sa[1] ^ sa[2] ^ sa[3] ^ da[1] ^ da[2] ^ da[3];
	h *= 0x9e3779b1;
	h ^= h >> 16;
	return h & (RG_RECENT_SLOTS - 1);
}

static void data_frame(struct rg_env *e, struct pktspec d, uint32_t seq, uint32_t len,
		       const char *what)
{
	d.seq = seq;
	d.payload = len;
	d.flags = len ? TF_ACK | TF_PSH : TF_ACK | TF_FIN;
	expect(e, &d, XDP_PASS, RG_R_NON_RST, RG_ACT_PASS, "%s", what);
}

/* Forged data segments at sequence numbers a blind forger picks must not take the place of the
 * real data a racing RST follows: before anchoring, the last forged segment made the peer's
 * real reset `inexact` and it was dropped. */
static void case_recent_poison(struct rg_env *e, const struct fam *f, int lfd, uint16_t lport)
{
	struct conn k;
	struct wdir *sc, *cs;
	uint32_t nxt, cnxt, target;
	struct pktspec s, d, o;
	uint16_t cport = 0, oport = 0;
	char what[96];

	if (conn_open(&k, f, lfd, lport)) {
		CHECK(0, "%s recent poison: connection: %s", f->name, strerror(errno));
		return;
	}
	CHECK(xfer(k.sfd, k.cfd, 1000) == 0 && xfer(k.cfd, k.sfd, 500) == 0, "%s data moved",
	      f->name);
	settle();
	sc = wire_find(f->v6, f->s, k.sport, f->c, k.cport);
	cs = wire_find(f->v6, f->c, k.cport, f->s, k.sport);
	CHECK(sc && cs, "%s recent poison: connection on the wire", f->name);
	if (!sc || !cs)
		goto out;
	nxt = sc->end;
	cnxt = cs->end;
	s = rst(f, f->s, k.sport, f->c, k.cport, nxt + 200, cnxt, TF_RST | TF_ACK);
	d = rst(f, f->s, k.sport, f->c, k.cport, nxt, cnxt, TF_ACK | TF_PSH);

	/* The real 200 bytes at the client's rcv_nxt, then forged data all over the space. */
	data_frame(e, d, nxt, 200, "real data at rcv_nxt");
	data_frame(e, d, nxt + 0x40000000, 100, "forged data far ahead");
	data_frame(e, d, nxt - 5000, 100, "forged data behind rcv_nxt");
	data_frame(e, d, nxt + 65536 + 1000, 100, "forged data past the anchoring bound");
	data_frame(e, d, nxt + 0x9e3779b1, 0, "forged FIN at a random number");
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS,
	       "%s forged data does not displace the real data's end", f->name);
	/* The real stream going on in order moves the entry. */
	data_frame(e, d, nxt + 200, 100, "real data continuing");
	s.seq = nxt + 300;
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s RST after continued data", f->name);
	s.seq = nxt + 200;
	expect(e, &s, XDP_DROP, RG_R_INEXACT, RG_ACT_DROP, "%s the old end no longer vouches",
	       f->name);
	/* A socketless 4-tuple of the forger's choosing that lands in the same slot. For one
	 * destination port, the slot hash makes every colliding source port share its high byte,
	 * which may be below 1024: a few destination ports keep the search from depending on it. */
	target = recent_slot_of(f, f->s, k.sport, f->c, k.cport);
	for (uint32_t dp = 47000; dp < 47064 && !cport; dp++)
		for (uint32_t p = 1024; p < 65536 && !cport; p++)
			if (p != k.sport &&
			    recent_slot_of(f, f->peer, (uint16_t)p, f->c, (uint16_t)dp) == target) {
				cport = (uint16_t)p;
				oport = (uint16_t)dp;
			}
	CHECK(cport != 0, "%s a colliding 4-tuple exists", f->name);
	o = rst(f, f->peer, cport, f->c, oport, 777, 1, TF_ACK | TF_PSH);
	snprintf(what, sizeof(what), "%s colliding socketless data", f->name);
	data_frame(e, o, 777, 100, what);
	s.seq = nxt + 300;
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS,
	       "%s a socketless 4-tuple does not evict the anchored entry", f->name);
	/* Data of the other direction is judged against the other socket: not anchored. */
	d = rst(f, f->c, k.cport, f->s, k.sport, nxt + 300, nxt, TF_ACK | TF_PSH);
	data_frame(e, d, nxt + 300, 100, "other direction's data at our number");
	expect(e, &s, XDP_PASS, RG_R_VALID, RG_ACT_PASS, "%s entry kept after other direction",
	       f->name);
	CHECK(tcp_state_fd(k.cfd) == TCP_ESTABLISHED, "%s client still established", f->name);
out:
	conn_close(&k);
	settle();
}

/* ---- the host view: devices with upper devices ------------------------------------------ */

struct hvdev {
	const char *name;
	int ifindex;
	uint8_t mac[6];
};

static struct hvdev hv_plain = { .name = "hn0" }, hv_mvlow = { .name = "hv0" },
		    hv_mvchild = { .name = "hvm0" }, hv_pass = { .name = "hp0" },
		    hv_port = { .name = "hb0" };
static int hv_ok;

/* Veths standing for NICs: plain, lower of a bridge-mode macvlan, lower of a passthru macvlan,
 * and a bridge port, each with a link address set here (under unshare, /sys/class/net still
 * shows the namespace the test started in). */
static int setup_uppers(void)
{
	if (sh("ip link add hn0 address 02:00:00:00:aa:01 type veth peer name hn1") ||
	    sh("ip link add hv0 address 02:00:00:00:aa:02 type veth peer name hv1") ||
	    sh("ip link add hp0 address 02:00:00:00:aa:03 type veth peer name hp1") ||
	    sh("ip link add hb0 address 02:00:00:00:aa:04 type veth peer name hb1"))
		return -1;
	if (sh("ip link add link hv0 name hvm0 address 02:00:00:00:ab:02 type macvlan mode bridge")) {
		printf("# no macvlan: upper-device cases skipped\n");
		return -1;
	}
	if (sh("ip link add link hp0 name hpm0 type macvlan mode passthru") ||
	    sh("ip link add hbr0 type bridge") || sh("ip link set hb0 master hbr0"))
		return -1;
	if (sh("sh -c 'for i in hn0 hn1 hv0 hv1 hp0 hp1 hb0 hb1 hvm0 hpm0 hbr0; do ip link set $i up; done'"))
		return -1;
	return 0;
}

static int set_mac_of(struct hvdev *d, const char *mac)
{
	unsigned int m[6];

	d->ifindex = (int)if_nametoindex(d->name);
	if (sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		d->mac[i] = (uint8_t)m[i];
	return d->ifindex > 0 ? 0 : -1;
}

/* Runs a no-socket RST as if it came in on device `in`, sent to link address `to`. */
static void hv_expect(struct rg_env *e, const struct pktspec *s, const struct hvdev *in,
		      const uint8_t *to, int verdict, int reason, int act, const char *what)
{
	uint8_t buf[512];
	size_t n = pkt_build(buf, sizeof(buf), s);
	struct rg_snap b, a;
	int saved = e->ifindex, r;
	char got[300] = "";

	memcpy(buf, to, 6);
	e->ifindex = in->ifindex;
	env_snap(e, &b);
	r = n ? env_run(e, buf, n) : -1;
	env_snap(e, &a);
	e->ifindex = saved;
	for (int i = 0; i < RG_R_MAX; i++)
		for (int j = 0; j < RG_ACT_MAX; j++)
			if (a.pkts[i][j] != b.pkts[i][j])
				snprintf(got + strlen(got), sizeof(got) - strlen(got), " %s/%s",
					 rg_reason_names[i], rg_action_names[j]);
	CHECK(r == verdict && a.pkts[reason][act] - b.pkts[reason][act] == 1,
	      "%s: got %s [%s ], want %s [%s/%s]", what, xdp_name(r), got, xdp_name(verdict),
	      rg_reason_names[reason], rg_action_names[act]);
}

static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0xee, 0xee };

/* A missing socket is conclusive only for a frame the device's own stack alone receives. */
static void case_host_view(struct rg_env *e, const struct fam *f, int role)
{
	uint16_t p = unused_port(f->v6, f->c);
	struct pktspec s = rst(f, f->peer, 40500, f->c, p, 0x1234567, 1, TF_RST | TF_ACK);
	int host = role == RG_ROLE_HOST;
	int uv = RG_R_UNVERIFIED;
	char w[160];

	if (!hv_ok)
		return;
#define HV(in, to, v, r, a, ...) do { snprintf(w, sizeof(w), __VA_ARGS__); \
	hv_expect(e, &s, in, to, v, r, a, w); } while (0)
	HV(&hv_plain, hv_plain.mac, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP,
	   "%s plain device, its own MAC, local dst: no_flow", f->name);
	HV(&hv_plain, other_mac, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP,
	   "%s plain device, another host's MAC: its stack discards the frame", f->name);
	HV(&hv_mvlow, other_mac, XDP_PASS, uv, RG_ACT_PASS,
	   "%s macvlan lower, an address that is not its own: an upper's, maybe", f->name);
	HV(&hv_mvlow, hv_mvlow.mac, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP,
	   "%s macvlan lower, its own MAC: still the host's frame", f->name);
	HV(&hv_mvlow, hv_mvchild.mac, XDP_PASS, uv, RG_ACT_PASS,
	   "%s macvlan lower, the child's MAC: the child's socket is out of sight", f->name);
	HV(&hv_pass, hv_pass.mac, XDP_PASS, uv, RG_ACT_PASS,
	   "%s passthru macvlan takes the lower's own MAC", f->name);
	HV(&hv_port, hv_port.mac, XDP_PASS, uv, RG_ACT_PASS,
	   "%s bridge port: the bridge's sockets are out of sight", f->name);
	/* The upper list is read for every frame: a change after load counts at once. */
	CHECK(sh("ip link set hn0 master hbr0") == 0, "hn0 joins the bridge");
	HV(&hv_plain, hv_plain.mac, XDP_PASS, uv, RG_ACT_PASS,
	   "%s plain device made a bridge port after load", f->name);
	CHECK(sh("ip link set hn0 nomaster") == 0, "hn0 leaves the bridge");
	HV(&hv_plain, hv_plain.mac, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP,
	   "%s and back to a plain device", f->name);
	/* The destination must be this machine: a routed one is not the host's to refuse. */
	s = rst(f, f->fwd_a, 40501, f->far, 179, 0x1234567, 1, TF_RST | TF_ACK);
	CHECK(set_forwarding(1) == 0, "forwarding on");
	HV(&hv_plain, hv_plain.mac, host ? XDP_PASS : XDP_DROP, host ? RG_R_UNVERIFIED : RG_R_NO_FLOW,
	   host ? RG_ACT_PASS : RG_ACT_DROP, host ?
	   "%s host role, forwarded dst: unverified" : "%s both role, forwarded dst: flow table", f->name);
	if (!host)
		HV(&hv_mvlow, hv_mvchild.mac, XDP_PASS, RG_R_UNVERIFIED, RG_ACT_PASS,
		   "%s both role, the child's MAC, untracked: unverified, not no_flow", f->name);
	CHECK(set_forwarding(0) == 0, "forwarding off");
	HV(&hv_plain, hv_plain.mac, XDP_DROP, RG_R_NO_FLOW, RG_ACT_DROP,
	   "%s forwarding off: everything received is for this host", f->name);
#undef HV
}

int main(void)
{
	struct rg_env e;
	int lfd[2];
	uint16_t lport[2];
	cpu_set_t cpus;
	int rc, err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* The recent-data cache is per CPU and a test run executes on the caller's CPU. */
	CPU_ZERO(&cpus);
	CPU_SET(sched_getcpu(), &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);

	rc = setup_ns();
	if (rc == 77)
		return 77;
	CHECK(rc == 0, "namespace set up");
	if (rc)
		return t_summary("host");
	hv_ok = setup_uppers() == 0 && set_mac_of(&hv_plain, "02:00:00:00:aa:01") == 0 &&
		set_mac_of(&hv_mvlow, "02:00:00:00:aa:02") == 0 &&
		set_mac_of(&hv_mvchild, "02:00:00:00:ab:02") == 0 &&
		set_mac_of(&hv_pass, "02:00:00:00:aa:03") == 0 &&
		set_mac_of(&hv_port, "02:00:00:00:aa:04") == 0;
	if (!hv_ok)
		printf("# upper devices could not be made: host-view cases skipped\n");
	sniff_fd = socket(AF_PACKET, SOCK_RAW, htons(0x0003 /* ETH_P_ALL */));
	if (sniff_fd < 0) {
		printf("SKIP: AF_PACKET socket: %s\n", strerror(errno));
		return 77;
	}
	for (int v = 0; v < 2; v++) {
		lfd[v] = tcp_bound(fams[v].v6, fams[v].s, &lport[v]);
		CHECK(lfd[v] >= 0 && listen(lfd[v], 16) == 0, "%s listener", fams[v].name);
	}

	err = env_open(&e, RG_ROLE_HOST, 0, 1024);
	if (err == -EPERM) {
		printf("SKIP: cannot load BPF: %s\n", strerror(-err));
		return 77;
	}
	CHECK(err == 0, "host role loads: %s", strerror(-err));
	if (err)
		return t_summary("host");
	e.ifindex = lo_ifindex;
	for (int v = 0; v < 2; v++) {
		const struct fam *f = &fams[v];

		printf("# host role, %s\n", f->name);
		case_established(&e, f, lfd[v], lport[v]);
		case_no_socket(&e, f, lport[v]);
		case_syn_sent(&e, f);
		case_close_wait(&e, f, lfd[v], lport[v]);
		case_time_wait(&e, f, lfd[v], lport[v]);
		case_request_and_sack(&e, f, lfd[v], lport[v]);
		case_closing(&e, f, lfd[v], lport[v]);
		case_host_forwarded(&e, f);
		case_recent_poison(&e, f, lfd[v], lport[v]);
		case_host_view(&e, f, RG_ROLE_HOST);
	}
	case_mapped(&e, lfd[0], lport[0]);
	case_frag_trim(&e, lfd[0], lport[0]);
	for (int v = 0; v < 2; v++)
		case_prio_tags(&e, &fams[v], lfd[v], lport[v]);
	env_close(&e);

	err = env_open(&e, RG_ROLE_BOTH, 0, 1024);
	CHECK(err == 0, "both role loads: %s", strerror(-err));
	if (err)
		return t_summary("host");
	e.ifindex = lo_ifindex;
	for (int v = 0; v < 2; v++) {
		printf("# both role, %s\n", fams[v].name);
		case_both(&e, &fams[v], lfd[v], lport[v]);
		/* The socket verdicts hold in the both role as well. */
		case_established(&e, &fams[v], lfd[v], lport[v]);
		case_syn_sent(&e, &fams[v]);
		case_time_wait(&e, &fams[v], lfd[v], lport[v]);
		case_host_view(&e, &fams[v], RG_ROLE_BOTH);
	}
	env_close(&e);
	return t_summary("host");
}
