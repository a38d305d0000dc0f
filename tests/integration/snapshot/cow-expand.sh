#!/bin/bash
# Growing the CoW file of a running snapshot (ext4 and xfs), as bsnapd does:
# the module sends a "cow-low" uevent once 75 % of the data area is used;
# expand-cow-file then grows the file while writes go on, and the snapshot
# survives more than three times the copied data the file first held. The image
# stays the origin at the snapshot instant, block for block (digests taken
# right after setup), through the growth, an umount/mount cycle (the grown
# file is found again with the same size and extents) and an rmmod + reload
# (the header on disk describes the grown file). The file stays pinned.
# Refusals: no space (ENOSPC, the file keeps its size, and the next mount
# still accepts it), a file that is not the CoW file (EINVAL), a minor in
# incremental mode (EINVAL), an unknown minor (ENOENT).
# bsnap-vm: timeout=900
. "$(dirname "$0")/snapshot-lib.bash"
need_disks 1
snap_load
dev=/dev/${DISKS[0]}
BSNAP_STAMP_NONCE=$(new_nonce)
export BSNAP_STAMP_NONCE

# uevents straight from the kernel's netlink socket (no udevd needed):
# one line per bsnap event, "EVENT MINOR ERROR".
events_start() {
	python3 -u - >"$WORK/events.log" 2>&1 <<'EOF' &
import socket
s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15)  # NETLINK_KOBJECT_UEVENT
s.bind((0, 1))
print("listening", flush=True)
while True:
    env = dict(f.split("=", 1) for f in s.recv(65536).decode(errors="replace").split("\0")[1:] if "=" in f)
    if "BSNAP_EVENT" in env:
        print(env["BSNAP_EVENT"], env.get("BSNAP_MINOR"), env.get("BSNAP_ERROR"), flush=True)
EOF
	BG_PIDS+=("$!")
	for _ in $(seq 50); do grep -q listening "$WORK/events.log" 2>/dev/null && return 0; sleep 0.1; done
	fail "the uevent listener did not start"
}

# wait_event NAME MINOR: the listener saw it (within 10 s)
wait_event() {
	for _ in $(seq 100); do grep -q "^$1 $2 " "$WORK/events.log" && return 0; sleep 0.1; done
	fail "no '$1' uevent for minor $2; seen: $(tr '\n' ';' <"$WORK/events.log")"
}

file_size() { stat -c %s "$1"; }

