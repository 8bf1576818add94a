# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Building blocks of the end-to-end scenarios: sockets in named namespaces, a wire sniffer,
a forged-RST injector built on scapy, kernel counters, and the rstguard CLI."""

import ctypes
import json
import os
import random
import select
import socket
import struct
import subprocess
import time

from scapy.layers.inet import IP, IPOption_NOP, TCP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, PadN, fragment6
from scapy.layers.l2 import Ether

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

_libc = ctypes.CDLL(None, use_errno=True)


class NetNS:
    """Moves the calling thread into /run/netns/NAME for the `with` block. Sockets keep the
    namespace they were created in, so one process can own both ends of a connection, the
    attacker's raw socket and the sniffer, each in its own namespace."""

    def __init__(self, name):
        self.path = "/run/netns/" + name

    def __enter__(self):
        self.prev = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, "setns %s: %s" % (self.path, os.strerror(e)))
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        _libc.setns(self.prev, CLONE_NEWNET)
        os.close(self.prev)


def fam(v6):
    return socket.AF_INET6 if v6 else socket.AF_INET


def listener(ns, addr, v6, port=0):
    with NetNS(ns):
        s = socket.socket(fam(v6), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(16)
    return s


def connect(ns, addr, port, v6, timeout=3.0, src=None):
    """Connects from namespace ns; returns (socket, None, seconds) or (None, errno, seconds)."""
    with NetNS(ns):
        s = socket.socket(fam(v6), socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        s.connect((addr, port))
    except socket.timeout:
        s.close()
        return None, "timeout", time.monotonic() - t0
    except OSError as e:
        s.close()
        return None, e.errno, time.monotonic() - t0
    s.settimeout(None)
    return s, None, time.monotonic() - t0


def pair(lns, laddr, cns, v6, src=None):
    """A connected TCP pair: (listening side's socket, connecting side's socket)."""
    ls = listener(lns, laddr, v6)
    port = ls.getsockname()[1]
    c, err, _ = connect(cns, laddr, port, v6, src=src)
    if c is None:
        ls.close()
        raise RuntimeError("connect to %s port %d failed: %s" % (laddr, port, err))
    ls.settimeout(3)
    a, _ = ls.accept()
    ls.close()
    a.settimeout(None)
    return a, c


def recv_result(s, timeout):
    """What the application sees on its next read: ('data', bytes), ('eof',), ('error', errno,
    seconds) or ('timeout',)."""
    t0 = time.monotonic()
    r, _, _ = select.select([s], [], [], timeout)
    if not r:
        return ("timeout", None, time.monotonic() - t0)
    try:
        d = s.recv(65536)
    except OSError as e:
        return ("error", e.errno, time.monotonic() - t0)
    return ("data" if d else "eof", d, time.monotonic() - t0)


def exchange(a, b, tag=b"ping", timeout=2.0):
    """True when a line goes a->b and its echo b->a: the connection still moves data."""
    try:
        a.sendall(tag + b"\n")
        got = recv_result(b, timeout)
        if got[0] != "data" or not got[1].startswith(tag):
            return False
        b.sendall(got[1])
        back = recv_result(a, timeout)
        return back[0] == "data" and back[1].startswith(tag)
    except OSError:
        return False


def set_linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def endpoints(s):
    """(local address, local port, remote address, remote port) of a connected socket."""
    la, lp = s.getsockname()[:2]
    ra, rp = s.getpeername()[:2]
    return la, lp, ra, rp


# --- kernel state ------------------------------------------------------------------------------

def netstat(ns, name, table="TcpExt"):
    """One counter of /proc/net/netstat (nstat's TcpExt*) as seen inside namespace ns."""
    with NetNS(ns):
        with open("/proc/thread-self/net/netstat") as f:
            lines = f.read().splitlines()
    for i in range(0, len(lines) - 1, 2):
        keys, vals = lines[i].split(), lines[i + 1].split()
        if keys[0] == table + ":":
            return int(vals[keys.index(name)])
    raise KeyError(name)


def tcp_states(ns, lport, rport, v6):
    """States (hex strings as in /proc/net/tcp: 01 established, 06 time-wait) of the sockets of
    namespace ns with these local and remote ports."""
    with NetNS(ns):
        with open("/proc/thread-self/net/tcp6" if v6 else "/proc/thread-self/net/tcp") as f:
            rows = f.read().splitlines()[1:]
    out = []
    for r in rows:
        c = r.split()
        if int(c[1].split(":")[1], 16) == lport and int(c[2].split(":")[1], 16) == rport:
            out.append(c[3])
    return out


def sh(ns, *cmd, check=True):
    """Runs a command inside namespace ns (nsenter: the network namespace only)."""
    return subprocess.run(["nsenter", "--net=/run/netns/" + ns, *cmd], check=check,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --- the wire ----------------------------------------------------------------------------------

class Seg:
    __slots__ = ("src", "dst", "sport", "dport", "seq", "ack", "flags", "win", "plen", "wscale",
                 "out")

    def end(self):
        return (self.seq + self.plen + bool(self.flags & TCP_SYN) + bool(self.flags & TCP_FIN)) \
            & 0xffffffff


def parse_tcp(frame):
    """A Seg for an Ethernet frame carrying TCP over IPv4 or IPv6 (no extension headers), else
    None. Dissected by scapy: the sniffer only reads the handful of segments a scenario needs."""
    e = Ether(frame)
    ip = e.getlayer(IP) or e.getlayer(IPv6)
    t = e.getlayer(TCP)
    if ip is None or t is None:
        return None
    s = Seg()
    s.src, s.dst, s.sport, s.dport = ip.src, ip.dst, t.sport, t.dport
    s.seq, s.ack, s.flags, s.win = t.seq, t.ack, int(t.flags), t.window
    if isinstance(ip, IP):
        s.plen = ip.len - ip.ihl * 4 - t.dataofs * 4
    else:
        s.plen = ip.plen - t.dataofs * 4
    s.wscale = None
    for o in t.options:
        if o[0] == "WScale":
            s.wscale = o[1]
    s.out = False
    return s


class Sniffer:
    """An AF_PACKET socket on one interface of one namespace. It sees what the stack sees, after
    XDP: a segment rstguard dropped never shows up here."""

    def __init__(self, ns, ifname):
        with NetNS(ns):
            self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.s.bind((ifname, 0))
        self.s.setblocking(False)
        self.segs = []

    def poll(self):
        while True:
            try:
                frame, addr = self.s.recvfrom(65535)
            except BlockingIOError:
                return self.segs
            seg = parse_tcp(frame)
            if seg is not None:
                seg.out = addr[2] == PACKET_OUTGOING
                self.segs.append(seg)

    def close(self):
        self.s.close()


class ConnView:
    """What the wire says about endpoint A of one connection: A's RCV.NXT (the end of the
    highest segment that reached it) and the receive window it advertises, scaled."""

    def __init__(self, segs, a, b):
        a_addr, a_port = a
        b_addr, b_port = b
        self.rcv_nxt = None
        self.win = None
        a_ws = b_ws = None
        a_win_raw = None
        for s in segs:
            if (s.src, s.sport, s.dst, s.dport) == (b_addr, b_port, a_addr, a_port):
                if s.flags & TCP_SYN:
                    b_ws = s.wscale
                if not s.flags & TCP_RST and (self.rcv_nxt is None or
                                              ((s.end() - self.rcv_nxt) & 0xffffffff) < 1 << 31):
                    self.rcv_nxt = s.end()
            elif (s.src, s.sport, s.dst, s.dport) == (a_addr, a_port, b_addr, b_port):
                if s.flags & TCP_SYN:
                    a_ws = s.wscale
                elif s.flags & TCP_ACK:
                    a_win_raw = s.win
                    if self.rcv_nxt is None or ((s.ack - self.rcv_nxt) & 0xffffffff) < 1 << 31:
                        self.rcv_nxt = s.ack
        if a_win_raw is not None:
            shift = a_ws if a_ws is not None and b_ws is not None else 0
            self.win = a_win_raw << shift


def _fold(x):
    while x >> 16:
        x = (x & 0xffff) + (x >> 16)
    return x


class Injector:
    """Forged RSTs sent as raw Ethernet frames from an attacker's interface. scapy builds one
    template per 4-tuple; a flood then rewrites the sequence number (and for random 4-tuples the
    ports) in place and fixes the TCP checksum incrementally (RFC 1624), which keeps tens of
    thousands of frames a second within reach of Python."""

    def __init__(self, ns, ifname, src_mac, dst_mac):
        with NetNS(ns):
            self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.bind((ifname, 0))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.src_mac, self.dst_mac = src_mac, dst_mac
        self.sent = 0

    def frame(self, src, dst, sport, dport, seq=0, ack=0, flags="R", v6=False):
        ip = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
        return bytes(Ether(src=self.src_mac, dst=self.dst_mac) / ip /
                     TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=0))

    def send(self, frame):
        self.s.send(frame)
        self.sent += 1

    def _send_paced(self, buf, n):
        # A veth peer running XDP takes frames through a 256-slot ring; a burst longer than that
        # is dropped before XDP sees it, and then no counter could equal the packets sent.
        self.s.send(buf)
        self.sent += 1
        if n & 127 == 127:
            time.sleep(0.0003)

    def flood_seqs(self, src, dst, sport, dport, seqs, v6=False, ack=0, flags="R"):
        """One RST per sequence number in seqs on one 4-tuple; returns how many were sent."""
        base = bytearray(self.frame(src, dst, sport, dport, 0, ack, flags, v6))
        to = 54 if v6 else 34
        c0 = struct.unpack_from("!H", base, to + 16)[0]
        n = 0
        for seq in seqs:
            struct.pack_into("!I", base, to + 4, seq)
            c = _fold((~c0 & 0xffff) + (seq >> 16) + (seq & 0xffff))
            struct.pack_into("!H", base, to + 16, ~c & 0xffff)
            self._send_paced(base, n)
            n += 1
        return n

    def flood_tuples(self, src, dst, n, v6=False, dports=(), rng=None):
        """n RSTs with random source ports, sequence numbers and (unless dports is given, then one
        of those) destination ports: connections that do not exist."""
        rng = rng or random.Random()
        base = bytearray(self.frame(src, dst, 0, 0, 0, 0, "R", v6))
        to = 54 if v6 else 34
        c0 = struct.unpack_from("!H", base, to + 16)[0]
        for i in range(n):
            sp = rng.randrange(1024, 65536)
            dp = rng.choice(dports) if dports else rng.randrange(1, 65536)
            seq = rng.getrandbits(32)
            struct.pack_into("!HHI", base, to, sp, dp, seq)
            c = _fold((~c0 & 0xffff) + sp + dp + (seq >> 16) + (seq & 0xffff))
            struct.pack_into("!H", base, to + 16, ~c & 0xffff)
            self._send_paced(base, i)
        return n

    def close(self):
        self.s.close()


def send_l3(ns, pkt_bytes, dst, v6):
    """Sends a complete IP packet from namespace ns through its routing table (a raw socket with
    the header included), as the peer's own stack would."""
    with NetNS(ns):
        if v6:
            s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        s.sendto(pkt_bytes, (dst, 0))
    finally:
        s.close()


def rst_packet(src, dst, sport, dport, seq, ack=0, flags="R", v6=False):
    ip = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
    return bytes(ip / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=0))


# Shapes that hid an RST from parsers reading only the first header (CONVENTIONS.md): the kernel
# still acts on each one it reassembles or walks past.
EVASIONS = {False: ("ip-options", "split-flags"), True: ("dest-opts", "atomic-frag", "fragmented")}


def evasive_rst(form, src, dst, sport, dport, seq, v6):
    """The IP packets (one or more fragments) of one RST in the given shape."""
    tcp = TCP(sport=sport, dport=dport, seq=seq, flags="R", window=0)
    ident = random.getrandbits(16 if not v6 else 32) or 1
    if form == "ip-options":
        return [bytes(IP(src=src, dst=dst, options=[IPOption_NOP()] * 8) / tcp)]
    if form == "split-flags" and not v6:
        # 8 bytes of TCP in the first fragment: ports and sequence, the flags byte in the next.
        return [bytes(f) for f in fragment(IP(src=src, dst=dst, id=ident) / tcp, fragsize=8)]
    if form == "dest-opts":
        opts = IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 4)])
        return [bytes(IPv6(src=src, dst=dst) / opts / tcp)]
    if form == "atomic-frag":
        return [bytes(IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(offset=0, m=0, id=ident) / tcp)]
    if form == "fragmented":
        # IPv6 drops a first fragment without the whole TCP header (RFC 8200), so the split
        # comes after it: the RST carries 28 bytes of data, 4 in the first fragment (40 + 8 + 24).
        pkt = IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(id=ident) / tcp / (b"reset" * 6)[:28]
        return [bytes(f) for f in fragment6(pkt, 72)]
    raise ValueError(form)


