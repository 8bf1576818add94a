#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# End-to-end tests of the rstguard command in fresh network namespaces: attach/status/detach
# cycles, persistence after exit, shared flow table, live policy, invalid input, JSON output.
set -u
build=${1:-build}
RG=$(realpath "$build/rstguard" 2>/dev/null)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
T=$$
pass=0 fail=0

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
[ -x "$RG" ] || skip "no $build/rstguard (run make all)"
for tool in ip nsenter nft bpftool unshare timeout; do
	command -v "$tool" >/dev/null || skip "missing $tool"
done
$PY -c 'import scapy.all' 2>/dev/null || skip "scapy missing for $PY"

NSA=rgcA$T NSR=rgcR$T NSB=rgcB$T NSC=rgcC$T
A0=rgA$T RA=rgRa$T RB=rgRb$T B0=rgB$T C0=rgC$T C1=rgD$T TUN=rgT$T
PINROOT=/sys/fs/bpf/rgtest-$T
PIN=$PINROOT/gw PINH=$PINROOT/host PINC=$PINROOT/cyc
TMP=$(mktemp -d /tmp/rgtest-$T.XXXXXX)
PIDS=()

cleanup() {
	local p ns
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for ns in $NSA $NSR $NSB $NSC; do
		[ -e /run/netns/$ns ] || continue
		nsenter --net=/run/netns/$ns xdp-loader unload --all $B0 >/dev/null 2>&1
		ip netns del $ns 2>/dev/null
	done
	rm -rf "$PINROOT" "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ok() { pass=$((pass + 1)); echo "ok   [$SECONDS] $*"; }
no() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...: passes when the command succeeds
	local d=$1; shift
	if "$@"; then ok "$d"; else no "$d"; fi
}
eq() { # eq DESCRIPTION ACTUAL EXPECTED
	if [ "$2" = "$3" ]; then ok "$1"; else no "$1"; echo "    got:  $2"; echo "    want: $3"; fi
}

# rstguard inside a namespace: nsenter keeps the host's bpffs (ip netns exec would not).
rg_in() { local ns=$1; shift; nsenter --net=/run/netns/$ns "$RG" "$@"; }
rgr() { rg_in $NSR --pin-dir $PIN "$@"; }
rgb() { rg_in $NSB --pin-dir $PINH "$@"; }
rgc() { rg_in $NSC --pin-dir $PINC "$@"; }
rc_of() { "$@" >/dev/null 2>&1; echo $?; }
# Evaluates a Python expression over the JSON document on stdin (d); tuples print as tuples.
jget() { $PY -c "import json,sys; d=json.load(sys.stdin); r=($1); print(r)"; }
# A JSON document of this CLI: it parses and carries the schema version.
isjson() { $PY -c 'import json,sys; sys.exit(json.load(sys.stdin).get("schema_version") != 1)' 2>/dev/null; }
counter() { # counter RGFUNC IFACE REASON ACTION: packets counted
	$1 stats -j | jget "[i for i in d['interfaces'] if i['name']=='$2'][0]['reasons']['$3']['$4']['packets']"
}
nft_rst() { # RSTs that reached namespace B's stack
	ip netns exec $NSB nft -j list counter inet rgt rst | jget "[x['counter']['packets'] for x in d['nftables'] if 'counter' in x][0]"
}
wait_eq() { # wait_eq DESCRIPTION EXPECTED COMMAND...: polls the command's output for up to 3 s
	local d=$1 want=$2 got end=$((SECONDS + 3)); shift 2
	while :; do
		got=$("$@")
		[ "$got" = "$want" ] && { ok "$d"; return; }
		[ $SECONDS -ge $end ] && break
		sleep 0.1
	done
	no "$d"; echo "    got:  $got"; echo "    want: $want"
}
wait_for() { # wait_for SECONDS COMMAND...
	local end=$((SECONDS + $1)); shift
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}
prog_gone() { ! bpftool prog show id "$1" >/dev/null 2>&1; }
alive() { kill -0 $CLIENT 2>/dev/null && [ ! -s "$TMP/reset" ]; }

