#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# make bench: builds the bench, joins two fresh namespaces with a veth, measures, cleans up.
# Usage: tests/bench/run.sh [BUILD] [rg_bench options, e.g. --rounds 1 --only s3 -v]
set -euo pipefail
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

if [ "$(id -u)" != 0 ]; then
	echo "bench: needs root (namespaces, XDP, nftables)" >&2
	exit 1
fi
if [ ! -f "$build/rstguard.skel.h" ]; then
	echo "bench: $build/rstguard.skel.h missing: run 'make all' first" >&2
	exit 1
fi
make --no-print-directory -f tests/bench/bench.mk BUILD="$build"

# Names carry our pid so concurrent runs and leftovers never collide; interface names stay
# under 15 characters.
gen=rgbench-g$$ rcv=rgbench-r$$ gif=rgg$$ rif=rgr$$ table=rgbench_$$
cleanup() {
	ip netns exec "$rcv" nft delete table inet "$table" 2>/dev/null || true
	ip netns del "$gen" 2>/dev/null || true
	ip netns del "$rcv" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$gen"
ip netns add "$rcv"
# Fixed MACs: tests/lib/pkt.c addresses its frames from 02::01 to 02::02, so the receiver's
# stack takes them as its own.
ip link add "$gif" address 02:00:00:00:00:01 netns "$gen" type veth \
	peer name "$rif" address 02:00:00:00:00:02 netns "$rcv"
for ns in "$gen" "$rcv"; do
	# No IPv6 autoconfiguration chatter through the program under test.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link set lo up
done
ip -n "$gen" addr add 198.18.0.1/24 dev "$gif"
ip -n "$rcv" addr add 198.18.0.2/24 dev "$rif"
ip -n "$gen" link set "$gif" up
ip -n "$rcv" link set "$rif" up
# The receiver does not forward (a flood's fate after XDP is the stack's route lookup) and can
# answer the random sources, so reverse-path filtering does not drop them before TCP sees them.
ip netns exec "$rcv" sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.all.rp_filter=0 \
	net.ipv4.conf.default.rp_filter=0 "net.ipv4.conf.$rif.rp_filter=0"
ip -n "$rcv" route add 198.19.0.0/16 via 198.18.0.1 dev "$rif"
# The router's FIB knows the generator as a neighbour: where an inexact=challenge row sends its
# challenge ACKs (XDP_TX back into the generator's veth).
ip -n "$rcv" neigh replace 198.18.0.1 lladdr 02:00:00:00:00:01 dev "$rif" nud permanent

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- bpf 2>/dev/null; then rev="$rev with uncommitted bpf/ changes"; fi
"$build/bench/rg_bench" --note "rstguard $rev, $(date -u '+%Y-%m-%d %H:%M UTC')" --gen-ns "$gen" --rcv-ns "$rcv" --gen-if "$gif" --rcv-if "$rif" \
	--nft-table "$table" --out "$build/bench" "$@"
