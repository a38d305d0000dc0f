#!/bin/sh
# dracut pre-mount hook: reloads the root filesystem's traced device before
# the root filesystem is mounted, the same steps as the initramfs-tools
# script (daemon/initramfs/scripts/local-premount/bsnap):
# 1. mount the root device read-only without log recovery (ext4 noload,
#    xfs norecovery: nothing is written, so the CoW header check holds);
# 2. copy the state file out of it, unmount it (reload needs it unmounted);
# 3. bsnapd --reload-root.
# Any failure is printed and the boot goes on (the device is then not
# traced: bsnapctl status says why).
#
# dracut sources hooks into /init (or dracut-pre-mount's shell): no exit
# here, and no variables left behind; the work runs in a subshell.
# shellcheck source=/dev/null
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh

bsnap_reload_root() (
	state=/var/lib/bsnap/state.json
	work=/run/bsnap-initramfs
	[ -x /usr/sbin/bsnapd ] || exit 0
	# rootfs-block's cmdline hook turned root=UUID=... into
	# block:/dev/disk/by-uuid/...; the initqueue has waited for it.
	# shellcheck disable=SC2154 # dracut sets root
	case "$root" in
	block:/dev/*) dev=${root#block:} ;;
	*)
		info "bsnap: root=$root is not a block device; root not reloaded"
		exit 0
		;;
	esac
	if [ ! -b "$dev" ]; then
		warn "bsnap: no root device $dev; root not reloaded"
		exit 0
	fi
	# shellcheck disable=SC2154 # dracut sets fstype (rootfstype=)
	fs=${fstype:-}
	[ -n "$fs" ] && [ "$fs" != auto ] || fs=$(blkid -o value -s TYPE "$dev")
	case "$fs" in
	ext3 | ext4) options=ro,noload ;;
	xfs) options=ro,norecovery ;;
	*) options=ro ;;
	esac
	mkdir -p "$work/root"
	if ! mount -t "${fs:-auto}" -o "$options" "$dev" "$work/root"; then
		warn "bsnap: cannot mount $dev read-only to read $state; root not reloaded"
		exit 0
	fi
	copied=0
	if [ -r "$work/root$state" ]; then
		cp "$work/root$state" "$work/state.json" && copied=1
	fi
	umount "$work/root"
	[ "$copied" = 1 ] || exit 0
	grep -q '"root": true' "$work/state.json" || exit 0

	if ! modprobe bsnap; then
		warn "bsnap: modprobe bsnap failed; root not reloaded"
		exit 0
	fi
	if ! /usr/sbin/bsnapd --reload-root --no-modprobe --wait 10 --state-file "$work/state.json"; then
		warn "bsnap: the root filesystem's device was not reloaded (see the messages above)"
	fi
	exit 0
)

bsnap_reload_root
unset -f bsnap_reload_root
