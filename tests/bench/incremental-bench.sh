#!/bin/bash
# Incremental benchmark: boots a guest with tests/vm/bsnap-vm and runs
# incremental-bench-guest.sh in it: the write overhead of incremental mode
# against untraced (fio 4 KiB random and 1 MiB sequential writes, repeated
# alternating rounds), and update-img's time against reading the whole
# /dev/bsnapN, for an incremental of ~200 MiB of changes on a 4 GiB ext4
# (plus the blocks of both CoW files). A script that prints figures, not a
# test. Under TCG only ratios mean much.
#
# usage: tests/bench/incremental-bench.sh [--build DIR] [--module PATH.ko] [--kernel RELEASE]
#        [--rounds N] [--runtime SEC] [--old-update-img PATH] [--disk SIZE]
# Defaults: the module, bsnapctl and update-img of build DIR (default build,
# or $BSNAP_BUILD_DIR), 5 rounds of 10 s runs, 4G disks. --old-update-img
# times another update-img (e.g. one built from an older commit) on the
# same incremental, alternately with this one. Environment: BSNAP_MODULE,
# BSNAP_BIN override the build's; any bsnap-vm environment.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
build=${BSNAP_BUILD_DIR:-$REPO/build}
module=${BSNAP_MODULE:-} kernel=() guest_args=() disk=4G
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--module) module=$2; shift 2 ;;
	--kernel) kernel=(--kernel "$2"); shift 2 ;;
	--disk) disk=$2; shift 2 ;;
	--rounds | --runtime) guest_args+=("$1" "$2"); shift 2 ;;
	--old-update-img) guest_args+=("$1" "$(realpath "$2")"); shift 2 ;;
	-h | --help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "incremental-bench: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ -z "$module" ] && [ -f "$build/CMakeCache.txt" ]; then
	module=$(sed -n 's/^BSNAP_MODULE_KO:[A-Z]*=//p' "$build/CMakeCache.txt")
	[ ${#kernel[@]} -gt 0 ] ||
		kernel=(--kernel "$(sed -n 's/^BSNAP_KERNEL_RELEASE:[A-Z]*=//p' "$build/CMakeCache.txt")")
fi
[ -n "$module" ] && [ -f "$module" ] ||
	{ echo "incremental-bench: no module '$module' (build it: cmake --build $build)" >&2; exit 2; }
command -v fio >/dev/null || { echo "incremental-bench: installing fio" >&2; apt-get install -y -q fio >/dev/null; }
export BSNAP_BIN=${BSNAP_BIN:-$(cd "$build" && pwd)/cli}
export BSNAP_TOOLS=${BSNAP_TOOLS:-$BSNAP_BIN/../tests/integration}
# Disks: vda the origin, vdb the backup image. discard=unmap: QEMU then
# passes write-zeroes (BLKZEROOUT) down as deallocation where it can.
exec "$REPO/tests/vm/bsnap-vm" "${kernel[@]}" --module "$module" --disk "$disk" --disk "$disk" \
	--discard unmap --smp 2 --mem 2048 --timeout 5400 -- \
	bash "$REPO/tests/bench/incremental-bench-guest.sh" "${guest_args[@]}"
