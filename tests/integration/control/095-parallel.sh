#!/bin/bash
# Many processes use the control device and read /proc/bsnap-info at once.
. "$(dirname "$0")/../lib.sh"

load_module
pids=()
for p in 1 2 3 4; do
	(for i in $(seq 50); do
		"$BSNAP_TOOLS/ioctl-probe" VERSION buf >/dev/null || exit 1
		python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$BSNAP_PROC" 2>/dev/null || exit 2
	done) &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a parallel worker failed (status $?)"
done
unload_module
