#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Host role, sockets outside the XDP device's view: rstguard on a host's NIC (hst:eth0) whose
# upper devices hold sockets bpf_skc_lookup_tcp cannot find from XDP. Each target's legitimate
# resets (L1 refusal, L2 abort) must reach it; blind floods at the host's own sockets must still
# be dropped; forged data must not cost a real data-then-RST its reset. Runs without rstguard
# (the kernel's own behaviour), then with rstguard --role host, then --role both, for IPv4 and
# IPv6.
#
#   [ ctr ] mvc (macvlan child, own namespace)    198.18.9.11  fd00:9::11
#   [ ctr6] ivc (ipvlan child, own namespace)     198.18.10.11 fd00:10::11  (if the kernel has it)
#      |
#   [ hst ] eth0 198.18.7.1 fd00:7::1   <- rstguard here
#           mvb  198.18.8.1 fd00:8::1   (macvlan on eth0, same namespace; server bound to it
#                                        with SO_BINDTODEVICE)
#      |  veth
#   [ cli ] eth0 198.18.{7,8,9,10}.2 fd00:{7,8,9,10}::2   (peer, and the attacker's raw socket)
set -u
. "$(dirname "$0")/lib.bash"
e2e_init "${1:-build}"
e2e_require

ns_add hst && ns_add ctr && ns_add cli || skip "cannot create namespaces"
veth_add hst eth0 cli eth0 || skip "cannot create a veth pair"
nsx hst ip link add link eth0 name mvb type macvlan mode bridge || skip "no macvlan in this kernel"
nsx hst ip link add link eth0 name mvc type macvlan mode bridge || skip "no macvlan in this kernel"
nsx hst ip link set mvc netns "$E2E_NSP-ctr"
HAVE_IPVLAN=0
if ns_add ctr6 && nsx hst ip link add link eth0 name ivc type ipvlan mode l2 2>/dev/null; then
	nsx hst ip link set ivc netns "$E2E_NSP-ctr6" && HAVE_IPVLAN=1
fi
# Only the device that holds an address answers ARP for it (arp_ignore 1): eth0 must not claim
# mvb's address, or frames for mvb would arrive with eth0's MAC.
nsx hst sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
nsx hst ip addr add 198.18.7.1/24 dev eth0
nsx hst ip addr add fd00:7::1/64 dev eth0 nodad
nsx hst ip link set mvb up
nsx hst ip addr add 198.18.8.1/24 dev mvb
nsx hst ip addr add fd00:8::1/64 dev mvb nodad
nsx ctr ip link set mvc up
nsx ctr ip addr add 198.18.9.11/24 dev mvc
nsx ctr ip addr add fd00:9::11/64 dev mvc nodad
if [ "$HAVE_IPVLAN" = 1 ]; then
	nsx ctr6 ip link set ivc up
	nsx ctr6 ip addr add 198.18.10.11/24 dev ivc
	nsx ctr6 ip addr add fd00:10::11/64 dev ivc nodad
fi
for n in 7 8 9 10; do
	nsx cli ip addr add "198.18.$n.2/24" dev eth0
	nsx cli ip addr add "fd00:$n::2/64" dev eth0 nodad
done
for n in hst ctr cli; do
	nsx "$n" sysctl -qw net.ipv6.conf.all.accept_redirects=0 net.ipv4.conf.all.accept_redirects=0
done
reach cli 198.18.7.1 && reach cli fd00:7::1 || skip "no path from cli to hst"
reach cli 198.18.8.1 && reach cli fd00:8::1 || skip "no path from cli to hst's macvlan"
reach cli 198.18.9.11 && reach cli fd00:9::11 || skip "no path from cli to the container"
[ "$HAVE_IPVLAN" = 1 ] || echo "# ipvlan: this kernel has no ipvlan driver; its cases are not run"

MAC_HST=$(mac_of hst eth0)
MAC_MVB=$(mac_of hst mvb)
MAC_CLI=$(mac_of cli eth0)
MAC_CTR=$(ip -n "$E2E_NSP-ctr" -br link show dev mvc | awk '{print $3}')

