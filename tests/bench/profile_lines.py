#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Splits one bench row's perf samples by symbol and, inside rstguard's program, by source line.

Usage: profile_lines.py LINES SAMPLES NS_PER_PKT[,NS_PER_PKT...] [ROW]
LINES is rg_jitlines output; SAMPLES is `perf script -F time,ip,sym`; one ns/pkt per bench row,
in the order the rows ran. A stretch is a span of samples in one of rstguard's rg_decide
programs with no gap over a second; the rows are the longest stretches (table fills make short
ones). ROW (default 0) picks one. Every sample of its stretch counts, so shares are of the
receiving CPU's whole time and, times the row's ns per packet, read as ns per packet.
"""
import bisect
import collections
import sys


def read_lines(path):
    table = []
    with open(path) as f:
        for line in f:
            addr, _, rest = line.rstrip("\n").partition(" ")
            table.append((int(addr, 16), " ".join(rest.split())))
    table.sort()
    return [a for a, _ in table], [s for _, s in table]


def read_samples(path):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[0].endswith(":"):
                try:
                    out.append((float(parts[0][:-1]), int(parts[1], 16), parts[2]))
                except ValueError:
                    pass
    return out


def stretches(samples):
    """Spans of samples in one rg_decide (each load is its own symbol) with no gap over a
    second, with their sample counts."""
    hits = sorted((t, sym) for t, _, sym in samples if sym.endswith("_rg_decide"))
    out = []
    for t, sym in hits:
        if out and out[-1][3] == sym and t - out[-1][1] <= 1.0:
            out[-1][1] = t
            out[-1][2] += 1
        else:
            out.append([t, t, 1, sym])
    return out


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    addrs, srcs = read_lines(sys.argv[1])
    samples = read_samples(sys.argv[2])
    nspp = [float(v) for v in sys.argv[3].split(",")]
    spans = stretches(samples)
    if not spans:
        sys.exit("profile: no sample fell in rstguard's program")
    # The rows are the longest stretches, in the order they ran; table fills make short ones.
    rows = sorted(sorted(range(len(spans)), key=lambda i: -spans[i][2])[:len(nspp)])
    for i, (a, b, n, _) in enumerate(spans):
        tag = f"  row {rows.index(i)}" if i in rows else ""
        print(f"stretch {i}: {b - a:5.1f} s, {n} samples in rg_decide{tag}")
    pick = int(sys.argv[4]) if len(sys.argv) == 5 else 0
    if not 0 <= pick < len(rows):
        sys.exit(f"profile: no row {pick}")
    span = spans[rows[pick]]
    nspp = nspp[pick]
    row = [(ip, sym) for t, ip, sym in samples if span[0] <= t <= span[1]]
    syms = collections.Counter(sym for _, sym in row)
    lines = collections.Counter()
    for ip, sym in row:
        i = bisect.bisect_right(addrs, ip) - 1
        if sym.startswith("bpf_prog_") and i >= 0 and "_gen_" not in sym:
            lines[srcs[i]] += 1
    total = len(row)
    ns = lambda n: nspp * n / total
    ours = sum(n for s, n in syms.items() if s.startswith("bpf_prog_") and "_gen_" not in s)
    print(f"\n{total} samples over {span[1] - span[0]:.1f} s at {nspp} ns/pkt; "
          f"rstguard's own code {ns(ours):.1f} ns/pkt (kernel functions it calls are listed apart)")
    print("\nns/pkt  symbol")
    for sym, n in syms.most_common(25):
        print(f"{ns(n):6.1f}  {sym}")
    print("\nns/pkt  rstguard source line")
    for src, n in lines.most_common(40):
        print(f"{ns(n):6.1f}  {src[:120]}")


if __name__ == "__main__":
    main()
