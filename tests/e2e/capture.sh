#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# 'rstguard capture' against live RST floods, the pcap read back with tcpdump and scapy; the
# sequence-distance histogram ('stats --distance', the exposition, promtool); 'stats --watch'
# headers; 'flows' filters on the live flow and on crafted entries.
#
#   [ cli ] 198.18.1.2 eth0 ---- eth0 [ rtr ] eth1 ---- eth0 [ srv ] 198.19.0.2
#                               198.18.1.1   198.19.0.1
#   rstguard --role gateway on rtr:eth0 + rtr:eth1; the floods are injected from cli's eth0 on
#   the live connection cli -> srv (random sequence numbers, or inexact ones inside the window).
set -u
. "$(dirname "$0")/lib.bash"
E2E_NSP="rgcap$$"
E2E_PIN="/sys/fs/bpf/rgcap-$$"
e2e_init "${1:-build}"
e2e_require
e2e_have_cli || skip "no usable $RG (run make all)"
"$RG" capture --help >/dev/null 2>&1 || skip "this rstguard has no capture command"
for c in tcpdump bpftool promtool; do
	command -v "$c" >/dev/null || skip "needs $c"
done
T=$E2E_TMP
PY="$E2E_PY -B $E2E_DIR/capture_check.py"

ns_add cli && ns_add rtr && ns_add srv || skip "cannot create namespaces"
veth_add cli eth0 rtr eth0 && veth_add rtr eth1 srv eth0 || skip "cannot create veth pairs"
for n in cli rtr srv; do
	nsx $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
nsx rtr sysctl -qw net.ipv4.ip_forward=1
nsx rtr ip addr add 198.18.1.1/24 dev eth0
nsx rtr ip addr add 198.19.0.1/24 dev eth1
nsx cli ip addr add 198.18.1.2/24 dev eth0
nsx srv ip addr add 198.19.0.2/24 dev eth0
nsx cli ip route add default via 198.18.1.1
nsx srv ip route add default via 198.19.0.1
reach cli 198.19.0.2 || skip "the router does not forward"
CLI_MAC=$(mac_of cli eth0)
RTR_MAC=$(mac_of rtr eth0)
RTR_IFX=$(ip -n "$E2E_NSP-rtr" -o link show dev eth0 | cut -d: -f1)

eq() { # eq NAME ACTUAL EXPECTED
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1"; echo "    got:  $2"; echo "    want: $3"; fi
}
rc_of() { "$@" >/dev/null 2>&1; echo $?; }
pyq() { "$E2E_PY" -B -c "import json, sys; d = json.load(sys.stdin); $1"; }
# Adds the check lines of a capture_check.py run to the totals.
py() {
	local out=$T/py.out rc
	$PY "$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	E2E_PASS=$((E2E_PASS + $(grep -c '^ok ' "$out")))
	E2E_FAIL=$((E2E_FAIL + $(grep -c '^FAIL ' "$out")))
	[ "$rc" = 0 ] || fail "capture_check.py $1 exited $rc"
}
capcfg() { bpftool -j map lookup pinned "$E2E_PIN/maps/rg_capcfg" key 0 0 0 0 | pyq "print(d['formatted']['value']['$1'])"; }
capstat() { bpftool -j map lookup pinned "$E2E_PIN/maps/rg_capstat" key 0 0 0 0 |
	pyq "print(sum(c['value']['$1'] for c in d['formatted']['values']))"; }
