#!/bin/bash
# bsnap-vm: timeout=600
# Booted into the kernel installed after bsnap: modprobe loads the module DKMS
# built for it, and a snapshot of a live ext4 works.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/../lib.sh"
rel=$(uname -r)
assert_eq "$rel" "$BSNAP_SECOND_KERNEL" "running kernel"
dkms_installed "$rel"
# The units the package enabled ran at this boot: the reload (nothing to
# reload: no device was traced at the last shutdown) and the daemon.
for unit in bsnap-reload.service bsnapd.service; do
	state=$(systemctl is-active "$unit" || true)
	if [ "$state" != active ]; then
		systemctl status --no-pager "$unit" || true
		fail "$unit is $state after booting $rel"
	fi
done
modprobe bsnap
trap cleanup_scratch EXIT
for ((i = 0; i < 50; i++)); do [ -c /dev/bsnap-ctl ] && break; sleep 0.1; done
[ -c /dev/bsnap-ctl ] || fail "/dev/bsnap-ctl did not appear after modprobe bsnap"
assert_prefix "$(modinfo -n bsnap)" "/lib/modules/$rel/updates/dkms/bsnap.ko" "the module modprobe loads"
bsnapctl version
scratch_fs
snapshot_roundtrip
bsnapctl info --json
