#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# rstguard as a service: save and apply (all-or-nothing, idempotent, converging), the systemd
# units' commands, hotplug through the template unit, the audit trail on syslog, permission
# errors, status health. Runs in a private mount and network namespace: the default pin dir
# /sys/fs/bpf/rstguard the units use is a bpffs of this namespace, /dev/log is a listener of
# this test, and every interface dies with the namespace.
set -u
BUILD=${1:-build}
RG="$BUILD/rstguard"
[ "${RG#/}" = "$RG" ] && RG="$PWD/$RG"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
DIST=$SRC/user/dist
PY=/usr/bin/python3

if [ -z "${RG_SERVICE_INNER:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
	for c in unshare bpftool setpriv ip; do
		command -v "$c" >/dev/null || { echo "SKIP: needs $c"; exit 77; }
	done
	[ -x "$RG" ] || { echo "SKIP: no $RG (run make all)"; exit 77; }
	exec unshare -m -n --propagation private env RG_SERVICE_INNER=1 bash "$0" "$BUILD"
fi

PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
check() { local n=$1; shift; if "$@"; then ok "$n"; else fail "$n"; fi; }
eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1"; echo "    got:  $2"; echo "    want: $3"; fi; }
jget() { $PY -c "import json,sys; d=json.load(sys.stdin); r=($1); print(r)"; }

T=$(mktemp -d /tmp/rgsvc.XXXXXX)
# Readable by the unprivileged user of the permission checks.
chmod 755 "$T"
LOGGER=
cleanup() {
	[ -n "$LOGGER" ] && kill "$LOGGER" 2>/dev/null && wait "$LOGGER" 2>/dev/null
	ip netns del rgsvc-peer 2>/dev/null
	# The namespaces take the mounts, pins and interfaces with them.
	umount -l /dev 2>/dev/null
	umount "$T/dev/null" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
PIN=/sys/fs/bpf/rstguard

# /dev/log is this test's listener: a /dev of our own (this namespace only) with /dev/null.
mkdir "$T/dev"
touch "$T/dev/null"
mount --bind /dev/null "$T/dev/null"
cat >"$T/syslogd.py" <<'PYEOF'
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
open(sys.argv[3], "w").close()
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).rstrip(b"\0\n") + b"\n")
PYEOF
$PY -B "$T/syslogd.py" "$T/dev/log" "$T/syslog" "$T/ready" &
LOGGER=$!
for _ in $(seq 50); do [ -e "$T/ready" ] && break; sleep 0.1; done
mount --bind "$T/dev" /dev
logged() { grep -q -- "$1" "$T/syslog"; }
waitlog() { local i; for i in $(seq 30); do logged "$1" && return 0; sleep 0.1; done; return 1; }

ip link set lo up
ip link add va type veth peer name vb
ip link add vc type veth peer name vd
for i in va vb vc vd; do ip link set "$i" up; done
# A peer namespace behind vb: its SYNs cross va, where the filter counts them.
ip netns add rgsvc-peer
ip link set vb netns rgsvc-peer
ip -n rgsvc-peer link set vb up
ip -n rgsvc-peer addr add 198.18.0.2/24 dev vb
ip addr add 198.18.0.1/24 dev va
knock() { ip netns exec rgsvc-peer timeout 2 bash -c 'exec 3<>/dev/tcp/198.18.0.1/9' 2>/dev/null; true; }

rg() { "$RG" "$@" >"$T/out" 2>&1; }
nonrst() { "$RG" stats -j | jget "[i for i in d['interfaces'] if i['name']=='va'][0]['reasons']['non_rst_tcp']['pass']['packets']"; }
gen() { "$RG" policy show -j | jget "d['policy_generation']"; }
C=$T/rstguard.conf

# --- save ------------------------------------------------------------------------------------
check "attach va vc --flows 2048 (the default pin dir, private here)" rg attach va vc --flows 2048
rg attach vc --role gateway
rg policy set mode=monitor inexact=pass timeout.established=3600
rg policy protect add 179 8000-8080 198.18.0.0/15
rg policy exempt add fd00:1::/64
check "save -o FILE" rg save -o "$C"
check "  names both interfaces with role and mode, and the table sizes once" \
	grep -qx 'attach va --role both --xdp-mode native --flows 2048 --flows6 2048' "$C"
