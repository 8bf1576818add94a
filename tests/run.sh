#!/usr/bin/env bash
# Runs every suite (unit binaries, then end-to-end scripts) and sums their "N passed, N failed"
# lines into one. A suite that ends without such a line counts as one failure; exit 77 is a skip.
set -u
build=${1:-build}
pass=0 fail=0 skip=0
log_dir="$build/test-logs"
mkdir -p "$log_dir"

run_suite() {
	local name=$1; shift
	local log="$log_dir/$name.log" rc line p f
	local t0=$SECONDS
	"$@" >"$log" 2>&1
	rc=$?
	line=$(grep -E '(^|: )[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ "$rc" = 77 ]; then
		skip=$((skip + 1))
		printf '%-28s SKIP (%s)\n' "$name" "$(tail -n 1 "$log")"
		return
	fi
	if [ -z "$line" ]; then
		fail=$((fail + 1))
		printf '%-28s FAIL: no summary, exit %s (log: %s)\n' "$name" "$rc" "$log"
		tail -n 20 "$log" | sed 's/^/    /'
		return
	fi
	p=$(sed -E 's/.*(^|: )([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
	f=$(sed -E 's/.*(^|: )([0-9]+) passed, ([0-9]+) failed.*/\3/' <<<"$line")
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1
	fi
	pass=$((pass + p))
	fail=$((fail + f))
	printf '%-28s %4d passed, %d failed  (%ds)\n' "$name" "$p" "$f" "$((SECONDS - t0))"
	if [ "$f" != 0 ]; then
		grep -E 'FAIL|not ok' "$log" | head -n 30 | sed 's/^/    /'
	fi
}

for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	run_suite "$(basename "$t")" "$t"
done
for t in tests/e2e/*.sh; do
	case "$(basename "$t")" in lib*) continue ;; esac
	[ -f "$t" ] || continue
	run_suite "$(basename "$t" .sh)" bash "$t" "$build"
done

# The fuzz corpus replayed through the plain-C build and the real object (seconds).
if [ -f tests/fuzz/replay.sh ]; then
	run_suite fuzz-replay bash tests/fuzz/replay.sh "$build"
fi

if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" = 0 ]
