#!/bin/bash
# bsnap-vm: timeout=240
# Load and unload 20 times; each time the device answers.
. "$(dirname "$0")/../lib.sh"

for i in $(seq 20); do
	load_module
	out=$(ioctl_probe VERSION buf) || fail "round $i: $out"
	proc_json 'j["devices"]' >/dev/null || fail "round $i: $BSNAP_PROC unreadable"
	unload_module
done
log "20 rounds"
