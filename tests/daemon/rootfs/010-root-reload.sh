#!/bin/bash
# bsnap-vm: timeout=2400
# The root filesystem, traced incrementally, is reloaded by the image's own
# initramfs (initramfs-tools, the hook and local-premount script of
# daemon/initramfs) before root is mounted, at every boot: the kernel log
# shows the reload, then the root mount, then "active" after systemd remounts
# it read-write; the chain goes on across two reboots with writes in between
# and an incremental (update-img onto the full copy taken at the start)
# equals the snapshot of root bit for bit. A power cut while root is
# mounted read-write costs an incremental, not the chain (write intent): the
# reload goes on and the next incremental is exact. When the CoW file cannot
# be used (deleted) the boot still completes and the device is reported
# failed with the errno, never active.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../../integration/lib.sh"
unset -f bsnapctl
: "${BSNAPD_BUILD:?}" "${BSNAP_KO:?}" "${BSNAP_UNITS:?}"

state=/var/lib/bsnap/state.json
backup_dev=/dev/vda
backup_mnt=/srv/backup
backup=$backup_mnt/root.img
data=/srv/rootdata
rel=$(uname -r)
rootdev=$(findmnt -no SOURCE /)
rootname=${rootdev#/dev/}

# wait_for TEXT...: the state file holds every TEXT (bsnapd follows events).
wait_for() {
	local i t ok
	for ((i = 0; i < 100; i++)); do
		ok=1
		for t in "$@"; do grep -qF -- "$t" "$state" 2>/dev/null || ok=0; done
		[ $ok = 1 ] && return 0
		sleep 0.3
	done
	cat "$state" || true
	fail "the state file does not say: $*"
}

write_some() { # tag: new data on root, between boots
	mkdir -p "$data"
	dd if=/dev/urandom of="$data/file-$1" bs=1M count=4 status=none
	echo "$1" >>"$data/log"
	sync
}

# This boot's kernel log (from the initramfs on), kept in the test's results.
kernel_log() {
	journalctl -k -b --no-pager -o short-monotonic >"klog.$BSNAP_BOOT"
	cp "klog.$BSNAP_BOOT" "$BSNAP_TEST_RESULTS/klog.$BSNAP_BOOT"
}

# line REGEX: number of the first line of this boot's kernel log that
# matches (after line ${2:-0}); 0 if none.
line() {
	local n
	# The regex through the environment: awk -v would eat its backslashes.
	n=$(RE=$1 awk -v from="${2:-0}" 'NR > from && $0 ~ ENVIRON["RE"] { print NR; exit }' "klog.$BSNAP_BOOT")
	echo "${n:-0}"
}

# The root's device was reloaded in the initramfs before root was mounted,
# and became active when systemd remounted root read-write.
check_reloaded_before_root_mount() { # cow
	local reload mount sd remount active
	assert_eq "${BSNAPVM_BOOT_INITRAMFS:-}" image "booted through"
	kernel_log
	reload=$(line "bsnap0: reloaded .*, CoW file ${1//./\\.}: unverified until mounted")
	[ "$reload" -gt 0 ] || { cat "klog.$BSNAP_BOOT"; fail "no reload of the root's device in the kernel log"; }
	mount=$(line "EXT4-fs \\($rootname\\): mounted filesystem" "$reload")
	sd=$(line "systemd\\[1\\]: |systemd 2[0-9][0-9] running")
	remount=$(line "EXT4-fs \\($rootname\\): re-mounted" "$mount")
	active=$(line "bsnap0: active" "$reload")
	grep -E "kernel: bsnap|EXT4-fs \\($rootname\\)" "klog.$BSNAP_BOOT" || true
	[ "$mount" -gt 0 ] || fail "no mount of $rootdev after the reload (reload at line $reload)"
	[ "$sd" -gt "$mount" ] || fail "systemd started (line $sd) before root was mounted (line $mount)"
	[ "$remount" -gt 0 ] || fail "root was not remounted read-write after line $mount"
	[ "$active" -gt "$mount" ] || fail "bsnap0 not active after the root mount (active: line $active, mount: $mount)"
	if grep -E "bsnap0: .*(take a full backup|failed|not sealed)" "klog.$BSNAP_BOOT"; then
		fail "the root's device reports a problem"
	fi
	log "kernel log: reload (line $reload) < root mount (line $mount) < systemd (line $sd); active at line $active"
	bsnapctl status
	bsnapctl status --json >status.json
	grep -q '"activity": "active"' status.json || fail "minor 0 is not active"
	grep -q '"mode": "incremental"' status.json || fail "minor 0 is not incremental"
	grep -q '"failed": false' status.json || fail "minor 0 is failed"
	# bsnap-reload.service leaves root to the initramfs and succeeds.
	assert_eq "$(systemctl is-active bsnap-reload.service)" active "bsnap-reload.service"
	journalctl -b --no-pager -o cat -u bsnap-reload.service
	assert_eq "$(systemctl is-active bsnapd.service)" active "bsnapd.service"
}

# The root's device was not reloaded (errno NAME): the boot went on, the
# device is failed and never active, and nothing yields an incremental.
check_failed() { # errno-name kernel-log-regex
	local n
	n=$(errno "$1")
	assert_eq "${BSNAPVM_BOOT_INITRAMFS:-}" image "booted through"
	assert_eq "$(findmnt -no OPTIONS / | cut -d, -f1)" rw "root mounted read-write"
	kernel_log
	grep -E "kernel: bsnap|EXT4-fs \\($rootname\\)" "klog.$BSNAP_BOOT" || true
	[ "$(line "bsnap0: $2 \\(-$n\\): the device is registered as unverified and failed")" -gt 0 ] ||
		fail "no '$2 (-$n)' for bsnap0 in the kernel log"
	[ "$(line "bsnap0: active")" = 0 ] || fail "bsnap0 became active although its reload failed"
	bsnapctl status
	bsnapctl status --json >status.json
	grep -q '"failed": true' status.json || fail "minor 0 is not reported failed"
	grep -Eq "\"error\": -?$n," status.json || fail "minor 0 does not report $1"
	if grep -q '"activity": "active"' status.json; then fail "minor 0 is reported active"; fi
	# The stored errno refuses the next snapshot: no incremental from it.
	expect_errno "$1" bsnapctl transition-to-snapshot /.bsnap-never 0
	[ ! -e /.bsnap-never ] || fail "transition-to-snapshot of a failed device created a CoW file"
	log "root's device: failed with $1, never active; the boot completed"
}

case "$BSNAP_BOOT" in
1)
	log "installing bsnapd, bsnapctl, update-img, bsnap.ko, the units and the initramfs hook"
	install -m 0755 "$BSNAPD_BUILD/daemon/bsnapd" "$BSNAPD_BUILD/cli/bsnapctl" \
		"$BSNAPD_BUILD/cli/update-img" /usr/sbin/
	install -D -m 0644 "$BSNAP_KO" "/lib/modules/$rel/extra/bsnap.ko"
	depmod
	install -m 0644 "$BSNAP_UNITS/bsnapd.service" "$BSNAP_UNITS/bsnap-reload.service" \
		/etc/systemd/system/
	install -D -m 0755 "$BSNAP_UNITS/initramfs/hooks/bsnap" /usr/share/initramfs-tools/hooks/bsnap
	install -D -m 0755 "$BSNAP_UNITS/initramfs/scripts/local-premount/bsnap" \
		/usr/share/initramfs-tools/scripts/local-premount/bsnap
	systemctl daemon-reload
	systemctl enable bsnapd.service

	# What a Debian system installed on this machine has: root in fstab
	# (mounted read-only by the initramfs, remounted read-write by systemd)
	# and the drivers of its root disk in the initramfs (make-debroot's
	# image has neither: the harness's initramfs mounts its root).
	uuid=$(findmnt -no UUID /)
	echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >>/etc/fstab
	printf '%s\n' virtio_pci virtio_blk ext4 >>/etc/initramfs-tools/modules
	systemctl daemon-reload
	t0=$SECONDS
	update-initramfs -u -k "$rel"
	log "update-initramfs: $((SECONDS - t0)) s"
	list=$(lsinitramfs "/boot/initrd.img-$rel")
	for f in usr/sbin/bsnapd scripts/local-premount/bsnap "(usr/)?lib/modules/$rel/extra/bsnap.ko" \
		"(usr/)?lib/modules/$rel/kernel/drivers/block/virtio_blk.ko"; do
		grep -Eq "^$f\$" <<<"$list" || fail "$f is not in the initramfs"
	done

	log "the backup disk"
	mkfs.ext4 -q -F "$backup_dev"
	mkdir -p "$backup_mnt"
	mount "$backup_dev" "$backup_mnt"

	log "tracing root ($rootdev): snapshot, full copy, incremental"
	modprobe bsnap
	systemctl start bsnapd.service
	bsnapctl setup-snapshot "$rootdev" /.bsnap0 0
	t0=$SECONDS
	dd if=/dev/bsnap0 of="$backup" bs=1M conv=sparse status=none
	log "full copy of root's snapshot: $((SECONDS - t0)) s ($(du -h "$backup" | cut -f1) allocated)"
	bsnapctl transition-to-incremental 0
	wait_for "\"fs_uuid\": \"$uuid\"" '"cow": ".bsnap0"' '"mode": "incremental"' '"root": true'
	cat "$state"
	write_some 1
	reboot_and_continue
	;;