# --- topology: A -- R (forwards, filtered) -- B; C for attach cycles --------------------------
for ns in $NSA $NSR $NSB $NSC; do ip netns add $ns || skip "cannot create netns"; done
ip -n $NSA link add $A0 type veth peer name $RA netns $NSR
ip -n $NSB link add $B0 type veth peer name $RB netns $NSR
ip -n $NSC link add $C0 type veth peer name $C1
ip -n $NSA addr add 198.18.1.1/24 dev $A0
ip -n $NSR addr add 198.18.1.2/24 dev $RA
ip -n $NSR addr add 198.18.2.2/24 dev $RB
ip -n $NSB addr add 198.18.2.1/24 dev $B0
for l in "$NSA $A0" "$NSR $RA" "$NSR $RB" "$NSB $B0" "$NSC $C0" "$NSC $C1" "$NSA lo" "$NSB lo"; do
	set -- $l
	ip -n $1 link set $2 up
done
ip -n $NSA route add default via 198.18.1.2
ip -n $NSB route add default via 198.18.2.2
ip netns exec $NSR sysctl -qw net.ipv4.ip_forward=1
refused() { # a SYN to a closed port of B is answered by an RST at once
	ip netns exec $NSA $PY -c "
import socket, sys
try: socket.create_connection(('198.18.2.1', 9), timeout=2)
except ConnectionRefusedError: sys.exit(0)
sys.exit(1)"
}
refused || skip "no forwarding between namespaces"
MAC_RA=$(ip -n $NSR -j link show $RA | jget "d[0]['address']")
MAC_B0=$(ip -n $NSB -j link show $B0 | jget "d[0]['address']")
# Counts the RSTs that reach B's stack, so a verdict is seen where it matters.
ip netns exec $NSB nft -f - <<'EOF'
table inet rgt {
	counter rst {}
	chain pre { type filter hook prerouting priority -300; tcp flags & rst == rst counter name rst; }
}
EOF

cat >"$TMP/server.py" <<'EOF'
import socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.18.2.1", 179)); s.listen(8)
def echo(c):
    while True:
        b = c.recv(4096)
        if not b: break
        c.sendall(b)
while True:
    c, _ = s.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
EOF
# A long-lived session: one byte echoed every 0.2 s; a reset ends it and is reported.
cat >"$TMP/client.py" <<'EOF'
import socket, sys, time
c = socket.create_connection(("198.18.2.1", 179), timeout=5)
open(sys.argv[1], "w").write(str(c.getsockname()[1]))
try:
    while True:
        c.sendall(b"x")
        if c.recv(1) != b"x": raise OSError("bad echo")
        time.sleep(0.2)
except OSError as e:
    open(sys.argv[2], "w").write("RESET %s" % e)
EOF
# One scapy process for the whole run (importing scapy takes seconds): each stdin line
# "NETNS IFACE DSTMAC SRC SPORT DST DPORT SEQ COUNT" sends crafted RSTs from inside NETNS.
cat >"$TMP/sender.py" <<'EOF'
import ctypes, logging, os, sys
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import Ether, IP, TCP, sendp
libc = ctypes.CDLL(None, use_errno=True)
for line in sys.stdin:
    ns, i, mac, src, sp, dst, dp, seq, n = line.split()
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    r = libc.setns(fd, 0x40000000)  # CLONE_NEWNET
    os.close(fd)
    if r:
        print("setns failed", flush=True)
        continue
    p = Ether(src="02:00:00:00:00:01", dst=mac) / IP(src=src, dst=dst) / \
        TCP(sport=int(sp), dport=int(dp), flags="R", seq=int(seq))
    sendp(p, iface=i, count=int(n), verbose=0)
    print("sent", flush=True)
