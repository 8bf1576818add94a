#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Host role end to end: server, client and attacker on one flooding L2 segment; every scenario
# first without rstguard (the kernel's own behaviour), then with rstguard on the server's
# interface, then on the client's, for IPv4 and IPv6.
#
#                      namespace sw: bridge br0 (FDB ageing 0: floods like a hub)
#          +---------------------+---------------------+
#          | p-srv               | p-cli               | p-atk
#          | eth0                | eth0                | eth0
#     [ srv ]  198.18.0.1     [ cli ]  198.18.0.2   [ atk ]  198.18.0.3
#      fd00:18::1              fd00:18::2            fd00:18::3
#      rstguard --role host on srv:eth0 (run 1), on cli:eth0 (run 2)
set -u
. "$(dirname "$0")/lib.bash"
e2e_init "${1:-build}"
e2e_require

ns_add sw && ns_add srv && ns_add cli && ns_add atk || skip "cannot create namespaces"
veth_add srv eth0 sw p-srv && veth_add cli eth0 sw p-cli && veth_add atk eth0 sw p-atk ||
	skip "cannot create veth pairs"
bridge_add sw br0 p-srv p-cli p-atk || skip "cannot create a bridge"
declare -A V4=([srv]=198.18.0.1 [cli]=198.18.0.2 [atk]=198.18.0.3)
declare -A V6=([srv]=fd00:18::1 [cli]=fd00:18::2 [atk]=fd00:18::3)
for n in srv cli atk; do
	nsx "$n" ip addr add "${V4[$n]}/24" dev eth0
	nsx "$n" ip addr add "${V6[$n]}/64" dev eth0 nodad
done
declare -A MAC
for n in srv cli atk; do
	MAC[$n]=$(mac_of "$n" eth0)
done
for n in cli atk; do
	reach "$n" "${V4[srv]}" && reach "$n" "${V6[srv]}" || skip "no path from $n to srv"
done
reach srv "${V4[cli]}" && reach srv "${V6[cli]}" || skip "no path from srv to cli"

# scenarios A B LISTENER TAG [--guard-ns NS] [--only ...]: both families, A under attack.
scenarios() {
	local a=$1 b=$2 lis=$3 tag=$4 fam
	shift 4
	for fam in v4 v6; do
		local flag='' aa=${V4[$a]} ba=${V4[$b]}
		[ "$fam" = v6 ] && flag=--v6 aa=${V6[$a]} ba=${V6[$b]}
		run_py "$tag/$fam" --tag "$tag/$fam" $flag --id "$E2E_ID" --rg "$RG" --pin-dir "$E2E_PIN" \
			--a "$E2E_NSP-$a,eth0,$aa" --b "$E2E_NSP-$b,$ba" --listener "$lis" \
			--atk "$E2E_NSP-atk,eth0,${MAC[atk]},${MAC[$a]}" "$@"
	done
}

# What the kernel does on its own: the reference every later run is held to.
scenarios srv cli a "host/no-rstguard" --only L1,L2,L3,L4,L5,evasion,blind,inexact,onpath

# xdp_attached NS [native|skb]: an XDP program sits on NS's eth0 (in that mode); ip link prints
# "xdp" for native mode and "xdpgeneric" for skb mode.
xdp_attached() {
	local want='xdp|xdpgeneric'
	[ "${2:-}" = skb ] && want=xdpgeneric
	[ "${2:-}" = native ] && want=xdp
	nsx "$1" ip link show dev eth0 | head -n 1 | grep -qwE "$want"
}

if ! e2e_have_cli; then
	fail "host: $RG has no attach command: the runs with rstguard cannot start"
	e2e_summary
	exit
fi

# The server's interface in native (driver) mode, the client's in generic (skb) mode: both XDP
# paths see the same RSTs and must give the same verdicts.
for run in srv:native cli:skb; do
	side=${run%:*} mode=${run#*:}
	peer=cli lis=a
	[ "$side" = cli ] && peer=srv lis=b
	if ! rg "$side" attach eth0 --role host --xdp-mode "$mode" >"$E2E_TMP/attach.out" 2>&1; then
		fail "host/$side: rstguard attach eth0 --role host --xdp-mode $mode" \
			"($(tail -n 3 "$E2E_TMP/attach.out"))"
		continue
	fi
	check "host/$side: rstguard attached to $side:eth0 in $mode mode (ip link, status -j)" \
		eval 'xdp_attached $side $mode && status_is $side host $mode eth0'
	scenarios "$side" "$peer" "$lis" "host/rstguard-on-$side-$mode" --guard-ns "$E2E_NSP-$side"
	rg "$side" detach eth0 >/dev/null 2>&1
	check "host/$side: rstguard detach leaves no XDP program on $side:eth0" \
		eval '! xdp_attached '"$side"
done

e2e_summary
