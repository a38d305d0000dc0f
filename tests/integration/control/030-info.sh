#!/bin/bash
# /proc/bsnap-info is valid JSON with the version and no devices, read whole or
# byte by byte; bsnapctl info shows the same. Both, and status --json, are
# documents of docs/bsnap-info.schema.json.
. "$(dirname "$0")/../lib.sh"

load_module
want=$(modinfo -F version "$BSNAP_MODULE")
cat "$BSNAP_PROC"
# seq_file must give the same text however it is read.
whole=$(<"$BSNAP_PROC")
bytewise=$(dd if="$BSNAP_PROC" bs=1 status=none)
assert_eq "$bytewise" "$whole" "$BSNAP_PROC read one byte at a time"

bsnapctl info || fail "bsnapctl info failed"
bsnapctl info --json >cli.json || fail "bsnapctl info --json failed"
cat cli.json
{ json_eval "$BSNAP_PROC" 'j["version"]' 'j["devices"]' && json_eval cli.json 'j["devices"]'; } >got ||
	fail "$BSNAP_PROC or bsnapctl info --json is not valid JSON"
cat "$BSNAP_PROC" >proc.json
json_check proc.json
json_check cli.json
bsnapctl status --json >status.json || fail "bsnapctl status --json failed"
json_check status.json
mapfile -t got <got
assert_eq "${got[0]}" "$want" "version in $BSNAP_PROC"
assert_eq "${got[1]}" "[]" "devices in $BSNAP_PROC"
assert_eq "${got[2]}" "[]" "devices in bsnapctl info --json"
unload_module
