# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Driver of tests/e2e/reopen.sh: a blind forger who knows a live connection's 4-tuple sends a
whole forged handshake on it, or one SYN after a flood has evicted its entry; the server's real
abort must still reach the client. One "ok"/"FAIL" line per check."""

import argparse
import errno
import os
import random
import struct
import sys
import time

import netlab as nl


class Run:
    def __init__(self, a):
        self.tag, self.v6 = a.tag, a.v6
        self.cli_ns, self.cli_if, self.cli = a.cli.split(",")
        self.srv_ns, self.srv_if, self.srv = a.srv.split(",")
        self.atk_ns, self.atk_if, self.atk, self.atk_mac, self.rtr_mac = a.atk.split(",")
        self.void = a.void
        self.guard = nl.Guard(a.rg, a.pin_dir, a.guard_ns)
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

    def pair(self):
        """A fresh connection that has moved data: (server's socket, client's socket)."""
        s, c = nl.pair(self.srv_ns, self.srv, self.cli_ns, self.v6)
        nl.exchange(c, s)
        time.sleep(0.3)  # the delayed ACKs go by: the connection is idle
        return s, c

    def injector(self):
        return nl.Injector(self.atk_ns, self.atk_if, self.atk_mac, self.rtr_mac)

    def challenge_acks(self):
        return nl.netstat(self.cli_ns, "TCPChallengeACK") + \
            nl.netstat(self.srv_ns, "TCPChallengeACK")

    def forge(self, inj, s, frm, seq, ack, flags):
        """One forged segment on the connection of server socket s, in the name of frm."""
        sa, sp, ca, cp = nl.endpoints(s)
        if frm == "cli":
            inj.send(inj.frame(ca, sa, cp, sp, seq, ack, flags, self.v6))
        else:
            inj.send(inj.frame(sa, ca, sp, cp, seq, ack, flags, self.v6))

    def forge_reopen(self, s):
        """The re-open takeover: an out-of-window ACK to each endpoint (Linux then keeps its
        challenge ACKs back for 500 ms), then SYN, SYN-ACK and ACK at numbers of the forger's."""
        r = self.rng.getrandbits
        x, y = r(32), r(32)
        inj = self.injector()
        self.forge(inj, s, "cli", r(32), r(32), "A")
        self.forge(inj, s, "srv", r(32), r(32), "A")
        self.forge(inj, s, "cli", x, 0, "S")
        self.forge(inj, s, "srv", y, (x + 1) & 0xffffffff, "SA")
        self.forge(inj, s, "cli", (x + 1) & 0xffffffff, (y + 1) & 0xffffffff, "A")
        inj.close()
        time.sleep(0.05)

    def abort_reaches_client(self, what, s, c, c0, reason):
        """The server aborts (SO_LINGER 0): the client's read fails with ECONNRESET within 1 s,
        and rstguard passed the reset (counted `reason`) and dropped nothing."""
        nl.set_linger0(s)
        s.close()
        r = nl.recv_result(c, 2.0)
        c.close()
        self.check("%s: the server's abort reaches the client (ECONNRESET within 1 s)" % what,
                   r[0] == "error" and r[1] == errno.ECONNRESET and r[2] < 1.0,
                   "got %s %s after %.0f ms" % (r[0], r[1] if r[0] == "error" else "",
                                                r[2] * 1000))
        c1 = self.guard.counters()
        self.check("%s: rstguard passed it as %s and dropped nothing" % (what, reason),
                   nl.delta(c1, c0, reason, "pass") >= 1 and nl.delta(c1, c0, action="drop") == 0,
                   "deltas %s" % changed(c1, c0))

    def entry(self, s):
        """The flow entry of the connection of server socket s (`flows -j`), or None."""
        sa, sp, ca, cp = nl.endpoints(s)
        want = {(sa, sp), (ca, cp)}
        for f in self.guard.json("flows", "--limit", "0")["flows"]:
            if {(f["a"]["addr"], f["a"]["port"]), (f["b"]["addr"], f["b"]["port"])} == want:
                return f
        return None

    def evict(self, s, rounds=16):
        """SYNs for random 4-tuples (to an address nobody holds), each sent twice, until the LRU
        table has evicted the connection's entry. Returns the SYNs sent, None if it stayed.
        The kernel's LRU keeps new entries on a list of the CPU that made them until that CPU
        needs room, and a veth runs XDP on the sender's CPU: the flood moves from CPU to CPU,
        as a NIC's receive-side scaling spreads random 4-tuples over all of them."""
        cpus = sorted(os.sched_getaffinity(0))
        try:
            return self._evict(s, rounds, cpus)
        finally:
            os.sched_setaffinity(0, cpus)

    def _evict(self, s, rounds, cpus):
        inj = self.injector()
        base = bytearray(inj.frame(self.atk, self.void, 0, 0, 0, 0, "S", self.v6))
        to = 54 if self.v6 else 34
        c0 = struct.unpack_from("!H", base, to + 16)[0]
        sent = 0
        for r in range(rounds):
            os.sched_setaffinity(0, {cpus[r % len(cpus)]})
            batch = [(self.rng.randrange(1024, 65536), self.rng.randrange(1, 65536),
                      self.rng.getrandbits(32)) for _ in range(1024)]
            for sp, dp, seq in batch:
                struct.pack_into("!HHI", base, to, sp, dp, seq)
                c = fold((~c0 & 0xffff) + sp + dp + (seq >> 16) + (seq & 0xffff))
                struct.pack_into("!H", base, to + 16, ~c & 0xffff)
                # Twice: the second finds the new entry, which then counts as in use.
                for _ in range(2):
                    inj._send_paced(base, sent)
                    sent += 1
            time.sleep(0.1)
            if self.entry(s) is None:
                inj.close()
                return sent
        inj.close()
        return None


