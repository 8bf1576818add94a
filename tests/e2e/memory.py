# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Gateway role, the flow table's memory, with real kernel sockets: an idle verified flow evicted
by a flood of new 4-tuples, and a connection older than the filter, each still gets its real
reset through (ECONNRESET at the client); blind RSTs at 4-tuples never seen are still dropped."""

import argparse
import errno
import random
import struct
import sys
import time

import netlab as nl


class Ctx:
    def __init__(self, a):
        self.tag, self.v6 = a.tag, a.v6
        self.cli_ns, self.cli_addr = a.cli.split(",")
        self.srv_ns, self.srv_addr = a.srv.split(",")
        self.atk_ns, self.atk_if, self.atk_mac, self.rtr_mac = a.atk.split(",")
        self.ghost = a.ghost
        self.guard = nl.Guard(a.rg, a.pin_dir, a.guard_ns)
        self.ifaces = a.ifaces.split(",")
        self.rng = random.Random(a.seed)
        self.npass = self.nfail = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.npass += 1
            print("ok   %s: %s" % (self.tag, name), flush=True)
        else:
            self.nfail += 1
            print("FAIL %s: %s%s" % (self.tag, name, (" (" + detail + ")") if detail else ""),
                  flush=True)
        return cond

    def fresh_attach(self, *opts):
        """A new flow table: everything detached and unpinned first."""
        self.guard.run("detach", "--all", check=False)
        self.guard.run("attach", *self.ifaces, "--role", "gateway", *opts)

    def pair(self):
        """(server socket, client socket) of a connection that has moved data both ways."""
        s, c = nl.pair(self.srv_ns, self.srv_addr, self.cli_ns, self.v6)
        nl.exchange(c, s)
        return s, c

    def abort_reaches_client(self, s, c, within):
        """The server aborts (SO_LINGER 0); what the client's next read sees."""
        nl.set_linger0(s)
        s.close()
        return nl.recv_result(c, within)

    def tracked(self, c):
        la, lp, ra, rp = nl.endpoints(c)
        for f in self.guard.json("flows", "--limit", "1000000").get("flows", []):
            ports = {f["a"]["port"], f["b"]["port"]}
            if ports == {lp, rp} and not f.get("expired"):
                return True
        return False

    def syn_flood(self, n):
        """n SYN pairs for random 4-tuples towards an address behind the router nobody holds:
        each makes a flow entry, as a spoofed-source flood's would."""
        inj = nl.Injector(self.atk_ns, self.atk_if, self.atk_mac, self.rtr_mac)
        base = bytearray(inj.frame(self.cli_addr, self.ghost, 1, 1, 0, 0, "S", self.v6))
        to = 54 if self.v6 else 34
        c0 = struct.unpack_from("!H", base, to + 16)[0]
        for i in range(n):
            sp, dp, seq = self.rng.randrange(1024, 65536), self.rng.randrange(1, 65536), \
                self.rng.getrandbits(32)
            struct.pack_into("!HHI", base, to, sp, dp, seq)
            c = nl._fold((~c0 & 0xffff) + sp + dp + (seq >> 16) + (seq & 0xffff))
            struct.pack_into("!H", base, to + 16, ~c & 0xffff)
            inj._send_paced(base, 2 * i)
            inj._send_paced(base, 2 * i + 1)
        inj.close()


def ms(t):
    return "%.0f ms" % (t * 1000)


