#!/usr/bin/env bash
# The demo: installs what is missing, builds into ./build, and boots a QEMU
# guest (tests/vm/bsnap-vm) that loads bsnap.ko and shows what bsnapctl and
# /proc/bsnap-info say. Inside the guest this same script runs with --in-guest.
set -euo pipefail
cd "$(dirname "$0")/.."

in_guest() {
	step() { echo; echo "\$ $*"; "$@"; }
	bsnapctl() { "$BSNAP_BIN/bsnapctl" "$@"; }
	echo "guest kernel $(uname -r); disks: $BSNAP_DISKS"
	step insmod "$BSNAP_MODULE"
	step ls -l /dev/bsnap-ctl
	step bsnapctl version
	step bsnapctl info
	step cat /proc/bsnap-info
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
	--module "$module" --out "$build/guest-runs" \
	-- bash -c 'exec bash "$BSNAP_SRC/scripts/demo.sh" --in-guest'