check "  (the second without sizes)" grep -qx 'attach vc --role gateway --xdp-mode native' "$C"
check "  every knob" grep -qx 'policy set mode=monitor inexact=pass unknown=drop timewait=accept unparsed=drop' "$C"
check "  every timeout" grep -qE '^policy set timeout.syn_sent=120 .*timeout.established=3600 .*timeout.closed=10( |$)' "$C"
check "  the scope" grep -qx 'policy protect add 179 8000-8080 198.18.0.0/15' "$C"
check "  the exempt set" grep -qx 'policy exempt add fd00:1::/64' "$C"
eq "save to stdout prints the same commands" "$("$RG" save | grep -v '^#')" "$(grep -v '^#' "$C")"
eq "save -j is refused (exit 2)" "$("$RG" -j save >/dev/null 2>&1; echo $?)" 2

# --- apply: idempotent -----------------------------------------------------------------------
g0=$(gen); st0=$("$RG" status -j | jget "[(i['name'], i['prog_id'], i['slot']) for i in d['interfaces']]")
check "apply of the saved file" rg apply "$C"
check "  says there is nothing to change" grep -q 'no changes' "$T/out"
check "apply again: exit 0" rg apply "$C"
eq "  the policy generation did not move" "$(gen)" "$g0"
eq "  no program was replaced" "$("$RG" status -j | jget "[(i['name'], i['prog_id'], i['slot']) for i in d['interfaces']]")" "$st0"
eq "apply -j: changed false, 0 changes" "$("$RG" -j apply "$C" | jget "d['changed'], d['changes']")" "(False, 0)"

# --- apply: all or nothing -------------------------------------------------------------------
# status -j without the learning period's countdown, which moves by itself.
status_fixed() { "$RG" status -j | "$PY" -c 'import json, sys; d = json.load(sys.stdin); d.pop("learning_remaining_seconds", None); print(json.dumps(d, sort_keys=True))'; }
pol0=$("$RG" policy show -j); stj0=$(status_fixed)
bad() { # bad NAME LINE CONTENT: apply exits 2 with FILE:LINE and changes nothing
	printf '%b' "$3" >"$T/bad.conf"
	"$RG" apply "$T/bad.conf" >"$T/out" 2>&1
	local rc=$?
	if [ $rc = 2 ] && grep -q "$T/bad.conf:$2: " "$T/out"; then ok "$1 (exit 2, line $2)"
	else fail "$1"; echo "    exit $rc: $(cat "$T/out")"; fi
}
bad "an unknown command" 2 'attach va\nfrobnicate\n'
bad "a command that cannot be in a file" 3 'attach va\n\ndetach vc\n'
bad "an invalid knob value on the last line" 4 'attach va\npolicy set mode=enforce\n# c\npolicy set inexact=maybe\n'
bad "a key set on two lines" 3 'attach va\npolicy set mode=monitor\npolicy set timeout.closed=5 mode=enforce\n'
bad "an interface named twice" 2 'attach va vc\nattach va --role host\n'
bad "two table sizes" 2 'attach va --flows 4096\nattach vc --flows 8192\n'
bad "a table too small" 1 'attach va --flows 10\n'
bad "a bad role" 1 'attach va --role router\n'
bad "a prefix with host bits" 2 'attach va\npolicy protect add 198.18.0.1/15\n'
bad "a port in the exempt set" 1 'policy exempt add 179\n'
bad "policy protect del" 1 'policy protect del 179\n'
bad "an unknown option" 1 'attach va --bogus\n'
bad "a zero timeout" 1 'policy set timeout.established=0\n'
eq "  none of them changed the policy" "$("$RG" policy show -j)" "$pol0"
eq "  or the attachments" "$(status_fixed)" "$stj0"
eq "a missing file: exit 2" "$("$RG" apply "$T/none.conf" >/dev/null 2>&1; echo $?)" 2

