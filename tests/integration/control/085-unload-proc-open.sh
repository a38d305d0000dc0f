#!/bin/bash
# /proc/bsnap-info held open across rmmod: reads after it fail, the kernel
# does not oops, and the module can load again.
. "$(dirname "$0")/../lib.sh"

load_module
exec 4<"$BSNAP_PROC"
head -c 1 <&4 >/dev/null
unload_module
if cat <&4 >/dev/null 2>&1; then
	log "read after rmmod returned no error (allowed: proc gives EOF or EIO)"
fi
exec 4<&-
load_module
assert_match "$(ioctl_probe VERSION buf)" "^OK 0 " "version after reload"
unload_module
