#!/bin/bash
# The module loads and registers /dev/bsnap-ctl: a misc char device, root only.
. "$(dirname "$0")/../lib.sh"

load_module
module_loaded || fail "no /sys/module/bsnap after insmod"
lsmod | grep -q '^bsnap ' || fail "lsmod does not list bsnap"
[ -c "$BSNAP_CTL" ] || fail "$BSNAP_CTL is not a character device"
assert_eq "$(stat -c %a "$BSNAP_CTL")" 600 "mode of $BSNAP_CTL"
assert_eq "$(stat -c %u:%g "$BSNAP_CTL")" 0:0 "owner of $BSNAP_CTL"
# A misc device: major 10, listed in /proc/misc and /sys/class/misc.
assert_eq "$(stat -c %t "$BSNAP_CTL")" a "major of $BSNAP_CTL (hex)"
minor=$(printf %d "0x$(stat -c %T "$BSNAP_CTL")")
grep -Eq "^ *$minor bsnap-ctl\$" /proc/misc || fail "bsnap-ctl (minor $minor) not in /proc/misc"
[ -d /sys/class/misc/bsnap-ctl ] || fail "no /sys/class/misc/bsnap-ctl"
[ -r "$BSNAP_PROC" ] || fail "no $BSNAP_PROC"
unload_module