# Another tool's XDP program on an interface the file names: refused before anything changes.
FOREIGN=/usr/lib/$(gcc -print-multiarch 2>/dev/null)/bpf/xdpfilt_alw_all.o
if command -v xdp-loader >/dev/null && xdp-loader load -m skb vd "$FOREIGN" >/dev/null 2>&1; then
	printf 'attach va vc\nattach vd --xdp-mode skb\npolicy set mode=enforce\n' >"$T/foreign.conf"
	"$RG" apply "$T/foreign.conf" >"$T/out" 2>&1
	eq "apply with another tool's program on vd: exit 1, naming it" "$? $(grep -o 'xdpfilt_alw_all' "$T/out" | head -n 1)" "1 xdpfilt_alw_all"
	eq "  and nothing changed (policy)" "$("$RG" policy show -j)" "$pol0"
	eq "  (attachments)" "$("$RG" status -j | jget "[(i['name'], i['prog_id']) for i in d['interfaces']]")" \
		"$(echo "$stj0" | jget "[(i['name'], i['prog_id']) for i in d['interfaces']]")"
	xdp-loader unload --all vd >/dev/null 2>&1
else
	echo "note: xdp-loader cannot load $FOREIGN here; the foreign-program check is skipped"
fi

# --- apply: converging -----------------------------------------------------------------------
knock; knock
n0=$(nonrst); stj0=$(status_fixed)
cat >"$T/new.conf" <<EOF2
# va becomes a gateway, vc goes, vd arrives in skb mode
attach va --role gateway --flows 2048 --flows6 2048
attach vd --xdp-mode skb
policy set mode=enforce
policy protect add 179 443 198.18.0.0/15
EOF2
check "apply --check of a changed file" rg apply --check "$T/new.conf"
check "  lists what would change" grep -q 'va: would replace: role both -> gateway' "$T/out"
eq "  and changes nothing" "$(status_fixed)" "$stj0"
eq "  (policy neither)" "$("$RG" policy show -j)" "$pol0"
check "apply of the changed file" rg apply "$T/new.conf"
s=$("$RG" status -j)
eq "  interfaces: va gateway native, vd both skb; vc detached" \
	"$(echo "$s" | jget "sorted((i['name'], i['role'], i['xdp_mode'], i['state']) for i in d['interfaces'])")" \
	"[('va', 'gateway', 'native', 'ok'), ('vd', 'both', 'skb', 'ok')]"
eq "  va kept its slot (a replacement in place)" "$(echo "$s" | jget "[i['slot'] for i in d['interfaces'] if i['name']=='va'][0]")" 0
check "  vc has no program left" bash -c "! ip link show vc | grep -q xdp"
p=$("$RG" policy show -j)
eq "  the policy is the file's: left-out keys at their defaults" \
	"$(echo "$p" | jget "d['mode'], d['inexact'], d['timeouts_seconds']['established'], d['exempt']['prefixes']")" \
	"('enforce', 'drop', 432000, [])"
eq "  the scope is the file's" "$(echo "$p" | jget "[(r['first'], r['last']) for r in d['protect']['ports']], d['protect']['prefixes']")" \
	"([(179, 179), (443, 443)], ['198.18.0.0/15'])"
eq "  policy and scope moved the generation by one" "$(gen)" $((g0 + 1))
check "  counters of va kept" test "$(nonrst)" -ge "$n0"
check "apply again changes nothing" rg apply "$T/new.conf"
eq "  (generation still $((g0 + 1)))" "$(gen)" $((g0 + 1))

# --- another table size: policy, scope and counters stay --------------------------------------
knock
n1=$(nonrst); g1=$(gen); p1=$("$RG" policy show -j)
sed -i 's/--flows 2048 --flows6 2048/--flows 4096 --flows6 1024/' "$T/new.conf"
check "apply with other --flows" rg apply "$T/new.conf"
check "  says the flows start over" grep -q 'tracked flows start over' "$T/out"
eq "  the tables have the new sizes" "$("$RG" status -j | jget "d['flow_table']['ipv4']['capacity'], d['flow_table']['ipv6']['capacity']")" "(4096, 1024)"
eq "  bpftool agrees" "$(bpftool map show pinned $PIN/maps/rg_flows4 | grep -o 'max_entries [0-9]*')" "max_entries 4096"
eq "  the policy and scope are unchanged, generation too" "$("$RG" policy show -j)" "$p1"
check "  the counters are kept ($n1 before)" test "$(nonrst)" -ge "$n1"
eq "  both interfaces still ok" "$("$RG" status -j | jget "[i['state'] for i in d['interfaces']]")" "['ok', 'ok']"
knock
check "  the new program counts on the new tables" test "$(nonrst)" -gt "$n1"
eq "  and tracks flows in them" "$("$RG" status -j | jget "d['flow_table']['ipv4']['entries'] > 0")" True
check "attach --flows 8192 resizes too" rg attach va --flows 8192
eq "  (status: 8192)" "$("$RG" status -j | jget "d['flow_table']['ipv4']['capacity']")" 8192

