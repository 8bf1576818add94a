#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Pin ownership: rstguard removes only pins it made and unmounts only a bpffs it mounted, whatever
# else lives beside or inside its pin dir, after detach --all, a failed attach, and concurrent
# attach/detach. Runs in a private mount and network namespace, so the host's /sys/fs/bpf is
# never touched: every mount, pin and interface made here dies with the namespaces.
set -u
BUILD=${1:-build}
RG="$BUILD/rstguard"
[ "${RG#/}" = "$RG" ] && RG="$PWD/$RG"

if [ -z "${RG_PINS_INNER:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
	for c in unshare bpftool clang mountpoint; do
		command -v "$c" >/dev/null || { echo "SKIP: needs $c"; exit 77; }
	done
	exec unshare -m -n --propagation private env RG_PINS_INNER=1 bash "$0" "$BUILD"
fi

PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
check() { local n=$1; shift; if "$@"; then ok "$n"; else fail "$n"; fi; }

B=$(mktemp -d /tmp/rgpins.XXXXXX)
cleanup() {
	# The namespaces take everything with them; this only keeps /tmp tidy.
	umount -R "$B" 2>/dev/null
	rmdir "$B" 2>/dev/null
}
trap cleanup EXIT
mount -t tmpfs tmpfs "$B"
# The lock file and everything else rstguard writes outside bpffs stays in this namespace.
mount -t tmpfs tmpfs /run

ip link set lo up
ip link add va type veth peer name vb
ip link set va up
ip link set vb up

rg() { "$RG" "$@" >"$B/out" 2>&1; }
mounts_at() { awk -v p="$1" '$5 == p' /proc/self/mountinfo | wc -l; }
is_bpffs() { [ "$(stat -f -c %T "$1" 2>/dev/null)" = bpf_fs ]; }
foreign_map() { bpftool map create "$1" type array key 4 value 4 entries 1 name "$2"; }
pinned() { bpftool map show pinned "$1" >/dev/null 2>&1; }
no_xdp() { ! ip -d link show "$1" | grep -q 'prog/xdp'; }
no_rg_pins() { [ ! -e "$1/maps/rg_policy" ] && [ ! -e "$1/links/va" ]; }

# --- a bpffs someone else mounted, holding their pins beside and inside ours ----------------
X=$B/x
mkdir -p "$X" && mount -t bpf bpf "$X"
foreign_map "$X/other_map" othermap
mkdir -p "$X/maps" "$X/links"
foreign_map "$X/maps/foreign_map" foreignmap
foreign_map "$X/links/notalink" notalink
check "attach on a foreign bpffs" rg --pin-dir "$X" attach va --flows 1024
check "  rstguard pinned its maps and link" test -e "$X/maps/rg_policy" -a -e "$X/links/va"
check "detach --all" rg --pin-dir "$X" detach --all
check "  the foreign map beside the pin dir survives" pinned "$X/other_map"
check "  the foreign map inside maps/ survives" pinned "$X/maps/foreign_map"
check "  the foreign pin inside links/ survives" pinned "$X/links/notalink"
check "  the foreign bpffs is still mounted" mountpoint -q "$X"
check "  rstguard's own pins are gone" no_rg_pins "$X"
check "  the program is off the interface" no_xdp va
check "detach --all again, nothing attached: exit 0" rg --pin-dir "$X" detach --all
check "  the foreign pins still survive" pinned "$X/other_map"
check "  and the bpffs is still mounted" mountpoint -q "$X"

# A pin at links/IFACE that is not rstguard's link is refused, never replaced or detached.
foreign_map "$X/links/va" squatter
rg --pin-dir "$X" attach va --flows 1024
check "attach refuses a foreign pin in its link's place (exit 1)" test $? = 1
check "  and names it" grep -q 'not a link rstguard pinned' "$B/out"
rg --pin-dir "$X" detach va
check "detach refuses it too (exit 1)" test $? = 1
check "  the squatting pin survives" pinned "$X/links/va"
rm -f "$X/links/va"
rg --pin-dir "$X" detach --all

# --- a failed attach ------------------------------------------------------------------------
cat >"$B/pass.c" <<'EOF'
#include <linux/bpf.h>
__attribute__((section("xdp"), used)) int foreign_pass(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] __attribute__((section("license"), used)) = "GPL";
EOF
clang -O2 -target bpf -idirafter "/usr/include/$(gcc -print-multiarch)" -c "$B/pass.c" -o "$B/pass.o"
ip link set dev vb xdpgeneric obj "$B/pass.o" sec xdp
rg --pin-dir "$X" attach vb --flows 1024
check "attach to an interface another tool filters fails (exit 1)" test $? = 1
check "  the foreign pins survive it" pinned "$X/other_map"
check "  the bpffs is still mounted" mountpoint -q "$X"
check "  no rstguard pin is left" no_rg_pins "$X"
rg --pin-dir "$X/made" attach vb --flows 1024
check "failed first attach into a new sub-directory (exit 1)" test $? = 1
check "  removes the directory it made" test ! -e "$X/made"
check "  and nothing else" pinned "$X/other_map"
mkdir "$X/theirs"
rg --pin-dir "$X/theirs" attach vb --flows 1024
check "failed attach into someone's empty directory leaves the directory" test -d "$X/theirs"
ip link set dev vb xdpgeneric off

# --- a pin dir on no bpffs: rstguard mounts one and owns it -----------------------------------
T=$B/t
mkdir -p "$T"
check "attach with a pin dir on tmpfs mounts a bpffs there" rg --pin-dir "$T/own" attach va --flows 1024
check "  it is a bpffs mount" is_bpffs "$T/own"
check "detach --all" rg --pin-dir "$T/own" detach --all
check "  unmounts the bpffs it mounted" test "$(mounts_at "$T/own")" = 0
check "  and removes the directory it made" test ! -e "$T/own"
mkdir "$T/pre"
rg --pin-dir "$T/pre" attach va --flows 1024 && rg --pin-dir "$T/pre" detach --all
check "a directory that existed before is unmounted but kept" test -d "$T/pre" -a "$(mounts_at "$T/pre")" = 0
check "attach on tmpfs again" rg --pin-dir "$T/p6" attach va --flows 1024
foreign_map "$T/p6/later_map" latermap
check "detach --all after another tool pinned into rstguard's bpffs" rg --pin-dir "$T/p6" detach --all
check "  the bpffs stays mounted" mountpoint -q "$T/p6"
check "  with the other tool's pin" pinned "$T/p6/later_map"
check "  rstguard's pins are gone" no_rg_pins "$T/p6"

# --- concurrent attach/detach -----------------------------------------------------------------
mkdir -p "$X/beside"
foreign_map "$X/beside/keep" keepbeside
for i in $(seq 1 12); do
	"$RG" --pin-dir "$T/conc" attach va --flows 1024 >/dev/null 2>&1 &
	"$RG" --pin-dir "$T/conc" detach --all >/dev/null 2>&1 &
	"$RG" --pin-dir "$X/conc" attach va vb --flows 1024 >/dev/null 2>&1 &
	"$RG" --pin-dir "$X/conc" detach --all >/dev/null 2>&1 &
done
wait
check "concurrent attach/detach leave at most one bpffs mount" test "$(mounts_at "$T/conc")" -le 1
"$RG" --pin-dir "$T/conc" detach --all >/dev/null 2>&1
"$RG" --pin-dir "$X/conc" detach --all >/dev/null 2>&1
check "  and none after a last detach --all" test "$(mounts_at "$T/conc")" = 0 -a ! -e "$T/conc"
check "  the foreign pins beside survive" pinned "$X/beside/keep"
check "  the foreign bpffs is still mounted, once" test "$(mounts_at "$X")" = 1
check "  the other pin dir is gone" test ! -e "$X/conc"
check "  no program is left on the interfaces" no_xdp va
check "  (second interface)" no_xdp vb

# --- the system bpffs -------------------------------------------------------------------------
# Hide the host's bpffs in this namespace only: rstguard must mount the standard one itself.
mount -t tmpfs tmpfs /sys/fs/bpf
check "a pin dir under an unmounted /sys/fs/bpf: attach" rg --pin-dir /sys/fs/bpf/rgpins attach va --flows 1024
check "  mounts the system bpffs" is_bpffs /sys/fs/bpf
foreign_map /sys/fs/bpf/system_map systemmap
check "detach --all" rg --pin-dir /sys/fs/bpf/rgpins detach --all
check "  never unmounts the system bpffs" is_bpffs /sys/fs/bpf
check "  whose other pins survive" pinned /sys/fs/bpf/system_map
check "  the pin dir it made is gone" test ! -e /sys/fs/bpf/rgpins
check "--pin-dir /sys/fs/bpf itself: attach" rg --pin-dir /sys/fs/bpf attach va --flows 1024
check "  detach --all" rg --pin-dir /sys/fs/bpf detach --all
check "  the system bpffs stays, with its pins" pinned /sys/fs/bpf/system_map

# --- the pin dir option, validated alike ------------------------------------------------------
for cmd in "attach va" "detach --all" "status" "policy show" "stats" "flows"; do
	# shellcheck disable=SC2086
	RSTGUARD_PIN_DIR=relative/dir "$RG" $cmd >/dev/null 2>&1
	check "RSTGUARD_PIN_DIR=relative: '$cmd' exits 2" test $? = 2
done
check "  and created nothing" test ! -e relative

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
