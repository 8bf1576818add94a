# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Shared helpers of the end-to-end scripts: skip rules, namespaces, veths, the rstguard CLI, checks
# and a cleanup that removes everything a script made, even when it dies halfway. Sourced, hence
# not named *.sh: tests/run.sh runs every tests/e2e/*.sh as a suite.
#
# Every name carries the script's PID, so suites running side by side never meet: namespaces are
# "rge2e<PID>-<name>", the pin directory is /sys/fs/bpf/rge2e-<PID>. Interfaces are created
# directly inside their namespaces, so no name is ever taken in the root namespace.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_ID=$$
E2E_NSP="rge2e$E2E_ID"
E2E_PIN="/sys/fs/bpf/rge2e-$E2E_ID"
# scapy is installed for Debian's interpreter, not for whatever python3 comes first on PATH.
E2E_PY=/usr/bin/python3
E2E_PASS=0
E2E_FAIL=0
E2E_NS=()
E2E_PIDS=()
E2E_TMP=

skip() {
	echo "SKIP: $*"
	exit 77
}

# Refuses to run without what the checks need, with exit 77 so a missing tool is not a failure.
e2e_require() {
	[ "$(id -u)" = 0 ] || skip "needs root"
	local c
	for c in ip nsenter nft ss nstat timeout; do
		command -v "$c" >/dev/null 2>&1 || skip "needs $c"
	done
	[ -x "$E2E_PY" ] || skip "needs $E2E_PY"
	"$E2E_PY" -B -c 'import scapy.all' 2>/dev/null || skip "needs python3-scapy for $E2E_PY"
	ip netns add "$E2E_NSP-probe" 2>/dev/null || skip "cannot create network namespaces"
	ip netns del "$E2E_NSP-probe"
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null ||
		skip "no bpffs at /sys/fs/bpf"
}

# The CLI is usable once it has its real command set (the placeholder binary ignores arguments).
e2e_have_cli() {
	[ -x "$RG" ] && "$RG" attach --help 2>&1 | grep -q -- '--role'
}

e2e_init() {
	BUILD=${1:-build}
	RG="$BUILD/rstguard"
	[ "${RG#/}" = "$RG" ] && RG="$PWD/$RG"
	E2E_TMP=$(mktemp -d "/tmp/rge2e-$E2E_ID.XXXXXX")
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM
}

# Runs on every exit: our processes by PID, the filter, the pins, then the namespaces, which
# take their interfaces, routes and nft tables with them.
e2e_cleanup() {
	local rc=$? p n
	trap - EXIT
	for p in "${E2E_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${E2E_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	if [ -d "$E2E_PIN" ]; then
		for n in "${E2E_NS[@]}"; do
			[ -e "/run/netns/$n" ] || continue
			nsenter --net="/run/netns/$n" "$RG" --pin-dir "$E2E_PIN" detach --all >/dev/null 2>&1
		done
		rm -rf "$E2E_PIN"
	fi
	for n in "${E2E_NS[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
	[ -n "$E2E_TMP" ] && rm -rf "$E2E_TMP"
	exit "$rc"
}

# ns_add NAME: a fresh namespace with lo up and no IPv6 DAD delay (addresses usable at once).
ns_add() {
	local n="$E2E_NSP-$1"
	ip netns add "$n" || return 1
	E2E_NS+=("$n")
	nsx "$1" ip link set lo up
	nsx "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	# Keep the kernel from sending RA-driven or autoconfigured traffic of its own.
	nsx "$1" sysctl -qw net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.accept_ra=0
}

ns_path() {
	echo "/run/netns/$E2E_NSP-$1"
}

# nsx NAME CMD...: enters only the network namespace, so /sys/fs/bpf stays the host's bpffs
# (ip netns exec would mount a fresh /sys and hide the pins).
nsx() {
	local n=$1
	shift
	nsenter --net="/run/netns/$E2E_NSP-$n" "$@"
}

