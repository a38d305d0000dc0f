#!/bin/bash
# bsnap-vm: timeout=1500
# Installing another kernel and its headers makes DKMS build bsnap for it by
# itself (the kernel packages' hooks), nobody asks for it; DKMS's hook runs
# before initramfs-tools', so the new kernel's initramfs has bsnap.ko too.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/../lib.sh"
rel=$BSNAP_SECOND_KERNEL
[ "$rel" != "$(uname -r)" ] || fail "the second kernel is the running one"
[ ! -e "/lib/modules/$rel" ] || fail "/lib/modules/$rel exists before the kernel is installed"
log "installing $(ls "$BSNAP_KERNEL_DEBS")"
apt_get install "$BSNAP_KERNEL_DEBS"/*.deb
[ -f "/boot/vmlinuz-$rel" ] || fail "the kernel $rel is not installed"
dkms_installed "$rel"
dkms_installed "$(uname -r)"
assert_bsnap_in_initramfs "$rel"
