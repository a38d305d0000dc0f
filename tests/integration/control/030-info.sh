#!/bin/bash
# /proc/bsnap-info is valid JSON with the version and no devices, read whole or
# byte by byte; bsnapctl info shows the same.
. "$(dirname "$0")/../lib.sh"

load_module
want=$(modinfo -F version "$BSNAP_MODULE")
cat "$BSNAP_PROC"
assert_eq "$(proc_json 'j["version"]')" "$want" "version in $BSNAP_PROC"
assert_eq "$(proc_json 'j["devices"]')" "[]" "devices in $BSNAP_PROC"
# seq_file must give the same text however it is read.
whole=$(cat "$BSNAP_PROC")
bytewise=$(dd if="$BSNAP_PROC" bs=1 status=none)
assert_eq "$bytewise" "$whole" "$BSNAP_PROC read one byte at a time"

bsnapctl info || fail "bsnapctl info failed"
json=$(bsnapctl info --json) || fail "bsnapctl info --json failed"
echo "$json"
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["devices"] == [], j' "$json" ||
	fail "bsnapctl info --json: no empty device list"
unload_module