def sc_evicted(x, flows):
    """An idle verified flow evicted by table pressure: its real reset still gets through."""
    x.fresh_attach("--flows", str(flows))
    x.guard.policy(learning=0)
    s, c = x.pair()
    x.check("evicted: the idle flow is tracked before the flood", x.tracked(c))
    sent = 0
    while x.tracked(c) and sent < 16 * flows:
        x.syn_flood(flows)
        sent += flows
        time.sleep(0.1)
    x.check("evicted: %d random SYN pairs pushed it out of a %d-entry table" % (sent, flows),
            not x.tracked(c))
    c0 = x.guard.counters()
    r = x.abort_reaches_client(s, c, 1.5)
    x.check("evicted: the server's abort reaches the client (ECONNRESET)",
            r[0] == "error" and r[1] == errno.ECONNRESET, "got %s %s after %s" % (
                r[0], r[1] if r[0] == "error" else "", ms(r[2])))
    c1 = x.guard.counters()
    x.check("evicted: rstguard passed it as untracked, dropped nothing",
            nl.delta(c1, c0, "untracked", "pass") >= 1 and nl.delta(c1, c0, action="drop") == 0,
            "deltas %s" % {k: v - c0.get(k, 0) for k, v in c1.items() if v != c0.get(k, 0)})
    c.close()
    # Blind RSTs at 4-tuples never tracked are still dropped before the table.
    inj = nl.Injector(x.atk_ns, x.atk_if, x.atk_mac, x.rtr_mac)
    c0 = x.guard.counters()
    inj.flood_tuples(x.cli_addr, x.srv_addr, 2000, x.v6, rng=x.rng)
    inj.close()
    time.sleep(0.2)
    c1 = x.guard.counters()
    nf, ut = nl.delta(c1, c0, "no_flow", "drop"), nl.delta(c1, c0, "untracked", "pass")
    # The flood set presence bits for up to 16x the table's worth of 4-tuples, so unseen 4-tuples
    # collide with them at a rate the flood's length decides (the unit test bounds it for a known
    # flood): the colliding ones pass as untracked and the endpoint discards them; none may pass
    # as anything else, and the filter must still drop the rest.
    x.check("evicted: 2000 blind RSTs at random 4-tuples after %d SYN pairs: no_flow dropped, "
            "except presence-filter collisions, which pass as untracked (%d + %d)" % (sent, nf, ut),
            nf + ut == 2000 and nf >= 2000 // 3, "no_flow/drop %d, untracked/pass %d" % (nf, ut))


def sc_control(x):
    """The same abort without any attack: valid."""
    x.fresh_attach()
    x.guard.policy(learning=0)
    s, c = x.pair()
    c0 = x.guard.counters()
    r = x.abort_reaches_client(s, c, 1.5)
    c1 = x.guard.counters()
    x.check("control: without an attack the abort reaches the client, valid",
            r[0] == "error" and r[1] == errno.ECONNRESET and
            nl.delta(c1, c0, "valid", "pass") >= 1, "got %s" % (r,))
    c.close()


def sc_older(x):
    """A connection established before the filter and idle since: its first segment after the
    attach is the server's abort."""
    x.guard.run("detach", "--all", check=False)
    s, c = x.pair()
    x.fresh_attach()
    pol, st = x.guard.policy_show(), x.guard.json("status")
    x.check("older: a fresh table starts a learning period of 120 s",
            pol.get("learning_seconds") == 120 and st.get("learning_remaining_seconds", 0) > 100,
            "policy %s, status %s" % (pol, st))
    c0 = x.guard.counters()
    r = x.abort_reaches_client(s, c, 1.5)
    c1 = x.guard.counters()
    x.check("older: in the learning period, its abort reaches the client (ECONNRESET)",
            r[0] == "error" and r[1] == errno.ECONNRESET, "got %s" % (r,))
    x.check("older: rstguard passed it as learning",
            nl.delta(c1, c0, "learning", "pass") >= 1 and nl.delta(c1, c0, action="drop") == 0,
            "deltas %s" % {k: v - c0.get(k, 0) for k, v in c1.items() if v != c0.get(k, 0)})
    c.close()
    # With learning=0 the same situation is the known limit: the reset is dropped as no_flow.
    x.guard.run("detach", "--all", check=False)
    s, c = x.pair()
    x.fresh_attach()
    x.guard.policy(learning=0)
    c0 = x.guard.counters()
    r = x.abort_reaches_client(s, c, 1.0)
    c1 = x.guard.counters()
    x.check("older: with learning=0 it is dropped as no_flow (what the learning period is for)",
            r[0] == "timeout" and nl.delta(c1, c0, "no_flow", "drop") >= 1, "got %s" % (r,))
    c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--v6", action="store_true")
    ap.add_argument("--cli", required=True, help="NS,ADDR")
    ap.add_argument("--srv", required=True, help="NS,ADDR")
    ap.add_argument("--atk", required=True, help="NS,IF,MAC,ROUTER_MAC")
    ap.add_argument("--ghost", required=True, help="an address behind the router nobody holds")
    ap.add_argument("--guard-ns", required=True)
    ap.add_argument("--ifaces", required=True)
    ap.add_argument("--rg", required=True)
    ap.add_argument("--pin-dir", required=True)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    x = Ctx(a)
    for name, fn in (("control", sc_control), ("evicted", lambda x: sc_evicted(x, 1024)),
                     ("older", sc_older)):
        try:
            fn(x)
        except Exception as e:  # a broken step is a failed check; the next one still runs
            x.check("%s completes" % name, False, "%s: %s" % (type(e).__name__, e))
    x.guard.run("detach", "--all", check=False)
    return 1 if x.nfail else 0


if __name__ == "__main__":
    sys.exit(main())
