#!/bin/bash
# bsnap-vm: timeout=600
# While a device is traced, removing bsnap-dkms or bsnap-utils is refused with
# a message that says why, and both stay installed; once nothing is traced
# the removal would go through (checked by the purge in the second kernel).
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/../lib.sh"
modprobe bsnap
trap cleanup_scratch EXIT
scratch_fs
bsnapctl setup-snapshot -f 16 /dev/vda /mnt/scratch/cow 0
for pkg in bsnap-dkms bsnap-utils; do
	rc=0
	apt_get remove "$pkg" >remove.log 2>&1 || rc=$?
	cat remove.log
	[ "$rc" -ne 0 ] || fail "apt-get remove $pkg succeeded while /dev/vda is traced"
	grep -q "$pkg: bsnap still traces devices (minors: 0)" remove.log ||
		fail "apt-get remove $pkg failed without saying that a device is traced"
	assert_eq "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg")" "ii " "dpkg status of $pkg"
done
[ -x /usr/sbin/bsnapctl ] || fail "bsnapctl is gone"
dkms_installed "$(uname -r)"
bsnapctl destroy 0