# The driver: real sockets in the namespaces, forged frames from cli's raw socket.
DRIVER="$E2E_TMP/hostview.py"
cat >"$DRIVER" <<'PY'
import errno, os, random, select, signal, socket, struct, sys, time
sys.path.insert(0, os.environ["E2E_DIR"])
import netlab as nl
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw

A = dict(a.split("=", 1) for a in sys.argv[1:])
TAG, V6, NSP = A["tag"], A["fam"] == "v6", A["nsp"]
GUARD = nl.Guard(A["rg"], A["pin"], NSP + "-hst") if A.get("guard") == "1" else None
MACS = dict(hst=A["mac_hst"], mvb=A["mac_mvb"], cli=A["mac_cli"], ctr=A["mac_ctr"])
rng = random.Random(int(A.get("seed", "7")))
npass = nfail = 0


def check(name, cond, detail=""):
    global npass, nfail
    if cond:
        npass += 1
        print("ok   %s: %s" % (TAG, name), flush=True)
    else:
        nfail += 1
        print("FAIL %s: %s%s" % (TAG, name, " (" + detail + ")" if detail else ""), flush=True)


def addr(net, host):
    return ("fd00:%d::%d" % (net, host)) if V6 else ("198.18.%d.%d" % (net, host))


def counters():
    return GUARD.counters() if GUARD else {}


def moved(c1, c0):
    return {k: v - c0.get(k, 0) for k, v in c1.items() if v != c0.get(k, 0)}


def sock(ns, bind_dev=None):
    with nl.NetNS(ns):
        s = socket.socket(socket.AF_INET6 if V6 else socket.AF_INET, socket.SOCK_STREAM)
    if bind_dev:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, bind_dev.encode())
    return s


# Targets: where the endpoint lives, its address, the device its sockets are bound to.
TARGETS = {
    "ctr": dict(ns=NSP + "-ctr", net=9, host=11, dev=None, what="macvlan child namespace"),
    "bnd": dict(ns=NSP + "-hst", net=8, host=1, dev="mvb",
                what="SO_BINDTODEVICE to a macvlan in the host's namespace"),
}
if A.get("ipvlan") == "1":
    TARGETS["ivl"] = dict(ns=NSP + "-ctr6", net=10, host=11, dev=None,
                          what="ipvlan child namespace")


def L1(t):
    c0 = counters()
    s = sock(t["ns"], t["dev"])
    s.settimeout(3)
    t0 = time.monotonic()
    try:
        s.connect((addr(t["net"], 2), 9))
        err = None
    except OSError as e:
        err = e.errno
    dt = time.monotonic() - t0
    s.close()
    check("L1 %s: connect() to a closed port fails with ECONNREFUSED at once" % t["what"],
          err == errno.ECONNREFUSED and dt < 0.5, "got %s after %.0f ms" % (err, dt * 1000))
    if GUARD:
        c1 = counters()
        check("L1 %s: rstguard dropped nothing" % t["what"],
              nl.delta(c1, c0, action="drop") == 0, "deltas %s" % moved(c1, c0))


def L2(t):
    ls = sock(t["ns"], t["dev"])
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr(t["net"], t["host"]), 0))
    ls.listen(4)
    c, err, _ = nl.connect(NSP + "-cli", addr(t["net"], t["host"]), ls.getsockname()[1], V6)
    if c is None:
        check("L2 %s: connection" % t["what"], False, "connect: %s" % err)
        ls.close()
        return
    ls.settimeout(3)
    a, _ = ls.accept()
    ls.close()
    ok = nl.exchange(c, a)
    c0 = counters()
    nl.set_linger0(c)
    c.close()
    r = nl.recv_result(a, 2.0)
    check("L2 %s: the peer's abort (SO_LINGER 0) reaches it as ECONNRESET" % t["what"],
          ok and r[0] == "error" and r[1] == errno.ECONNRESET and r[2] < 0.5,
          "exchange %s, got %s %s after %.0f ms" % (ok, r[0], r[1], r[2] * 1000))
    if GUARD:
        c1 = counters()
        # Host role: `unverified` (the lookup cannot see the socket). Both role: the flow table
        # may also know the aborting peer's exact edge and call it `valid`.
        check("L2 %s: rstguard dropped nothing, passed it as unverified or valid" % t["what"],
              nl.delta(c1, c0, action="drop") == 0 and
              nl.delta(c1, c0, ("unverified", "valid"), "pass") >= 1 and
              (A["role"] == "both" or nl.delta(c1, c0, "unverified", "pass") >= 1),
              "deltas %s" % moved(c1, c0))
    a.close()