forget_pid() {
	local p keep=()
	for p in "${E2E_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	E2E_PIDS=("${keep[@]}")
}
# cap_start NAME ARGS...: 'rstguard capture ARGS' in the background, once the program takes
# packets (its flag is up); stdout and stderr in $T/NAME.out and .err, its PID in CAP.
cap_start() {
	local name=$1 i
	shift
	spawn rtr "$RG" --pin-dir "$E2E_PIN" capture "$@" >"$T/$name.out" 2>"$T/$name.err"
	CAP=${E2E_PIDS[-1]}
	for i in $(seq 50); do
		[ "$(capcfg active 2>/dev/null)" = 1 ] && return 0
		sleep 0.1
	done
	fail "$name: the capture did not start ($(cat "$T/$name.err"))"
	return 1
}
# cap_wait [SIGNAL]: ends the capture (or waits for -c to end it); its exit status in CAP_RC.
# Not in a command substitution: a subshell cannot wait for its parent's children.
# A capture that never reaches its count is interrupted after 20 s, so a failure cannot hang the
# suite (its exit status then shows the interruption). Until it is waited for, the capture stays
# this shell's zombie child, so its PID cannot be anyone else's when it is signalled.
cap_wait() {
	local i
	[ -n "${1:-}" ] && kill "-$1" "$CAP" 2>/dev/null
	for i in $(seq 200); do
		[ "$(awk '{print $3}' "/proc/$CAP/stat" 2>/dev/null)" = Z ] && break
		[ -e "/proc/$CAP" ] || break
		sleep 0.1
	done
	kill -INT "$CAP" 2>/dev/null
	wait "$CAP"
	CAP_RC=$?
	forget_pid "$CAP"
}
flood() { # flood N KIND [ARGS...]: RSTs cli -> srv on the live 4-tuple; prints the number sent
	local n=$1 kind=$2
	shift 2
	$PY flood --ns "$E2E_NSP-cli" --ifname eth0 --smac "$CLI_MAC" --dmac "$RTR_MAC" \
		--src "$C_ADDR" --dst "$S_ADDR" --sport "$C_PORT" --dport "$S_PORT" --n "$n" \
		--kind "$kind" --base "$C_END" --win "$S_WIN" "$@"
}
stat_eth0() { # stat_eth0 PYEXPR over r = {reason: {action: packets}} of rtr:eth0
	rg rtr stats -j | pyq "r = {k: {a: v['packets'] for a, v in x.items()} for i in d['interfaces'] if i['name'] == 'eth0' for k, x in i['reasons'].items()}; print($1)"
}
dist_eth0() { # dist_eth0 PYEXPR over h = the 'stats --distance -j' histogram of rtr:eth0
	rg rtr stats --distance -j | pyq "h = [i['distance'] for i in d['interfaces'] if i['name'] == 'eth0'][0]; print($1)"
}
JUDGED="sum(sum(r[k].values()) for k in ('valid', 'inexact', 'out_of_window', 'timewait'))"

check "attach rtr eth0 eth1 --role gateway" eval "rg rtr attach eth0 eth1 --role gateway >/dev/null"
eq "no capture running: the flag is down" "$(capcfg active)" 0

# --- a live connection through the router -------------------------------------------------------
$E2E_PY -B "$E2E_DIR/capture_check.py" hold --cli_ns "$E2E_NSP-cli" --srv_ns "$E2E_NSP-srv" \
	--srv 198.19.0.2 >"$T/hold.out" 2>&1 &
HOLD=$!
E2E_PIDS+=("$HOLD")
for i in $(seq 50); do [ -s "$T/hold.out" ] && break; sleep 0.1; done
read -r C_ADDR C_PORT S_ADDR S_PORT < <(pyq 'c = d[0]; print(c["cli"], c["cport"], c["srv"], c["sport"])' <"$T/hold.out")
[ -n "${S_PORT:-}" ] || { fail "live connection cli -> srv ($(cat "$T/hold.out"))"; e2e_summary; exit; }
ok "live connection $C_ADDR:$C_PORT -> $S_ADDR:$S_PORT through the router"
# The band and window the gateway holds for it, from the flows filters themselves.
rg rtr flows --addr "$C_ADDR" --port "$C_PORT" -j >"$T/flow.json"
read -r C_END S_WIN < <(pyq "f = d['flows'][0]; c = 0 if f['a']['port'] == $C_PORT else 1; print(f['dirs'][c]['seq_end'], f['dirs'][1 - c]['max_window_bytes'])" <"$T/flow.json")
eq "flows --addr CLI --port PORT finds the live flow alone, established" \
	"$(pyq 'print(d["matched"], d["flows"][0]["state"])' <"$T/flow.json")" "1 established"

# --- capture to pcap against a random flood --------------------------------------------------------
base=$(dist_eth0 "h['count']")
judged0=$(stat_eth0 "$JUDGED")
cap_start pcap1 -w "$T/one.pcap" -c 50 --sample 1
sent=$(flood 2000 random --out "$T/seqs1")
cap_wait
eq "capture -c 50 --sample 1 -w: exit 0 once 50 are written" "$CAP_RC" 0
check "... says how many it captured" grep -q '^50 packets captured$' "$T/pcap1.err"
eq "... and lowers the flag" "$(capcfg active)" 0
tcpdump -nr "$T/one.pcap" >"$T/one.txt" 2>"$T/one.tcpdump.err"
eq "tcpdump reads it as NFLOG: 50 packets, every one an RST of the flooded 4-tuple" \
	"$(grep -c 'link-type NFLOG' "$T/one.tcpdump.err") $(grep -cE " IP $C_ADDR\.$C_PORT > $S_ADDR\.$S_PORT: Flags \[R\], seq [0-9]+, win 0, length 0$" "$T/one.txt") $(wc -l <"$T/one.txt")" "1 50 50"
