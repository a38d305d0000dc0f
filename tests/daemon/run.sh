#!/usr/bin/env bash
# bsnapd's guest test: a real Debian system with systemd (the cached image of
# tests/vm/make-debroot), booted several times by tests/vm/bsnap-vm
# --root-image, with bsnapd, bsnapctl, update-img, the units and a bsnap.ko
# built for the image's kernel installed by the test itself.
#
#   tests/daemon/run.sh BUILD_DIR KO [--out DIR] [--image FILE --kernel-root DIR]
#
# BUILD_DIR: a CMake build with bsnapd, bsnapctl and update-img built.
# KO: bsnap.ko built for the image's kernel ($(cat <image dir>/release)), e.g.
#   make -C module KDIR=<headers of that kernel>.
# --image, --kernel-root: a copy of make-debroot's root.img and a directory
#   holding its kernel (boot/vmlinuz-REL, lib/modules/REL) instead of calling
#   make-debroot (which rebuilds the cached image, under other runs' feet,
#   whenever its script changed).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 2 ] || { sed -n '2,12p' "$0"; exit 2; }
build=$(cd "$1" && pwd)
ko=$(readlink -f "$2")
shift 2
out=$build/daemon-guest
image=
kroot=
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift ;;
	--image) image=$(readlink -f "$2"); shift ;;
	--kernel-root) kroot=$(readlink -f "$2"); shift ;;
	*) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
mkdir -p "$out"
if [ -z "$image" ]; then
	debroot=$("$repo/tests/vm/make-debroot")
	image=$debroot/root.img
	kroot=$debroot/tree
fi
[ -n "$kroot" ] || { echo "run.sh: --image needs --kernel-root" >&2; exit 2; }
release=$(cd "$kroot/lib/modules" && ls | head -n 1)
vermagic=$(modinfo -F vermagic "$ko" | cut -d' ' -f1)
[ "$vermagic" = "$release" ] || { echo "run.sh: $ko is for $vermagic, the image runs $release" >&2; exit 2; }
overlay=$out/root.qcow2
rm -f "$overlay"
qemu-img create -q -f qcow2 -F raw -b "$image" "$overlay"
rc=0
"$repo/tests/vm/bsnap-vm" --root-image "$overlay" --kernel-root "$kroot" --kernel "$release" \
	--out "$out/runs" --env-path "BSNAPD_BUILD=$build" --env-path "BSNAP_KO=$ko" \
	--env-path "BSNAP_UNITS=$repo/daemon" --suite "$repo/tests/daemon/boot" || rc=$?
rm -f "$overlay"
exit $rc
