#!/bin/bash
# rmmod leaves nothing behind, and is refused while the device is open.
. "$(dirname "$0")/../lib.sh"

load_module
exec 3<>"$BSNAP_CTL"
if rmmod bsnap 2>/dev/null; then
	fail "rmmod succeeded while $BSNAP_CTL was open"
fi
assert_match "$(ioctl_probe VERSION buf)" "^OK 0 " "version while rmmod was refused"
exec 3>&-

unload_module
[ ! -e "$BSNAP_PROC" ] || fail "$BSNAP_PROC still exists after rmmod"
[ ! -e /sys/class/misc/bsnap-ctl ] || fail "/sys/class/misc/bsnap-ctl still exists"
! grep -q 'bsnap' /proc/misc || fail "bsnap still in /proc/misc"
! lsmod | grep -q '^bsnap ' || fail "lsmod still lists bsnap"
! grep -q '^bsnap ' /proc/modules || fail "bsnap still in /proc/modules"
# Tools see the module is gone, with an errno as exit status.
expect_errno "ENOENT|ENODEV" bsnapctl version