# --- status health -----------------------------------------------------------------------------
check "status --check: healthy, exit 0" rg status --check
bpftool link detach pinned $PIN/links/va
rg status
eq "after an outside 'bpftool link detach': status exits 1" "$?" 1
check "  and says no-link for va" grep -q '^va .* no-link$' "$T/out"
check "  and names it on stderr" grep -q 'not ok: va (no-link)' "$T/out"
"$RG" -j status >"$T/out.json" 2>/dev/null
eq "  status -j: exit 1, healthy false, one JSON document" "$? $(jget "d['healthy']" <"$T/out.json")" "1 False"
rg status --check
eq "  status --check exits 1" "$?" 1
check "apply restores it" rg apply "$T/new.conf"
check "  va: attach (was no-link)" grep -q 'va: attach: .*(was no-link)' "$T/out"
check "  status --check: exit 0 again" rg status --check

# --- hotplug: the template unit's command ----------------------------------------------------
echo "attach vz --role host" >>"$T/new.conf"
check "apply with an interface that does not exist yet: exit 0" rg apply "$T/new.conf"
check "  it is pending" grep -q 'vz: pending' "$T/out"
ip link add vz type veth peer name vy
ip link set vz up
# The live tables differ from the file's: a hotplug must not re-create them under the others.
rg attach va --flows 8192
tmpl=$(sed -n 's/^ExecStart=//p' "$DIST/rstguard-attach@.service" | sed "s#/usr/sbin/rstguard#$RG#; s#%i#vz#g; s#/etc/rstguard/rstguard.conf#$T/new.conf#")
check "rstguard-attach@vz.service's command attaches it when it appears" bash -c "$tmpl >$T/out 2>&1"
eq "  vz: host role, ok" "$("$RG" status -j | jget "[(i['role'], i['state']) for i in d['interfaces'] if i['name']=='vz']")" "[('host', 'ok')]"
eq "  and left the flow tables alone (8192, not the file's 4096)" "$("$RG" status -j | jget "d['flow_table']['ipv4']['capacity']")" 8192
tmpl=$(sed -n 's/^ExecStart=//p' "$DIST/rstguard-attach@.service" | sed "s#/usr/sbin/rstguard#$RG#; s#%i#vy#g; s#/etc/rstguard/rstguard.conf#$T/new.conf#")
check "the same for an interface the file does not name: exit 0" bash -c "$tmpl >$T/out 2>&1"
check "  and nothing attached there" bash -c "! '$RG' status -j | grep -q '\"vy\"'"
check "the udev rule starts the template for every new or renamed interface" \
	grep -q '^ACTION=="add|move", SUBSYSTEM=="net", .*ENV{SYSTEMD_WANTS}+="rstguard-attach@$name.service"' "$DIST/60-rstguard.rules"

# --- the audit trail -----------------------------------------------------------------------------
check "syslog: attach with role and mode" waitlog 'rstguard\[[0-9]*\]: attach vc: role=both xdp_mode=native prog_id=[0-9]* slot=1 (before: not attached) (uid=0'
check "syslog: a replacement says what it replaced" waitlog 'attach vc: program replaced in place: role=gateway .*(before: role=both prog_id='
check "syslog: policy set, before and after" waitlog 'policy set: mode enforce -> monitor, inexact drop -> pass, timeout.established 432000 -> 3600; generation 1 -> 2'
check "syslog: scope changes" waitlog 'policy protect add 179 8000-8080 198.18.0.0/15; generation 2 -> 3'
check "syslog: apply, with the policy change" waitlog "apply $T/new.conf: policy and scope: mode monitor -> enforce, inexact pass -> drop, timeout.established 3600 -> 432000; .*port +443"
check "syslog: detach of what the file no longer names" waitlog 'detach vc: not attached (before: role=gateway xdp_mode=native'
check "syslog: the resize" waitlog 'flow tables resized: ipv4 4096, ipv6 1024 entries (before: ipv4 2048, ipv6 2048)'
check "syslog: facility daemon, priority notice (<29>)" grep -q '^<29>' "$T/syslog"
rg apply "$T/new.conf" # back to the file's tables after the hotplug checks
sleep 0.3
n=$(wc -l <"$T/syslog")
rg apply "$T/new.conf"; rg status; rg policy show; rg save -o "$T/again.conf"
sleep 0.3
eq "reading commands log nothing; an apply that changes nothing logs one line saying so" \
	"$(tail -n +$((n + 1)) "$T/syslog" | sed 's/^.*rstguard\[[0-9]*\]: //')" \
	"apply $T/new.conf: no changes, the live state equals the file (uid=0)"

