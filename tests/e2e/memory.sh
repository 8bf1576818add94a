#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Gateway role, the flow table's memory, end to end with real kernel sockets (tests/e2e/memory.py):
# an idle verified flow evicted by a SYN flood at random 4-tuples, and a connection older than the
# filter, still get their real resets through; blind RSTs at unseen 4-tuples are still dropped.
#
#   [ cli ] 198.18.1.2 ---- sw: br0 ---- [ atk ] 198.18.1.3
#                             |
#   198.18.1.1  eth0 [ rtr ] eth1  198.19.0.1     rstguard --role gateway on rtr:eth0 + eth1
#                                    |
#                                  eth0 [ srv ] 198.19.0.2
set -u
. "$(dirname "$0")/lib.bash"
e2e_init "${1:-build}"
e2e_require
e2e_have_cli || { fail "memory: $RG has no attach command"; e2e_summary; exit; }

ns_add sw && ns_add cli && ns_add atk && ns_add rtr && ns_add srv || skip "cannot create namespaces"
veth_add cli eth0 sw p-cli && veth_add atk eth0 sw p-atk && veth_add rtr eth0 sw p-rtr &&
	veth_add rtr eth1 srv eth0 || skip "cannot create veth pairs"
bridge_add sw br0 p-cli p-atk p-rtr || skip "cannot create a bridge"
nsx rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
nsx rtr ip addr add 198.18.1.1/24 dev eth0
nsx rtr ip addr add fd00:1::1/64 dev eth0 nodad
nsx rtr ip addr add 198.19.0.1/24 dev eth1
nsx rtr ip addr add fd00:2::1/64 dev eth1 nodad
declare -A V4=([cli]=198.18.1.2 [atk]=198.18.1.3 [srv]=198.19.0.2)
declare -A V6=([cli]=fd00:1::2 [atk]=fd00:1::3 [srv]=fd00:2::2)
for n in cli atk srv; do
	nsx "$n" ip addr add "${V4[$n]}/24" dev eth0
	nsx "$n" ip addr add "${V6[$n]}/64" dev eth0 nodad
	nsx "$n" sysctl -qw net.ipv6.conf.all.accept_redirects=0 net.ipv4.conf.all.accept_redirects=0
done
for n in cli atk; do
	nsx "$n" ip route add default via 198.18.1.1
	nsx "$n" ip -6 route add default via fd00:1::1
done
nsx srv ip route add default via 198.19.0.1
nsx srv ip -6 route add default via fd00:2::1
ATK_MAC=$(mac_of atk eth0)
RTR_MAC=$(mac_of rtr eth0)
reach cli "${V4[srv]}" && reach cli "${V6[srv]}" || skip "the router does not forward"

for fam in v4 v6; do
	flag='' c=${V4[cli]} s=${V4[srv]} ghost=198.19.0.200
	[ "$fam" = v6 ] && flag=--v6 c=${V6[cli]} s=${V6[srv]} ghost=fd00:2::200
	out="$E2E_TMP/memory-$fam.out"
	"$E2E_PY" -B "$E2E_DIR/memory.py" --tag "memory/$fam" $flag --cli "$E2E_NSP-cli,$c" \
		--srv "$E2E_NSP-srv,$s" --atk "$E2E_NSP-atk,eth0,$ATK_MAC,$RTR_MAC" --ghost "$ghost" \
		--guard-ns "$E2E_NSP-rtr" --ifaces eth0,eth1 --rg "$RG" --pin-dir "$E2E_PIN" >"$out" 2>&1
	rc=$?
	cat "$out"
	E2E_PASS=$((E2E_PASS + $(grep -c '^ok ' "$out")))
	f=$(grep -c '^FAIL ' "$out")
	E2E_FAIL=$((E2E_FAIL + f))
	[ "$rc" != 0 ] && [ "$f" = 0 ] && fail "memory/$fam: driver exited $rc without a failure"
done
e2e_summary