py readpcap --file "$T/one.pcap" --tag "pcap, random flood" --src "$C_ADDR" --sport "$C_PORT" \
	--dst "$S_ADDR" --dport "$S_PORT" --count 50 --iface eth0 --ifindex "$RTR_IFX" \
	--action drop --reasons out_of_window,inexact --seqs "$T/seqs1"

# The histogram counted every flood RST against the band: random numbers spread over the top.
n=$(dist_eth0 "h['count']")
judged=$(stat_eth0 "$JUDGED")
eq "stats --distance: one count per RST judged against the band ($sent sent)" \
	"$((n - base))" "$((judged - judged0))"
eq "... all $sent of the flood" "$((judged - judged0))" "$sent"
top=$(dist_eth0 "h['buckets'][32]['count']")
low=$(dist_eth0 "sum(b['count'] for b in h['buckets'] if b['le'] <= 1 << 20)")
check "... a blind flood spreads high: $top of $sent in (1 Gi, 2 Gi], $low within 1 Mi" \
	eval "[ $((top * 100 / sent)) -ge 40 ] && [ $((top * 100 / sent)) -le 60 ] && [ $low -le 10 ]"
rg rtr stats --distance >"$T/dist.txt"
check "stats --distance text: a row for (1 Gi, 2 Gi] with a bar" grep -qE '^  \(1 Gi, 2 Gi\] +[0-9]+  #+$' "$T/dist.txt"

# --- inexact RSTs cluster near zero; --reason filters in the data plane ---------------------------
hi0=$(dist_eth0 "sum(b['count'] for b in h['buckets'] if b['le'] > 2 * $S_WIN)")
cap_start pcap2 -w "$T/two.pcap" -c 20 --sample 1 --reason inexact
flood 300 random >/dev/null
flood 300 inexact --out "$T/seqs2" >/dev/null
cap_wait
eq "capture --reason inexact -c 20: exit 0" "$CAP_RC" 0
py readpcap --file "$T/two.pcap" --tag "pcap, --reason inexact" --src "$C_ADDR" --sport "$C_PORT" \
	--dst "$S_ADDR" --dport "$S_PORT" --count 20 --iface eth0 --ifindex "$RTR_IFX" \
	--action drop --reasons inexact --seqs "$T/seqs2"
check "tcpdump reads it: 20 RSTs" eval "[ \$(tcpdump -nr '$T/two.pcap' 2>/dev/null | grep -c 'Flags \[R\]') = 20 ]"
eq "inexact RSTs land within the window (below 2 x $S_WIN bytes), none higher" \
	"$(dist_eth0 "sum(b['count'] for b in h['buckets'] if b['le'] > 2 * $S_WIN)")" "$((hi0 + 300))"

# --- text lines, as tcpdump prints them, plus the verdict ------------------------------------------
cap_start text -c 5 --sample 1 --reason out_of_window
flood 200 random >/dev/null
cap_wait
eq "capture -c 5 without -w: exit 0" "$CAP_RC" 0
eq "... 5 lines 'TIME eth0 IP A.P > B.Q: Flags [R], seq N, win 0, length 0 [out_of_window, drop, distance D]'" \
	"$(grep -cE "^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} eth0 IP $C_ADDR\.$C_PORT > $S_ADDR\.$S_PORT: Flags \[R\], seq [0-9]+, win 0, length 0 \[out_of_window, drop, distance [0-9]+\]$" "$T/text.out") $(wc -l <"$T/text.out")" "5 5"

# --- default sampling: all of a burst, then one in 1000 --------------------------------------------
drops0=$(stat_eth0 "sum(r[k]['drop'] for k in r)")
cap_start sampled -j
sent=$(flood 5000 random)
sleep 0.3
cap_wait INT
eq "capture -j with default sampling, ended by SIGINT: exit 0" "$CAP_RC" 0
drops=$(( $(stat_eth0 "sum(r[k]['drop'] for k in r)") - drops0 ))
read -r got matched lost < <(tail -n 1 "$T/sampled.out" | pyq 's = d["summary"]; print(s["captured"], s["matched"], s["lost"])')
eq "... matched every drop of the flood ($sent sent), lost none" "$matched $lost" "$drops 0"
check "... captured $got of $matched: the first 200 a second at least, far fewer than all" \
	eval "[ $got -ge 200 ] && [ $got -le $((matched / 4)) ]"
