# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Policy inexact=challenge end to end, on the topology tests/e2e/challenge.sh builds: a server
behind a router running rstguard in the gateway role, its client and an attacker on the other
side. Prints one "ok"/"FAIL" line per check."""

import argparse
import errno
import random
import sys
import time

import netlab as nl

M32 = 0xffffffff


class Ctx:
    def __init__(self, a):
        self.tag, self.v6 = a.tag, a.v6
        self.cli_ns, self.cli_if, self.cli_addr = a.cli.split(",")
        self.srv_ns, self.srv_if, self.srv_addr = a.srv.split(",")
        self.rtr_ns, self.rtr_addr = a.rtr.split(",")
        self.atk_ns, self.atk_if, self.atk_mac, self.rtr_mac = a.atk.split(",")
        self.guard = nl.Guard(a.rg, a.pin_dir, self.rtr_ns)
        self.id = a.id
        self.rng = random.Random(a.seed)
        self.nfail = 0

    def check(self, name, cond, detail=""):
        if cond:
            print("ok   %s: %s" % (self.tag, name), flush=True)
        else:
            self.nfail += 1
            print("FAIL %s: %s%s" % (self.tag, name, (" (" + detail + ")") if detail else ""),
                  flush=True)
        return cond


def changed(c1, c0):
    return {"%s/%s" % k: v - c0.get(k, 0) for k, v in c1.items()
            if v != c0.get(k, 0) and k[0] != "non_rst_tcp"}


def ms(t):
    return "%.0f ms" % (t * 1000)


def recv_n(s, n, timeout=2.0):
    got = b""
    while len(got) < n:
        r = nl.recv_result(s, timeout)
        if r[0] != "data":
            break
        got += r[1]
    return got


def lose_server_data(x, sport):
    """From now on the server's segments without RST leave by a sink instead of towards the
    router: lost before the gateway sees them. A redirect (tc mirred) tells the server's TCP they
    went out, so its SND.NXT moves on, as it does for a segment lost on the wire; an nft or tc
    drop would report an error and TCP would keep the data unsent."""
    ns, dev = x.srv_ns, x.srv_if
    if x.v6:
        # Fixed offsets from the IPv6 header: no extension headers on these segments.
        match = ["protocol", "ipv6", "u32", "match", "u8", "6", "0xff", "at", "6",
                 "match", "u16", str(sport), "0xffff", "at", "40",
                 "match", "u8", "0", "0x04", "at", "53"]
    else:
        match = ["protocol", "ip", "u32", "match", "ip", "protocol", "6", "0xff",
                 "match", "u16", str(sport), "0xffff", "at", "20",
                 "match", "u8", "0", "0x04", "at", "33"]
    nl.sh(ns, "tc", "qdisc", "replace", "dev", dev, "clsact")
    nl.sh(ns, "tc", "filter", "add", "dev", dev, "egress", "prio", "1", *match,
          "action", "mirred", "egress", "redirect", "dev", "sink")


def stop_losing(x):
    nl.sh(x.srv_ns, "tc", "qdisc", "del", "dev", x.srv_if, "clsact", check=False)


def sc_abort(x, pol):
    """The server sends data whose last segment is lost before the router, then aborts: its RST
    carries its SND.NXT, beyond the client's RCV.NXT, so the gateway calls it inexact."""
    x.guard.policy(inexact=pol)
    ssn, csn = nl.Sniffer(x.srv_ns, x.srv_if), nl.Sniffer(x.cli_ns, x.cli_if)
    a, c = nl.pair(x.srv_ns, x.srv_addr, x.cli_ns, x.v6)
    nl.exchange(c, a)
    a.sendall(b"d" * 1000)
    first = recv_n(c, 1000)
    time.sleep(0.3)  # the client's ACK of it reaches the server
    la, lp, ra, rp = nl.endpoints(a)
    lose_server_data(x, lp)
    tail = 700
    a.sendall(b"t" * tail)
    time.sleep(0.3)  # its retransmissions are lost too
    c0 = x.guard.counters()
    ssn.poll()
    mark = len(ssn.segs)
    nl.set_linger0(a)
    a.close()
    r = nl.recv_result(c, 2.0 if pol == "drop" else 1.5)
    time.sleep(0.1)
    c1 = x.guard.counters()
    stop_losing(x)
    after = ssn.poll()[mark:]
    at_cli = csn.poll()
    ssn.close()
    csn.close()
    c.close()

    rst = [s for s in after if s.out and (s.src, s.sport) == (la, lp) and s.flags & nl.TCP_RST]
    if not x.check("%s: the server's abort left as a RST" % pol, len(first) == 1000 and rst,
                   "client read %d bytes, %d RSTs out" % (len(first), len(rst))):
        return
    abort = rst[0]
    rcv_nxt = (abort.seq - tail) & M32  # the client got everything before the lost tail
    acks = [s for s in after if not s.out and (s.src, s.sport, s.dst, s.dport) == (ra, rp, la, lp)
            and s.flags == nl.TCP_ACK and s.plen == 0]
    inexact = nl.delta(c1, c0, "inexact", "drop")
    if pol == "drop":
        x.check("inexact=drop: the client's recv does not fail within 2 s (the abort is lost)",
                r[0] == "timeout", "got %s %s after %s" %
                (r[0], r[1] if r[0] == "error" else "", ms(r[2])))
        x.check("inexact=drop: the abort was dropped as inexact, no challenge ACK went back",
                inexact == 1 and not acks and
                nl.delta(c1, c0, "challenge_sent") == 0, "acks %d; deltas %s" %
                (len(acks), changed(c1, c0)))
        return
    print("# inexact=challenge: the client's recv ended (%s) %.2f ms after the abort" %
          (r[0], r[2] * 1000), flush=True)
    x.check("inexact=challenge: the client's recv fails with ECONNRESET within 1.5 s",
            r[0] == "error" and r[1] == errno.ECONNRESET and r[2] < 1.5,
            "got %s %s after %s" % (r[0], r[1] if r[0] == "error" else "", ms(r[2])))
    x.check("inexact=challenge: a challenge ACK in the client's name reached the server, "
            "ACK at the client's RCV.NXT", len(acks) == 1 and acks[0].ack == rcv_nxt,
            "pure ACKs after the abort: %s, want one with ack %d" %
            ([(s.seq, s.ack, s.win) for s in acks], rcv_nxt))
    answer = [s for s in after if s.out and s.flags & nl.TCP_RST and s.seq == rcv_nxt]
    x.check("inexact=challenge: the server's stack answered it with an exact RST",
            len(answer) == 1, "RSTs out after the abort: %s" % [s.seq for s in rst])
    got = [s for s in at_cli if not s.out and s.flags & nl.TCP_RST and s.seq == rcv_nxt]
    x.check("inexact=challenge: the exact RST crossed the router to the client", len(got) == 1,
            "RSTs at the client: %s" % [s.seq for s in at_cli if s.flags & nl.TCP_RST])
    x.check("inexact=challenge: counted inexact/drop, challenge_sent and the answer valid/pass",
            inexact == 1 and nl.delta(c1, c0, "challenge_sent") == 1 and
            nl.delta(c1, c0, "valid", "pass") >= 1, "deltas %s" % changed(c1, c0))


