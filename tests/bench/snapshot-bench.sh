#!/bin/bash
# Snapshot benchmark: boots a guest with tests/vm/bsnap-vm and runs
# snapshot-bench-guest.sh in it: fio on one disk untraced, under a bsnap
# snapshot (first writes and rewrites of copied blocks, 4k random and 1M
# sequential), and under dm-snapshot (the in-kernel baseline); prints
# throughput ratios, snapshot setup times and the module's memory use.
# A script that prints figures, not a test. Under TCG only ratios mean much.
#
# usage: tests/bench/snapshot-bench.sh [--module PATH.ko] [--kernel RELEASE]
#        [--no-bsnap] [--repeat N]
# Environment: BSNAP_MODULE (default build/module/bsnap.ko), BSNAP_BIN
# (default build/cli); any bsnap-vm environment (BSNAP_VM_ACCEL, ...).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
module=${BSNAP_MODULE:-$REPO/build/module/bsnap.ko}
kernel=() repeat=1 nobsnap=0
while [ $# -gt 0 ]; do
	case "$1" in
	--module) module=$2; shift 2 ;;
	--kernel) kernel=(--kernel "$2"); shift 2 ;;
	--no-bsnap) nobsnap=1; shift ;;
	--repeat) repeat=$2; shift 2 ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "snapshot-bench: unknown argument $1" >&2; exit 2 ;;
	esac
done
modarg=()
if [ "$nobsnap" = 0 ]; then
	[ -f "$module" ] || { echo "snapshot-bench: no module $module (build it, or --no-bsnap)" >&2; exit 2; }
	modarg=(--module "$module")
fi
export BSNAP_BIN=${BSNAP_BIN:-$REPO/build/cli}
# bsnap-vm passes its environment to the guest through plan.env only for the
# variables it knows; the guest part takes its settings from its arguments.
# Disks: vda the origin, vdb dm-snapshot's exception store.
exec "$REPO/tests/vm/bsnap-vm" "${kernel[@]}" "${modarg[@]}" --disk 1G --disk 1G \
	--smp 2 --mem 2048 --timeout 2400 -- \
	bash "$REPO/tests/bench/snapshot-bench-guest.sh" --repeat "$repeat"
