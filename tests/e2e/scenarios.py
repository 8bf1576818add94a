# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The end-to-end scenarios (the five legitimate resets and the attacks of SPEC section 1 and
issue 5), run against one endpoint A on a topology the calling shell script built; prints one
"ok"/"FAIL" line per check."""

import argparse
import errno
import random
import select
import sys
import time

import netlab as nl

ALL = ("L1", "L2", "L3", "L4", "L5", "evasion", "blind", "inexact", "noflow", "onpath", "monitor",
       "live")


class Ctx:
    def __init__(self, args):
        self.tag = args.tag
        self.v6 = args.v6
        self.a_ns, self.a_if, self.a_addr = args.a.split(",")
        self.b_ns, self.b_addr = args.b.split(",")
        self.a_listens = args.listener == "a"
        atk = args.atk.split(",")
        self.atk_ns, self.atk_if, self.atk_mac, self.atk_dmac = atk
        self.guard = nl.Guard(args.rg, args.pin_dir, args.guard_ns) if args.guard_ns else None
        self.rng = random.Random(args.seed)
        self.npass = self.nfail = 0
        self.table = "rge2e%d" % args.id
        self.attach = args.attach.split() if args.attach else None
        self.attach_ifaces = []
        for w in self.attach or ():
            if w.startswith("-"):
                break
            self.attach_ifaces.append(w)

    def check(self, name, cond, detail=""):
        if cond:
            self.npass += 1
            print("ok   %s: %s" % (self.tag, name), flush=True)
        else:
            self.nfail += 1
            print("FAIL %s: %s%s" % (self.tag, name, (" (" + detail + ")") if detail else ""),
                  flush=True)
        return cond

    def pair(self):
        """A fresh connection: returns (A's socket, B's socket), whichever side listens."""
        if self.a_listens:
            return nl.pair(self.a_ns, self.a_addr, self.b_ns, self.v6)
        b, a = nl.pair(self.b_ns, self.b_addr, self.a_ns, self.v6)
        return a, b

    def counters(self):
        return self.guard.counters() if self.guard else {}

    def challenge_acks(self):
        return nl.netstat(self.a_ns, "TCPChallengeACK")

    def injector(self):
        return nl.Injector(self.atk_ns, self.atk_if, self.atk_mac, self.atk_dmac)

    def view(self, sniffer, a, settle=0.3):
        """A's RCV.NXT and window, read from the wire once the connection has gone idle (the
        delayed ACK of the last data has left)."""
        time.sleep(settle)
        la, lp, ra, rp = nl.endpoints(a)
        v = nl.ConnView(sniffer.poll(), (la, lp), (ra, rp))
        if v.rcv_nxt is None or not v.win:
            raise RuntimeError("no sequence numbers seen on the wire for %s:%d" % (la, lp))
        return v

    def legit_counters(self, name, c0, min_valid=1):
        """After a legitimate reset: rstguard passed it as valid and dropped nothing."""
        if not self.guard:
            return
        c1 = self.counters()
        dropped = nl.delta(c1, c0, action="drop")
        valid = nl.delta(c1, c0, "valid", "pass")
        self.check(name + ": rstguard passed it as valid, dropped nothing",
                   valid >= min_valid and dropped == 0, "counter deltas %s" % changed(c1, c0))


def ms(t):
    return "%.0f ms" % (t * 1000)


def sc_L1(x):
    c0 = x.counters()
    # Nothing listens on the discard port in a namespace the test just made.
    s, err, dt = nl.connect(x.a_ns, x.b_addr, 9, x.v6, timeout=3.0)
    if s:
        s.close()
    x.check("L1 SYN to a closed port: connect() fails with ECONNREFUSED at once",
            err == errno.ECONNREFUSED and dt < 0.5, "got %s after %s" % (err, ms(dt)))
    x.legit_counters("L1", c0)


def sc_L2(x):
    a, b = x.pair()
    nl.exchange(b, a)
    c0 = x.counters()
    nl.set_linger0(b)
    b.close()
    r = nl.recv_result(a, 2.0)
    x.check("L2 abortive close (SO_LINGER 0): the peer gets ECONNRESET",
            r[0] == "error" and r[1] == errno.ECONNRESET and r[2] < 0.5,
            "got %s %s after %s" % (r[0], r[1] if r[0] == "error" else "", ms(r[2])))
    x.legit_counters("L2", c0)
    a.close()


def sc_L3(x):
    a, b = x.pair()
    nl.exchange(b, a)
    a.sendall(b"unread data " * 100)
    # The data must sit in B's receive queue when B closes (B never reads it), or no reset.
    select.select([b], [], [], 1.0)
    c0 = x.counters()
    b.close()
    r = nl.recv_result(a, 2.0)
    x.check("L3 close with unread data: the peer gets ECONNRESET",
            r[0] == "error" and r[1] == errno.ECONNRESET and r[2] < 0.5,
            "got %s %s after %s" % (r[0], r[1] if r[0] == "error" else "", ms(r[2])))
    x.legit_counters("L3", c0)
    a.close()


def timewait_once(x, form=None):
    """A closes first and sits in TIME-WAIT; B's exact RST (sequence read from the wire, shaped
    as `form` of nl.EVASIONS if given) then either ends it (Linux default) or is dropped
    (RFC 1337). Returns the states before and after and the counters around it."""
    sn = nl.Sniffer(x.a_ns, x.a_if)
    a, b = x.pair()
    nl.exchange(b, a)
    la, lp, ra, rp = nl.endpoints(a)
    a.close()
    nl.recv_result(b, 1.0)  # B reads the EOF ...
    b.close()               # ... and closes: A acks B's FIN and enters TIME-WAIT
    deadline = time.monotonic() + 2
    while nl.tcp_states(x.a_ns, lp, rp, x.v6) != ["06"] and time.monotonic() < deadline:
        time.sleep(0.02)
    st0 = nl.tcp_states(x.a_ns, lp, rp, x.v6)
    v = nl.ConnView(sn.poll(), (la, lp), (ra, rp))
    sn.close()
    c0 = x.counters()
    if form:
        for p in nl.evasive_rst(form, ra, la, rp, lp, v.rcv_nxt, x.v6):
            nl.send_l3(x.b_ns, p, la, x.v6)
    else:
        nl.send_l3(x.b_ns, nl.rst_packet(ra, la, rp, lp, v.rcv_nxt, v6=x.v6), la, x.v6)
    time.sleep(0.2)
    return st0, nl.tcp_states(x.a_ns, lp, rp, x.v6), c0, x.counters()


def sc_L4(x):
    policies = ("accept", "drop") if x.guard else ("accept",)
    for pol in policies:
        if x.guard:
            x.guard.policy(timewait=pol)
        st0, st1, c0, c1 = timewait_once(x)
        if pol == "accept":
            x.check("L4 exact RST to TIME-WAIT%s: TIME-WAIT ended" %
                    (" under timewait=accept" if x.guard else ""),
                    st0 == ["06"] and st1 == [], "states before %s, after %s" % (st0, st1))
        else:
            x.check("L4 exact RST to TIME-WAIT under timewait=drop: TIME-WAIT kept",
                    st0 == ["06"] and st1 == ["06"], "states before %s, after %s" % (st0, st1))
        if x.guard:
            act = "pass" if pol == "accept" else "drop"
            n = nl.delta(c1, c0, "timewait", act)
            x.check("L4 timewait=%s: counted as timewait/%s" % (pol, act), n == 1,
                    "timewait/%s moved by %d; deltas %s" % (act, n, changed(c1, c0)))
    if x.guard:
        x.guard.policy(timewait="accept")


def sc_evasion(x):
    """The exact RST of L4 in the shapes that slipped past first-header parsers. The kernel acts
    on each (the run without rstguard shows it), so under timewait=drop a TIME-WAIT that ends
    means the filter never saw the RST for what it was."""
    if x.guard:
        x.guard.policy(timewait="drop")
    for form in nl.EVASIONS[x.v6]:
        st0, st1, c0, c1 = timewait_once(x, form)
        if not x.guard:
            x.check("evasion %s: the kernel acts on the RST (TIME-WAIT ended)" % form,
                    st0 == ["06"] and st1 == [], "states before %s, after %s" % (st0, st1))
            continue
        # A first fragment too short to show the flags is "unparsed" (dropped by default); every
        # other shape must be parsed through to the TIME-WAIT verdict.
        want = "short_fragment" if form == "split-flags" and not x.v6 else "timewait"
        dropped = nl.delta(c1, c0, want, "drop")
        x.check("evasion %s: exact RST to TIME-WAIT under timewait=drop dropped as %s" %
                (form, want), st0 == ["06"] and st1 == ["06"] and dropped == 1,
                "states before %s, after %s; deltas %s" % (st0, st1, changed(c1, c0)))
    if x.guard:
        x.guard.policy(timewait="accept")


def sc_L5(x):
    a, b = x.pair()
    nl.exchange(b, a)
    t = x.table
    # B loses its state silently: its own kernel's RST never leaves B.
    nl.sh(x.b_ns, "nft", "add table inet %s; add chain inet %s out "
          "{ type filter hook output priority 0; }; "
          "add rule inet %s out tcp flags & rst == rst counter drop" % (t, t, t))
    nl.set_linger0(b)
    b.close()
    time.sleep(0.05)
    listing = nl.sh(x.b_ns, "nft", "list table inet %s" % t).stdout
    nl.sh(x.b_ns, "nft", "delete table inet %s" % t)
    suppressed = "packets 0 " not in listing
    c0 = x.counters()
    try:
        a.sendall(b"are you there?\n")
        r = nl.recv_result(a, 2.0)
    except OSError as e:
        r = ("error", e.errno, 0.0)
    x.check("L5 half-open: the abort's RST was suppressed, A's next write draws a RST, "
            "ECONNRESET", suppressed and r[0] == "error" and r[1] == errno.ECONNRESET and
            r[2] < 0.5, "suppressed %s, got %s %s after %s" %
            (suppressed, r[0], r[1] if r[0] == "error" else "", ms(r[2])))
    x.legit_counters("L5", c0)
    a.close()


def changed(c1, c0):
    return {"%s/%s" % k: v - c0.get(k, 0) for k, v in c1.items()
            if v != c0.get(k, 0) and k[0] != "non_rst_tcp"}


def blind_seqs(x, v, nrand):
    """nrand random sequence numbers, then one per window-sized step over the whole space. The
    exact RCV.NXT (and RCV.NXT-1) are left out of the random part and the sweep starts half a
    window past it: a blind attacker hits it with odds 2^-32 a packet, a test must not."""
    bad = {v.rcv_nxt, (v.rcv_nxt - 1) & 0xffffffff}
    seqs = [s for s in (x.rng.getrandbits(32) for _ in range(nrand)) if s not in bad]
    step = v.win
    start = v.rcv_nxt + step // 2
    seqs += [(start + k * step) & 0xffffffff for k in range(-(-(1 << 32) // step))]
    return seqs


def sc_blind(x, nrand=30000):
    sn = nl.Sniffer(x.a_ns, x.a_if)
    a, b = x.pair()
    nl.exchange(b, a)
    v = x.view(sn, a)
    sn.close()
    la, lp, ra, rp = nl.endpoints(a)
    seqs = blind_seqs(x, v, nrand)
    ch0, c0 = x.challenge_acks(), x.counters()
    inj = x.injector()
    t0 = time.monotonic()
    sent = inj.flood_seqs(ra, la, rp, lp, seqs, x.v6)
    dt = time.monotonic() - t0
    inj.close()
    time.sleep(0.2)
    alive = nl.exchange(a, b) and nl.exchange(b, a)
    ch1, c1 = x.challenge_acks(), x.counters()
    print("# blind attack: %d RSTs in %.1fs" % (sent, dt), flush=True)
    what = "blind attack, %d RSTs (%d random + a sweep in %d-byte steps)" % (sent, nrand, v.win)
    x.check(what + ": the connection survives and moves data", alive)
    if x.guard:
        dropped = nl.delta(c1, c0, ("out_of_window", "inexact"), "drop")
        x.check("blind attack: rstguard dropped every one (%d)" % sent, dropped == sent,
                "dropped %d of %d; deltas %s" % (dropped, sent, changed(c1, c0)))
        x.check("blind attack: the protected kernel sent no challenge ACK",
                ch1 == ch0, "TCPChallengeACK moved by %d" % (ch1 - ch0))
    else:
        x.check("blind attack: the kernel itself answered with challenge ACKs (RFC 5961)",
                ch1 > ch0, "TCPChallengeACK moved by %d" % (ch1 - ch0))
    a.close()
    b.close()


def sc_midstream(x, nrand=5000):
    """rstguard attached to a router whose sessions are already up: the flow is learned from its
    first packets (no handshake seen, window scale unknown). Forged RSTs are still dropped, and the
    peer's real abort still gets through."""
    if not x.guard or not x.attach:
        return
    x.guard.run("detach", *x.attach_ifaces)
    sn = nl.Sniffer(x.a_ns, x.a_if)
    a, b = x.pair()
    nl.exchange(b, a)
    x.guard.run("attach", *x.attach)
    # Both directions speak after the attach: the flow is picked up mid-stream.
    alive0 = nl.exchange(b, a) and nl.exchange(a, b)
    v = x.view(sn, a)
    sn.close()
    la, lp, ra, rp = nl.endpoints(a)
    bad = {v.rcv_nxt, (v.rcv_nxt - 1) & 0xffffffff}
    seqs = [q for q in (x.rng.getrandbits(32) for _ in range(nrand)) if q not in bad]
    c0 = x.counters()
    inj = x.injector()
    sent = inj.flood_seqs(ra, la, rp, lp, seqs, x.v6)
    inj.close()
    time.sleep(0.2)
    alive = alive0 and nl.exchange(a, b) and nl.exchange(b, a)
    c1 = x.counters()
    x.check("mid-stream pickup: a session up before attach survives %d forged RSTs" % sent,
            alive)
    dropped = nl.delta(c1, c0, action="drop")
    x.check("mid-stream pickup: every forged RST dropped", dropped == sent,
            "dropped %d of %d; deltas %s" % (dropped, sent, changed(c1, c0)))
    c0 = x.counters()
    nl.set_linger0(b)
    b.close()
    r = nl.recv_result(a, 2.0)
    x.check("mid-stream pickup: the peer's abortive close still reaches A (ECONNRESET)",
            r[0] == "error" and r[1] == errno.ECONNRESET and r[2] < 0.5,
            "got %s %s after %s" % (r[0], r[1] if r[0] == "error" else "", ms(r[2])))
    x.legit_counters("mid-stream pickup abort", c0)
    a.close()