eq "... one JSON object per packet, then the summary" \
	"$(head -n -1 "$T/sampled.out" | "$E2E_PY" -c 'import json, sys; print(sum(1 for l in sys.stdin if json.loads(l)["reason"] in ("out_of_window", "inexact")))')" "$got"

# --- -i: only the named interface's packets -----------------------------------------------------------
cap_start iface1 -j -i eth1 --sample 1
flood 100 random >/dev/null
sleep 0.3
cap_wait INT
eq "capture -i eth1 while eth0 is flooded: nothing matched" \
	"$CAP_RC $(tail -n 1 "$T/iface1.out" | pyq 'print(d["summary"]["captured"], d["summary"]["matched"])')" "0 0 0"

# --- one capture at a time; a killed one stops costing once its lease runs out -----------------------
cap_start first -w /dev/null --sample 1
out=$(timeout -s INT 10 nsenter --net="/run/netns/$E2E_NSP-rtr" "$RG" --pin-dir "$E2E_PIN" capture -c 1 2>&1); rc=$?
eq "a second capture while one runs: exit 1, says who" "$rc $(grep -c "already running (pid $CAP)" <<<"$out")" "1 1"
kill -KILL "$CAP"; wait "$CAP" 2>/dev/null; forget_pid "$CAP"
eq "a capture killed with SIGKILL leaves the flag up" "$(capcfg active)" 1
out=$(timeout -s INT 10 nsenter --net="/run/netns/$E2E_NSP-rtr" "$RG" --pin-dir "$E2E_PIN" capture -c 1 2>&1); rc=$?
eq "... and a new one is refused while its lease lasts" "$rc" 1
sleep 3.2
r0="$(capstat matched) $(capstat records)"
flood 100 random >/dev/null
eq "... once the lease ran out the program takes nothing more (matched, records)" \
	"$(capstat matched) $(capstat records)" "$r0"
cap_start after -c 3 --sample 1
flood 100 random >/dev/null
cap_wait
eq "... and the next capture starts" "$CAP_RC" 0

# --- bad input -----------------------------------------------------------------------------------
eq "capture --reason valid (never dropped): exit 2" "$(rc_of rg rtr capture --reason valid)" 2
eq "capture --sample 0: exit 2" "$(rc_of rg rtr capture --sample 0)" 2
eq "capture -c 0: exit 2" "$(rc_of rg rtr capture -c 0)" 2
out=$(rg rtr capture -i nosuch 2>&1); rc=$?
eq "capture -i nosuch: exit 2, lists the attached" "$rc $(grep -c 'attached: eth0, eth1' <<<"$out")" "2 1"
eq "capture -w into a missing directory: exit 1" "$(rc_of rg rtr capture -w "$T/no/such.pcap")" 1
eq "... the flag stays down after every refusal" "$(capcfg active)" 0

# --- the histogram in the exposition ------------------------------------------------------------------
rg rtr metrics >"$T/m.prom"
check "promtool check metrics accepts the exposition with the histogram" promtool check metrics <"$T/m.prom"
eq "rstguard_rst_seq_distance_bytes: 34 cumulative buckets per device, +Inf = _count = stats --distance" \
	"$("$E2E_PY" -B - "$T/m.prom" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    if f.name != "rstguard_rst_seq_distance_bytes":
        continue
    b = [(s.labels["le"], s.value) for s in f.samples if s.name.endswith("_bucket") and s.labels["device"] == "eth0"]
    cnt = [s.value for s in f.samples if s.name.endswith("_count") and s.labels["device"] == "eth0"][0]
    vals = [v for _, v in b]
    print(f.type, len(b), vals == sorted(vals), b[-1] == ("+Inf", cnt), int(cnt))
EOF
)" "histogram 34 True True $(dist_eth0 "h['count']")"

# --- stats --watch prints a header row --------------------------------------------------------------
flood 40000 random >/dev/null &
FL=$!
timeout -s INT 4 nsenter --net="/run/netns/$E2E_NSP-rtr" "$RG" --pin-dir "$E2E_PIN" stats --watch 0.5 >"$T/watch.txt"
wait "$FL"
check "stats --watch: a header row above the rates" \
	eval "grep -A1 -E '^IFACE +REASON +ACTION +RATE +BANDWIDTH$' '$T/watch.txt' | grep -qE '^eth0 +out_of_window +drop +[0-9.]+ pps'"
eq "stats --distance --watch: exit 2" "$(rc_of rg rtr stats --distance --watch 1)" 2