def sc_flood(x, n=5000):
    """5,000 forged in-window RSTs at a live flow, in the client's name towards the server, from
    the attacker's segment through the router, within one second."""
    x.guard.policy(inexact="challenge")
    ssn = nl.Sniffer(x.srv_ns, x.srv_if)
    csn = nl.Sniffer(x.cli_ns, x.cli_if)
    a, c = nl.pair(x.srv_ns, x.srv_addr, x.cli_ns, x.v6)
    nl.exchange(c, a)
    nl.exchange(a, c)
    time.sleep(0.3)
    la, lp, ra, rp = nl.endpoints(a)
    segs = ssn.poll()
    ssn.close()
    v = nl.ConnView(segs, (la, lp), (ra, rp))
    snd_nxt = [s.end() for s in segs if (s.src, s.sport) == (la, lp)][-1]
    # Beyond RCV.NXT, inside the first half of the window: inexact for the router and the server.
    seqs = [(v.rcv_nxt + 1 + x.rng.randrange(v.win // 2)) & M32 for _ in range(n)]
    ch0 = {ns: nl.netstat(ns, "TCPChallengeACK") for ns in (x.srv_ns, x.cli_ns)}
    c0 = x.guard.counters()
    csn.poll()
    mark = len(csn.segs)
    inj = nl.Injector(x.atk_ns, x.atk_if, x.atk_mac, x.rtr_mac)
    # Spread over most of the second, so that the limit is seen to let one through per interval.
    t0 = time.monotonic()
    sent = 0
    for k in range(10):
        sent += inj.flood_seqs(ra, la, rp, lp, seqs[k * n // 10:(k + 1) * n // 10], x.v6)
        time.sleep(max(0.0, t0 + 0.09 * (k + 1) - time.monotonic()))
    dt = time.monotonic() - t0
    inj.close()
    time.sleep(0.3)
    c1 = x.guard.counters()
    ch1 = {ns: nl.netstat(ns, "TCPChallengeACK") for ns in (x.srv_ns, x.cli_ns)}
    at_cli = [s for s in csn.poll()[mark:] if not s.out and s.flags == nl.TCP_ACK and
              s.plen == 0 and (s.src, s.sport, s.dst, s.dport) == (la, lp, ra, rp)]
    csn.close()
    alive = nl.exchange(c, a) and nl.exchange(a, c)
    a.close()
    c.close()
    chal = nl.delta(c1, c0, "challenge_sent")
    # One at the start, then one per 500 ms while the RSTs keep coming: a flood of dt seconds
    # draws dt / 0.5 + 1 at most, and at least one per whole interval (a jiffy of slack).
    limit = int(dt / 0.5) + 1
    least = max(1, int((dt - 0.02) / 0.5))
    print("# flood: %d RSTs in %.2f s, %d challenge ACKs" % (sent, dt, chal), flush=True)
    x.check("flood: %d forged RSTs sent within one second" % n, sent == n and dt < 1.0,
            "%d in %.2f s" % (sent, dt))
    x.check("flood: the connection survives and still echoes", alive)
    x.check("flood: every RST dropped as inexact", nl.delta(c1, c0, "inexact", "drop") == sent,
            "deltas %s" % changed(c1, c0))
    x.check("flood: challenge ACKs sent stay within the per-flow limit (%d <= %d <= %d), the "
            "rest limited" % (least, chal, limit), least <= chal <= limit and
            nl.delta(c1, c0, "challenge_limited") == sent - chal, "deltas %s" % changed(c1, c0))
    x.check("flood: the client received exactly those challenge ACKs, at the server's SND.NXT "
            "and RCV.NXT", len(at_cli) == chal and
            all((s.seq, s.ack) == (snd_nxt, v.rcv_nxt) for s in at_cli),
            "pure ACKs from the server at the client: %s, want %d at %s" %
            ([(s.seq, s.ack) for s in at_cli], chal, (snd_nxt, v.rcv_nxt)))
    moved = {ns.rsplit("-", 1)[-1]: ch1[ns] - ch0[ns] for ns in ch0}
    print("# flood: TCPChallengeACK moved by %s" % moved, flush=True)
    x.check("flood: the endpoints' TCPChallengeACK counters barely move (<= 2)",
            all(d <= 2 for d in moved.values()), "moved %s" % moved)


def sc_kernel(x):
    """Role both, a session of the router's own: its socket judges, and an inexact RST is handed
    to its kernel, which sends its own challenge ACK (RFC 5961)."""
    x.guard.policy(inexact="challenge")
    sn = nl.Sniffer(x.rtr_ns, "eth0")
    a, c = nl.pair(x.rtr_ns, x.rtr_addr, x.cli_ns, x.v6)
    nl.exchange(c, a)
    time.sleep(0.3)
    la, lp, ra, rp = nl.endpoints(a)
    v = nl.ConnView(sn.poll(), (la, lp), (ra, rp))
    sn.close()
    ch0, c0 = nl.netstat(x.rtr_ns, "TCPChallengeACK"), x.guard.counters()
    inj = nl.Injector(x.atk_ns, x.atk_if, x.atk_mac, x.rtr_mac)
    inj.flood_seqs(ra, la, rp, lp, [(v.rcv_nxt + v.win // 4) & M32], x.v6)
    inj.close()
    time.sleep(0.2)
    ch1, c1 = nl.netstat(x.rtr_ns, "TCPChallengeACK"), x.guard.counters()
    alive = nl.exchange(c, a) and nl.exchange(a, c)
    a.close()
    c.close()
    x.check("role both, the router's own session: the inexact RST went to its kernel "
            "(inexact/pass), which sent its own challenge ACK",
            nl.delta(c1, c0, "inexact", "pass") == 1 and ch1 - ch0 == 1 and
            nl.delta(c1, c0, "challenge_sent") == 0,
            "TCPChallengeACK moved by %d; deltas %s" % (ch1 - ch0, changed(c1, c0)))
    x.check("role both, the router's own session survives", alive)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--v6", action="store_true")
    ap.add_argument("--cli", required=True, help="NS,IF,ADDR")
    ap.add_argument("--srv", required=True, help="NS,IF,ADDR (the server has a device 'sink')")
    ap.add_argument("--rtr", required=True, help="NS,ADDR: the router (rstguard's namespace)")
    ap.add_argument("--atk", required=True, help="NS,IF,MAC,ROUTER_MAC")
    ap.add_argument("--rg", required=True)
    ap.add_argument("--pin-dir", required=True)
    ap.add_argument("--only", default="abort,flood")
    ap.add_argument("--id", type=int, default=0)
    ap.add_argument("--seed", type=int, default=None)
    x = Ctx(ap.parse_args())
    steps = {"abort": lambda: (sc_abort(x, "drop"), sc_abort(x, "challenge")),
             "flood": lambda: sc_flood(x), "kernel": lambda: sc_kernel(x)}
    for name in ap.parse_args().only.split(","):
        try:
            steps[name]()
        except Exception as e:  # a broken step is a failed check; the next one still runs
            x.check("%s completes" % name, False, "%s: %s" % (type(e).__name__, e))
        finally:
            stop_losing(x)
    x.guard.policy(inexact="drop")
    return 1 if x.nfail else 0


if __name__ == "__main__":
    sys.exit(main())