# veth_add NS1 IF1 NS2 IF2: a veth pair created straight inside the two namespaces, both up.
veth_add() {
	ip link add name "$2" netns "$E2E_NSP-$1" type veth peer name "$4" netns "$E2E_NSP-$3" || return 1
	nsx "$1" ip link set "$2" up
	nsx "$3" ip link set "$4" up
}

# bridge_add NS BR IF...: a bridge that floods every frame to every port (FDB ageing 0), so an
# attacker plugged into it sees the traffic of the others, as on a shared segment or a hub.
bridge_add() {
	local ns=$1 br=$2 i
	shift 2
	nsx "$ns" ip link add "$br" type bridge ageing_time 0 stp_state 0 mcast_snooping 0 || return 1
	for i in "$@"; do
		nsx "$ns" ip link set "$i" master "$br"
	done
	nsx "$ns" ip link set "$br" up
}

# Not /sys/class/net: under nsenter, /sys still shows the root namespace's devices.
mac_of() {
	ip -n "$E2E_NSP-$1" -br link show dev "$2" | awk '{print $3}'
}

# rg NS ARGS...: the rstguard CLI inside namespace NS, always on this script's own pin directory.
rg() {
	local n=$1
	shift
	nsx "$n" "$RG" --pin-dir "$E2E_PIN" "$@"
}

# reach NS ADDR: a TCP SYN from NS to ADDR's discard port draws a refusal, i.e. the path works
# both ways (and the neighbour caches are warm for the first measured connect).
reach() {
	timeout 3 nsenter --net="/run/netns/$E2E_NSP-$1" bash -c "exec 3<>/dev/tcp/$2/9" 2>&1 |
		grep -q 'refused'
}

# status_is NS ROLE MODE IFACE...: `rstguard status -j` lists each IFACE with that role and mode.
status_is() {
	local ns=$1
	shift
	rg "$ns" status -j 2>/dev/null | "$E2E_PY" -B -c '
import json, sys
role, mode, names = sys.argv[1], sys.argv[2], sys.argv[3:]
got = {i["name"]: (i["role"], i["xdp_mode"]) for i in json.load(sys.stdin)["interfaces"]}
sys.exit(0 if all(got.get(n) == (role, mode) for n in names) else 1)' "$@"
}

# spawn NS CMD...: CMD in the background inside NS, remembered for cleanup. nsenter execs CMD in its
# own process, so the PID kept is the program's own (a backgrounded function would leave a
# subshell in between, and killing that leaves the program running).
spawn() {
	local n=$1
	shift
	nsenter --net="/run/netns/$E2E_NSP-$n" "$@" &
	E2E_PIDS+=($!)
}

ok() {
	E2E_PASS=$((E2E_PASS + 1))
	echo "ok   $*"
}

fail() {
	E2E_FAIL=$((E2E_FAIL + 1))
	echo "FAIL $*"
}

# check NAME CMD...: one named check from a command's exit status.
check() {
	local name=$1
	shift
	if "$@"; then
		ok "$name"
	else
		fail "$name"
	fi
}

# run_py NAME ARGS...: runs the Python scenario driver, echoing its check lines and adding them to
# this script's totals; a driver that dies without reporting counts as one failure.
run_py() {
	local name=$1 out rc p f
	shift
	out="$E2E_TMP/py.out"
	local t0=$SECONDS
	"$E2E_PY" -B "$E2E_DIR/scenarios.py" "$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	echo "# $name: $((SECONDS - t0))s"
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^FAIL ' "$out")
	E2E_PASS=$((E2E_PASS + p))
	E2E_FAIL=$((E2E_FAIL + f))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		fail "$name: scenario driver exited $rc without reporting a failure"
	fi
}

e2e_summary() {
	echo "$E2E_PASS passed, $E2E_FAIL failed"
	[ "$E2E_FAIL" = 0 ]
}
