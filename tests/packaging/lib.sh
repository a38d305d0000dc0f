# shellcheck shell=bash
# Helpers of the packaging guest tests (tests/packaging/run.sh boots them in
# the debootstrap image with bsnap-vm --root-image). On top of the guest
# tests' lib.sh (fail, skip, assert_eq, log, the ERR trap); bsnapctl here is
# the installed one, and the module is the one DKMS built.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
unset -f bsnapctl

: "${BSNAP_VERSION:?}" "${BSNAP_DEBS:?}" "${BSNAP_KERNEL_DEBS:?}" "${BSNAP_SECOND_KERNEL:?}"
export DEBIAN_FRONTEND=noninteractive
# Local .debs only: the guest has no network. When it fails, DKMS's build
# logs say why a module did not build.
apt_get() {
	local rc=0 f
	apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "$@" || rc=$?
	if [ $rc -ne 0 ] && [ "$1" = install ]; then
		for f in /var/lib/dkms/bsnap/*/build/make.log /var/lib/dkms/bsnap/*/*/*/log/make.log; do
			if [ -f "$f" ]; then echo "--- $f (last 30 lines)"; tail -n 30 "$f"; fi
		done
	fi
	return $rc
}

# assert_prefix TEXT PREFIX [WHAT]: literal (kernel releases hold '+').
assert_prefix() {
	[[ "$1" == "$2"* ]] || fail "${3:-value}: '$1' does not start with '$2'"
}

# dkms_installed RELEASE: DKMS says bsnap is built and installed for it, the
# .ko is where DKMS puts it and is built for that kernel, and its build log
# has no compiler warning.
dkms_installed() {
	local rel=$1 status ko
	status=$(dkms status -m bsnap -v "$BSNAP_VERSION" -k "$rel")
	log "dkms status for $rel: $status"
	assert_prefix "$status" "bsnap/$BSNAP_VERSION, $rel, x86_64: installed" "dkms status"
	ko=$(find "/lib/modules/$rel/updates/dkms" -name 'bsnap.ko*' 2>/dev/null | head -n 1)
	[ -n "$ko" ] || fail "no bsnap.ko in /lib/modules/$rel/updates/dkms"
	assert_eq "$(modinfo -k "$rel" -F vermagic bsnap | cut -d' ' -f1)" "$rel" "vermagic of $ko"
	assert_eq "$(modinfo -k "$rel" -F version bsnap)" "$BSNAP_VERSION" "module version"
	local make_log=/var/lib/dkms/bsnap/$BSNAP_VERSION/$rel/x86_64/log/make.log
	[ -f "$make_log" ] || make_log=/var/lib/dkms/bsnap/$BSNAP_VERSION/build/make.log
	if [ -f "$make_log" ] && grep -i 'warning:' "$make_log"; then
		fail "the DKMS build of bsnap for $rel has warnings ($make_log)"
	fi
	return 0
}

# initramfs_list RELEASE: the files in /boot/initrd.img-RELEASE.
initramfs_list() {
	local initrd=/boot/initrd.img-$1
	[ -f "$initrd" ] || fail "no $initrd"
	lsinitramfs "$initrd"
}

# assert_bsnap_in_initramfs RELEASE: the hook of bsnap-utils put bsnapd, the
# local-premount script and the DKMS-built bsnap.ko into RELEASE's initramfs.
# ((usr/)lib: Debian 12's initramfs has merged /usr.)
assert_bsnap_in_initramfs() {
	local rel=$1 list f
	list=$(initramfs_list "$rel")
	for f in usr/sbin/bsnapd scripts/local-premount/bsnap; do
		grep -Fxq "$f" <<<"$list" || fail "$f is not in /boot/initrd.img-$rel"
	done
	# (a literal release: it may hold '+')
	grep -E '^(usr/)?lib/modules/[^/]+/updates/dkms/bsnap\.ko(\.[a-z]+)?$' <<<"$list" |
		grep -Fq "lib/modules/$rel/updates/dkms/bsnap.ko" ||
		fail "lib/modules/$rel/updates/dkms/bsnap.ko is not in /boot/initrd.img-$rel"
	log "initramfs of $rel: bsnapd, scripts/local-premount/bsnap and bsnap.ko are in it"
}

# assert_no_bsnap_in_initramfs RELEASE: nothing of bsnap in RELEASE's
# initramfs: no bsnapd, no script or hook named bsnap, no bsnap.ko. (Not any
# name holding "bsnap": the image's own conf/conf.d/bsnap-vm, from
# make-debroot, is no part of the packages.)
assert_no_bsnap_in_initramfs() {
	local rel=$1 list hits
	list=$(initramfs_list "$rel")
	hits=$(grep -E '(^|/)bsnap(d|\.ko(\.[a-z]+)?)?$' <<<"$list" || true)
	[ -z "$hits" ] || fail "/boot/initrd.img-$rel still holds: $(tr '\n' ' ' <<<"$hits")"
	log "initramfs of $rel: nothing of bsnap in it"
}

# A scratch ext4 on the first test disk, mounted at /mnt/scratch.
scratch_fs() {
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 /dev/vda
	mkdir -p /mnt/scratch
	mount /dev/vda /mnt/scratch
}

# snapshot_roundtrip: a snapshot of the scratch file system shows a file as it
# was when the snapshot was taken, after the file changed on the origin.
snapshot_roundtrip() {
	local before after snap
	dd if=/dev/urandom of=/mnt/scratch/data bs=1M count=4 status=none
	sync
	before=$(md5sum </mnt/scratch/data)
	bsnapctl setup-snapshot -f 16 /dev/vda /mnt/scratch/cow 0
	dd if=/dev/urandom of=/mnt/scratch/data bs=1M count=4 conv=notrunc status=none
	sync
	after=$(md5sum </mnt/scratch/data)
	[ "$before" != "$after" ] || fail "the origin did not change"
	dd if=/dev/bsnap0 of=/dev/null bs=1M status=none
	mkdir -p /mnt/snap
	mount -o ro,noload /dev/bsnap0 /mnt/snap
	snap=$(md5sum </mnt/snap/data)
	umount /mnt/snap
	assert_eq "$snap" "$before" "the file in /dev/bsnap0"
	bsnapctl destroy 0
	[ ! -e /dev/bsnap0 ] || fail "/dev/bsnap0 still exists after destroy"
}

cleanup_scratch() {
	local rc=$?
	mountpoint -q /mnt/snap && umount /mnt/snap
	[ -e /dev/bsnap0 ] && bsnapctl destroy 0
	bsnapctl destroy 1 >/dev/null 2>&1 || true # the libbsnap test's minor, if left
	mountpoint -q /mnt/scratch && umount /mnt/scratch
	module_loaded && rmmod bsnap
	exit "$rc"
}
