#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# `make demo`: a live TCP connection survives a forged-RST attack with rstguard in front of it, in
# a throwaway namespace testbed; each step says what it does, and everything is removed at the end.
set -u
. "$(dirname "$0")/e2e/lib.bash"
E2E_NSP="rgdemo$$"
E2E_PIN="/sys/fs/bpf/rgdemo-$$"
e2e_init "${1:-build}"
e2e_require
e2e_have_cli || { echo "demo: $RG has no attach command; run 'make' first" >&2; exit 1; }

step=0
say() {
	step=$((step + 1))
	printf '\n==> [%d/8] %s\n' "$step" "$*"
}
indent() {
	sed 's/^/    /'
}

SRV=198.18.0.1 CLI=198.18.0.2 ATK=198.18.0.3 PORT=179
say "testbed: namespaces $E2E_NSP-{srv,cli,atk} on one bridge, 198.18.0.0/24; nothing leaves them"
ns_add sw && ns_add srv && ns_add cli && ns_add atk || exit 1
veth_add srv eth0 sw p-srv && veth_add cli eth0 sw p-cli && veth_add atk eth0 sw p-atk || exit 1
bridge_add sw br0 p-srv p-cli p-atk || exit 1
nsx srv ip addr add "$SRV/24" dev eth0
nsx cli ip addr add "$CLI/24" dev eth0
nsx atk ip addr add "$ATK/24" dev eth0

say "a long-lived session: srv $SRV:$PORT echoes what cli sends, a line every 200 ms (think BGP)"
spawn srv "$E2E_PY" -B "$E2E_DIR/echo.py" server "$SRV" "$PORT"
sleep 0.3
spawn cli "$E2E_PY" -B "$E2E_DIR/echo.py" client "$SRV" "$PORT" 0.2 >"$E2E_TMP/client.log" 2>&1
sleep 1
tail -n 2 "$E2E_TMP/client.log" | indent
CPORT=$(nsx cli ss -Htn state established "( dport = :$PORT )" |
	awk '{split($3, a, ":"); print a[2]; exit}')
[ -n "$CPORT" ] || { echo "demo: the echo connection did not come up" >&2; exit 1; }

challenge_acks() {
	nsx srv nstat -asz TcpExtTCPChallengeACK | awk '/TcpExtTCPChallengeACK/ {print $2}'
}
# The attacker knows the 4-tuple (a BGP session's ports are no secret), not the sequence numbers.
attack() {
	PYTHONPATH="$E2E_DIR" "$E2E_PY" -B "$E2E_DIR/attack.py" --ns "$E2E_NSP-atk" --ifname eth0 \
		--smac "$(mac_of atk eth0)" --dmac "$(mac_of srv eth0)" \
		--src "$CLI" --sport "$CPORT" --dst "$SRV" --dport "$PORT" --random 20000 --step 32768
}

say "without rstguard: atk forges RSTs from $CLI:$CPORT to $SRV:$PORT (random seqs + a sweep)"
ch0=$(challenge_acks)
sent=$(attack)
sleep 0.5
ch1=$(challenge_acks)
echo "    $sent forged RSTs sent; the server's own kernel examined every one and answered" \
	"$((ch1 - ch0)) with a challenge ACK (RFC 5961)"

say "rstguard attach eth0 --role host, on srv: each RST judged in XDP against the server's sockets"
rg srv attach eth0 --role host 2>&1 | indent
rg srv status 2>&1 | indent

say "the same attack, with rstguard in front"
lines0=$(grep -c echo "$E2E_TMP/client.log")
ch0=$(challenge_acks)
sent=$(attack)
sleep 1
ch1=$(challenge_acks)
lines1=$(grep -c echo "$E2E_TMP/client.log")
echo "    $sent forged RSTs sent; the server's kernel answered $((ch1 - ch0)) challenge ACKs" \
	"this time: none of them reached it"

say "the session is alive: $((lines1 - lines0)) echoes came back during and after the attack"
tail -n 3 "$E2E_TMP/client.log" | indent
if grep -q -e ERROR -e EOF "$E2E_TMP/client.log"; then
	echo "    but the connection broke:" && grep -e ERROR -e EOF "$E2E_TMP/client.log" | indent
	exit 1
fi

say "rstguard stats: what was dropped and why (per interface and reason)"
rg srv stats 2>&1 | indent

say "metrics for Prometheus (non-zero samples)"
# Prefer the scrape endpoint an operator would point Prometheus at; else the one-shot exposition.
show_metrics() {
	grep -E '^rstguard_' | grep -vE ' 0(\.0+)?$' | head -n 25 | indent
}
if "$RG" serve --help >/dev/null 2>&1; then
	spawn srv "$RG" --pin-dir "$E2E_PIN" serve --listen 127.0.0.1:9477 >/dev/null 2>&1
	echo "    rstguard serve --listen 127.0.0.1:9477 (inside srv); GET /metrics:"
	nsx srv "$E2E_PY" -B -c '
import sys, time, urllib.request
for _ in range(30):
    try:
        sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())
        break
    except OSError:
        time.sleep(0.1)' http://127.0.0.1:9477/metrics | show_metrics
elif "$RG" metrics --help >/dev/null 2>&1; then
	echo "    rstguard metrics:"
	rg srv metrics 2>&1 | show_metrics
else
	echo "    (skipped: this build of rstguard has no 'serve' or 'metrics' command yet)"
fi

printf '\n==> cleaning up: detach, remove pins, delete the namespaces\n'
rg srv detach --all 2>&1 | indent
echo "    done: the connection outlived $((2 * sent)) forged RSTs;" \
	"the second half never reached the kernel"