events_start
minor=0
for fs in ext4 xfs; do
	log "$fs"
	wipe_disk "$dev"
	make_fs "$fs" "$dev"
	mount_fs "$dev" "$MNT_ORIGIN"
	stamp fill-file "$MNT_ORIGIN/data.stamp" --size 64M --gen 1
	sync
	cow=$MNT_ORIGIN/cow
	snap_setup -f 24 "$dev" "$cow" "$minor"
	img=/dev/bsnap$minor
	stamp checksum "$img" --blocks-out "$WORK/image.digests" >/dev/null
	size0=$(file_size "$cow")
	snap_json "$minor"
	log "setup: CoW file $size0 bytes, $(json_get "$WORK/info.json" cow_used_bytes) in use"
	grep -q "^cow-low $minor " "$WORK/events.log" && fail "cow-low before any write"

	log "write an 18 MiB file: past 75 % of the data area"
	stamp fill-file "$MNT_ORIGIN/data2.stamp" --size 18M --gen 1 || fail "origin writes failed"
	sync
	wait_event cow-low "$minor"
	snap_json "$minor"
	assert_eq "$(json_get "$WORK/info.json" error)" 0 "snapshot error after cow-low"

	log "refusals"
	expect_fail_errno ENOENT "$WORK/e1" bsnapctl expand-cow-file 8 $((minor + 1))
	echo x >"$MNT_ORIGIN/other"
	expect_fail_errno EINVAL "$WORK/e2" bsnapctl expand-cow-file 8 "$minor" "$MNT_ORIGIN/other"
	avail=$(df -B1 --output=avail "$MNT_ORIGIN" | tail -1)
	expect_fail_errno ENOSPC "$WORK/e3" bsnapctl expand-cow-file $(((avail >> 20) + 64)) "$minor"
	assert_eq "$(file_size "$cow")" "$size0" "CoW file size after a refused growth"

	log "grow by 96 MiB while writers run (at most 3 MiB of new copies)"
	stamp overwrite-file "$MNT_ORIGIN/data.stamp" --gen 3 --seed 2 --ops 200 --max-io 16K --threads 2 --direct \
		--map "$WORK/data.map" >"$WORK/writers.log" 2>&1 &
	writers=$!
	BG_PIDS+=("$writers")
	run_cmd "$WORK/grow" bsnapctl expand-cow-file 96 "$minor"
	[ "$RC" = 0 ] || fail "expand-cow-file 96 $minor exited $RC: $(head -1 "$WORK/grow.err")"
	wait "$writers" || { cat "$WORK/writers.log"; fail "origin writes failed while growing"; }
	wait_event expanded "$minor"
	size1=$(file_size "$cow")
	assert_eq "$size1" $((size0 + 96 * 1024 * 1024)) "CoW file size after growth"
	snap_json "$minor"
	assert_eq "$(json_get "$WORK/info.json" falloc_size)" "$size1" "info falloc_size after growth"
	rm -f "$cow" 2>/dev/null && fail "the grown CoW file could be deleted (not pinned)"
	truncate -s 0 "$cow" 2>/dev/null && fail "the grown CoW file could be truncated (not pinned)"

	log "rewrite all 64 MiB: more than twice what the file first held"
	stamp fill-file "$MNT_ORIGIN/data.stamp" --gen 4 || fail "origin writes failed"
	rm -f "$WORK/data.map"
	sync
	snap_json "$minor"
	log "info: $(cat "$WORK/info.json")"
	assert_eq "$(json_get "$WORK/info.json" error)" 0 "snapshot error after the rewrite"
	used=$(json_get "$WORK/info.json" cow_used_bytes)
	[ "$used" -gt "$size0" ] || fail "only $used bytes of the CoW file in use: the test did not need the growth"
	stamp checksum "$img" --blocks-check "$WORK/image.digests" --max-report 10 ||
		fail "the image changed after the growth"

	log "umount and mount: the grown file is found again"
	umount_fs "$MNT_ORIGIN"
	mount_fs "$dev" "$MNT_ORIGIN"
	snap_json "$minor"
	assert_eq "$(json_get "$WORK/info.json" error)" 0 "snapshot error after remount"
	assert_eq "$(json_get "$WORK/info.json" state_bits)" 3 "state after remount (snapshot, active)"
	stamp verify-file "$MNT_ORIGIN/data.stamp" --gen 4 || fail "the origin lost writes"

	log "umount, rmmod, insmod, reload-snapshot, mount"
	umount_fs "$MNT_ORIGIN"
	unload_module
	snap_load
	run_cmd "$WORK/reload" bsnapctl reload-snapshot "$dev" cow "$minor"
	[ "$RC" = 0 ] || fail "reload-snapshot of the grown file exited $RC: $(head -1 "$WORK/reload.err")"
	wait_for_node "$img" || fail "$img did not come back after reload"
	mount_fs "$dev" "$MNT_ORIGIN"
	snap_json "$minor"
	assert_eq "$(json_get "$WORK/info.json" error)" 0 "snapshot error after reload"
	assert_eq "$(json_get "$WORK/info.json" falloc_size)" "$size1" "falloc_size after reload"
	stamp checksum "$img" --blocks-check "$WORK/image.digests" --max-report 10 ||
		fail "the reloaded image differs from the snapshot"
	image_mnt=/mnt/bsnap-image
	mkdir -p "$image_mnt"
	mount -o "$(image_mount_opts "$fs")" "$img" "$image_mnt" || fail "the image does not mount"
	stamp verify-file "$image_mnt/data.stamp" --gen 1 || fail "the image's data.stamp is not generation 1"
	umount "$image_mnt"

	log "incremental mode refuses to grow"
	run_cmd "$WORK/ti" bsnapctl transition-to-incremental "$minor"
	[ "$RC" = 0 ] || fail "transition-to-incremental exited $RC"
	expect_fail_errno EINVAL "$WORK/e4" bsnapctl expand-cow-file 8 "$minor" "$cow"

	snap_destroy "$minor"
	rm -f "$cow" "$MNT_ORIGIN/other" "$MNT_ORIGIN/data2.stamp"
	umount_fs "$MNT_ORIGIN"
	fsck_n "$fs" "$dev" >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck -n of the origin"; }
	cp "$WORK/events.log" "$WORK/events.log.$fs"
	minor=$((minor + 1))
done
log "events: $(tr '\n' ';' <"$WORK/events.log")"
snap_unload