# --- rstguard ----------------------------------------------------------------------------------

class Guard:
    """The rstguard CLI, run in the namespace that holds the attached interfaces, on the test's
    own pin directory. Counters are read with `stats -j` and summed over interfaces."""

    def __init__(self, binary, pin_dir, ns):
        self.binary, self.pin_dir, self.ns = binary, pin_dir, ns

    def run(self, *args, check=True):
        p = sh(self.ns, self.binary, "--pin-dir", self.pin_dir, *args, check=False)
        if check and p.returncode != 0:
            raise RuntimeError("rstguard %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                            p.stderr.strip()))
        return p

    def json(self, *args):
        return json.loads(self.run(*args, "-j").stdout)

    def policy(self, **kv):
        self.run("policy", "set", *("%s=%s" % i for i in kv.items()))

    def policy_show(self):
        return self.json("policy", "show")

    def counters(self):
        """{(reason, action): packets}, summed over every attached interface."""
        return stats_counters(self.json("stats"))


def stats_counters(doc):
    """Sums `stats -j` ({"interfaces": [{"reasons": {REASON: {ACTION: {"packets": N}}}}]})
    over interfaces."""
    tot = {}
    for itf in doc["interfaces"]:
        for reason, acts in itf["reasons"].items():
            for action, v in acts.items():
                tot[(reason, action)] = tot.get((reason, action), 0) + v["packets"]
    return tot


def delta(after, before, reason=None, action=None):
    """Sum of counter increases matching reason and action (None: any)."""
    n = 0
    for (r, a), v in after.items():
        if (reason is None or r == reason or (isinstance(reason, tuple) and r in reason)) and \
           (action is None or a == action):
            n += v - before.get((r, a), 0)
    return n
