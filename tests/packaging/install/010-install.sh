#!/bin/bash
# bsnap-vm: timeout=900
# Installing the .debs builds bsnap with DKMS for the running kernel, puts the
# tools, man pages, both units (enabled; bsnapd started), the state
# directory and the initramfs-tools hook in place, rebuilds the initramfs
# with bsnap in it, and the module works.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/../lib.sh"
rel=$(uname -r)
assert_eq "$rel" "$BSNAP_FIRST_KERNEL" "running kernel"
log "installing $(cd "$BSNAP_DEBS" && echo bsnap-dkms_*_all.deb bsnap-utils_*_amd64.deb)"
apt_get install "$BSNAP_DEBS"/bsnap-dkms_*_all.deb "$BSNAP_DEBS"/bsnap-utils_*_amd64.deb
dkms_installed "$rel"
[ -f "/usr/src/bsnap-$BSNAP_VERSION/dkms.conf" ] || fail "no /usr/src/bsnap-$BSNAP_VERSION/dkms.conf"
grep -q "^PACKAGE_VERSION=\"$BSNAP_VERSION\"" "/usr/src/bsnap-$BSNAP_VERSION/dkms.conf" ||
	fail "dkms.conf does not say PACKAGE_VERSION=\"$BSNAP_VERSION\""

for tool in bsnapctl update-img bsnapd; do
	[ -x "/usr/sbin/$tool" ] || fail "/usr/sbin/$tool is not installed"
	[ -f "/usr/share/man/man8/$tool.8.gz" ] || fail "no man page $tool(8)"
done
assert_match "$(bsnapctl --version)" "^bsnapctl $BSNAP_VERSION " "bsnapctl --version"
assert_match "$(update-img --version)" "$BSNAP_VERSION" "update-img --version"
assert_match "$(bsnapd --version)" "^bsnapd $BSNAP_VERSION " "bsnapd --version"
for unit in bsnapd.service bsnap-reload.service; do
	[ -f "/lib/systemd/system/$unit" ] || fail "no $unit"
	systemctl cat "$unit" >/dev/null
	assert_eq "$(systemctl is-enabled "$unit" || true)" enabled "systemctl is-enabled $unit"
done
# systemd is PID 1 here: the postinst started the daemon (Type=notify: it
# is active once it has synced the state file with the module).
assert_eq "$(systemctl is-active bsnapd.service || true)" active "systemctl is-active bsnapd.service"
[ -d /var/lib/bsnap ] || fail "no state directory /var/lib/bsnap"

# The update-initramfs trigger rebuilt the initramfs of the running (and
# only) kernel with the hook: bsnapd, the local-premount script and the
# module DKMS built.
assert_bsnap_in_initramfs "$rel"

modprobe bsnap
trap cleanup_scratch EXIT
for ((i = 0; i < 50; i++)); do [ -c /dev/bsnap-ctl ] && break; sleep 0.1; done
[ -c /dev/bsnap-ctl ] || fail "/dev/bsnap-ctl did not appear after modprobe bsnap"
assert_prefix "$(modinfo -n bsnap)" "/lib/modules/$rel/updates/dkms/bsnap.ko" "the module modprobe loads"
bsnapctl version
scratch_fs
snapshot_roundtrip
