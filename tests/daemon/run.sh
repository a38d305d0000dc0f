#!/usr/bin/env bash
# bsnapd's guest test: a real Debian system with systemd (the cached image of
# tests/vm/make-debroot), booted several times by tests/vm/bsnap-vm
# --root-image, with bsnapd, bsnapctl, update-img, the units and a bsnap.ko
# built for the image's kernel installed by the test itself.
#
#   tests/daemon/run.sh BUILD_DIR KO [--out DIR] [--image FILE --kernel-root DIR]
#                       [--suite NAME]...
#
# BUILD_DIR: a CMake build with bsnapd, bsnapctl and update-img built.
# KO: bsnap.ko built for the image's kernel ($(cat <image dir>/release)), or
#   "build": built here from module/ against the headers in the image's tree
#   (make-debroot's DIR/tree; not with --image).
# --image, --kernel-root: a copy of make-debroot's root.img and a directory
#   holding its kernel (boot/vmlinuz-REL, lib/modules/REL) instead of calling
#   make-debroot (which rebuilds the cached image, under other runs' feet,
#   whenever its script changed).
# --suite NAME: run only tests/daemon/NAME (repeatable); default: every
#   suite, each on a fresh overlay of the image: boot (a second disk
#   reloaded by bsnap-reload.service, the initramfs hook), rootfs (the
#   root filesystem reloaded by the image's own initramfs) and rootfs-dracut
#   (the same with dracut's initramfs and daemon/dracut/90bsnap).
# A suite's executable host-prepare, if any, runs first on the host with a
# directory and the image's tree (e.g. to download .debs the guest, which
# has no network, installs); the guest sees the directory as
# $BSNAP_SUITE_FILES.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 2 ] || { sed -n '2,23p' "$0"; exit 2; }
build=$(cd "$1" && pwd)
ko=$2
[ "$ko" = build ] || ko=$(readlink -f "$ko")
shift 2
out=$build/daemon-guest
image=
kroot=
suites=()
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift ;;
	--image) image=$(readlink -f "$2"); shift ;;
	--kernel-root) kroot=$(readlink -f "$2"); shift ;;
	--suite) suites+=("$2"); shift ;;
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
if [ "$ko" = build ]; then
	# The headers package's Makefile includes /usr/src/linux-headers-*-common
	# by its absolute path in the guest: a copy that points into the tree.
	headers=$kroot/usr/src/linux-headers-$release
	[ -d "$headers" ] || { echo "run.sh: no $headers (KO=build needs make-debroot's tree)" >&2; exit 2; }
	kdir=$out/kdir
	rm -rf "$kdir" "$out/module"
	cp -a "$headers" "$kdir"
	sed -i "s|include /usr/src/|include $kroot/usr/src/|" "$kdir/Makefile"
	for l in scripts tools; do
		target=$(readlink "$headers/$l")
		rm -f "$kdir/$l"
		ln -s "$kroot/usr/lib/${target#../../lib/}" "$kdir/$l"
	done
	cp -a "$repo/module" "$out/module"
	make -C "$out/module" KDIR="$kdir" -j2 >"$out/module-build.log" 2>&1 ||
		{ tail -n 30 "$out/module-build.log" >&2; exit 1; }
	ko=$out/module/bsnap.ko
fi
vermagic=$(modinfo -F vermagic "$ko" | cut -d' ' -f1)
[ "$vermagic" = "$release" ] || { echo "run.sh: $ko is for $vermagic, the image runs $release" >&2; exit 2; }
[ ${#suites[@]} -gt 0 ] || suites=(boot rootfs rootfs-dracut)
for suite in "${suites[@]}"; do
	[ -d "$repo/tests/daemon/$suite" ] || { echo "run.sh: no suite tests/daemon/$suite" >&2; exit 2; }
done
rc=0
for suite in "${suites[@]}"; do
	overlay=$out/root-$suite.qcow2
	rm -f "$overlay"
	qemu-img create -q -f qcow2 -F raw -b "$image" "$overlay"
	t0=$SECONDS
	src=0
	extra=()
	if [ -x "$repo/tests/daemon/$suite/host-prepare" ]; then
		files=$out/files-$suite
		mkdir -p "$files"
		"$repo/tests/daemon/$suite/host-prepare" "$files" "$kroot" || src=$?
		extra=(--env-path "BSNAP_SUITE_FILES=$files")
	fi
	[ $src -ne 0 ] ||
		"$repo/tests/vm/bsnap-vm" --root-image "$overlay" --kernel-root "$kroot" --kernel "$release" \
			--out "$out/runs" --env-path "BSNAPD_BUILD=$build" --env-path "BSNAP_KO=$ko" \
			--env-path "BSNAP_UNITS=$repo/daemon" "${extra[@]}" --suite "$repo/tests/daemon/$suite" || src=$?
	rm -f "$overlay"
	echo "run.sh: suite $suite: $([ $src -eq 0 ] && echo passed || echo "FAILED ($src)") in $((SECONDS - t0)) s"
	[ $src -eq 0 ] || rc=$src
done
exit $rc
