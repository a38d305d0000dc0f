#!/usr/bin/env bash
# Installs with apt-get everything needed to build bsnap and run its tests
# (unit and guest). Idempotent, and quick when everything is there: apt-get
# runs only for packages dpkg does not list as installed.
set -euo pipefail

packages=(
	# build
	build-essential cmake pkg-config
	libboost-program-options-dev libmount-dev libblkid-dev libsystemd-dev
	catch2 nlohmann-json3-dev zlib1g-dev
	# the module: a Debian kernel and its headers for kbuild, booted in QEMU
	linux-image-amd64 linux-headers-amd64 kmod
	# kbuild of newer kernels (6.12 from bookworm-backports) runs pahole for
	# BTF; their images and initramfs pieces are zstd/xz compressed
	dwarves zstd xz-utils
	# scripts/build-matrix: preparing a kernel source tree (sid's kernel)
	bc bison flex libelf-dev libssl-dev
	# the guest test harness (tests/vm) and the guest tests
	qemu-system-x86 busybox-static cpio python3 util-linux udev
	e2fsprogs xfsprogs fio fdisk dmsetup
	# passthrough commands (SG_IO) for the paths suite
	sg3-utils
	# the stacked suite: LVM, md raid1 and LUKS2 under a traced device
	lvm2 mdadm cryptsetup-bin
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages installed"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root or sudo" >&2; exit 1; }
	sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
apt_get() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@"; }
# A fresh machine may have no package lists yet, or stale ones.
apt_get update
apt_get install --no-install-recommends "${missing[@]}"
