#!/bin/bash
# bsnap-vm: timeout=600
# bsnapd in a real systemd boot: a second filesystem traced incrementally is
# reloaded by bsnap-reload.service before fstab mounts it, across reboots with
# writes in between; each incremental (update-img) equals the snapshot bit for
# bit; bsnapd killed with SIGKILL is restarted and loses nothing; a power
# cut while mounted read-write costs an incremental, not the chain (write
# intent): the reload goes on and the next incremental is exact; a corrupted
# state file is moved aside and nothing is reloaded from it.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../../integration/lib.sh"
unset -f bsnapctl
: "${BSNAPD_BUILD:?}" "${BSNAP_KO:?}" "${BSNAP_UNITS:?}"

state=/var/lib/bsnap/state.json
dev=/dev/vda
mnt=/srv/data
backup=/var/tmp/backup.img

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

journal() { journalctl -b --no-pager -o cat "$@"; }

# Incremental check: new snapshot, update-img with the previous CoW file,
# the backup equals the snapshot, back to incremental.
incremental_roundtrip() { # old_cow new_cow
	bsnapctl transition-to-snapshot "$mnt/$2" 0
	update-img /dev/bsnap0 "$mnt/$1" "$backup"
	cmp "$backup" /dev/bsnap0 || fail "backup differs from the snapshot after update-img $1"
	log "incremental $1 -> $2: backup equals the snapshot"
	rm -f "$mnt/$1"
	bsnapctl transition-to-incremental 0
	wait_for "\"cow\": \"$2\"" '"mode": "incremental"'
}

write_some() { # tag
	dd if=/dev/urandom of="$mnt/file-$1" bs=1M count=4 status=none
	echo "$1" >>"$mnt/log"
	sync
}

case "$BSNAP_BOOT" in
1)
	install -m 0755 "$BSNAPD_BUILD/daemon/bsnapd" "$BSNAPD_BUILD/cli/bsnapctl" \
		"$BSNAPD_BUILD/cli/update-img" /usr/sbin/
	install -D -m 0644 "$BSNAP_KO" "/lib/modules/$(uname -r)/extra/bsnap.ko"
	depmod
	install -m 0644 "$BSNAP_UNITS/bsnapd.service" "$BSNAP_UNITS/bsnap-reload.service" \
		/etc/systemd/system/
	systemctl daemon-reload
	systemctl enable bsnapd.service
	assert_eq "$(systemctl is-enabled bsnap-reload.service)" enabled "bsnap-reload enabled (Also=)"

	mkfs.ext4 -q -F "$dev"
	uuid=$(blkid -o value -s UUID "$dev")
	mkdir -p "$mnt"
	echo "UUID=$uuid $mnt ext4 defaults 0 2" >>/etc/fstab
	systemctl daemon-reload
	mount "$mnt"

	modprobe bsnap
	systemctl start bsnapd.service
	assert_eq "$(systemctl is-active bsnapd.service)" active "bsnapd active"
	bsnapctl setup-snapshot "$dev" "$mnt/.bsnap0" 0
	dd if=/dev/bsnap0 of="$backup" bs=1M status=none
	log "full backup taken"
	bsnapctl transition-to-incremental 0
	wait_for "\"fs_uuid\": \"$uuid\"" '"cow": ".bsnap0"' '"mode": "incremental"' '"root": false'
	cat "$state"
	bsnapctl status
	write_some 1
	reboot_and_continue
	;;
2)
	assert_eq "$(systemctl is-active bsnap-reload.service)" active "bsnap-reload.service"
	journal -u bsnap-reload.service
	journal -u bsnap-reload.service | grep -q "reloaded, unverified until mounted" ||
		fail "bsnap-reload.service did not reload minor 0"
	assert_eq "$(systemctl is-active bsnapd.service)" active "bsnapd.service"
	bsnapctl status
	bsnapctl status --json | grep -q '"activity": "active"' || fail "minor 0 is not active"
	write_some 2
	incremental_roundtrip .bsnap0 .bsnap1

	log "SIGKILL bsnapd: systemd restarts it, the state file stays"
	before=$(cat "$state")
	pid=$(systemctl show -P MainPID bsnapd.service)
	kill -9 "$pid"
	for ((i = 0; i < 100; i++)); do
		new=$(systemctl show -P MainPID bsnapd.service)
		[ "$new" != 0 ] && [ "$new" != "$pid" ] &&
			[ "$(systemctl is-active bsnapd.service)" = active ] && break
		sleep 0.3
	done
	[ "$new" != "$pid" ] || fail "bsnapd was not restarted"
	assert_eq "$(cat "$state")" "$before" "state file after a restart"
	write_some 3
	reboot_and_continue
	;;
3)
	assert_eq "$(systemctl is-active bsnap-reload.service)" active "bsnap-reload.service"
	incremental_roundtrip .bsnap1 .bsnap2
	journal -u bsnapd.service | tail -n 20
	log "power cut while mounted read-write"
	write_some 4
	crash_and_continue
	;;
4)
	journal -u bsnap-reload.service
	assert_eq "$(systemctl is-active bsnap-reload.service)" active "bsnap-reload.service after a crash"
	journal -u bsnap-reload.service | grep -q "reloaded, unverified until mounted" ||
		fail "bsnap-reload.service did not reload minor 0 after the crash"
	journal -k | grep -q "bsnap0: the CoW file was in use at a crash" ||
		fail "the kernel log does not say the CoW file was in use at a crash"
	bsnapctl status
	bsnapctl status --json | grep -q '"activity": "active"' || fail "minor 0 is not active"
	log "the power cut cost an incremental, not the chain"
	write_some 5
	incremental_roundtrip .bsnap2 .bsnap3

	log "corrupting the state file"
	systemctl stop bsnapd.service
	sed -i 's/"seqid": [0-9]*/"seqid": 7/' "$state"
	reboot_and_continue
	;;
5)
	journal -u bsnap-reload.service
	assert_eq "$(systemctl is-failed bsnap-reload.service)" failed "bsnap-reload.service"
	assert_eq "$(systemctl show -P ExecMainStatus bsnap-reload.service)" 74 "exit status (EBADMSG)"
	journal -u bsnap-reload.service | grep -q "STATE FILE UNUSABLE" ||
		fail "no clear message about the corrupt state file"
	ls /var/lib/bsnap/state.json.corrupt-* || fail "the corrupt file was not kept aside"
	if grep -q '"minor"' /proc/bsnap-info 2>/dev/null; then
		fail "a device was reloaded from a corrupt file"
	fi
	# bsnapd starts from nothing and says why.
	assert_eq "$(systemctl is-active bsnapd.service)" active "bsnapd.service"
	wait_for '"devices": []'
	log "corrupt state file: moved aside, nothing reloaded, bsnapd running"
	;;
*)
	fail "unexpected boot $BSNAP_BOOT"
	;;
esac