2)
	check_reloaded_before_root_mount .bsnap0
	wait_for '"cow": ".bsnap0"' '"root": true'
	write_some 2
	reboot_and_continue
	;;
3)
	# Second reboot: the chain still goes on; then the incremental of
	# everything written since the full copy (three boots, each one's early
	# writes included) must give the snapshot bit for bit.
	check_reloaded_before_root_mount .bsnap0
	write_some 3
	mkdir -p "$backup_mnt"
	mount "$backup_dev" "$backup_mnt"
	bsnapctl transition-to-snapshot /.bsnap1 0
	t0=$SECONDS
	update-img /dev/bsnap0 /.bsnap0 "$backup"
	log "update-img: $((SECONDS - t0)) s"
	t0=$SECONDS
	cmp "$backup" /dev/bsnap0 || fail "the backup differs from root's snapshot after update-img"
	log "full copy + incremental equals root's snapshot bit for bit (cmp: $((SECONDS - t0)) s)"
	rm -f /.bsnap0
	bsnapctl transition-to-incremental 0
	wait_for '"cow": ".bsnap1"' '"mode": "incremental"' '"root": true'
	umount "$backup_mnt"
	log "power cut while root is mounted read-write"
	write_some 4
	# The initramfs reads the state file without journal recovery (ro,
	# noload): what a crash leaves only in the journal is not seen there.
	# Checkpoint the journal first (a freeze flushes it), so that the
	# state file it reads names .bsnap1: then the reload must go on. (Without
	# this, a crash within seconds of a state file change shows it an older
	# version: the reload then fails with ESTALE or ENOENT instead.)
	fsfreeze -f / && fsfreeze -u /
	crash_and_continue
	;;
