#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Gateway role end to end, with real kernel sockets: forged segments on the 4-tuple of a live
# connection must never make its real reset look wrong. The topology is tests/e2e/gateway.sh's
# (client and attacker on one segment, the router running rstguard in gateway role on both
# interfaces, the server behind it), with a small flow table so a SYN flood evicts entries.
#
#   re-open takeover: the attacker sends one out-of-window ACK to each endpoint (a Linux endpoint
#     then stays quiet for a while, so no challenge ACK interrupts what follows) and a forged SYN,
#     SYN-ACK and ACK on the live 4-tuple; the server aborts (SO_LINGER 0) and the client must get
#     ECONNRESET. Without the attack too; and after the real endpoints' next exchange, a blind RST
#     flood with a window sweep at the same connection is all dropped.
#   after an eviction: a SYN flood of random 4-tuples evicts the connection's entry, the attacker
#     sends one SYN in the client's name, the server aborts: the client must get ECONNRESET.
#
#   [ cli ] 198.18.1.2          [ atk ] 198.18.1.3
#       |                           |
#     p-cli ---- sw: br0 (hub) ---- p-atk
#                  |
#                p-rtr
#   198.18.1.1   eth0 [ rtr ] eth1   198.19.0.1        rstguard --role gateway --flows 1024
#                                      |
#                                    eth0 [ srv ] 198.19.0.2
set -u
. "$(dirname "$0")/lib.bash"
e2e_init "${1:-build}"
e2e_require
e2e_have_cli || skip "$RG has no attach command"

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
	# Forged segments hair-pinned by the router draw redirects; endpoints must not follow them.
	nsx "$n" sysctl -qw net.ipv4.conf.all.accept_redirects=0 net.ipv6.conf.all.accept_redirects=0 \
		net.ipv6.conf.eth0.accept_redirects=0
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

if ! rg rtr attach eth0 eth1 --role gateway --xdp-mode native --flows 1024 --flows6 1024 \
	>"$E2E_TMP/attach.out" 2>&1; then
	fail "reopen: rstguard attach eth0 eth1 --role gateway ($(tail -n 3 "$E2E_TMP/attach.out"))"
	e2e_summary
	exit
fi
ok "reopen: rstguard attached to rtr:eth0 and rtr:eth1, gateway role, 1024-flow tables"
rg rtr policy set mode=enforce inexact=drop unknown=drop timewait=accept >/dev/null
# Steady state: no grace period for flows not yet seen, where the policy has one.
rg rtr policy set learning=0 >/dev/null 2>&1

for fam in v4 v6; do
	flag='' cli=${V4[cli]} srv=${V4[srv]} atk=${V4[atk]} void=198.19.0.77
	[ "$fam" = v6 ] && flag=--v6 cli=${V6[cli]} srv=${V6[srv]} atk=${V6[atk]} void=fd00:2::77
	out="$E2E_TMP/reopen-$fam.out"
	t0=$SECONDS
	"$E2E_PY" -B "$E2E_DIR/reopen.py" --tag "reopen/$fam" $flag --rg "$RG" --pin-dir "$E2E_PIN" \
		--guard-ns "$E2E_NSP-rtr" --cli "$E2E_NSP-cli,eth0,$cli" --srv "$E2E_NSP-srv,eth0,$srv" \
		--atk "$E2E_NSP-atk,eth0,$atk,$ATK_MAC,$RTR_MAC" --void "$void" >"$out" 2>&1
	rc=$?
	cat "$out"
	echo "# reopen/$fam: $((SECONDS - t0))s"
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^FAIL ' "$out")
	E2E_PASS=$((E2E_PASS + p))
	E2E_FAIL=$((E2E_FAIL + f))
	[ "$rc" != 0 ] && [ "$f" = 0 ] && fail "reopen/$fam: driver exited $rc without reporting a failure"
done

rg rtr detach eth0 eth1 >/dev/null 2>&1
e2e_summary
