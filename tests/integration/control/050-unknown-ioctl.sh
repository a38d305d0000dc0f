#!/bin/bash
# Ioctl numbers the module does not know fail with ENOTTY.
. "$(dirname "$0")/../lib.sh"

load_module
for req in io:0xb5:200 iowr:0xb5:99:40 ior:0xb5:255:8 io:0x58:1 iowr:0x12:0:40 0x5401 0; do
	out=$(ioctl_probe "$req" buf:64) || true
	log "$req: $out"
	assert_eq "$out" "ioctl ENOTTY" "ioctl $req"
done
# The module still answers after all that.
assert_match "$(ioctl_probe VERSION buf)" "^OK 0 " "version after unknown ioctls"
unload_module