4)
	# The power cut cost an incremental, not the chain: reloaded as at any
	# boot, and the next incremental gives root's snapshot bit for bit.
	check_reloaded_before_root_mount .bsnap1
	[ "$(line "bsnap0: the CoW file was in use at a crash")" -gt 0 ] ||
		fail "the reload did not say that the CoW file was in use at a crash"
	mkdir -p "$backup_mnt"
	mount "$backup_dev" "$backup_mnt"
	bsnapctl transition-to-snapshot /.bsnap2 0
	update-img /dev/bsnap0 /.bsnap1 "$backup"
	cmp "$backup" /dev/bsnap0 || fail "the backup differs from root's snapshot after the power cut"
	log "after the power cut: full copy + incrementals equal root's snapshot bit for bit"
	rm -f /.bsnap1
	bsnapctl transition-to-incremental 0
	wait_for '"cow": ".bsnap2"' '"mode": "incremental"' '"root": true'
	umount "$backup_mnt"
	log "set up again (new chain), then the CoW file disappears while bsnapd is stopped"
	bsnapctl destroy 0
	rm -f /.bsnap2
	bsnapctl setup-snapshot "$rootdev" /.bsnap-new 0
	bsnapctl transition-to-incremental 0
	wait_for '"cow": ".bsnap-new"' '"seqid": 1' '"root": true'
	systemctl stop bsnapd.service
	bsnapctl destroy 0
	[ ! -e /.bsnap-new ] || fail "destroy left /.bsnap-new"
	grep -qF '"cow": ".bsnap-new"' "$state" || fail "the state file no longer lists root"
	reboot_and_continue
	;;
5)
	check_failed ENOENT "no such CoW file"
	bsnapctl destroy 0
	;;
*)
	fail "unexpected boot $BSNAP_BOOT"
	;;
esac
