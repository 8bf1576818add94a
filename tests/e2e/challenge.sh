#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Policy inexact=challenge end to end, on the gateway topology of gateway.sh, IPv4 and IPv6:
# a legitimate abort whose last data segment was lost before the router (lost under drop,
# delivered by the challenge under challenge), a flood of forged in-window RSTs at a live flow
# (limited per flow), and in role both a session of the router's own (the kernel challenges).
#
#   [ cli ] 198.18.1.2          [ atk ] 198.18.1.3
#     eth0  fd00:1::2             eth0  fd00:1::3
#       |                           |
#     p-cli ---- sw: br0 (hub) ---- p-atk
#                  |
#                p-rtr                                   (XDP_PASS: receives the router's XDP_TX)
#                  |
#   198.18.1.1   eth0 [ rtr ] eth1   198.19.0.1        rstguard --role gateway on rtr:eth0 + eth1
#   fd00:1::1     (forwarding)       fd00:2::1
#                                      |
#                                    eth0 [ srv ] 198.19.0.2 fd00:2::2   (XDP_PASS, as p-rtr)
#                                    sink: where the server's lost segments go
set -u
. "$(dirname "$0")/lib.bash"
e2e_init "${1:-build}"
e2e_require
command -v tc >/dev/null 2>&1 || skip "needs tc"
command -v clang >/dev/null 2>&1 || skip "needs clang (an XDP_PASS program for the veth peers)"

ns_add sw && ns_add cli && ns_add atk && ns_add rtr && ns_add srv || skip "cannot create namespaces"
veth_add cli eth0 sw p-cli && veth_add atk eth0 sw p-atk && veth_add rtr eth0 sw p-rtr &&
	veth_add rtr eth1 srv eth0 || skip "cannot create veth pairs"
# The server's sink: a veth whose other end nobody reads.
veth_add srv sink srv sink1 || skip "cannot create veth pairs"
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
	# Forged packets hair-pinned by the router draw ICMPv6 redirects: never follow them.
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
for n in cli atk; do
	reach "$n" "${V4[srv]}" && reach "$n" "${V6[srv]}" || skip "the router does not forward for $n"
done
reach srv "${V4[cli]}" && reach srv "${V6[cli]}" || skip "the router does not forward for srv"

# On a veth, a frame sent with XDP_TX reaches the other end only when that end runs XDP itself.
cat >"$E2E_TMP/pass.c" <<'EOF'
#include <linux/bpf.h>
__attribute__((section("xdp"), used)) int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] __attribute__((section("license"), used)) = "GPL";
EOF
clang -O2 -target bpf -idirafter "/usr/include/$(gcc -print-multiarch 2>/dev/null)" \
	-c "$E2E_TMP/pass.c" -o "$E2E_TMP/pass.o" || skip "cannot build an XDP_PASS program"
nsx srv ip link set dev eth0 xdpdrv obj "$E2E_TMP/pass.o" sec xdp &&
	nsx sw ip link set dev p-rtr xdpdrv obj "$E2E_TMP/pass.o" sec xdp ||
	skip "cannot attach XDP_PASS to the router's peers"

# driver TAG ARGS...: both families of the challenge driver, its checks added to ours.
driver() {
	local tag=$1 fam out rc p f
	shift
	for fam in v4 v6; do
		local flag='' cli=${V4[cli]} srv=${V4[srv]} rtr=${V4[rtr]}
		[ "$fam" = v6 ] && flag=--v6 cli=${V6[cli]} srv=${V6[srv]} rtr=${V6[rtr]}
		out="$E2E_TMP/drv.out"
		"$E2E_PY" -B "$E2E_DIR/challenge.py" --tag "$tag/$fam" $flag --id "$E2E_ID" \
			--rg "$RG" --pin-dir "$E2E_PIN" \
			--cli "$E2E_NSP-cli,eth0,$cli" --srv "$E2E_NSP-srv,eth0,$srv" \
			--rtr "$E2E_NSP-rtr,$rtr" --atk "$E2E_NSP-atk,eth0,$ATK_MAC,$RTR_MAC" \
			"$@" >"$out" 2>&1
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

# pol EXPR: a field of 'policy show -j' (d), printed.
pol() {
	rg rtr policy show -j | "$E2E_PY" -B -c "import json, sys; d = json.load(sys.stdin); print($1)"
}

# The policy keys: set live, shown, exported; bad values refused whole.
cli_checks() {
	local gen out rc
	check "policy set inexact=challenge challenge_interval_ms=750" \
		eval 'rg rtr policy set inexact=challenge challenge_interval_ms=750 >/dev/null'
	check "policy show -j: inexact challenge, interval 750 ms" \
		eval '[ "$(pol "d[\"inexact\"], d[\"challenge_interval_ms\"]")" = "challenge 750" ]'
	check "policy show: the interval line" eval \
		'rg rtr policy show | grep -qxE "challenge_interval_ms +750"'
	check "metrics: policy_info inexact=\"challenge\", interval 0.750 s" eval \
		'out=$(rg rtr metrics); grep -q "^rstguard_policy_info{.*inexact=\"challenge\"" <<<"$out" &&
		 grep -qx "rstguard_challenge_interval_seconds 0.750" <<<"$out"'
	gen=$(pol 'd["policy_generation"]')
	out=$(rg rtr policy set inexact=maybe 2>&1); rc=$?
	check "inexact=maybe: exit 2, the three values named" \
		eval '[ $rc = 2 ] && grep -q "drop, pass or challenge" <<<"$out"'
	for v in 0 60001 abc ""; do
		out=$(rg rtr policy set inexact=drop "challenge_interval_ms=$v" 2>&1); rc=$?
		check "challenge_interval_ms=$v: exit 2, says the range" \
			eval '[ $rc = 2 ] && grep -q "milliseconds from 1 to 60000" <<<"$out"'
	done
	check "... and nothing changed (generation, inexact, interval)" \
		eval '[ "$(pol "d[\"policy_generation\"], d[\"inexact\"], d[\"challenge_interval_ms\"]")" = "$gen challenge 750" ]'
	check "challenge_interval_ms=default: back to 500" eval \
		'rg rtr policy set challenge_interval_ms=default inexact=drop >/dev/null &&
		 [ "$(pol "d[\"inexact\"], d[\"challenge_interval_ms\"]")" = "drop 500" ]'
}

if ! e2e_have_cli; then
	fail "challenge: $RG has no attach command"
	e2e_summary
	exit
fi
if rg rtr attach eth0 eth1 --role gateway --xdp-mode native >"$E2E_TMP/attach.out" 2>&1; then
	ok "challenge: rstguard attached to rtr:eth0 and rtr:eth1, gateway role, native mode"
	cli_checks
	driver "challenge/gateway" --only abort,flood
else
	fail "challenge: rstguard attach --role gateway ($(tail -n 3 "$E2E_TMP/attach.out"))"
fi
if rg rtr attach eth0 eth1 --role both --xdp-mode native >"$E2E_TMP/attach.out" 2>&1; then
	ok "challenge: re-attached in role both"
	driver "challenge/both" --only kernel
else
	fail "challenge: rstguard attach --role both ($(tail -n 3 "$E2E_TMP/attach.out"))"
fi
check "challenge: stats shows the challenge ACKs line" eval \
	'rg rtr stats | grep -q "challenge ACKs: [1-9][0-9]* sent"'
rg rtr detach eth0 eth1 >/dev/null 2>&1
e2e_summary
