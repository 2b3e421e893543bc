#!/usr/bin/env bash
# Lay out a FROM-scratch root file system for mountleak_exporter: the binary, plus every
# shared library `ldd` says it loads (the dynamic loader included), at the same paths.
# Used by both deploy/container/Dockerfile (release builds) and build-local-image.sh
# (an image from the binary built here), so both images are made the same way.
#
# usage: collect-rootfs.sh BINARY DEST
set -euo pipefail

if [[ $# -ne 2 ]]; then
	echo "usage: $0 BINARY DEST" >&2
	exit 2
fi
binary=$1
dest=$2

if [[ ! -x $binary ]]; then
	echo "collect-rootfs: $binary is not an executable file (build it first: cargo build --release)" >&2
	exit 1
fi
if ! command -v ldd >/dev/null; then
	echo "collect-rootfs: ldd is missing (Debian package libc-bin)" >&2
	exit 1
fi

install -D -m 0755 "$binary" "$dest/usr/local/bin/mountleak_exporter"

# ldd prints "<tab>name => /path (addr)" for libraries and "<tab>/path (addr)" for the
# loader; linux-vdso has no file. A static binary prints "not a dynamic executable" and exits 1.
if ! deps=$(ldd "$binary" 2>&1); then
	if grep -q 'not a dynamic executable' <<<"$deps"; then
		exit 0
	fi
	echo "collect-rootfs: ldd $binary failed: $deps" >&2
	exit 1
fi
if grep -q 'not found' <<<"$deps"; then
	echo "collect-rootfs: $binary needs libraries this system lacks:" >&2
	grep 'not found' <<<"$deps" >&2
	exit 1
fi
mapfile -t libs < <(sed -nE 's#^[[:space:]]*(.* => )?(/[^ ]+) \(0x[0-9a-f]+\)$#\2#p' <<<"$deps")
if ((${#libs[@]} == 0)); then
	echo "collect-rootfs: found no library paths in what ldd printed:" >&2
	echo "$deps" >&2
	exit 1
fi
for lib in "${libs[@]}"; do
	# Copy the file the path resolves to, under the path the binary asks for
	# (the loader path is compiled into the binary, so it must stay exactly as it is).
	install -D -m 0755 "$(readlink -f "$lib")" "$dest$lib"
done
