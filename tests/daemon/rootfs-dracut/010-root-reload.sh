#!/bin/bash
# bsnap-vm: timeout=3300
# The root filesystem, traced incrementally, is reloaded by a dracut
# initramfs (Debian's dracut 059 in place of initramfs-tools, with the module
# daemon/dracut/90bsnap, hostonly as on RHEL) before root is mounted: once
# with systemd in the initramfs (dracut's default here and RHEL's), once
# without (dracut's own /init, which sources the hook). The kernel log shows
# the reload, then the root mount, then the real system's systemd, and
# "active" after it remounts root read-write; an incremental (update-img onto
# the full copy taken at the start) equals the snapshot of root bit for bit.
# With the CoW file gone (deleted while bsnapd was stopped) the boot still
# completes and the device is reported failed with ENOENT, never active.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../../integration/lib.sh"
unset -f bsnapctl
: "${BSNAPD_BUILD:?}" "${BSNAP_KO:?}" "${BSNAP_UNITS:?}" "${BSNAP_SUITE_FILES:?}"

state=/var/lib/bsnap/state.json
backup_dev=/dev/vda
backup_mnt=/srv/backup
backup=$backup_mnt/root.img
data=/srv/rootdata
rel=$(uname -r)
initrd=/boot/initrd.img-$rel
rootdev=$(findmnt -no SOURCE /)
rootname=${rootdev#/dev/}
# dracut's modules that put systemd into the initramfs.
systemd_modules="dracut-systemd systemd-initrd systemd"

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

# make_initramfs [DRACUT OPTIONS]: the image's initramfs, by dracut; bsnap's
# module, bsnapd, bsnap.ko, the hook and the root disk's drivers in it.
make_initramfs() {
	local t0 list
	t0=$SECONDS
	dracut --force "$@" "$initrd" "$rel" >dracut.log 2>&1 || { tail -n 40 dracut.log; fail "dracut failed"; }
	cp dracut.log "$BSNAP_TEST_RESULTS/dracut.log.$BSNAP_BOOT"
	grep -i 'bsnap' dracut.log || true
	log "dracut $*: $((SECONDS - t0)) s ($(du -h "$initrd" | cut -f1))"
	lsinitrd -m "$initrd" >modules.txt
	grep -qx bsnap modules.txt || { cat modules.txt; fail "dracut's module bsnap is not in $initrd"; }
	list=$(lsinitrd "$initrd" | awk '{ print $NF }')
	printf '%s\n' "$list" >"$BSNAP_TEST_RESULTS/lsinitrd.$BSNAP_BOOT"
	for f in "(usr/)?sbin/bsnapd" "(usr/)?lib/dracut/hooks/pre-mount/90-bsnap-reload-root\\.sh" \
		"(usr/)?lib/modules/$rel/extra/bsnap.ko" \
		"(usr/)?lib/modules/$rel/kernel/drivers/block/virtio_blk.ko" \
		"(usr/)?lib/x86_64-linux-gnu/libboost_program_options\\.so\\..*"; do
		grep -Eq "^$f\$" <<<"$list" || fail "$f is not in $initrd"
	done
}

# This boot's journal (the initramfs's included, the kernel's messages and
# systemd's wherever they went), kept in the test's results.
kernel_log() {
	journalctl -b --no-pager -o short-monotonic >"klog.$BSNAP_BOOT"
	cp "klog.$BSNAP_BOOT" "$BSNAP_TEST_RESULTS/klog.$BSNAP_BOOT"
}

# line REGEX [FROM]: number of the first line of this boot's journal that
# matches (after line FROM); 0 if none. last REGEX: of the last one.
line() {
	local n
	# The regex through the environment: awk -v would eat its backslashes.
	n=$(RE=$1 awk -v from="${2:-0}" 'NR > from && $0 ~ ENVIRON["RE"] { print NR; exit }' "klog.$BSNAP_BOOT")
	echo "${n:-0}"
}
last() {
	local n
	n=$(RE=$1 awk '$0 ~ ENVIRON["RE"] { n = NR } END { print n }' "klog.$BSNAP_BOOT")
	echo "${n:-0}"
}

# The root's device was reloaded in the initramfs (with systemd in it: yes or
# no) before root was mounted, and became active when the real system's
# systemd remounted root read-write.
check_reloaded_before_root_mount() { # cow initramfs-systemd
	local init reload mount sd1 sd remount active banner="systemd 2[0-9][0-9].* running in system mode"
	assert_eq "${BSNAPVM_BOOT_INITRAMFS:-}" image "booted through"
	kernel_log
	init=$(line "Run /init as init process")
	reload=$(line "bsnap0: reloaded .*, CoW file ${1//./\\.}: unverified until mounted")
	[ "$reload" -gt 0 ] || { cat "klog.$BSNAP_BOOT"; fail "no reload of the root's device in the journal"; }
	mount=$(line "EXT4-fs \\($rootname\\): mounted filesystem" "$reload")
	sd1=$(line "$banner")
	sd=$(last "$banner")
	remount=$(line "EXT4-fs \\($rootname\\): re-mounted" "$sd")
	active=$(line "bsnap0: active" "$reload")
	grep -E "kernel: bsnap|EXT4-fs \\($rootname\\)|dracut|bsnap:|$banner|Run /init" "klog.$BSNAP_BOOT" || true
	if [ "$init" = 0 ] || [ "$init" -gt "$reload" ]; then
		fail "the reload (line $reload) was not in the initramfs (/init: line $init)"
	fi
	[ "$mount" -gt 0 ] || fail "no mount of $rootdev after the reload (reload at line $reload)"
	[ "$sd" -gt "$mount" ] || fail "root's systemd started (line $sd) before root was mounted (line $mount)"
	if [ "$2" = yes ]; then
		if [ "$sd1" -lt "$init" ] || [ "$sd1" -gt "$reload" ]; then
			fail "no systemd in the initramfs before the reload (first systemd: line $sd1, reload: $reload)"
		fi
	else
		[ "$sd1" = "$sd" ] || fail "systemd ran in the initramfs (line $sd1), not only in root (line $sd)"
	fi
	[ "$remount" -gt 0 ] || fail "root was not remounted read-write after line $sd"
	[ "$active" -gt "$mount" ] || fail "bsnap0 not active after the root mount (active: line $active, mount: $mount)"
	if grep -E "bsnap0: .*(take a full backup|failed|not sealed)|Warning: bsnap" "klog.$BSNAP_BOOT"; then
		fail "the root's device reports a problem"
	fi
	log "journal: /init (line $init) < reload (line $reload) < root mount (line $mount) < root's systemd (line $sd); active at line $active; systemd in the initramfs: $2 (line $sd1)"
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
	grep -E "kernel: bsnap|EXT4-fs \\($rootname\\)|dracut" "klog.$BSNAP_BOOT" || true
	[ "$(line "bsnap0: $2 \\(-$n\\): the device is registered as unverified and failed")" -gt 0 ] ||
		fail "no '$2 (-$n)' for bsnap0 in the kernel log"
	[ "$(line "bsnap0: active")" = 0 ] || fail "bsnap0 became active although its reload failed"
	bsnapctl status
	bsnapctl status --json >status.json
	grep -q '"failed": true' status.json || fail "minor 0 is not reported failed"
	grep -Eq "\"error\": -?$n," status.json || fail "minor 0 does not report $1"
	if grep -q '"activity": "active"' status.json; then fail "minor 0 is reported active"; fi
	expect_errno "$1" bsnapctl transition-to-snapshot /.bsnap-never 0
	[ ! -e /.bsnap-never ] || fail "transition-to-snapshot of a failed device created a CoW file"
	log "root's device: failed with $1, never active; the boot completed"
}

case "$BSNAP_BOOT" in
1)
	log "installing bsnapd, bsnapctl, update-img, bsnap.ko and the units"
	install -m 0755 "$BSNAPD_BUILD/daemon/bsnapd" "$BSNAPD_BUILD/cli/bsnapctl" \
		"$BSNAPD_BUILD/cli/update-img" /usr/sbin/
	install -D -m 0644 "$BSNAP_KO" "/lib/modules/$rel/extra/bsnap.ko"
	depmod
	install -m 0644 "$BSNAP_UNITS/bsnapd.service" "$BSNAP_UNITS/bsnap-reload.service" \
		/etc/systemd/system/
	systemctl daemon-reload
	systemctl enable bsnapd.service
	# Root in fstab, as on an installed system (mounted read-only by the
	# initramfs, remounted read-write by systemd).
	uuid=$(findmnt -no UUID /)
	echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >>/etc/fstab
	systemctl daemon-reload

	log "the backup disk"
	mkfs.ext4 -q -F "$backup_dev"
	mkdir -p "$backup_mnt"
	mount "$backup_dev" "$backup_mnt"

	# Traced before dracut runs, as a user who installs bsnap and traces
	# root at once would (the module is in every image either way).
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
	umount "$backup_mnt"

	log "dracut in place of initramfs-tools (.debs from the host: $(cd "$BSNAP_SUITE_FILES/debs" && echo *.deb))"
	mkdir debs
	cp "$BSNAP_SUITE_FILES"/debs/*.deb debs/
	# No network: apt installs the local .debs, removes initramfs-tools
	# (dracut conflicts with it); INITRD=No: its trigger builds no image
	# (built below, once).
	t0=$SECONDS
	INITRD=No DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		-o Dpkg::Use-Pty=0 ./debs/*.deb >apt.log 2>&1 || { cat apt.log; fail "apt-get install dracut failed"; }
	cat apt.log
	log "apt-get install dracut: $((SECONDS - t0)) s"
	command -v dracut >/dev/null || fail "no dracut after its installation"
	if dpkg-query -W -f '${Status}\n' initramfs-tools 2>/dev/null | grep -q '^install ok installed'; then
		fail "initramfs-tools is still installed"
	fi
	install -D -m 0755 "$BSNAP_UNITS/dracut/90bsnap/module-setup.sh" \
		/usr/lib/dracut/modules.d/90bsnap/module-setup.sh
	install -D -m 0755 "$BSNAP_UNITS/dracut/90bsnap/bsnap-reload-root.sh" \
		/usr/lib/dracut/modules.d/90bsnap/bsnap-reload-root.sh
	# What RHEL's dracut configuration has: an image for this host only
	# (only the loaded drivers: virtio_blk, ext4, bsnap ...), no root= of its
	# own (the kernel command line's is used).
	printf '%s\n' 'hostonly="yes"' 'hostonly_cmdline="no"' >/etc/dracut.conf.d/90-bsnap-test.conf
	make_initramfs
	grep -qx systemd-initrd modules.txt || fail "the initramfs has no systemd (dracut's default here)"
	write_some 1
	reboot_and_continue
	;;
2)
	check_reloaded_before_root_mount .bsnap0 yes
	wait_for '"cow": ".bsnap0"' '"root": true'
	write_some 2
	# The next boot through dracut's own /init (no systemd in the image):
	# it sources the hook itself.
	make_initramfs --omit "$systemd_modules"
	if grep -qx systemd-initrd modules.txt; then fail "the initramfs still has systemd"; fi
	reboot_and_continue
	;;
3)
	# Second reboot: the chain still goes on; then the incremental of
	# everything written since the full copy (three boots, each one's early
	# writes included) must give the snapshot bit for bit.
	check_reloaded_before_root_mount .bsnap0 no
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
	log "the CoW file disappears while bsnapd is stopped"
	systemctl stop bsnapd.service
	bsnapctl destroy 0
	[ ! -e /.bsnap1 ] || fail "destroy left /.bsnap1"
	grep -qF '"cow": ".bsnap1"' "$state" || fail "the state file no longer lists root"
	reboot_and_continue
	;;
4)
	check_failed ENOENT "no such CoW file"
	bsnapctl destroy 0
	;;
*)
	fail "unexpected boot $BSNAP_BOOT"
	;;
esac