def own_pair():
    """cli connects to the host's own address on eth0."""
    return nl.pair(NSP + "-hst", addr(7, 1), NSP + "-cli", V6)


def blind():
    sn = nl.Sniffer(NSP + "-hst", "eth0")
    a, b = own_pair()
    nl.exchange(b, a)
    time.sleep(0.3)
    la, lp, ra, rp = nl.endpoints(a)
    v = nl.ConnView(sn.poll(), (la, lp), (ra, rp))
    sn.close()
    bad = {v.rcv_nxt, (v.rcv_nxt - 1) & 0xffffffff}
    seqs = [s for s in (rng.getrandbits(32) for _ in range(5000)) if s not in bad]
    inj = nl.Injector(NSP + "-cli", "eth0", MACS["cli"], MACS["hst"])
    c0 = counters()
    sent = inj.flood_seqs(ra, la, rp, lp, seqs, V6)
    time.sleep(0.2)
    c1 = counters()
    alive = nl.exchange(a, b) and nl.exchange(b, a)
    check("blind flood of %d RSTs at the host's own socket: the connection survives" % sent, alive)
    if GUARD:
        dropped = nl.delta(c1, c0, ("out_of_window", "inexact"), "drop")
        check("blind flood at the host's own socket: rstguard dropped every one",
              dropped == sent, "dropped %d of %d; deltas %s" % (dropped, sent, moved(c1, c0)))
        n = 2000
        c0 = counters()
        inj.flood_tuples(ra, la, n, V6, rng=rng)
        time.sleep(0.2)
        c1 = counters()
        check("%d RSTs for no connection at the host's own address: all no_flow/drop" % n,
              nl.delta(c1, c0, "no_flow", "drop") == n, "deltas %s" % moved(c1, c0))
        inj.close()
        inj = nl.Injector(NSP + "-cli", "eth0", MACS["cli"], MACS["ctr"])
        c0 = counters()
        inj.flood_tuples(addr(9, 2), addr(9, 11), n // 4, V6, rng=rng)
        time.sleep(0.2)
        c1 = counters()
        check("RSTs for no connection at the container's MAC: passed as unverified",
              nl.delta(c1, c0, "unverified", "pass") == n // 4 and
              nl.delta(c1, c0, action="drop") == 0, "deltas %s" % moved(c1, c0))
    inj.close()
    a.close()
    b.close()


def data_frames(src, dst, sport, dport, count):
    """Forged 100-byte data segments on one 4-tuple at random sequence numbers."""
    ip = IPv6(src=src, dst=dst) if V6 else IP(src=src, dst=dst)
    base = bytearray(bytes(Ether(src=MACS["cli"], dst=MACS["hst"]) / ip /
                           TCP(sport=sport, dport=dport, seq=0, ack=0, flags="PA") /
                           Raw(b"x" * 100)))
    to = 54 if V6 else 34
    c0 = struct.unpack_from("!H", base, to + 16)[0]
    for _ in range(count):
        seq = rng.getrandbits(32)
        struct.pack_into("!I", base, to + 4, seq)
        c = nl._fold((~c0 & 0xffff) + (seq >> 16) + (seq & 0xffff))
        struct.pack_into("!H", base, to + 16, ~c & 0xffff)
        yield bytes(base)


def poison(rounds=4):
    """The host is the client: cli's server sends data and aborts at once (data then RST,
    back to back), while forged data segments on the same 4-tuple stream in."""
    for k in range(rounds):
        ls = nl.listener(NSP + "-cli", addr(7, 2), V6)
        c, err, _ = nl.connect(NSP + "-hst", addr(7, 2), ls.getsockname()[1], V6)
        if c is None:
            check("data-then-RST: connection", False, str(err))
            ls.close()
            return
        ls.settimeout(3)
        srv, _ = ls.accept()
        ls.close()
        nl.exchange(c, srv)
        la, lp, ra, rp = nl.endpoints(c)
        inj = nl.Injector(NSP + "-cli", "eth0", MACS["cli"], MACS["hst"])
        for f in data_frames(ra, la, rp, lp, 300):
            inj.s.send(f)
        pid = os.fork()
        if pid == 0:
            # The child's copies of the connection's descriptors would keep it open past close().
            c.close()
            srv.close()
            try:
                while True:
                    for f in data_frames(ra, la, rp, lp, 64):
                        inj.s.send(f)
                    time.sleep(0.0002)
            finally:
                os._exit(0)
        c0 = counters()
        time.sleep(0.05)
        nl.set_linger0(srv)
        srv.sendall(b"last words " * 40)
        srv.close()
        got, res, t0 = b"", None, time.monotonic()
        while time.monotonic() - t0 < 2.0:
            r = nl.recv_result(c, 2.0)
            if r[0] == "data":
                got += r[1]
                continue
            res = r
            break
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        inj.close()
        c1 = counters()
        check("forged data, then the peer's data and abort back to back (round %d): the host "
              "gets ECONNRESET" % (k + 1),
              res is not None and res[0] == "error" and res[1] == errno.ECONNRESET,
              "got %s after %d bytes" % (res, len(got)))
        if GUARD:
            # (A late RST of cli's to a connection the host already closed is a no_flow drop
            # of no consequence: only a judged-and-dropped one could have been the abort.)
            check("data-then-RST round %d: rstguard dropped no RST of the connection" % (k + 1),
                  nl.delta(c1, c0, ("inexact", "out_of_window"), "drop") == 0,
                  "deltas %s" % moved(c1, c0))
        c.close()


for name in sorted(TARGETS):
    L1(TARGETS[name])
    L2(TARGETS[name])
blind()
poison()
print("# %s: %d passed, %d failed" % (TAG, npass, nfail), flush=True)
PY

# drive TAG GUARD: the driver for both families, its check lines added to this script's totals.
drive() {
	local tag=$1 guard=$2 role=${3:-none} fam out p f rc
	for fam in v4 v6; do
		out="$E2E_TMP/drive.out"
		E2E_DIR="$E2E_DIR" "$E2E_PY" -B "$DRIVER" tag="$tag/$fam" fam="$fam" nsp="$E2E_NSP" \
			rg="$RG" pin="$E2E_PIN" guard="$guard" role="$role" ipvlan="$HAVE_IPVLAN" \
			mac_hst="$MAC_HST" mac_mvb="$MAC_MVB" mac_cli="$MAC_CLI" mac_ctr="$MAC_CTR" \
			>"$out" 2>&1
		rc=$?
		cat "$out"
		p=$(grep -c '^ok ' "$out")
		f=$(grep -c '^FAIL ' "$out")
		E2E_PASS=$((E2E_PASS + p))
		E2E_FAIL=$((E2E_FAIL + f))
		if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
			fail "$tag/$fam: driver exited $rc without reporting a failure"
		fi
	done
}

drive "hostview/no-rstguard" 0

if ! e2e_have_cli; then
	fail "hostview: $RG has no attach command: the runs with rstguard cannot start"
	e2e_summary
	exit
fi
for role in host both; do
	if ! rg hst attach eth0 --role "$role" --xdp-mode native >"$E2E_TMP/attach.out" 2>&1; then
		fail "hostview/$role: rstguard attach eth0 --role $role ($(tail -n 3 "$E2E_TMP/attach.out"))"
		continue
	fi
	check "hostview/$role: attached to hst:eth0 with macvlan uppers" status_is hst "$role" native eth0
	# The steady state: no learning period, so the flow table's own answers show.
	check "hostview/$role: policy set learning=0" rg hst policy set learning=0
	drive "hostview/rstguard-$role" 1 "$role"
	rg hst detach eth0 >/dev/null 2>&1
done

e2e_summary
