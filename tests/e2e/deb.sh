#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# The Debian package: built with dpkg-deb, installed with dpkg -i, used (the installed binary,
# units, completion and man page), removed with dpkg -r and purged, and then nothing of it is
# left. Runs in a private mount and network namespace, so the filter the package's scripts and
# units attach or remove is on this namespace's bpffs and interfaces only; the files dpkg writes
# are real, and the package is purged on any exit.
set -u
BUILD=${1:-build}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3

if [ -z "${RG_DEB_INNER:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
	for c in dpkg dpkg-deb unshare ip readelf; do
		command -v "$c" >/dev/null || { echo "SKIP: needs $c"; exit 77; }
	done
	[ -x "$BUILD/rstguard" ] || { echo "SKIP: no $BUILD/rstguard (run make all)"; exit 77; }
	if dpkg-query -W -f='${Status}' rstguard 2>/dev/null | grep -q installed; then
		echo "SKIP: a package rstguard is installed on this machine already; left alone"
		exit 77
	fi
	exec unshare -m -n --propagation private env RG_DEB_INNER=1 bash "$0" "$BUILD"
fi

PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
check() { local n=$1; shift; if "$@"; then ok "$n"; else fail "$n"; fi; }
eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1"; echo "    got:  $2"; echo "    want: $3"; fi; }

T=$(mktemp -d /tmp/rgdeb.XXXXXX)
cleanup() {
	if dpkg-query -W -f='${Status}' rstguard 2>/dev/null | grep -q 'ok \(installed\|config-files\|half\)'; then
		dpkg --purge rstguard >/dev/null 2>&1
	fi
	rm -rf "$T"
}
trap cleanup EXIT
# What the package's scripts and units touch besides their files stays in this namespace.
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
ip link set lo up
ip link add va type veth peer name vb
ip link set va up
ip link set vb up

# Paths that must not exist before, nor after the purge: the package's and what its scripts make.
leftovers() {
	ls -d /usr/sbin/rstguard /etc/rstguard /usr/share/rstguard /usr/share/doc/rstguard \
		/usr/share/man/man8/rstguard.8.gz /usr/share/bash-completion/completions/rstguard \
		/lib/udev/rules.d/60-rstguard.rules /lib/systemd/system/rstguard* \
		/etc/systemd/system/*/rstguard* /etc/systemd/system/rstguard* \
		/var/lib/systemd/deb-systemd-helper-enabled/rstguard* \
		/var/lib/systemd/deb-systemd-helper-enabled/*/rstguard* \
		/var/lib/systemd/deb-systemd-helper-masked/rstguard* /run/rstguard.lock 2>/dev/null
}
before=$(leftovers)
[ -z "$before" ] || { echo "SKIP: rstguard files present already: $before"; exit 77; }

# --- build ------------------------------------------------------------------------------------
out=$(cd "$SRC" && make --no-print-directory deb BUILD="$BUILD" 2>&1)
eq "make deb builds a package" "$?" 0
DEB=$(ls "$BUILD"/rstguard_*.deb 2>/dev/null | head -n 1)
[ -n "$DEB" ] || { fail "no package in $BUILD"; echo "$out"; echo "$PASS passed, $FAIL failed"; exit 1; }
VERSION=$(dpkg-deb -f "$DEB" Version)
files=$(dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's#^\.##')
for f in /usr/sbin/rstguard /usr/share/man/man8/rstguard.8.gz /lib/systemd/system/rstguard.service \
	/lib/systemd/system/rstguard-attach@.service /lib/systemd/system/rstguard-exporter.service \
	/lib/udev/rules.d/60-rstguard.rules /usr/share/bash-completion/completions/rstguard \
	/usr/share/rstguard/rstguard.rules.yml /usr/share/rstguard/rstguard-dashboard.json \
	/etc/rstguard/rstguard.conf; do
	grep -qx "$f" <<<"$files" || { fail "the package holds $f"; continue; }
done
ok "the package holds the binary, man page, units, udev rule, completion, rules, dashboard, conf"
eq "the configuration is a conffile" "$(dpkg-deb -I "$DEB" conffiles)" /etc/rstguard/rstguard.conf
check "it depends on the libraries the binary links" bash -c "dpkg-deb -f '$DEB' Depends | grep -q 'libbpf1.*libxdp1'"

# --- install ----------------------------------------------------------------------------------
check "dpkg -i" bash -c "dpkg -i '$DEB' >$T/out 2>&1"
eq "  installed, version $VERSION" "$(dpkg-query -W -f='${Status} ${Version}' rstguard)" "install ok installed $VERSION"
eq "rstguard --version prints the package's version" "$(/usr/sbin/rstguard --version)" "rstguard $VERSION"
eq "  the same that rstguard_build_info reports" \
	"$(/usr/sbin/rstguard --pin-dir /sys/fs/bpf/none metrics 2>/dev/null | sed -n 's/^rstguard_build_info{version="\(.*\)"} 1$/\1/p')" "$VERSION"
if command -v man >/dev/null; then
	check "man rstguard finds the page" bash -c "man -w rstguard | grep -q /usr/share/man/man8/rstguard.8.gz"
fi
check "rstguard.service is enabled for boot" bash -c "ls /etc/systemd/system/sysinit.target.wants/rstguard.service >/dev/null 2>&1 || [ ! -x /usr/bin/deb-systemd-helper ]"
if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify --man=no /lib/systemd/system/rstguard.service /lib/systemd/system/rstguard-exporter.service 2>&1)
	eq "systemd-analyze verify of the installed units: not a word" "$out" ""