# --- flows filters on crafted entries -------------------------------------------------------------------
$PY craft --pin "$E2E_PIN" || fail "crafting flow entries with bpftool"
fl() { rg rtr flows --limit 0 -j "$@" | pyq 'print(" ".join(sorted("%s:%d-%s:%d" % (f["a"]["addr"], f["a"]["port"], f["b"]["addr"], f["b"]["port"]) for f in d["flows"])))'; }
E1=10.9.0.1:1000-10.9.0.2:2000 E2=10.9.0.1:1001-10.9.0.3:2000 E3=10.9.0.4:3000-10.9.0.5:4000
E5=10.9.0.6:7000-10.9.0.7:8000 E4=fd00:9::1:5000-fd00:9::2:6000
eq "flows --addr 10.9.0.1: both flows of that address" "$(fl --addr 10.9.0.1)" "$E1 $E2"
eq "flows --addr 10.9.0.0/29" "$(fl --addr 10.9.0.0/29)" "$E1 $E2 $E3 $E5"
eq "flows --addr fd00:9::/64: the IPv6 table" "$(fl --addr fd00:9::/64)" "$E4"
eq "flows --port 2000" "$(fl --port 2000)" "$E1 $E2"
eq "flows --port 3000-4000" "$(fl --port 3000-4000)" "$E3"
eq "flows --state fin_wait,syn_sent" "$(fl --state fin_wait,syn_sent)" "$E2 $E5"
eq "flows --contested" "$(fl --contested)" "$E2 $E3"
eq "flows --unverified: the contested entry not yet verified" "$(fl --unverified)" "$E2"
eq "flows --addr 10.9.0.0/24 --port 2000 --state syn_sent: all must match" \
	"$(fl --addr 10.9.0.0/24 --port 2000 --state syn_sent)" "$E2"
eq "flows --state established: crafted and live" \
	"$(fl --state established | wc -w)" 4
ages() { rg rtr flows -j --addr 10.9.0.0/24 "$@" | pyq 'print(d["matched"], d["shown"], d["truncated"], " ".join(str(f["a"]["port"]) for f in d["flows"]))'; }
eq "flows --sort age: most recently seen first" "$(ages --sort age)" "4 4 False 1000 1001 7000 3000"
eq "flows --sort -age --limit 2: longest idle first, matched counted" "$(ages --sort -age --limit 2)" "4 2 True 3000 7000"
total=$(rg rtr flows -j --limit 1 | pyq 'print(d["total"])')
eq "flows --addr 203.0.113.0/24 (text): no flow matches" "$(rg rtr flows --addr 203.0.113.0/24)" "no flow matches ($total tracked)"
check "flows --contested (text) marks the entries" eval "[ \$(rg rtr flows --contested | grep -c 'contested (RSTs pass unverified)') = 2 ]"
for bad in "--state bogus" "--addr 10.0.0.1/33" "--port 0" "--sort size" "--addr nope"; do
	eq "flows $bad: exit 2" "$(rc_of rg rtr flows $bad)" 2
done

# --- help, man page, dashboard ---------------------------------------------------------------------
SRC=$(cd "$E2E_DIR/../.." && pwd)
check "'capture --help' exits 0 with usage" bash -c "'$RG' capture --help | grep -q Usage"
check "'--help' lists capture" bash -c "'$RG' --help | grep -q '^  capture '"
check "'flows --help' names the filters" bash -c "'$RG' flows --help | grep -q -- '--unverified'"
if command -v man >/dev/null; then
	MANWIDTH=100 man -l "$SRC/user/rstguard.8" >"$T/man.txt" 2>/dev/null
	check "the man page has capture, stats --distance and the flows filters" eval \
		"grep -q 'capture \[-w FILE\]' '$T/man.txt' && grep -q 'stats \[--watch SECONDS | --distance\]' '$T/man.txt' && grep -q -- '--unverified' '$T/man.txt'"
fi
check "the dashboard has a heatmap of rstguard_rst_seq_distance_bytes_bucket by le" "$E2E_PY" -B -c '
import json, sys
d = json.load(open(sys.argv[1]))
ok = [p for p in d["panels"] if p["type"] == "heatmap" and any(
      "rstguard_rst_seq_distance_bytes_bucket" in t["expr"] and "by (le)" in t["expr"] and
      t.get("format") == "heatmap" for t in p["targets"])]
sys.exit(0 if ok else 1)' "$SRC/user/dist/rstguard-dashboard.json"

# --- the live connection lived through every flood -------------------------------------------------
kill -TERM "$HOLD"
wait "$HOLD"
forget_pid "$HOLD"
eq "the live connection still moves data after all the floods" \
	"$(tail -n 1 "$T/hold.out" | pyq 'print(d.get("alive"))')" "True"

e2e_summary