def fold(x):
    while x >> 16:
        x = (x & 0xffff) + (x >> 16)
    return x


def changed(c1, c0):
    return {"%s/%s" % k: v - c0.get(k, 0) for k, v in c1.items()
            if v != c0.get(k, 0) and k[0] != "non_rst_tcp"}


def sc_abort(x):
    """The same abort with no attack."""
    s, c = x.pair()
    x.abort_reaches_client("no attack", s, c, x.guard.counters(), "valid")


def sc_reopen(x):
    """The re-open takeover, then at once the server's abort."""
    s, c = x.pair()
    c0, ch0 = x.guard.counters(), x.challenge_acks()
    x.forge_reopen(s)
    c1 = x.guard.counters()
    x.check("forged re-open: its 5 segments crossed rstguard, no endpoint sent a challenge ACK",
            nl.delta(c1, c0, "non_rst_tcp", "pass") >= 5 and x.challenge_acks() == ch0,
            "non_rst_tcp +%d, TCPChallengeACK +%d" % (nl.delta(c1, c0, "non_rst_tcp", "pass"),
                                                      x.challenge_acks() - ch0))
    x.abort_reaches_client("forged re-open", s, c, c1, "valid")


def sc_reopen_then_blind(x, nrand=2000):
    """The re-open takeover, then the real endpoints talk: the entry follows them again, a blind
    RST flood with a window sweep at the server is all dropped, and the real abort passes."""
    sn = nl.Sniffer(x.srv_ns, x.srv_if)  # from the SYNs on: their window scale counts
    s, c = x.pair()
    n0 = len(sn.poll())
    x.forge_reopen(s)
    time.sleep(0.1)
    n1 = len(sn.poll())
    alive = nl.exchange(c, s) and nl.exchange(s, c)
    time.sleep(0.3)
    sa, sp, ca, cp = nl.endpoints(s)
    # The server's RCV.NXT and window as the wire shows them, the forged segments left out.
    segs = sn.poll()
    v = nl.ConnView(segs[:n0] + segs[n1:], (sa, sp), (ca, cp))
    sn.close()
    if not x.check("forged re-open, then real traffic: the connection still moves data",
                   alive and v.rcv_nxt is not None and v.win and v.win >= 16384,
                   "window %s" % v.win):
        return
    bad = {v.rcv_nxt, (v.rcv_nxt - 1) & 0xffffffff}
    seqs = [q for q in (x.rng.getrandbits(32) for _ in range(nrand)) if q not in bad]
    start = v.rcv_nxt + v.win // 2
    seqs += [(start + k * v.win) & 0xffffffff for k in range(-(-(1 << 32) // v.win))]
    c0 = x.guard.counters()
    inj = x.injector()
    sent = inj.flood_seqs(ca, sa, cp, sp, seqs, x.v6)
    inj.close()
    time.sleep(0.2)
    c1 = x.guard.counters()
    dropped = nl.delta(c1, c0, ("out_of_window", "inexact"), "drop")
    x.check("then %d blind RSTs (a sweep in %d-byte steps): every one dropped" % (sent, v.win),
            dropped == sent, "dropped %d; deltas %s" % (dropped, changed(c1, c0)))
    x.check("then the connection survives and moves data",
            nl.exchange(c, s) and nl.exchange(s, c))
    time.sleep(0.3)
    x.abort_reaches_client("forged re-open, real traffic, blind flood", s, c,
                           x.guard.counters(), "valid")


def sc_evicted(x, forged_syn):
    """A SYN flood evicts the idle connection's entry. Then either one SYN forged in the
    client's name, or the real endpoints' exchange; then the server's abort."""
    s, c = x.pair()
    what = "eviction, a forged SYN" if forged_syn else "eviction, then real traffic"
    if forged_syn:
        # A stack without RFC 5961 does not answer a SYN on an established connection; Linux
        # does, unless it answered another invalid segment moments ago. Stand in for the former:
        # one out-of-window ACK, sent while the entry is still verified (it leaves no trace),
        # and a long rate limit window on the server.
        nl.sh(x.srv_ns, "sysctl", "-qw", "net.ipv4.tcp_invalid_ratelimit=60000")
        inj = x.injector()
        x.forge(inj, s, "cli", x.rng.getrandbits(32), x.rng.getrandbits(32), "A")
        inj.close()
    try:
        n = x.evict(s)
        if not x.check("%s: a SYN flood of random 4-tuples evicts the idle entry" % what,
                       n is not None, "still tracked after the flood"):
            return
        print("# %s: evicted after %d SYNs" % (x.tag, n), flush=True)
        if forged_syn:
            ch0 = x.challenge_acks()
            inj = x.injector()
            x.forge(inj, s, "cli", x.rng.getrandbits(32), 0, "S")
            inj.close()
            time.sleep(0.05)
            e = x.entry(s)
            x.check("%s: the SYN made a syn_sent entry, the server sent no challenge ACK" % what,
                    e is not None and e["state"] == "syn_sent" and x.challenge_acks() == ch0,
                    "entry %s, TCPChallengeACK +%d" % (e and e["state"], x.challenge_acks() - ch0))
            reason = "unverified"
        else:
            x.check("%s: the connection still moves data" % what,
                    nl.exchange(c, s) and nl.exchange(s, c))
            time.sleep(0.3)
            reason = "valid"
        x.abort_reaches_client(what, s, c, x.guard.counters(), reason)
    finally:
        if forged_syn:
            nl.sh(x.srv_ns, "sysctl", "-qw", "net.ipv4.tcp_invalid_ratelimit=500")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--v6", action="store_true")
    ap.add_argument("--cli", required=True, help="NS,IF,ADDR of the client")
    ap.add_argument("--srv", required=True, help="NS,IF,ADDR of the server")
    ap.add_argument("--atk", required=True, help="NS,IF,ADDR,MAC,ROUTER_MAC of the attacker")
    ap.add_argument("--void", required=True, help="an address behind the router nobody holds")
    ap.add_argument("--guard-ns", required=True)
    ap.add_argument("--rg", default="build/rstguard")
    ap.add_argument("--pin-dir", required=True)
    ap.add_argument("--seed", type=int, default=None)
    x = Run(ap.parse_args())
    steps = (("no attack", sc_abort), ("forged re-open", sc_reopen),
             ("forged re-open, then a blind flood", sc_reopen_then_blind),
             ("eviction and a forged SYN", lambda r: sc_evicted(r, True)),
             ("eviction and real traffic", lambda r: sc_evicted(r, False)))
    for name, fn in steps:
        try:
            fn(x)
        except Exception as e:  # a broken step is a failed check; the next one still runs
            x.check("%s completes" % name, False, "%s: %s" % (type(e).__name__, e))
    return 1 if x.nfail else 0


if __name__ == "__main__":
    sys.exit(main())
