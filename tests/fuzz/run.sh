#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Builds the fuzz targets and runs each for SECONDS (one process at a time), then merges what
# found new coverage into tests/fuzz/corpus/<target>, kept minimal. Usage: run.sh SECONDS [BUILD]
# Exit: 0 clean, 1 a finding (its input is under BUILD/fuzz/artifacts), 77 no fuzzer toolchain.
set -u
secs=${1:-300}
build=${2:-build}
cd "$(dirname "$0")/../.." || exit 1
fz=tests/fuzz
targets=${FZ_TARGETS:-frame seq} # FZ_TARGETS=seq: one target (two runs may go in parallel)
# Inputs stay small: the checked-in corpus must remain a few hundred KB.
declare -A max_len=([frame]=512 [seq]=768)

if ! printf 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }\n' |
	${FZ_CC:-clang} -x c -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null; then
	echo "SKIP: ${FZ_CC:-clang} cannot link -fsanitize=fuzzer (install libclang-rt-14-dev)"
	exit 77
fi
make --no-print-directory -f $fz/fuzz.mk BUILD="$build" fuzzers || exit 1

# Open findings (known.txt) are tolerated so that fuzzing goes past them.
FZ_KNOWN=$(grep -v '^#' $fz/known.txt | awk 'NF { printf "%s%s", sep, $1; sep = "," }')
export FZ_KNOWN
echo "fuzzing ${secs}s per target; open findings tolerated: ${FZ_KNOWN:-none}"

found=0
for t in $targets; do
	work="$build/fuzz/work/$t" art="$build/fuzz/artifacts"
	log="$build/fuzz/logs/$t-$(date +%Y%m%d-%H%M%S).log"
	mkdir -p "$work" "$art" "$(dirname "$log")" "$fz/corpus/$t"
	cp -n "$fz/corpus/$t"/* "$work"/ 2>/dev/null
	start=$SECONDS
	"$build/fuzz/fuzz_$t" -max_total_time="$secs" -max_len="${max_len[$t]}" \
		-print_final_stats=1 -artifact_prefix="$art/$t-" "$work" >"$log" 2>&1
	rc=$? took=$((SECONDS - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	if [ "$rc" != 0 ]; then
		found=1
		echo "$t: FINDING after ${execs:-?} executions (log: $log)"
		grep -m1 -E 'MISMATCH|ERROR: (Address|Undefined|Leak)|runtime error|shim:' "$log" |
			sed 's/^/    /'
		ls -t "$art/$t-"* 2>/dev/null | head -n 1 | sed 's/^/    input: /'
	fi
	# Keep the hand-made seeds; replace the rest by the inputs (old and new, all in $work)
	# that add coverage beyond the seeds, as few as libFuzzer's merge can make them.
	tmp=$(mktemp -d)
	cp "$fz/corpus/$t"/seed-* "$tmp"/ 2>/dev/null
	"$build/fuzz/fuzz_$t" -merge=1 -max_len="${max_len[$t]}" "$tmp" "$work" >/dev/null 2>&1
	find "$fz/corpus/$t" -type f ! -name 'seed-*' -delete
	find "$tmp" -type f ! -name 'seed-*' -exec cp -n {} "$fz/corpus/$t"/ \;
	rm -rf "$tmp"
	n=$(find "$fz/corpus/$t" -type f | wc -l)
	bytes=$(find "$fz/corpus/$t" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	printf '%-6s %10s executions (%s/s) in %ss; corpus %d inputs, %d bytes\n' \
		"$t" "${execs:-?}" "${rate:-?}" "$took" "$n" "$bytes"
done
exit $found
