# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The Python side of tests/e2e/capture.sh: a live connection held open, RST floods at it, and
the pcap files 'rstguard capture -w' writes read back with scapy. Check lines start "ok " or
"FAIL " and are added to the script's totals."""

import argparse
import json
import os
import random
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab as nl  # noqa: E402

LINKTYPE_NFLOG = 239
NFULA_IFINDEX_INDEV, NFULA_PAYLOAD, NFULA_PREFIX, NFULA_HWHEADER = 4, 9, 10, 16


def ok(name):
    print("ok   " + name, flush=True)


def fail(name, why=""):
    print("FAIL " + name + (": " + why if why else ""), flush=True)


def check(name, cond, why=""):
    if cond:
        ok(name)
    else:
        fail(name, why)


def hold(a):
    """Connects cli to a listener in srv, moves some data both ways, prints the 4-tuple as JSON
    and keeps both ends open until SIGTERM."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    conns = []
    for _ in range(a.n):
        s, c = nl.pair(a.srv_ns, a.srv, a.cli_ns, False)
        if not nl.exchange(c, s, b"hello"):
            print(json.dumps({"error": "no data through the router"}), flush=True)
            return 1
        conns.append((s, c))
    tuples = [dict(zip(("cli", "cport", "srv", "sport"), nl.endpoints(c))) for _, c in conns]
    print(json.dumps(tuples), flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    alive = all(nl.exchange(c, s, b"still") for s, c in conns)
    print(json.dumps({"alive": alive}), flush=True)
    return 0


def flood(a):
    """RSTs from cli to srv on the live 4-tuple: random sequence numbers, or inexact ones (inside
    the server's window, past the exact band) starting at --base. A random number within 4
    windows of --base either way is drawn again: about 1 in 100 floods of 300 would otherwise
    put one inside the window, where it is an inexact RST, not the blind one the suite counts."""
    rng = random.Random(a.seed)
    near = 4 * a.win
    if a.kind == "random":
        seqs = []
        while len(seqs) < a.n:
            s = rng.getrandbits(32)
            if near < (s - a.base) & 0xffffffff < (1 << 32) - near:
                seqs.append(s)
    else:
        seqs = [(a.base + 1 + rng.randrange(a.win - 1)) & 0xffffffff for _ in range(a.n)]
    inj = nl.Injector(a.ns, a.ifname, a.smac, a.dmac)
    sent = inj.flood_seqs(a.src, a.dst, a.sport, a.dport, seqs)
    inj.close()
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(str(s) for s in seqs) + "\n")
    print(sent)
    return 0


def nflog_records(path):
    """(ifindex, prefix, hwheader, payload) of each NFLOG record in a pcap file, parsed by hand:
    scapy has no NFLOG layer, so the TLVs (host-order length and type, 4-byte aligned) are walked
    here and the IP payload handed to scapy."""
    from scapy.utils import RawPcapReader
    r = RawPcapReader(path)
    out = []
    linktype = r.linktype
    for data, _meta in r:
        tlvs, off = {}, 4
        while off + 4 <= len(data):
            ln, typ = struct.unpack_from("=HH", data, off)
            if ln < 4 or off + ln > len(data):
                break
            tlvs[typ] = data[off + 4:off + ln]
            off += (ln + 3) & ~3
        out.append((data[0], struct.unpack("!I", tlvs[NFULA_IFINDEX_INDEV])[0]
                    if NFULA_IFINDEX_INDEV in tlvs else None,
                    tlvs.get(NFULA_PREFIX, b"").rstrip(b"\0").decode(),
                    tlvs.get(NFULA_HWHEADER), tlvs.get(NFULA_PAYLOAD)))
    r.close()
    return linktype, out


def readpcap(a):
    from scapy.layers.inet import IP, TCP
    linktype, recs = nflog_records(a.file)
    tag = a.tag
    check("%s: scapy reads the pcap, link type NFLOG (%d)" % (tag, linktype),
          linktype == LINKTYPE_NFLOG)
    check("%s: %d packets, as -c asked" % (tag, len(recs)), len(recs) == a.count,
          "got %d" % len(recs))
    sent = set(int(x) for x in open(a.seqs).read().split()) if a.seqs else None
    bad, reasons, dists = [], set(), []
    for fam, ifindex, prefix, hw, payload in recs:
        ip = IP(payload) if payload else None
        t = ip.getlayer(TCP) if ip else None
        words = prefix.split()
        if fam != 2 or t is None or not (int(t.flags) & 0x04):
            bad.append("not an IPv4 RST: %r" % prefix)
            continue
        if (ip.src, t.sport, ip.dst, t.dport) != (a.src, a.sport, a.dst, a.dport):
            bad.append("other 4-tuple %s:%d > %s:%d" % (ip.src, t.sport, ip.dst, t.dport))
        if sent is not None and t.seq not in sent:
            bad.append("seq %d never sent" % t.seq)
        if len(words) < 3 or words[0] != a.iface or words[2] != a.action:
            bad.append("prefix %r" % prefix)
        if ifindex != a.ifindex:
            bad.append("ifindex %s" % ifindex)
        if hw is None or len(hw) != 14:
            bad.append("Ethernet header missing")
        reasons.add(words[1] if len(words) > 1 else "")
        if len(words) == 5 and words[3] == "distance":
            dists.append(int(words[4]))
    check("%s: every packet an RST of the flooded 4-tuple with a sequence number the flood "
          "sent, the Ethernet header and ifindex kept, prefix '%s REASON %s'"
          % (tag, a.iface, a.action), not bad, "; ".join(bad[:3]))
    want = set(a.reasons.split(","))
    check("%s: reasons %s (want within %s)" % (tag, sorted(reasons), sorted(want)),
          reasons and reasons <= want)
    check("%s: every prefix carries the distance from the band" % tag,
          len(dists) == len(recs) and all(d > 0 for d in dists))
    return 0


def craft(a):
    """Writes flow entries of known state, flags and age straight into the pinned tables (the
    layout of struct rg_flow and its keys in bpf/rstguard.h), for the flows filters."""
    import ipaddress
    import subprocess
    syn, ack, fin = 0x1, 0x2, 0x4
    ws = 0xF0  # no window-scale option
    contested, midstream = 0x4, 0x1
    now = int(time.clock_gettime(time.CLOCK_MONOTONIC))
    entries = [  # (a, pa, b, pb, dflags0, dflags1, fflags, age)
        ("10.9.0.1", 1000, "10.9.0.2", 2000, ws | syn | ack, ws | syn | ack, 0, 5),
        ("10.9.0.1", 1001, "10.9.0.3", 2000, ws | syn, 0, contested, 30),
        ("10.9.0.4", 3000, "10.9.0.5", 4000, ws | ack, ws | ack, contested | midstream, 100),
        ("10.9.0.6", 7000, "10.9.0.7", 8000, ws | ack | fin, ws | ack, 0, 50),
        ("fd00:9::1", 5000, "fd00:9::2", 6000, ws | syn | ack, ws | syn | ack, 0, 1),
    ]
    for ea, pa, eb, pb, d0, d1, ff, age in entries:
        a6 = ":" in ea
        key = ipaddress.ip_address(ea).packed + ipaddress.ip_address(eb).packed
        key += struct.pack("!HH", pa, pb)
        val = struct.pack("=4I4I", 1, 100, 200, 65535, 1, 200, 100, 65535)
        val += struct.pack("=IBBBB", (now - age) & 0xffffffff, d0, d1, ff, 0)
        m = os.path.join(a.pin, "maps", "rg_flows6" if a6 else "rg_flows4")
        subprocess.run(["bpftool", "map", "update", "pinned", m, "key", "hex"] +
                       ["%02x" % b for b in key] + ["value", "hex"] + ["%02x" % b for b in val],
                       check=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("hold")
    for o in ("cli_ns", "srv_ns", "srv"):
        p.add_argument("--" + o, required=True)
    p.add_argument("--n", type=int, default=1)
    p = sub.add_parser("flood")
    for o in ("ns", "ifname", "smac", "dmac", "src", "dst"):
        p.add_argument("--" + o, required=True)
    for o in ("sport", "dport", "n"):
        p.add_argument("--" + o, type=int, required=True)
    p.add_argument("--kind", choices=("random", "inexact"), default="random")
    p.add_argument("--base", type=int, default=0)
    p.add_argument("--win", type=int, default=2)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out")
    p = sub.add_parser("readpcap")
    for o in ("file", "tag", "src", "dst", "iface", "action", "reasons"):
        p.add_argument("--" + o, required=True)
    for o in ("sport", "dport", "count", "ifindex"):
        p.add_argument("--" + o, type=int, required=True)
    p.add_argument("--seqs")
    p = sub.add_parser("craft")
    p.add_argument("--pin", required=True)
    a = ap.parse_args()
    return {"hold": hold, "flood": flood, "readpcap": readpcap, "craft": craft}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
