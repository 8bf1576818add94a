#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Builds BUILD/rstguard_VERSION_ARCH.deb with dpkg-deb from the files 'make install' lays out:
# the binary, the man page, the units and the udev rule, the bash completion, the alert rules
# and the dashboard, and /etc/rstguard/rstguard.conf as a conffile.
# Usage: user/dist/mkdeb.sh BUILD VERSION
set -eu
BUILD=$1
VERSION=$2
ARCH=$(dpkg --print-architecture)
ROOT=$BUILD/deb/root
DIST=$(dirname "$0")

rm -rf "$BUILD/deb" "$BUILD"/rstguard_*.deb
make --no-print-directory -s install BUILD="$BUILD" DESTDIR="$ROOT" >/dev/null
gzip -9n "$ROOT/usr/share/man/man8/rstguard.8"
install -D -m 0644 /dev/null "$ROOT/usr/share/doc/rstguard/copyright"
printf '%s\n' "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" \
	"Upstream-Name: rstguard" "" "Files: *" "License: GPL-2.0 OR BSD-2-Clause" \
	>"$ROOT/usr/share/doc/rstguard/copyright"

# The libraries the binary links directly, as the packages that hold them (what
# dpkg-shlibdeps would find).
needed=$(readelf -d "$ROOT/usr/sbin/rstguard" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
depends=$(for so in $needed; do
	ldd "$ROOT/usr/sbin/rstguard" | awk -v so="$so" '$1 == so && $3 ~ /^\// {print $3}'
done | while read -r p; do
	# dpkg may know a library by its /lib path or its /usr/lib one (merged /usr).
	real=$(readlink -f "$p")
	dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null
done | cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')

mkdir -p "$ROOT/DEBIAN"
cat >"$ROOT/DEBIAN/control" <<EOF2
Package: rstguard
Version: $VERSION
Architecture: $ARCH
Maintainer: rstguard developers <rstguard@localhost>
Section: net
Priority: optional
Depends: $depends
Installed-Size: $(du -sk "$ROOT" | cut -f1)
Description: XDP filter that drops TCP resets their receiver would not act on
 rstguard judges every incoming TCP RST the way its receiver would (RFC 9293,
 RFC 5961, RFC 1337) and drops forged and out-of-window ones at the driver.
 rstguard.service applies /etc/rstguard/rstguard.conf at boot; 'rstguard save'
 writes the live configuration there.
EOF2
echo /etc/rstguard/rstguard.conf >"$ROOT/DEBIAN/conffiles"
install -m 0755 "$DIST/deb/postinst" "$DIST/deb/prerm" "$DIST/deb/postrm" "$ROOT/DEBIAN/"
dpkg-deb --root-owner-group --build "$ROOT" "$BUILD/rstguard_${VERSION}_$ARCH.deb" >/dev/null
echo "  DEB     $BUILD/rstguard_${VERSION}_$ARCH.deb"