fi

# --- a run: the unit's commands on the installed files ------------------------------------------
echo "attach va --role gateway" >>/etc/rstguard/rstguard.conf
unit() { sed -n "s/^$1=//p" /lib/systemd/system/rstguard.service; }
check "the unit's ExecStart (the installed binary, the default pin dir and file)" bash -c "$(unit ExecStart) >$T/out 2>&1"
eq "  va is filtered" "$(/usr/sbin/rstguard status -j | $PY -c 'import json,sys; print([(i["name"], i["role"], i["state"]) for i in json.load(sys.stdin)["interfaces"]])')" "[('va', 'gateway', 'ok')]"
check "  ExecReload changes nothing" bash -c "$(unit ExecReload) | grep -q 'no changes'"
check "bash completion of the installed script: commands" bash -c \
	". /usr/share/bash-completion/completions/rstguard; COMP_WORDS=(rstguard ap); COMP_CWORD=1; _rstguard; [ \"\${COMPREPLY[*]}\" = apply ]"
check "  policy keys" bash -c \
	". /usr/share/bash-completion/completions/rstguard; COMP_WORDS=(rstguard policy set timeout.c); COMP_CWORD=3; _rstguard; [ \"\${COMPREPLY[*]}\" = timeout.closed= ]"
check "  policy values" bash -c \
	". /usr/share/bash-completion/completions/rstguard; COMP_WORDS=(rstguard policy set timewait=); COMP_CWORD=3; _rstguard; [ \"\${COMPREPLY[*]}\" = 'timewait=accept timewait=drop' ]"
check "  interfaces" bash -c \
	". /usr/share/bash-completion/completions/rstguard; COMP_WORDS=(rstguard attach v); COMP_CWORD=2; _rstguard; [ \"\${COMPREPLY[*]}\" = 'va vb' ]"

# --- remove, purge --------------------------------------------------------------------------
check "dpkg -r" bash -c "dpkg -r rstguard >$T/out 2>&1"
check "  removes the filter it managed (no XDP on va, no pins)" bash -c "! ip -d link show va | grep -q prog/xdp && [ ! -e /sys/fs/bpf/rstguard ]"
check "  keeps the edited configuration" grep -q '^attach va' /etc/rstguard/rstguard.conf
check "  and no file but it" bash -c "[ ! -e /usr/sbin/rstguard ] && [ ! -e /lib/systemd/system/rstguard.service ] && [ ! -e /usr/share/rstguard ]"
check "dpkg --purge" bash -c "dpkg --purge rstguard >$T/out 2>&1"
eq "  dpkg knows nothing of it" "$(dpkg-query -W -f='${Status}' rstguard 2>/dev/null)" ""
eq "  nothing is left behind" "$(leftovers)" ""
eq "  no XDP program is left on any interface" "$(ip -d link show | grep -c prog/xdp)" 0

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
