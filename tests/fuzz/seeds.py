#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Writes hand-made seed inputs for the fuzz targets (formats in fz_frame.c and fz_seq.c)."""
import hashlib
import os
import struct
import sys

HOST, GATEWAY, BOTH = 1, 2, 3
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def u16(v):
    return struct.pack(">H", v & 0xffff)


def u32(v):
    return struct.pack(">I", v & 0xffffffff)


def write(d, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


# ---- frame target ----------------------------------------------------------------------------
def sock(state=1, rcv_nxt=1000, back=0, wnd=65535, shift=0, una=5000, inflight=0, sacks=0,
         fw2=False, ends=(0, 0, 0, 0), tw_wnd=65535, req_wnd=65535, v6=False):
    misc = (sacks % 5) | (0x80 if fw2 else 0)
    b = bytes([(state - 1) % 12]) + u32(rcv_nxt) + u16(back) + u16(wnd) + bytes([shift]) + \
        u32(una) + u16(inflight) + bytes([misc]) + b"".join(u16(e) for e in ends) + \
        u16(tw_wnd) + u16(req_wnd) + bytes([0, 1 if v6 else 0, 0])
    assert len(b) == 32, len(b)
    return b


def spec(v6=False, vlans=0, default_tuple=True, flags=RST | ACK, seqsel=1, seq=0, acksel=5, ack=0,
         win=1000, ws=0, has_ws=False, sackok=False, payload=0, frag_more=False, frag_off=0,
         frag_tcp=0, ipopts=0, exts=(), src=0, dst=1, sport=0, dport=0, trunc=0):
    kinds = {0: 0, 43: 1, 60: 2, 44: 3, 51: 4}
    b0 = (1 if v6 else 0) | (vlans << 1) | (8 if sackok else 0) | (16 if has_ws else 0) | \
        (32 if frag_more else 0) | (64 if default_tuple else 0)
    ext = [kinds[e] for e in exts] + [0] * (8 - len(exts))
    b = bytes([b0, ipopts // 4, src, dst]) + u16(sport) + u16(dport) + bytes([seqsel]) + \
        u32(seq) + bytes([acksel]) + u32(ack) + bytes([flags]) + u16(win) + bytes([ws, payload]) + \
        u16(frag_off) + bytes([frag_tcp, len(exts)]) + bytes(ext) + bytes([trunc]) + u32(0)
    assert len(b) == 40, len(b)
    return b


def frame_seeds(d):
    pol_default = 0
    for role in (HOST, GATEWAY, BOTH):
        for v6 in (False, True):
            for st in (1, 2, 6, 8, 10, 12):
                cfg = role | 0x20 | 0x40
                for seqsel in (1, 7, 0x0a, 0x11, 4, 0):
                    write(d, bytes([cfg, pol_default]) +
                          sock(state=st, sacks=2, ends=(300, 900, 0, 0), inflight=10, v6=v6) +
                          spec(v6=v6, seqsel=seqsel, seq=0x1234))
            # Non-RST traffic: SYN with options, data.
            write(d, bytes([role | 0x20, 0]) + sock() +
                  spec(v6=v6, flags=SYN, has_ws=True, ws=7, sackok=True))
            write(d, bytes([role | 0x20, 0]) + sock() + spec(v6=v6, flags=ACK | PSH, payload=100))
    # Evasion shapes (CONVENTIONS): VLAN stacks, options, fragments, extension chains.
    for role in (HOST, GATEWAY):
        base = bytes([role | 0x20 | 0x40, 0x10]) + sock()
        write(d, base + spec(vlans=2))
        write(d, base + spec(ipopts=40))
        write(d, base + spec(frag_more=True, frag_tcp=12))
        write(d, base + spec(frag_more=True, frag_tcp=24))
        write(d, base + spec(frag_off=3))
        write(d, base + spec(v6=True, exts=(60,)))
        write(d, base + spec(v6=True, exts=(44,)))
        write(d, base + spec(v6=True, exts=(44,), frag_more=True))
        write(d, base + spec(v6=True, exts=(0, 43, 60, 60, 51, 60, 60)))
        write(d, base + spec(v6=True, exts=(51,)))
    # Scope: exempt, ports, prefixes.
    for pol in (0x20, 0x40, 0x80, 0xe0, 0x1f):
        write(d, bytes([GATEWAY | 0x20, pol]) + sock() + spec(default_tuple=False, src=2, dst=3))
        write(d, bytes([GATEWAY | 0x20, pol]) + sock() +
              spec(default_tuple=False, src=3, dst=4, sport=22, dport=9))
    # l3 device.
    write(d, bytes([HOST | 0x04 | 0x20 | 0x40, 0]) + sock() + spec())
    write(d, bytes([GATEWAY | 0x04 | 0x20, 0]) + sock() + spec(v6=True))


# ---- seq target ------------------------------------------------------------------------------
def seq_head(role=GATEWAY, l3=False, local_fib=False, v6=False, vlans=0, pol=0, iss_a=1000,
             iss_b=900000, wsa=7, wsb=7, wina=500, winb=600, midstream=False, swap=False, local=1,
             off=100):
    cfg = role | (4 if l3 else 0) | (8 if local_fib else 0) | (16 if v6 else 0) | (vlans << 5)
    start = (1 if midstream else 0) | (2 if swap else 0) | (local << 2)
    b = bytes([cfg, pol]) + u32(iss_a) + u32(iss_b) + bytes([wsa, wsb]) + u16(wina) + u16(winb) + \
        bytes([start])
    if midstream:
        b += u16(off)
    return b


def legit(x=0, what=0, arg=50, win=None):
    sub = x | (what << 1) | (0x10 if win is not None else 0)
    b = bytes([0 | (sub << 3), arg])
    if win is not None:
        b = bytes([0 | (sub << 3), win >> 8, win & 0xff])
    return b


def lrst(x=0, variant=0):
    return bytes([2 | ((x | (variant << 1)) << 3)])


def forge(x=0, rst=False, flags=ACK, seqsel=0x18, seq=12345, acksel=0x18, ack=777, win=100,
          length=0, ws=15):
    return bytes([(4 if rst else 3) | (x << 3), flags, seqsel, acksel]) + u32(seq) + u32(ack) + \
        u16(win) + bytes([length, ws])


def wait(secs):
    if secs < 16:
        return bytes([5 | (secs << 3)])
    return bytes([5 | (16 << 3), min(secs // 4, 255)])


def sync():
    return bytes([6])


def evict():
    """Table pressure evicts the connection's entry (gateway role)."""
    return bytes([6 | (2 << 3)])


def absf(x=0, flags=ACK, seq=0, ack=0, win=1000, length=0):
    """A forged segment at absolute numbers."""
    return forge(x=x, flags=flags, seqsel=0x18, seq=seq, acksel=0x18, ack=ack, win=win,
                 length=length)


def reopen(isn_c=0x5eed0000, isn_s=0x7ead0000):
    """A blind forger's re-open of the live 4-tuple: an out-of-window ACK to each endpoint (to
    silence their challenge ACKs), then SYN, SYN-ACK and ACK at numbers of its own."""
    return (absf(0, ACK, 0x60000000, 0x60000000) + absf(1, ACK, 0x61000000, 0x61000000) +
            absf(0, SYN, isn_c, 0) + absf(1, SYN | ACK, isn_s, isn_c + 1) +
            absf(0, ACK, isn_c + 1, isn_s + 1))


HANDSHAKE = legit() + legit() + legit()


def seq_seeds(d):
    for v6 in (False, True):
        for swap in (False, True):
            h = seq_head(v6=v6, swap=swap)
            write(d, h + HANDSHAKE + legit(0) + legit(1) + lrst(0))
            write(d, h + HANDSHAKE + legit(1, arg=200) + legit(0, 1) + lrst(1))
            write(d, h + HANDSHAKE + legit(0) + forge(rst=True, seqsel=0x11, seq=3) + lrst(0))
            write(d, h + legit() + lrst(1))  # refusal
            write(d, h + HANDSHAKE + legit(0, 2) + legit(1, 1) + legit(1, 2) + legit(0, 1) +
                  lrst(0) + legit(0))  # FINs, TIME-WAIT reset, port reuse
            write(d, seq_head(v6=v6, swap=swap, midstream=True) + legit(0) + legit(1) + lrst(0) +
                  forge(rst=True))
    # Gateway: forged segments (blind) then legitimate resets.
    h = seq_head()
    write(d, h + forge(flags=SYN) + HANDSHAKE + legit(1, arg=250) + lrst(1))
    write(d, h + HANDSHAKE + forge(flags=SYN) + forge(x=1, flags=SYN | ACK, acksel=0x05) +
          forge(flags=ACK, seqsel=0x05, acksel=0x06) + lrst(0))
    write(d, h + HANDSHAKE + legit(0) + wait(60) + wait(200) + lrst(0))
    write(d, h + bytes([6 | (1 << 3), 0x1f]) + HANDSHAKE + lrst(0) + legit(0))  # monitor
    write(d, seq_head(wsa=0x80, wsb=14, wina=65535, winb=65535) + HANDSHAKE + legit(0, arg=255) +
          legit(1, arg=255) + lrst(1, 2))
    write(d, seq_head(midstream=True) + forge(flags=ACK) + legit(0) + legit(1) + lrst(1))
    # Forged re-open handshakes on the live 4-tuple, and forged SYNs after an eviction.
    for v6 in (False, True):
        h = seq_head(v6=v6)
        body = HANDSHAKE + legit(0) + legit(1, arg=100) + legit(0, 1)
        write(d, h + body + reopen() + lrst(1))
        write(d, h + body + reopen() + legit(1) + legit(0, 1) + wait(60) + lrst(1))
        write(d, h + body + reopen() + forge(rst=True, x=1, seqsel=0x0a, seq=0x10000) + lrst(0))
        write(d, seq_head(v6=v6, midstream=True) + legit(0) + legit(1) + reopen() + lrst(1))
        write(d, h + body + evict() + absf(0, SYN, 0x5eed0000) + lrst(1))
        write(d, h + body + evict() + absf(1, SYN, 0x5eed0000) + lrst(0))
        write(d, h + body + evict() + absf(0, SYN, 0x5eed0000) + legit(1) + legit(0, 1) +
              absf(0, SYN, 0x5eed1000) + lrst(1))
    # Host role: the local end is the responder (1) or the initiator (0).
    for role, fib in ((HOST, False), (BOTH, True)):
        for local in (0, 1):
            h = seq_head(role=role, local_fib=fib, local=local)
            write(d, h + HANDSHAKE + legit(not local) + lrst())          # stack lags
            write(d, h + HANDSHAKE + legit(not local) + sync() + lrst())
            write(d, h + legit() + lrst())                                # SYN-SENT / request
            write(d, h + HANDSHAKE + legit(not local, 2) + lrst(0, 2) + lrst())
            write(d, h + HANDSHAKE + legit(not local) + forge(x=not local, flags=ACK, length=10,
                                                             seqsel=0x09 if local else 0x0a) +
                  lrst())
    write(d, seq_head(role=BOTH) + HANDSHAKE + legit(0) + lrst(1))
    write(d, seq_head(l3=True) + HANDSHAKE + lrst(0))
    write(d, seq_head(vlans=2) + HANDSHAKE + lrst(0))


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    frame_seeds(os.path.join(root, "frame"))
    seq_seeds(os.path.join(root, "seq"))
