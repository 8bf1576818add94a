#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Fault runs of rstguard (issue 7): a full flow table, the CLI and the exporter killed, policy
# flipped under traffic, program replacement, interfaces going away, mid-stream pickup across the
# 2^32 wrap and asymmetric routing, each on a router topology in fresh namespaces.
#
#   [ atk ] 198.18.1.3          [ cli ] eth0 198.18.1.2         eth1 198.18.3.2
#     eth0                        |                               |  (return path of
#       |                         |                               |   asymmetric flows)
#     p-atk ---- sw: br0 (hub) -- p-cli                           |
#                  |                                              |
#                p-rtr                                            |
#                  |                                              |
#   198.18.1.1   eth0 [ rtr ] eth1   198.19.0.1           198.18.3.1 eth0 [ rtr2 ] eth1 198.19.1.1
#                  rstguard here                                               |
#                            |                                                 |
#                          eth0 [ srv ] 198.19.0.2, 198.19.0.3     eth1 198.19.1.2
#
# srv answers from 198.19.0.3 through rtr2 (a policy route), so rtr sees those flows one way.
# RG_FAULT_SCALE=soak (tests/soak.sh) runs the long versions of the same checks.
set -u
. "$(dirname "$0")/lib.bash"
# lib.bash derives its names from the PID too; these keep this suite's apart and recognisable.
E2E_NSP="rgflt$$"
E2E_PIN="/sys/fs/bpf/rgfault-$$"
e2e_init "${1:-build}"
SCALE=${RG_FAULT_SCALE:-quick}
case "$SCALE" in quick | soak) ;; *) echo "RG_FAULT_SCALE must be quick or soak" >&2; exit 2 ;; esac

# Every fault run pins under its own directory below E2E_PIN: detach each before lib.bash's
# cleanup kills the drivers, removes the pins and deletes the namespaces (and with them every
# interface, route and nft table made here).
faults_cleanup() {
	local rc=$? d
	for d in "$E2E_PIN"/*/; do
		[ -d "$d" ] && "$RG" --pin-dir "${d%/}" detach --all >/dev/null 2>&1
	done
	(exit "$rc")
	e2e_cleanup
}
trap faults_cleanup EXIT
e2e_require
command -v bpftool >/dev/null 2>&1 || skip "needs bpftool"
if ! e2e_have_cli; then
	fail "faults: $RG has no attach command: no fault run can start"
	e2e_summary
	exit
fi

ns_add sw && ns_add cli && ns_add atk && ns_add rtr && ns_add srv && ns_add rtr2 ||
	skip "cannot create namespaces"
for n in sw cli atk rtr srv rtr2; do
	# The asymmetric return path enters cli on another interface than its route points to.
	nsx "$n" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
veth_add cli eth0 sw p-cli && veth_add atk eth0 sw p-atk && veth_add rtr eth0 sw p-rtr &&
	veth_add rtr eth1 srv eth0 && veth_add srv eth1 rtr2 eth1 && veth_add cli eth1 rtr2 eth0 ||
	skip "cannot create veth pairs"
bridge_add sw br0 p-cli p-atk p-rtr || skip "cannot create a bridge"
nsx rtr sysctl -qw net.ipv4.ip_forward=1
nsx rtr2 sysctl -qw net.ipv4.ip_forward=1
nsx cli ip addr add 198.18.1.2/24 dev eth0
nsx cli ip addr add 198.18.3.2/24 dev eth1
nsx cli ip route add default via 198.18.1.1
nsx atk ip addr add 198.18.1.3/24 dev eth0
nsx atk ip route add default via 198.18.1.1
nsx rtr ip addr add 198.18.1.1/24 dev eth0
nsx rtr ip addr add 198.19.0.1/24 dev eth1
nsx srv ip addr add 198.19.0.2/24 dev eth0
nsx srv ip addr add 198.19.0.3/24 dev eth0
nsx srv ip addr add 198.19.1.2/24 dev eth1
nsx srv ip route add default via 198.19.0.1
nsx srv ip rule add from 198.19.0.3 lookup 100
nsx srv ip route add default via 198.19.1.1 table 100
nsx rtr2 ip addr add 198.18.3.1/24 dev eth0
nsx rtr2 ip addr add 198.19.1.1/24 dev eth1
nsx rtr2 ip route add 198.18.1.0/24 via 198.18.3.2
nsx rtr2 ip route add 198.19.0.0/24 via 198.19.1.2
reach cli 198.19.0.2 && reach atk 198.19.0.2 || skip "the router does not forward"
reach cli 198.19.0.3 || skip "the asymmetric return path through rtr2 does not work"

# What every driver needs to know about the topology, in one file.
TOPO="$E2E_TMP/topo.json"
cat >"$TOPO" <<EOF
{"ns": {"sw": "$E2E_NSP-sw", "cli": "$E2E_NSP-cli", "atk": "$E2E_NSP-atk", "rtr": "$E2E_NSP-rtr",
        "srv": "$E2E_NSP-srv", "rtr2": "$E2E_NSP-rtr2"},
 "ip": {"cli": "198.18.1.2", "atk": "198.18.1.3", "rtr0": "198.18.1.1", "rtr1": "198.19.0.1",
        "srv": "198.19.0.2", "srv_asym": "198.19.0.3"},
 "mac": {"atk": "$(mac_of atk eth0)", "rtr0": "$(mac_of rtr eth0)", "srv": "$(mac_of srv eth0)",
         "rtr1": "$(mac_of rtr eth1)"},
 "id": $E2E_ID}
EOF

# fault NAME: one fault run in its own driver process and pin directory; its check lines are
# echoed as they come and added to the totals. The driver runs in the background so a signal
# reaches the cleanup at once, and it is killed there by PID.
fault() {
	local name=$1 out="$E2E_TMP/$1.out" t0=$SECONDS pid rc p f
	"$E2E_PY" -B "$E2E_DIR/faults_run.py" --run "$name" --topo "$TOPO" --rg "$RG" \
		--pin-dir "$E2E_PIN/$name" --scale "$SCALE" > >(tee "$out") 2>&1 &
	pid=$!
	E2E_PIDS+=("$pid")
	wait "$pid"
	rc=$?
	# The driver detaches in its own cleanup; this catches a driver that died before it.
	"$RG" --pin-dir "$E2E_PIN/$name" detach --all >/dev/null 2>&1
	sleep 0.1 # let tee drain
	echo "# faults/$name: $((SECONDS - t0))s"
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^FAIL ' "$out")
	E2E_PASS=$((E2E_PASS + p))
	E2E_FAIL=$((E2E_FAIL + f))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		fail "faults/$name: driver exited $rc without reporting a failure"
	fi
}

for run in ${RG_FAULT_RUNS:-flowfull kill flip replace ifdown pickup asym}; do
	fault "$run"
done
e2e_summary
