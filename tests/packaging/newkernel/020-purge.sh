#!/bin/bash
# bsnap-vm: timeout=600
# Purging both packages leaves nothing behind: no module for any kernel, no
# DKMS source or state, no tools, units, initramfs-tools hook or man pages,
# no state directory, no running bsnapd, no dpkg record, and no initramfs
# that still holds bsnap (both kernels' are rebuilt without it).
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/../lib.sh"
module_loaded && fail "bsnap is still loaded"
apt_get purge bsnap-dkms bsnap-utils
left=()
for path in /lib/modules/*/updates/dkms/bsnap.ko* /usr/src/bsnap-* /var/lib/dkms/bsnap \
	/usr/sbin/bsnapctl /usr/sbin/update-img /usr/sbin/bsnapd /lib/systemd/system/bsnapd.service \
	/lib/systemd/system/bsnap-reload.service /etc/systemd/system/*/bsnapd.service \
	/etc/systemd/system/*/bsnap-reload.service /usr/share/initramfs-tools/hooks/bsnap \
	/usr/share/initramfs-tools/scripts/local-premount/bsnap /var/lib/bsnap \
	/usr/share/man/man8/bsnapctl.8.gz \
	/usr/share/man/man8/update-img.8.gz /usr/share/man/man8/bsnapd.8.gz \
	/usr/share/doc/bsnap-dkms /usr/share/doc/bsnap-utils; do
	if [ -e "$path" ]; then left+=("$path"); fi
done
[ ${#left[@]} -eq 0 ] || fail "left after purge: ${left[*]}"
for rel in "$BSNAP_FIRST_KERNEL" "$BSNAP_SECOND_KERNEL"; do
	if modinfo -k "$rel" bsnap >/dev/null 2>&1; then fail "modinfo -k $rel still finds bsnap"; fi
done
for pkg in bsnap-dkms bsnap-utils; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
	[ -z "$status" ] || [ "$status" = "un " ] || fail "dpkg still knows $pkg: '$status'"
done
[ -z "$(dkms status -m bsnap)" ] || fail "dkms status still lists bsnap: $(dkms status -m bsnap)"
if pgrep -x bsnapd >/dev/null; then fail "bsnapd still runs after the purge (pid $(pgrep -x bsnapd))"; fi
for rel in "$BSNAP_FIRST_KERNEL" "$BSNAP_SECOND_KERNEL"; do
	assert_no_bsnap_in_initramfs "$rel"
done
