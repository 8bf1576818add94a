#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Long fault runs (make soak): tests/e2e/faults.sh at soak scale, ROUNDS times (default 1).
#
# Soak scale: 1000 atomic program replacements under a sequence-numbered stream, 3000 policy
# flips through the CLI and a minute of direct ones under an RST stream, 100 SIGKILLed attaches
# under a flood, a SYN flood of 3x a 16384-flow table, 20000 blind RSTs per picked-up
# connection; the other runs as in make test. About ten minutes a round on a 2-CPU VM.
#
# Usage: tests/soak.sh [BUILD_DIR] [ROUNDS]     RG_FAULT_RUNS="replace flip" limits the runs.
set -u
build=${1:-build}
rounds=${2:-${RG_SOAK_ROUNDS:-1}}
case "$rounds" in '' | *[!0-9]* | 0) echo "soak: ROUNDS must be a positive number" >&2; exit 2 ;; esac
dir=$(cd "$(dirname "$0")" && pwd)
log_dir="$build/test-logs"
mkdir -p "$log_dir"
pass=0 fail=0 t0=$SECONDS

for r in $(seq "$rounds"); do
	log="$log_dir/soak-$r.log"
	echo "# soak round $r of $rounds (log: $log)"
	# The suite prints its checks as they come; they are kept for the totals below.
	RG_FAULT_SCALE=soak bash "$dir/e2e/faults.sh" "$build" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	[ "$rc" = 77 ] && exit 77
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "FAIL soak round $r: faults.sh ended without a summary (exit $rc)"
		fail=$((fail + 1))
		continue
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed*}
	[ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
	pass=$((pass + p))
	fail=$((fail + f))
done
echo "# soak: $rounds round(s) in $((SECONDS - t0))s"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
