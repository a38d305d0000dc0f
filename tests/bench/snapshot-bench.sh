#!/bin/bash
# Snapshot benchmark: boots a guest with tests/vm/bsnap-vm and runs
# snapshot-bench-guest.sh in it: fio on one disk untraced, under a bsnap
# snapshot (first writes and rewrites of copied blocks, 4k random and 1M
# sequential), and under dm-snapshot (the in-kernel baseline); prints
# throughput ratios, snapshot setup times and the module's memory use.
# A script that prints figures, not a test. Under TCG only ratios mean much.
#
# usage: tests/bench/snapshot-bench.sh [--build DIR] [--module PATH.ko] [--kernel RELEASE]
#        [--rounds N] [--disk SIZE] [--small-mb N] [--large-mb N]
# Defaults: the module and bsnapctl of build DIR (default build, or
# $BSNAP_BUILD_DIR), 3 rounds, a 12G sparse origin disk, CoW files of 64 MiB
# and 8192 MiB for the setup times. Environment: BSNAP_MODULE, BSNAP_BIN
# override the build's; any bsnap-vm environment (BSNAP_VM_ACCEL, ...).
# fio must be installed on the host (the guest runs the host's root).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
build=${BSNAP_BUILD_DIR:-$REPO/build}
module=${BSNAP_MODULE:-} kernel=() guest_args=() disk=12G
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--module) module=$2; shift 2 ;;
	--kernel) kernel=(--kernel "$2"); shift 2 ;;
	--disk) disk=$2; shift 2 ;;
	--rounds | --small-mb | --large-mb) guest_args+=("$1" "$2"); shift 2 ;;
	-h | --help) sed -n '2,18p' "$0"; exit 0 ;;
	*) echo "snapshot-bench: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ -z "$module" ] && [ -f "$build/CMakeCache.txt" ]; then
	module=$(sed -n 's/^BSNAP_MODULE_KO:[A-Z]*=//p' "$build/CMakeCache.txt")
	[ ${#kernel[@]} -gt 0 ] ||
		kernel=(--kernel "$(sed -n 's/^BSNAP_KERNEL_RELEASE:[A-Z]*=//p' "$build/CMakeCache.txt")")
fi
[ -n "$module" ] && [ -f "$module" ] ||
	{ echo "snapshot-bench: no module '$module' (build it: cmake --build $build)" >&2; exit 2; }
command -v fio >/dev/null || { echo "snapshot-bench: installing fio" >&2; apt-get install -y -q fio >/dev/null; }
export BSNAP_BIN=${BSNAP_BIN:-$(cd "$build" && pwd)/cli}
# Disks: vda the origin (sparse; large for the setup time of a large CoW
# file), vdb dm-snapshot's exception store.
exec "$REPO/tests/vm/bsnap-vm" "${kernel[@]}" --module "$module" --disk "$disk" --disk 1G \
	--smp 2 --mem 2048 --timeout 5400 -- \
	bash "$REPO/tests/bench/snapshot-bench-guest.sh" "${guest_args[@]}"