def sc_inexact(x):
    sn = nl.Sniffer(x.a_ns, x.a_if)
    a, b = x.pair()
    nl.exchange(b, a)
    v = x.view(sn, a)
    la, lp, ra, rp = nl.endpoints(a)
    inj = x.injector()
    for pol in (("drop", "pass") if x.guard else (None,)):
        if pol:
            x.guard.policy(inexact=pol)
        v = x.view(sn, a, settle=0.1)
        ch0, c0 = x.challenge_acks(), x.counters()
        # A quarter window past RCV.NXT: inside what both the kernel and rstguard call the window.
        inj.flood_seqs(ra, la, rp, lp, [(v.rcv_nxt + v.win // 4) & 0xffffffff], x.v6)
        time.sleep(0.1)
        alive = nl.exchange(a, b) and nl.exchange(b, a)
        ch1, c1 = x.challenge_acks(), x.counters()
        under = " under inexact=%s" % pol if pol else ""
        x.check("in-window inexact RST%s: the connection survives" % under, alive)
        if pol:
            n = nl.delta(c1, c0, "inexact", pol)
            x.check("inexact=%s: counted as inexact/%s" % (pol, pol), n == 1,
                    "deltas %s" % changed(c1, c0))
            want = 0 if pol == "drop" else 1
            x.check("inexact=%s: kernel challenge ACKs moved by %d" % (pol, want),
                    ch1 - ch0 == want, "moved by %d" % (ch1 - ch0))
        else:
            x.check("in-window inexact RST: the kernel answered with a challenge ACK",
                    ch1 - ch0 == 1, "moved by %d" % (ch1 - ch0))
        time.sleep(0.55)  # the kernel rate-limits challenge ACKs to one per 500 ms per socket
    if x.guard:
        x.guard.policy(inexact="drop")
    sn.close()
    inj.close()
    a.close()
    b.close()


def sc_noflow(x, n=3000):
    if not x.guard:
        return
    ls = nl.listener(x.a_ns, x.a_addr, x.v6)
    port = ls.getsockname()[1]
    inj = x.injector()
    for pol, count in (("drop", n), ("pass", n // 10)):
        x.guard.policy(unknown=pol)
        c0 = x.counters()
        # Half aimed at a listening port (a listener is not a connection), half anywhere.
        half = count // 2
        inj.flood_tuples(x.b_addr, x.a_addr, half, x.v6, dports=(port,), rng=x.rng)
        inj.flood_tuples(x.b_addr, x.a_addr, count - half, x.v6, rng=x.rng)
        time.sleep(0.1)
        c1 = x.counters()
        got = nl.delta(c1, c0, "no_flow", pol)
        x.check("%d spoofed RSTs for nonexistent connections under unknown=%s: all counted "
                "no_flow/%s" % (count, pol, pol), got == count,
                "no_flow/%s moved by %d; deltas %s" % (pol, got, changed(c1, c0)))
    x.guard.policy(unknown="drop")
    inj.close()
    ls.close()


def sc_onpath(x):
    """The attacker sees the traffic (a hub), so it knows RCV.NXT: sequence validation cannot
    tell its RST from the peer's. This pins the current behaviour: the RST is accepted."""
    sn = nl.Sniffer(x.atk_ns, x.atk_if)
    a, b = x.pair()
    nl.exchange(b, a)
    v = x.view(sn, a)
    sn.close()
    la, lp, ra, rp = nl.endpoints(a)
    c0 = x.counters()
    inj = x.injector()
    inj.flood_seqs(ra, la, rp, lp, [v.rcv_nxt], x.v6)
    inj.close()
    r = nl.recv_result(a, 1.0)
    x.check("on-path attacker's RST with the sniffed exact sequence number is accepted "
            "(the limit of sequence validation)",
            r[0] == "error" and r[1] == errno.ECONNRESET, "got %s %s" % (r[0], r[1]))
    if x.guard:
        c1 = x.counters()
        x.check("on-path RST counted valid/pass", nl.delta(c1, c0, "valid", "pass") == 1,
                "deltas %s" % changed(c1, c0))
    a.close()
    b.close()


def sc_monitor(x, nrand=5000, nflow=1000):
    if not x.guard:
        return
    x.guard.policy(mode="monitor")
    sn = nl.Sniffer(x.a_ns, x.a_if)
    a, b = x.pair()
    nl.exchange(b, a)
    v = x.view(sn, a)
    sn.close()
    la, lp, ra, rp = nl.endpoints(a)
    seqs = blind_seqs(x, v, nrand)
    ch0, c0 = x.challenge_acks(), x.counters()
    inj = x.injector()
    sent = inj.flood_seqs(ra, la, rp, lp, seqs, x.v6)
    sent += inj.flood_tuples(ra, la, nflow, x.v6, rng=x.rng)
    inj.close()
    time.sleep(0.2)
    alive = nl.exchange(a, b) and nl.exchange(b, a)
    ch1, c1 = x.challenge_acks(), x.counters()
    x.guard.policy(mode="enforce")
    dropped = nl.delta(c1, c0, action="drop")
    would = nl.delta(c1, c0, action="would_drop")
    x.check("monitor mode: %d forged RSTs, none dropped" % sent, dropped == 0,
            "dropped %d" % dropped)
    x.check("monitor mode: every one counted would_drop", would == sent,
            "would_drop %d of %d; deltas %s" % (would, sent, changed(c1, c0)))
    x.check("monitor mode: the RSTs reached the kernel (it sent challenge ACKs) and the "
            "connection survives", ch1 > ch0 and alive,
            "TCPChallengeACK moved by %d, alive %s" % (ch1 - ch0, alive))
    a.close()
    b.close()


def sc_live(x):
    """Policy flips while B streams a line every 20 ms to A, which echoes it: each change
    governs the very next RST, and no line is lost, reordered or delayed."""
    if not x.guard:
        return
    sn = nl.Sniffer(x.a_ns, x.a_if)
    a, b = x.pair()
    nl.exchange(b, a)
    la, lp, ra, rp = nl.endpoints(a)
    inj = x.injector()
    plan = [("inject", "drop"), ("policy", "pass"), ("inject", "pass"),
            ("policy", "drop"), ("inject", "drop")]
    seen, results, worst, broken = 0, [], 0.0, None
    a.setblocking(False)
    b.setblocking(False)
    bufa = bufb = b""
    for i in range(60):
        t0 = time.monotonic()
        try:
            b.send(b"line %04d\n" % i)
            while bufa.count(b"\n") <= i - seen and time.monotonic() - t0 < 1.0:
                select.select([a], [], [], 0.05)
                try:
                    d = a.recv(4096)
                    if not d:
                        broken = "A got EOF"
                        break
                    bufa += d
                except BlockingIOError:
                    pass
            lines = bufa.split(b"\n")
            bufa = lines[-1]
            for ln in lines[:-1]:
                if ln != b"line %04d" % seen:
                    broken = "A got %r, expected line %04d" % (ln, seen)
                seen += 1
                a.send(ln + b"\n")
            try:
                bufb += b.recv(4096)
            except BlockingIOError:
                pass
        except OSError as e:
            broken = "errno %d at line %d" % (e.errno, i)
        if broken:
            break
        worst = max(worst, time.monotonic() - t0)
        if i % 10 == 5 and plan:
            what, pol = plan.pop(0)
            if what == "policy":
                x.guard.policy(inexact=pol)
            else:
                c0 = x.counters()
                v = nl.ConnView(sn.poll(), (la, lp), (ra, rp))
                inj.flood_seqs(ra, la, rp, lp, [(v.rcv_nxt + v.win // 4) & 0xffffffff], x.v6)
                time.sleep(0.05)
                c1 = x.counters()
                results.append((pol, nl.delta(c1, c0, "inexact", pol), changed(c1, c0)))
        time.sleep(0.02)
    time.sleep(0.1)
    try:
        bufb += b.recv(65536)
    except OSError:
        pass
    echoed = bufb.count(b"\n")
    x.check("live policy changes: each next in-window RST follows the new inexact setting "
            "(drop, pass, drop)",
            [r[:2] for r in results] == [("drop", 1), ("pass", 1), ("drop", 1)],
            "got %s" % results)
    x.check("live policy changes: the streaming connection never broke (60 lines each way)",
            not broken and seen == 60 and echoed == 60 and worst < 0.5,
            broken or "lines %d echoed %d worst %s" % (seen, echoed, ms(worst)))
    pol = x.guard.policy_show()
    x.check("live policy changes: policy show reports inexact=drop at the end",
            pol.get("inexact") == "drop", "policy show: %s" % pol)
    sn.close()
    inj.close()
    a.close()
    b.close()


SCEN = {"L1": sc_L1, "L2": sc_L2, "L3": sc_L3, "L4": sc_L4, "L5": sc_L5, "evasion": sc_evasion,
        "blind": sc_blind, "midstream": sc_midstream, "inexact": sc_inexact, "noflow": sc_noflow,
        "onpath": sc_onpath, "monitor": sc_monitor, "live": sc_live}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tag", required=True, help="prefix of every check name")
    ap.add_argument("--v6", action="store_true")
    ap.add_argument("--a", required=True, help="NS,IF,ADDR of the endpoint under test")
    ap.add_argument("--b", required=True, help="NS,ADDR of its peer")
    ap.add_argument("--listener", choices=("a", "b"), default="a")
    ap.add_argument("--atk", required=True, help="NS,IF,MAC,NEXT_HOP_MAC of the attacker")
    ap.add_argument("--guard-ns", help="namespace of the rstguard interfaces (none: no filter)")
    ap.add_argument("--rg", default="build/rstguard")
    ap.add_argument("--pin-dir")
    ap.add_argument("--only", default=",".join(ALL))
    ap.add_argument("--attach", help="the attach arguments, for scenarios that re-attach "
                    "(IFACE... then options)")
    ap.add_argument("--id", type=int, default=0, help="unique number for nft table names")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    x = Ctx(args)
    if x.guard:
        x.guard.policy(mode="enforce", inexact="drop", unknown="drop", timewait="accept")
    for name in args.only.split(","):
        try:
            SCEN[name](x)
        except Exception as e:  # a broken step is a failed check, and the next one still runs
            x.check("%s completes" % name, False, "%s: %s" % (type(e).__name__, e))
    return 1 if x.nfail else 0


if __name__ == "__main__":
    sys.exit(main())
