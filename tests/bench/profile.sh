#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Where one bench row's time goes: perf samples of the whole machine while the row runs, in ns
# per packet by kernel symbol and, inside rstguard's program, by source line.
# Usage: tests/bench/profile.sh [BUILD] ROW [rg_bench options]   (needs root, perf, python3)
set -euo pipefail
build=build
if [ $# -ge 1 ] && [ -d "$1" ]; then
	build=$1
	shift
fi
usage() {
	echo "usage: tests/bench/profile.sh [BUILD] ROW [rg_bench options]"
	echo "  e.g. tests/bench/profile.sh s3   (an 8 s window; ROW=N picks the Nth row of an id"
	echo "  with several, such as s2 or s5, from 0)"
}
if [ $# -lt 1 ]; then
	usage >&2
	exit 2
fi
if [ "$1" = --help ] || [ "$1" = -h ]; then
	usage
	exit 0
fi
row=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
for tool in perf python3 bpftool; do
	if ! command -v "$tool" >/dev/null; then
		echo "profile: $tool not found (Debian: apt-get install linux-perf python3 bpftool)" >&2
		exit 1
	fi
done
make --no-print-directory -s -f tests/bench/bench.mk BUILD="$build" "$build/bench/rg_jitlines"

tmp=$(mktemp -d)
bench_pid= perf_pid=
cleanup() {
	[ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null || true
	# The bench's whole group: its own exit trap then removes the namespaces it made.
	[ -n "$bench_pid" ] && kill -TERM -- "-$bench_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setsid tests/bench/run.sh "$build" --only "$row" --rounds 1 --window 8 "$@" >"$tmp/bench.out" 2>&1 &
bench_pid=$!
perf record -a -F 4999 -o "$tmp/perf.data" -- sleep 3600 >/dev/null 2>&1 &
perf_pid=$!
# The programs under test come and go with the bench's tables: each one's line table is taken
# while it is loaded.
seen=" "
while kill -0 "$bench_pid" 2>/dev/null; do
	for id in $(bpftool prog show 2>/dev/null | awk '$4 == "rstguard_xdp" { sub(":", "", $1); print $1 }'); do
		case $seen in *" $id "*) continue ;; esac
		"$build/bench/rg_jitlines" "$id" >>"$tmp/lines" 2>/dev/null && seen="$seen$id "
	done
	sleep 0.5
done
bench_rc=0
wait "$bench_pid" || bench_rc=$?
bench_pid=
kill -INT "$perf_pid" 2>/dev/null || true
wait "$perf_pid" 2>/dev/null || true
perf_pid=
grep -E "^(b_empty_drop|$row) " "$tmp/bench.out" || true
if [ "$bench_rc" != 0 ] || [ ! -s "$tmp/lines" ]; then
	echo "profile: the bench failed or loaded no rstguard program:" >&2
	tail -5 "$tmp/bench.out" >&2
	exit 1
fi
nspp=$(awk -v r="$row" '$1 == r { printf "%s%s", sep, $5; sep = "," }' "$tmp/bench.out")
perf script -i "$tmp/perf.data" -F time,ip,sym 2>/dev/null >"$tmp/samples"
python3 tests/bench/profile_lines.py "$tmp/lines" "$tmp/samples" "$nspp" ${ROW:-}
