#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Gateway role end to end: client -- router -- server, rstguard in gateway role on both router
# interfaces (one shared flow table), the attacker on the client's segment; every scenario first
# without rstguard, then with it, for IPv4 and IPv6.
#
#   [ cli ] 198.18.1.2          [ atk ] 198.18.1.3
#     eth0  fd00:1::2             eth0  fd00:1::3
#       |                           |
#     p-cli ---- sw: br0 (hub) ---- p-atk
#                  |
#                p-rtr
#                  |
#   198.18.1.1   eth0 [ rtr ] eth1   198.19.0.1        rstguard --role gateway on rtr:eth0 + eth1
#   fd00:1::1     (forwarding)       fd00:2::1
#                                      |
#                                    eth0 [ srv ] 198.19.0.2 fd00:2::2
set -u
. "$(dirname "$0")/lib.bash"
e2e_init "${1:-build}"
e2e_require

ns_add sw && ns_add cli && ns_add atk && ns_add rtr && ns_add srv || skip "cannot create namespaces"
veth_add cli eth0 sw p-cli && veth_add atk eth0 sw p-atk && veth_add rtr eth0 sw p-rtr &&
	veth_add rtr eth1 srv eth0 || skip "cannot create veth pairs"
bridge_add sw br0 p-cli p-atk p-rtr || skip "cannot create a bridge"
nsx rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
nsx rtr ip addr add 198.18.1.1/24 dev eth0
nsx rtr ip addr add fd00:1::1/64 dev eth0 nodad
nsx rtr ip addr add 198.19.0.1/24 dev eth1
nsx rtr ip addr add fd00:2::1/64 dev eth1 nodad
declare -A V4=([cli]=198.18.1.2 [atk]=198.18.1.3 [srv]=198.19.0.2 [rtr]=198.18.1.1)
declare -A V6=([cli]=fd00:1::2 [atk]=fd00:1::3 [srv]=fd00:2::2 [rtr]=fd00:1::1)
for n in cli atk srv; do
	nsx "$n" ip addr add "${V4[$n]}/24" dev eth0
	nsx "$n" ip addr add "${V6[$n]}/64" dev eth0 nodad
done
for n in cli atk; do
	nsx "$n" ip route add default via 198.18.1.1
	nsx "$n" ip -6 route add default via fd00:1::1
done
nsx srv ip route add default via 198.19.0.1
nsx srv ip -6 route add default via fd00:2::1
ATK_MAC=$(mac_of atk eth0)
RTR_MAC=$(mac_of rtr eth0)
for n in cli atk; do
	reach "$n" "${V4[srv]}" && reach "$n" "${V6[srv]}" || skip "the router does not forward for $n"
done
reach srv "${V4[cli]}" && reach srv "${V6[cli]}" || skip "the router does not forward for srv"

# scenarios A B LISTENER TAG [ARGS...]: both families. The attacker spoofs B towards A; its
# frames go to the router, so only A = srv puts the router on the attack path.
scenarios() {
	local a=$1 b=$2 lis=$3 tag=$4 fam
	shift 4
	for fam in v4 v6; do
		local flag='' aa=${V4[$a]} ba=${V4[$b]}
		[ "$fam" = v6 ] && flag=--v6 aa=${V6[$a]} ba=${V6[$b]}
		run_py "$tag/$fam" --tag "$tag/$fam" $flag --id "$E2E_ID" --rg "$RG" --pin-dir "$E2E_PIN" \
			--a "$E2E_NSP-$a,eth0,$aa" --b "$E2E_NSP-$b,$ba" --listener "$lis" \
			--atk "$E2E_NSP-atk,eth0,$ATK_MAC,$RTR_MAC" "$@"
	done
}

# What the kernels do on their own, behind a plain router.
scenarios srv cli a "gateway/no-rstguard" --only L1,L2,L3,L4,L5,evasion,blind,inexact,onpath

if ! e2e_have_cli; then
	fail "gateway: $RG has no attach command: the runs with rstguard cannot start"
	e2e_summary
	exit
fi

# xdp_on_router [MODEFLAG]: both router interfaces carry an XDP program ("xdp" is native mode,
# "xdpgeneric" skb mode, as ip link prints them).
xdp_on_router() {
	local i
	for i in eth0 eth1; do
		nsx rtr ip link show dev "$i" | head -n 1 | grep -qwE "${1:-xdp|xdpgeneric}" || return 1
	done
}

# The scenarios test the steady state: no learning period, so unseen flows' RSTs are no_flow.
if rg rtr attach eth0 eth1 --role gateway --xdp-mode native >"$E2E_TMP/attach.out" 2>&1 &&
	rg rtr policy set learning=0 >>"$E2E_TMP/attach.out" 2>&1; then
	check "gateway: rstguard attached to rtr:eth0 and rtr:eth1, gateway role, native mode" \
		eval 'xdp_on_router xdp && status_is rtr gateway native eth0 eth1'
	# Server under attack from the client's segment: every scenario, and a session that was up
	# before the attach.
	scenarios srv cli a "gateway/rstguard/srv" --guard-ns "$E2E_NSP-rtr" \
		--only "L1,L2,L3,L4,L5,evasion,blind,midstream,inexact,noflow,onpath,monitor,live" \
		--attach "eth0 eth1 --role gateway --xdp-mode native"
	# The legitimate resets in the other direction too: the server's RSTs cross the router.
	scenarios cli srv b "gateway/rstguard/cli" --guard-ns "$E2E_NSP-rtr" --only L1,L2,L3,L4,L5,evasion
else
	fail "gateway: rstguard attach eth0 eth1 --role gateway ($(tail -n 3 "$E2E_TMP/attach.out"))"
fi

# A router that also ends sessions of its own (BGP): role both judges RSTs for the router's own
# address against its sockets and forwarded ones against the flow table. Attaching again replaces
# the program in place.
if rg rtr attach eth0 eth1 --role both --xdp-mode native >"$E2E_TMP/attach.out" 2>&1; then
	check "gateway: re-attached to rtr:eth0 and rtr:eth1 in role both" \
		eval 'xdp_on_router xdp && status_is rtr both native eth0 eth1'
	scenarios srv cli a "gateway/rstguard-both/srv" --guard-ns "$E2E_NSP-rtr" \
		--only L1,L2,L5,blind,noflow
	scenarios rtr cli a "gateway/rstguard-both/rtr" --guard-ns "$E2E_NSP-rtr" \
		--only L1,L2,L3,L4,L5,evasion,blind,inexact,noflow,onpath
else
	fail "gateway: rstguard attach eth0 eth1 --role both ($(tail -n 3 "$E2E_TMP/attach.out"))"
fi
rg rtr detach eth0 eth1 >/dev/null 2>&1
check "gateway: rstguard detach leaves no XDP program on the router" eval '! xdp_on_router'

e2e_summary
