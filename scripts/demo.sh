#!/usr/bin/env bash
# The demo: installs what is missing, builds into ./build, and boots a QEMU
# guest (tests/vm/bsnap-vm) that loads bsnap.ko, snapshots a live ext4
# filesystem, makes a full backup, changes the origin, and makes and verifies
# an incremental backup with update-img. Inside the guest this same script runs with --in-guest.
set -euo pipefail
cd "$(dirname "$0")/.."

in_guest() {
	step() { echo; echo "\$ $*"; "$@"; }
	bsnapctl() { "$BSNAP_BIN/bsnapctl" "$@"; }
	update-img() { "$BSNAP_BIN/update-img" "$@"; }
	local origin=/dev/vda backup=/dev/vdb mnt=/mnt/demo
	echo "guest kernel $(uname -r); disks: $BSNAP_DISKS"
	step insmod "$BSNAP_MODULE"
	step ls -l /dev/bsnap-ctl
	step bsnapctl version

	echo; echo "# A live ext4 filesystem with some data"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$origin"
	mkdir -p "$mnt" && mount "$origin" "$mnt"
	dd if=/dev/urandom of="$mnt/data" bs=1M count=32 status=none && sync
	step md5sum "$mnt/data"

	echo; echo "# Snapshot 1 while mounted, and a full backup of it"
	step bsnapctl setup-snapshot -f 32 "$origin" "$mnt/cow-1" 0
	step bsnapctl info 0
	step cat /proc/bsnap-info
	step dd if=/dev/bsnap0 of="$backup" bs=1M status=none
	step bsnapctl transition-to-incremental 0

	echo; echo "# The origin changes while bsnap tracks changed blocks"
	dd if=/dev/urandom of="$mnt/data" bs=1M count=4 seek=8 conv=notrunc status=none
	dd if=/dev/urandom of="$mnt/new" bs=1M count=8 status=none && sync
	step md5sum "$mnt/data" "$mnt/new"

	echo; echo "# Snapshot 2 and an incremental backup: only changed blocks are copied"
	step bsnapctl transition-to-snapshot -f 32 "$mnt/cow-2" 0
	step update-img /dev/bsnap0 "$mnt/cow-1" "$backup"
	rm "$mnt/cow-1"
	step cmp /dev/bsnap0 "$backup"
	echo "the backup equals snapshot 2 bit for bit"
	mkdir -p /mnt/restored && mount -o ro,noload "$backup" /mnt/restored
	step md5sum /mnt/restored/data /mnt/restored/new
	umount /mnt/restored

	step bsnapctl destroy 0
	umount "$mnt"
	step rmmod bsnap
}
if [ "${1:-}" = --in-guest ]; then
	in_guest
	exit
fi

build=${BSNAP_BUILD_DIR:-build}
scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
cache_var() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
release=$(cache_var BSNAP_KERNEL_RELEASE)
module=$(cache_var BSNAP_MODULE_KO)
echo "demo: built $module for $release; booting a guest"
BSNAP_BIN=$(cd "$build" && pwd)/cli exec tests/vm/bsnap-vm --kernel "$release" \
	--module "$module" --out "$build/guest-runs" --disk 256M --disk 256M \
	-- bash -c 'exec bash "$BSNAP_SRC/scripts/demo.sh" --in-guest'
