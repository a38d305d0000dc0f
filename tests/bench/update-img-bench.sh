#!/bin/bash
# update-img benchmark: boots a guest with tests/vm/bsnap-vm and runs
# update-img-bench-guest.sh in it: one incremental (scattered 4 KiB changes
# in a 1 GiB file, a new 128 MiB file, and the blocks of both CoW files) on
# a 4 GiB ext4, then update-img and --old-update-img (e.g. built from an
# older commit) timed alternately, side by side with dd reading the whole
# /dev/bsnapN, REPS times; medians, spread and ratios. The first update-img
# run starts from the full backup and is checked bit for bit. A script that
# prints figures, not a test; under TCG only ratios mean much.
# (incremental-bench.sh measures the write overhead too, and takes longer.)
#
# usage: tests/bench/update-img-bench.sh [--build DIR] [--module PATH.ko] [--kernel RELEASE]
#        [--reps N] [--changes MB] [--old-update-img PATH] [--probe SEC] [--also PATH]...
#        [--disk SIZE]
# Defaults: the module, bsnapctl and update-img of build DIR (default build,
# or $BSNAP_BUILD_DIR), 5 reps, 64 MB of 4 KiB random writes, 4G disks.
# --probe SEC also compares reads of /dev/bsnapN with reads of its origin;
# --also PATH times another update-img (a variant) in every round too.
# Environment: BSNAP_MODULE, BSNAP_BIN override the build's; any bsnap-vm
# environment.
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
	--reps | --changes | --probe) guest_args+=("$1" "$2"); shift 2 ;;
	--old-update-img | --also) guest_args+=("$1" "$(realpath "$2")"); shift 2 ;;
	-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "update-img-bench: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ -z "$module" ] && [ -f "$build/CMakeCache.txt" ]; then
	module=$(sed -n 's/^BSNAP_MODULE_KO:[A-Z]*=//p' "$build/CMakeCache.txt")
	[ ${#kernel[@]} -gt 0 ] ||
		kernel=(--kernel "$(sed -n 's/^BSNAP_KERNEL_RELEASE:[A-Z]*=//p' "$build/CMakeCache.txt")")
fi
[ -n "$module" ] && [ -f "$module" ] ||
	{ echo "update-img-bench: no module '$module' (build it: cmake --build $build)" >&2; exit 2; }
command -v fio >/dev/null || { echo "update-img-bench: installing fio" >&2; apt-get install -y -q fio >/dev/null; }
export BSNAP_BIN=${BSNAP_BIN:-$(cd "$build" && pwd)/cli}
export BSNAP_TOOLS=${BSNAP_TOOLS:-$BSNAP_BIN/../tests/integration}
# Disks: vda the origin, vdb the backup image. discard=unmap: QEMU then
# passes write-zeroes (BLKZEROOUT) down as deallocation where it can.
exec "$REPO/tests/vm/bsnap-vm" "${kernel[@]}" --module "$module" --disk "$disk" --disk "$disk" \
	--discard unmap --smp 2 --mem 2048 --timeout 5400 -- \
	bash "$REPO/tests/bench/update-img-bench-guest.sh" "${guest_args[@]}"
