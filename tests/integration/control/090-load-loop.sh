#!/bin/bash
# bsnap-vm: timeout=240
# Load and unload 20 times; each time the device and /proc/bsnap-info answer.
. "$(dirname "$0")/../lib.sh"

for ((i = 1; i <= 20; i++)); do
	load_module
	out=$(ioctl_probe VERSION buf) || fail "round $i: $out"
	info=$(<"$BSNAP_PROC") || fail "round $i: $BSNAP_PROC unreadable"
	[[ "$info" == *'"devices"'* ]] || fail "round $i: $BSNAP_PROC: $info"
	unload_module
done
log "20 rounds"