# --- permissions -------------------------------------------------------------------------------
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$RG" "$@" >"$T/out" 2>&1; }
for c in "status" "stats" "flows" "policy show" "save"; do
	# shellcheck disable=SC2086
	nobody $c
	rc=$?
	if [ $rc = 1 ] && grep -q "cannot open $PIN/maps/rg_[a-z0-9]*: Permission denied" "$T/out"; then
		ok "as nobody, '$c' exits 1 naming the pin it was refused"
	else
		fail "as nobody, '$c'"; echo "    exit $rc: $(cat "$T/out")"
	fi
done
for c in "policy set mode=monitor" "apply $T/new.conf" "attach va" "detach --all"; do
	# shellcheck disable=SC2086
	nobody $c
	rc=$?
	if [ $rc = 1 ] && grep -q "Permission denied" "$T/out"; then
		ok "as nobody, '$c' exits 1: $(head -c 90 "$T/out")"
	else
		fail "as nobody, '$c'"; echo "    exit $rc: $(cat "$T/out")"
	fi
done
check "  and the filter is still there" rg status --check

# --- the pin dir option, validated alike by the new commands --------------------------------
for c in "save" "apply $C" "metrics" "serve"; do
	# shellcheck disable=SC2086
	RSTGUARD_PIN_DIR=rel/dir timeout 3 "$RG" $c >/dev/null 2>&1
	eq "RSTGUARD_PIN_DIR=relative: '$c' exits 2" "$?" 2
done

# --- the units -------------------------------------------------------------------------------
mkdir "$T/units"
for u in rstguard.service rstguard-exporter.service rstguard-attach@.service; do
	sed "s#/usr/sbin/rstguard#$RG#" "$DIST/$u" >"$T/units/${u/@./@eth0.}"
done
if command -v systemd-analyze >/dev/null; then
	out=$(cd "$T/units" && systemd-analyze verify --man=no ./rstguard.service ./rstguard-exporter.service ./rstguard-attach@eth0.service 2>&1)
	eq "systemd-analyze verify: the three units, not a word" "$? $out" "0 "
fi
unit() { sed -n "s/^$1=//p" "$DIST/rstguard.service"; }
eq "rstguard.service: a oneshot that remains active after it ran" "$(unit Type) $(unit RemainAfterExit)" "oneshot yes"
eq "  ordered before network-pre.target, pulled in by sysinit.target" \
	"$(unit Before | grep -o network-pre.target) $(unit WantedBy)" "network-pre.target sysinit.target"
eq "  reload runs the same apply as start" "$(unit ExecReload)" "$(unit ExecStart)"
cmd() { unit "$1" | sed "s#/usr/sbin/rstguard#$RG#; s#/etc/rstguard/rstguard.conf#$C#"; }
"$RG" detach --all >/dev/null
check "ExecStart on the saved file" bash -c "$(cmd ExecStart) >$T/out 2>&1"
eq "  the saved configuration is back" "$("$RG" save | grep -v '^#')" "$(grep -v '^#' "$C")"
check "ExecReload: exit 0" bash -c "$(cmd ExecReload) >$T/out 2>&1"
check "  nothing changed" grep -q 'no changes' "$T/out"
check "ExecStop: exit 0" bash -c "$(cmd ExecStop) >$T/out 2>&1"
check "  no filter, no pins left" bash -c "! ip -d link show | grep -q prog/xdp && [ ! -e $PIN ]"
check "  status: nothing attached, exit 0" bash -c "'$RG' status | grep -q 'nothing attached'"
rg status --check
eq "  status --check: exit 1" "$?" 1

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
