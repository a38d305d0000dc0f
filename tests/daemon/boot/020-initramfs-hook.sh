#!/bin/bash
# bsnap-vm: timeout=900
# The initramfs-tools hook puts bsnap.ko, bsnapd (with its libraries) and the
# local-premount script into the initramfs, and bsnapd runs there. (Booting
# that initramfs, and the root's reload in it: tests/daemon/rootfs.)
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../../integration/lib.sh"
: "${BSNAPD_BUILD:?}" "${BSNAP_KO:?}" "${BSNAP_UNITS:?}"
rel=$(uname -r)
[ -x /usr/sbin/bsnapd ] || install -m 0755 "$BSNAPD_BUILD/daemon/bsnapd" /usr/sbin/
if [ ! -f "/lib/modules/$rel/extra/bsnap.ko" ]; then
	install -D -m 0644 "$BSNAP_KO" "/lib/modules/$rel/extra/bsnap.ko"
	depmod
fi
install -D -m 0755 "$BSNAP_UNITS/initramfs/hooks/bsnap" /usr/share/initramfs-tools/hooks/bsnap
install -D -m 0755 "$BSNAP_UNITS/initramfs/scripts/local-premount/bsnap" \
	/usr/share/initramfs-tools/scripts/local-premount/bsnap
sh -n /usr/share/initramfs-tools/scripts/local-premount/bsnap
update-initramfs -u -k "$rel"
initrd=/boot/initrd.img-$rel
list=$(lsinitramfs "$initrd")
# (usr/)lib: Debian 12's initramfs has merged /usr.
for f in usr/sbin/bsnapd scripts/local-premount/bsnap "(usr/)?lib/modules/$rel/extra/bsnap.ko"; do
	grep -Eq "^$f\$" <<<"$list" || fail "$f is not in $initrd"
done
grep -q "^scripts/local-premount/ORDER\$" <<<"$list" || fail "no local-premount ORDER"
unmkinitramfs "$initrd" unpacked
root=unpacked
[ -d unpacked/main ] && root=unpacked/main
grep -q bsnap "$root/scripts/local-premount/ORDER" || fail "bsnap is not in local-premount/ORDER"
assert_match "$(chroot "$root" /usr/sbin/bsnapd --version)" "^bsnapd " "bsnapd runs in the initramfs"
log "initramfs: bsnap.ko, bsnapd and the local-premount script are in $initrd"
