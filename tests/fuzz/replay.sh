#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Replays the checked-in fuzz corpus through the plain-C data plane (model checks) and through
# BPF_PROG_TEST_RUN on the shipped object, comparing both. Usage: replay.sh [BUILD]
# Prints "N passed, N failed"; exit 77 when the sanitizer/fuzzer toolchain is missing.
set -u
build=${1:-build}
cd "$(dirname "$0")/../.." || exit 1

if ! printf 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }\n' |
	${FZ_CC:-clang} -x c -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null; then
	echo "SKIP: ${FZ_CC:-clang} cannot link -fsanitize=fuzzer (install libclang-rt-14-dev)"
	exit 77
fi
if [ ! -f "$build/rstguard.skel.h" ]; then
	make --no-print-directory BUILD="$build" "$build/rstguard.skel.h" || exit 1
fi
make --no-print-directory -s -f tests/fuzz/fuzz.mk BUILD="$build" replay || exit 1
# LeakSanitizer needs ptrace, which some sandboxes refuse; leaks are the fuzzers' business.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} exec "$build/fuzz/replay" tests/fuzz/corpus \
	tests/fuzz/known.txt