EOF
coproc SENDER { exec $PY -u "$TMP/sender.py" 2>"$TMP/sender.err"; }
PIDS+=($SENDER_PID)
send_rst() { # send_rst NETNS IFACE DSTMAC SRC SPORT DST DPORT SEQ [COUNT]
	local reply args=("$@")
	[ $# -ge 9 ] || args+=(1)
	# Not in a pipeline: bash closes coproc descriptors in subshells.
	echo "${args[*]}" >&"${SENDER[1]}"
	read -r -t 20 reply <&"${SENDER[0]}"
	[ "$reply" = sent ] || { echo "    sender: '$reply'"; cat "$TMP/sender.err"; }
}
# A forged RST for a connection that does not exist, sent from A towards B.
forge_unknown() { send_rst $NSA $A0 $MAC_RA 198.18.1.1 40000 198.18.2.1 9 12345; }

# --- help, usage and the man page -----------------------------------------------------------
for c in attach detach status policy stats flows save apply metrics serve "policy set" "policy protect"; do
	check "'$c --help' exits 0 with usage" bash -c "'$RG' $c --help | grep -q Usage"
done
check "'--help' lists every command" bash -c "'$RG' --help | grep -q flows"
eq "no command exits 2" "$(rc_of "$RG")" 2
eq "unknown command exits 2" "$(rc_of "$RG" frobnicate)" 2
if command -v man >/dev/null; then
	check "man -l user/rstguard.8 renders" bash -c "MANWIDTH=80 man -l '$SRC/user/rstguard.8' 2>/dev/null | grep -q 'EXIT STATUS'"
fi

# --- nothing attached yet -------------------------------------------------------------------
eq "status -j with nothing attached: no interfaces" "$(rgr status -j | jget "len(d['interfaces'])")" 0
eq "attach to a missing interface exits 2" "$(rc_of rgr attach nosuch$T)" 2
check "a refused attach creates no pin dir" [ ! -e "$PIN" ]
out=$(rgr -j policy show 2>/dev/null); rc=$?
eq "policy show before attach: exit 1 and a JSON error" "$rc $(echo "$out" | jget "'error' in d")" "1 True"

# --- attach the gateway on both router interfaces -------------------------------------------
check "attach $RA $RB --role gateway --flows 4096 --flows6 1024" \
	rgr attach $RA $RB --role gateway --flows 4096 --flows6 1024
st=$(rgr status -j)
eq "status -j: two interfaces, gateway, native, ok, alone" \
	"$(echo "$st" | jget "sorted((i['name'],i['role'],i['xdp_mode'],i['state'],i['runs']) for i in d['interfaces'])")" \
	"[('$RA', 'gateway', 'native', 'ok', 'alone'), ('$RB', 'gateway', 'native', 'ok', 'alone')]"
eq "status -j: flow tables of 4096 (IPv4) and 1024 (IPv6), policy generation 1" \
	"$(echo "$st" | jget "d['flow_table']['ipv4']['capacity'], d['flow_table']['ipv6']['capacity'], d['policy_generation']")" \
	"(4096, 1024, 1)"
eq "bpftool: the pinned tables have those sizes" \
	"$(bpftool map show pinned $PIN/maps/rg_flows4 | grep -o 'max_entries [0-9]*') $(bpftool map show pinned $PIN/maps/rg_flows6 | grep -o 'max_entries [0-9]*')" \
	"max_entries 4096 max_entries 1024"
eq "status -j: attach mode bpf_link, no dispatcher" "$(echo "$st" | jget "d['attach'], any(i['dispatcher'] for i in d['interfaces'])")" "('bpf_link', False)"
PROG_RA=$(echo "$st" | jget "[i['prog_id'] for i in d['interfaces'] if i['name']=='$RA'][0]")
check "ip link shows the program on $RA" bash -c "ip -n $NSR link show $RA | grep -q 'prog/xdp id $PROG_RA'"
check "bpftool net shows $RB in driver mode" bash -c "nsenter --net=/run/netns/$NSR bpftool net show | grep -q '^$RB.*driver'"
check "status text names the interfaces" bash -c "nsenter --net=/run/netns/$NSR '$RG' --pin-dir $PIN status | grep -q '^$RA .*gateway'"
eq "the first attach wrote the default policy" \
	"$(rgr policy show -j | jget "d['mode'], d['inexact'], d['unknown'], d['timewait'], d['timeouts_seconds']['established'], d['policy_generation']")" \
	"('enforce', 'drop', 'drop', 'accept', 432000, 1)"
eq "the first attach started a learning period of 120 s" \
	"$(rgr policy show -j | jget "d['learning_seconds']") $(rgr status -j | jget "100 < d['learning_remaining_seconds'] <= 120")" "120 True"
# What follows tests the steady state: RSTs of flows never seen are no_flow.
check "policy set learning=0" rgr policy set learning=0
eq "learning=0: no period left" "$(rgr policy show -j | jget "d['learning_seconds']") $(rgr status -j | jget "d['learning_remaining_seconds']")" "0 0"

# --- live traffic through the router, after the CLI has exited --------------------------------
ip netns exec $NSB $PY "$TMP/server.py" &
PIDS+=($!)
sleep 0.3
ip netns exec $NSA $PY "$TMP/client.py" "$TMP/port" "$TMP/reset" &
CLIENT=$!
PIDS+=($CLIENT)
wait_for 5 test -s "$TMP/port"
CPORT=$(cat "$TMP/port" 2>/dev/null)
sleep 0.5
fl=$(rgr flows -j)
eq "flows -j: the session is one entry, established (both interfaces share one table)" \
	"$(echo "$fl" | jget "[(f['state'], f['b']['port']) for f in d['flows'] if 179 in (f['a']['port'], f['b']['port'])]")" \
	"[('established', 179)]"
eq "flows -j: sequence bookkeeping in both directions" "$(echo "$fl" | jget "all(x['seq_end'] and x['ack'] and 'ack' in x['flags'] for x in d['flows'][0]['dirs'])")" True
check "flows text shows the session" bash -c "nsenter --net=/run/netns/$NSR '$RG' --pin-dir $PIN flows | grep -q '198.18.2.1:179 .*established'"
check "non-RST TCP counted on both interfaces" [ "$(counter rgr $RA non_rst_tcp pass)" -gt 0 -a "$(counter rgr $RB non_rst_tcp pass)" -gt 0 ]

n0=$(counter rgr $RA out_of_window drop)
send_rst $NSA $A0 $MAC_RA 198.18.1.1 "$CPORT" 198.18.2.1 179 $((RANDOM * 65536 + 7)) 3
wait_eq "forged out-of-window RSTs into the session: dropped, counted in stats -j" $((n0 + 3)) counter rgr $RA out_of_window drop
d0=$(counter rgr $RA no_flow drop); r0=$(nft_rst)
forge_unknown
wait_eq "forged RST for an unknown flow: no_flow, dropped" $((d0 + 1)) counter rgr $RA no_flow drop
eq "... and it never reached B" "$(nft_rst)" "$r0"
check "the session is still alive" alive
check "a refused connection still gets its RST (ECONNREFUSED at once)" refused

# --- policy changes show in policy show and act on live traffic at once -----------------------
check "policy set mode=monitor" rgr policy set mode=monitor
eq "policy show: monitor, generation 3" "$(rgr policy show -j | jget "d['mode'], d['policy_generation']")" "('monitor', 3)"
m0=$(counter rgr $RA no_flow would_drop); r0=$(nft_rst)
forge_unknown
wait_eq "monitor: the RST counts as would_drop" $((m0 + 1)) counter rgr $RA no_flow would_drop
wait_eq "monitor: the RST reached B" $((r0 + 1)) nft_rst
rgr policy set mode=enforce unknown=pass >/dev/null
p0=$(counter rgr $RA no_flow pass); r0=$(nft_rst)
forge_unknown
wait_eq "unknown=pass: counted as pass" $((p0 + 1)) counter rgr $RA no_flow pass
wait_eq "unknown=pass: delivered to B" $((r0 + 1)) nft_rst
rgr policy set unknown=drop >/dev/null
eq "protect add 22 lists it, as numbers" "$(rgr policy protect add 22 -j | jget "d['ports']")" "[{'first': 22, 'last': 22}]"
eq "policy show: port 22; no internal field" "$(rgr policy show -j | jget "d['protect']['ports'], 'bits' in d")" "([{'first': 22, 'last': 22}], False)"
u0=$(counter rgr $RA unprotected pass); r0=$(nft_rst)
forge_unknown
wait_eq "RST to port 9 outside the protected ports: unprotected, passed" $((u0 + 1)) counter rgr $RA unprotected pass
wait_eq "... and delivered to B" $((r0 + 1)) nft_rst
rgr policy protect del 22 >/dev/null
eq "protect del 22: set empty" "$(rgr policy show -j | jget "d['protect']['ports']")" "[]"
d0=$(counter rgr $RA no_flow drop)
forge_unknown
wait_eq "every port protected again: dropped" $((d0 + 1)) counter rgr $RA no_flow drop
check "exempt add 198.18.1.0/24 fd00:1::/64" rgr policy exempt add 198.18.1.0/24 fd00:1::/64
eq "exempt list" "$(rgr policy exempt list -j | jget "d['prefixes']")" "['198.18.1.0/24', 'fd00:1::/64']"
e0=$(counter rgr $RA exempt pass)
forge_unknown
wait_eq "RST from an exempt prefix: passed as exempt" $((e0 + 1)) counter rgr $RA exempt pass
eq "exempt del: empty" "$(rgr policy exempt del 198.18.1.0/24 fd00:1::/64 -j | jget "d['prefixes']")" "[]"
check "policy set of every knob and timeouts" rgr policy set inexact=pass timewait=drop unparsed=pass timeout.established=3600 timeout.closed=default
eq "policy show reflects them" "$(rgr policy show -j | jget "d['inexact'], d['timewait'], d['unparsed'], d['timeouts_seconds']['established'], d['timeouts_seconds']['closed']")" \
	"('pass', 'drop', 'pass', 3600, 10)"
rgr policy set inexact=drop timewait=accept unparsed=drop >/dev/null
rgr policy protect add 179 198.18.0.0/15 fd00::/8 >/dev/null
eq "protect list: ports and prefixes" "$(rgr policy protect list -j | jget "d['ports'], d['prefixes']")" "([{'first': 179, 'last': 179}], ['198.18.0.0/15', 'fd00::/8'])"
check "policy show text" bash -c "nsenter --net=/run/netns/$NSR '$RG' --pin-dir $PIN policy show | grep -q '^timewait *accept'"

# --- every invalid argument exits 2 and changes nothing ---------------------------------------
pol_before=$(rgr policy show -j); st_before=$(rgr status -j)
bad=(
	"policy set mode=bogus" "policy set mode=monitor inexact=maybe" "policy set foo=bar"
	"policy set timeout.established=-1" "policy set timeout.bogus=5" "policy set timeout.none=5"
	"policy set timeout.established=0" "policy set timeout.established=99999999999"
	"policy set mode" "policy set =x" "policy set mode=monitor mode=enforce" "policy set"
	"policy set mode=monitor timeout.established=1x"
	"policy protect add 0" "policy protect add 65536" "policy protect add 80 x"
	"policy protect add 198.18.0.1/15" "policy protect add 198.18.0.0/33" "policy protect add fd00::1/8"
	"policy protect add 2000-1000" "policy protect add 80 198.18.0.1/15" "policy protect del 4444"
	"policy protect del 179 4444" "policy protect del 198.18.99.0/24" "policy protect frob 1"
	"policy protect add" "policy exempt add 179" "policy exempt add 198.18.1.1/8"
	"policy exempt del 198.18.99.0/24" "policy bogus" "policy show extra" "policy protect list 1"
	"attach" "attach nosuch$T" "attach $RA --role bogus" "attach $RA --xdp-mode bogus"
	"attach $RA --flows 12x" "attach $RA --flows 10" "attach $RA --xdp-mode skb"
	"attach $RA --flows6 12x" "attach $RA --flows6 10" "metrics -j" "save -j" "apply $TMP/none.conf"
	"attach $RA $RA" "attach $RA nosuch$T" "attach $RA --bogus" "attach $RA --role"
	"detach" "detach nosuch$T" "detach $RA --all" "detach $RA nosuch$T"
	"stats --watch 0" "stats --watch abc" "stats extra" "flows --limit -1" "flows --limit x"
	"status extra" "status --bogus" "frobnicate" "--bogus status"
)
all2=1
for b in "${bad[@]}"; do
	rc=$(rc_of rgr $b)
	[ "$rc" = 2 ] || { all2=0; echo "    '$b' exited $rc"; }
	errj=$(rgr -j $b 2>/dev/null)
	echo "$errj" | jget "d['error']" >/dev/null 2>&1 || { all2=0; echo "    '$b' -j: not a JSON error: $errj"; }
done
check "${#bad[@]} invalid commands each exit 2, with a JSON error under -j" [ $all2 = 1 ]
eq "... and leave the policy unchanged" "$(rgr policy show -j)" "$pol_before"
eq "... and leave the attachments unchanged" "$(rgr status -j)" "$st_before"
eq "a relative --pin-dir exits 2" "$(rc_of rg_in $NSR --pin-dir rel/dir attach $RA)" 2

# --- -j output parses as JSON for every command ---------------------------------------------
jsonok=1
for c in "status" "policy show" "policy protect list" "policy exempt list" "stats" "flows" \
	"flows --limit 0" "policy set mode=enforce" "policy protect add 443" "policy protect del 443" \
	"policy exempt add 198.19.0.0/16" "policy exempt del 198.19.0.0/16"; do
	rgr -j $c | isjson || { jsonok=0; echo "    '$c -j' is not JSON"; }
done
timeout --preserve-status -s INT 1.5 nsenter --net=/run/netns/$NSR "$RG" --pin-dir $PIN stats -j --watch 0.5 | head -n 1 | isjson ||
	{ jsonok=0; echo "    'stats -j --watch' is not JSON"; }
check "-j output of every command parses as JSON, with schema_version 1" [ $jsonok = 1 ]
w=$(timeout --preserve-status -s INT 1.3 nsenter --net=/run/netns/$NSR "$RG" --pin-dir $PIN stats --watch 0.5; echo "rc=$?")
check "stats --watch prints rates and ends with 0 on SIGINT" bash -c "grep -q 'non_rst_tcp.*pps' <<<'$w' && grep -q 'rc=0' <<<'$w'"

# --- re-attach replaces the program atomically and keeps flows, policy and counters -------------
pol_before=$(rgr policy show -j); st_before=$(rgr status -j)
c_before=$(counter rgr $RA non_rst_tcp pass)
out=$(rgr -j attach $RA $RB)
eq "re-attach -j (left-out options keep role and mode): JSON, replaced" "$(echo "$out" | jget "[(i['replaced'], i['role']) for i in d['interfaces']]")" \
	"[(True, 'gateway'), (True, 'gateway')]"
st=$(rgr status -j)
check "re-attach: new program ids; same slots, role, mode, attached since" $PY -c "
import json
a = {i['name']: i for i in json.loads('''$st_before''')['interfaces']}
b = {i['name']: i for i in json.loads('''$st''')['interfaces']}
assert a.keys() == b.keys()
for n in a:
    assert a[n]['prog_id'] != b[n]['prog_id'], n
    for k in ('slot', 'role', 'xdp_mode', 'attached_since', 'state'):
        assert a[n][k] == b[n][k], (n, k)
"
eq "re-attach: policy unchanged" "$(rgr policy show -j)" "$pol_before"
eq "re-attach: the session's flow entry is still there" \
	"$(rgr flows -j | jget "len([f for f in d['flows'] if f['b']['port'] == 179 and f['state'] == 'established'])")" 1
check "re-attach: counters kept" [ "$(counter rgr $RA non_rst_tcp pass)" -ge "$c_before" ]
check "re-attach: the old program is gone" wait_for 3 prog_gone $PROG_RA
n0=$(counter rgr $RA out_of_window drop)
send_rst $NSA $A0 $MAC_RA 198.18.1.1 "$CPORT" 198.18.2.1 179 $((RANDOM * 65536 + 7))
wait_eq "the new program filters at once" $((n0 + 1)) counter rgr $RA out_of_window drop
check "re-attach --role both switches the role in place" rgr attach $RB --role both
eq "... status shows it" "$(rgr status -j | jget "[i['role'] for i in d['interfaces'] if i['name']=='$RB'][0]")" both
check "the session survived all of it" alive

# --- host role in skb mode on B; another tool's XDP program is left alone ---------------------
check "attach $B0 --role host --xdp-mode skb" rgb attach $B0 --role host --xdp-mode skb
check "ip link shows xdpgeneric on $B0" bash -c "ip -n $NSB link show $B0 | grep -q xdpgeneric"
h0=$(counter rgb $B0 no_flow drop)
send_rst $NSR $RB $MAC_B0 198.18.1.1 40001 198.18.2.1 9 777
wait_eq "host role: RST for no local socket dropped" $((h0 + 1)) counter rgb $B0 no_flow drop
check "host role: the session survived" alive
check "detach $B0" rgb detach $B0
check "no xdp left on $B0" bash -c "! ip -n $NSB link show $B0 | grep -q xdp"
FOREIGN=/usr/lib/$(gcc -print-multiarch 2>/dev/null)/bpf/xdpfilt_alw_all.o
if nsenter --net=/run/netns/$NSB xdp-loader load -m skb $B0 "$FOREIGN" >/dev/null 2>&1; then
	fid=$(ip -n $NSB -j link show $B0 | jget "d[0]['xdp']['prog']['id']")
	out=$(rgb attach $B0 2>&1); rc=$?
	eq "attach over another tool's XDP program: exit 1, names it" "$rc $(grep -o xdpfilt_alw_all <<<"$out")" "1 xdpfilt_alw_all"
	eq "detach of an interface rstguard does not hold exits 2" "$(rc_of rgb detach $B0)" 2
	eq "the other tool's program is untouched" "$(ip -n $NSB -j link show $B0 | jget "d[0]['xdp']['prog']['id']")" "$fid"
	nsenter --net=/run/netns/$NSB xdp-loader unload --all $B0 >/dev/null 2>&1
else
	echo "note: xdp-loader cannot load $FOREIGN here; coexistence check skipped"
fi
rgb detach --all >/dev/null

# --- attach/status/detach in every role and mode; policy set before the first attach ------------
ip -n $NSC link set lo up
out=$(rg_in $NSC --pin-dir $PINROOT/lo attach lo 2>&1); rc=$?
eq "native mode on a driver without it: exit 1, no silent fallback" "$rc $(grep -o 'no native XDP' <<<"$out")" "1 no native XDP"
check "... and nothing is left: no XDP on lo, no pins" bash -c "! ip -n $NSC link show lo | grep -q xdp && [ ! -e $PINROOT/lo ]"
check "policy set before any attach creates the policy" rgc policy set mode=monitor
cyc=1
for role in host gateway both; do
	for mode in native skb; do
		rgc attach $C0 --role $role --xdp-mode $mode >/dev/null || { cyc=0; echo "    attach $role $mode failed"; continue; }
		s=$(rgc status -j)
		got=$(echo "$s" | jget "[(i['role'], i['xdp_mode'], i['state']) for i in d['interfaces']]")
		[ "$got" = "[('$role', '$mode', 'ok')]" ] || { cyc=0; echo "    $role/$mode status: $got"; }
		pid=$(echo "$s" | jget "d['interfaces'][0]['prog_id']")
		if [ $mode = native ]; then want="prog/xdp id $pid"; else want="xdpgeneric"; fi
		ip -n $NSC link show $C0 | grep -q "$want" || { cyc=0; echo "    $role/$mode: ip link lacks '$want'"; }
		rgc detach $C0 >/dev/null || { cyc=0; echo "    detach $role $mode failed"; }
		! ip -n $NSC link show $C0 | grep -q xdp || { cyc=0; echo "    $role/$mode: xdp left on $C0"; }
		[ ! -e $PINC/links/$C0 ] || { cyc=0; echo "    $role/$mode: link pin left"; }
		wait_for 3 prog_gone $pid || { cyc=0; echo "    $role/$mode: program $pid left"; }
	done
done
check "attach/status/detach cycles: host, gateway, both x native, skb" [ $cyc = 1 ]
eq "the policy set before attach is still in force" "$(rgc policy show -j | jget "d['mode']")" monitor
if ip -n $NSC tuntap add mode tun name $TUN 2>/dev/null && ip -n $NSC link set $TUN up; then
	rgc attach $TUN --xdp-mode skb >/dev/null
	eq "a tun device is attached as an L3 device" "$(rgc status -j | jget "[i['l3'] for i in d['interfaces'] if i['name']=='$TUN']")" "[True]"
fi
check "detach --all removes every pin and the pin dir" bash -c "nsenter --net=/run/netns/$NSC '$RG' --pin-dir $PINC detach --all >/dev/null && [ ! -e $PINC ]"
eq "detach --all with nothing attached exits 0" "$(rc_of rgc detach --all)" 0

# --- pin dir off bpffs: a bpffs is mounted on demand (private mount namespace); the env var -----
check "RSTGUARD_PIN_DIR on a non-bpffs dir gets a bpffs mounted; detach --all unmounts it, keeps the dir it did not make" \
	unshare -m --propagation private bash -c "
	mkdir -p $TMP/pins && export RSTGUARD_PIN_DIR=$TMP/pins &&
	'$RG' policy set mode=monitor >/dev/null && [ \"\$(stat -f -c %T $TMP/pins)\" = bpf_fs ] &&
	'$RG' policy show -j | grep -q monitor && '$RG' detach --all >/dev/null && [ -d $TMP/pins ] &&
	[ \"\$(stat -f -c %T $TMP/pins)\" != bpf_fs ]"
if command -v setpriv >/dev/null; then
	out=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$RG" --pin-dir $TMP/np policy set mode=monitor 2>&1); rc=$?
	eq "not root: exit 1, says root is needed" "$rc $(grep -oE 'needs? root' <<<"$out" | head -n 1 | tr -d s)" "1 need root"
fi

# --- detach leaves nothing behind --------------------------------------------------------------
ids=$(rgr status -j | jget "' '.join(str(i['prog_id']) for i in d['interfaces'])")
rgr detach $RA >/dev/null
eq "detach $RA leaves $RB attached" "$(rgr status -j | jget "[i['name'] for i in d['interfaces']]")" "['$RB']"
check "the filter still holds on $RB" bash -c "ip -n $NSR link show $RB | grep -q xdp"
eq "detach --all -j" "$(rgr -j detach --all | jget "d['detached'], d['pins_removed']")" "(['$RB'], True)"
check "no XDP left on the router's interfaces (ip link)" bash -c "! ip -n $NSR link show | grep -q xdp"
check "no XDP left in the router (bpftool net)" bash -c "! nsenter --net=/run/netns/$NSR bpftool net show | grep -q ' id '"
gone=1
for id in $ids $PROG_RA; do wait_for 3 prog_gone $id || { gone=0; echo "    program $id still loaded"; }; done
check "no rstguard program left loaded" [ $gone = 1 ]
check "no pins left" [ ! -e "$PIN" -a ! -e "$PINH" ]
eq "status -j is empty again" "$(rgr status -j | jget "len(d['interfaces'])")" 0
check "the session survived the detach too" alive

echo "cli: $pass passed, $fail failed"
[ $fail = 0 ]
