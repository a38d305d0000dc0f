#!/bin/bash
# Several processes use the control device while others read /proc/bsnap-info.
. "$(dirname "$0")/../lib.sh"

load_module
pids=()
for _ in 1 2 3 4; do
	"$BSNAP_TOOLS/ioctl-probe" -n 2000 VERSION buf >/dev/null &
	pids+=($!)
done
for _ in 1 2; do
	(for ((i = 0; i < 200; i++)); do
		info=$(<"$BSNAP_PROC") || exit 1
		[[ "$info" == *'"devices"'* ]] || exit 2
	done) &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a parallel worker failed (status $?)"
done
json_eval "$BSNAP_PROC" 'j["devices"]' >/dev/null || fail "$BSNAP_PROC is not valid JSON"
unload_module
