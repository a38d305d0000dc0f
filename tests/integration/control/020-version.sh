#!/bin/bash
# The version ioctl and bsnapctl version report the module's version.
. "$(dirname "$0")/../lib.sh"

want=$(modinfo -F version "$BSNAP_MODULE")
[ -n "$want" ] || fail "modinfo finds no version in $BSNAP_MODULE"
abi=$(sed -n 's/^#define BSNAP_ABI_VERSION \([0-9]*\).*/\1/p' "$BSNAP_SRC/module/include/uapi/bsnap.h")
load_module
if [ -r /sys/module/bsnap/version ]; then
	assert_eq "$(cat /sys/module/bsnap/version)" "$want" "/sys/module/bsnap/version"
fi

out=$(ioctl_probe VERSION buf)
log "ioctl: $out"
assert_match "$out" "^OK 0 size=[0-9]+ abi=$abi version=$want\$" "version ioctl"

out=$(bsnapctl version)
log "bsnapctl version: $out"
assert_match "$out" "bsnap module $want \\(ABI $abi\\)" "bsnapctl version"
unload_module
