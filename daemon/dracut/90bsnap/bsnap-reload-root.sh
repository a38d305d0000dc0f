#!/bin/sh
# dracut pre-mount hook: the same steps as the initramfs-tools script
# (daemon/initramfs/scripts/local-premount/bsnap): mount the root device
# read-only without log recovery, copy the state file, unmount, then
# bsnapd --reload-root. A SKELETON, not yet run on a RHEL-family system.
# shellcheck source=/dev/null
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh

# shellcheck disable=SC2154 # dracut sets $root (root=block:/dev/...)
dev=${root#block:}
[ -b "$dev" ] || exit 0
state=/var/lib/bsnap/state.json
work=/run/bsnap-initramfs
mkdir -p "$work/root"
case "$(blkid -o value -s TYPE "$dev")" in
ext3 | ext4) options=ro,noload ;;
xfs) options=ro,norecovery ;;
*) options=ro ;;
esac
mount -o "$options" "$dev" "$work/root" || { warn "bsnap: cannot mount $dev"; exit 0; }
cp "$work/root$state" "$work/state.json" 2>/dev/null
umount "$work/root"
[ -r "$work/state.json" ] || exit 0
modprobe bsnap || { warn "bsnap: modprobe bsnap failed"; exit 0; }
/usr/sbin/bsnapd --reload-root --no-modprobe --wait 10 --state-file "$work/state.json" ||
    warn "bsnap: the root filesystem's device was not reloaded"
exit 0
