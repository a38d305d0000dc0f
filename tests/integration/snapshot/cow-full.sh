#!/bin/bash
# A CoW file too small for the writes (ext4 and xfs): a "cow-low" uevent
# comes first (75 % full), then the snapshot fails with ENOSPC ("failed"
# uevent) shown by info --json and /proc/bsnap-info (state failed), reads of
# /dev/bsnapN return EIO, and the origin keeps working and loses nothing:
# every sector written after the failure reads back as written, fsck is clean.
# The xfs round sets the snapshot up with -i (ignore errors): info says so,
# and reads of the failed image succeed instead of failing with EIO. After
# umount and rmmod the failed snapshot's CoW file reloads as incremental
# (reload-snapshot refuses it with EINVAL): the chain goes on.
# bsnap-vm: timeout=600
. "$(dirname "$0")/snapshot-lib.bash"
need_disks 1
snap_load
dev=/dev/${DISKS[0]}
BSNAP_STAMP_NONCE=$(new_nonce)
export BSNAP_STAMP_NONCE
ENOSPC=$(errno_of ENOSPC)
FAILED_BIT=8 # BSNAP_STATE_FAILED
events_start

for fs in ext4 xfs; do
	ignore=()
	[ "$fs" = xfs ] && ignore=(-i)
	log "$fs ${ignore[*]}"
	events_reset
	wipe_disk "$dev"
	make_fs "$fs" "$dev"
	mount_fs "$dev" "$MNT_ORIGIN"
	stamp fill-file "$MNT_ORIGIN/data.stamp" --size 96M --gen 1
	sync
	rm -f "$WORK/data.map"
	cow=$MNT_ORIGIN/cow-small

	# the smallest CoW file setup accepts
	minor=0 falloc=
	for mb in 1 2 4 8 16; do
		run_cmd "$WORK/setup" bsnapctl setup-snapshot "${ignore[@]}" -f "$mb" "$dev" "$cow" "$minor"
		echo "    setup-snapshot -f $mb: exit $RC $(head -1 "$WORK/setup.err")"
		if [ "$RC" = 0 ]; then
			falloc=$mb
			SNAP_MINORS+=("$minor")
			break
		fi
		[ ! -e "/dev/bsnap$minor" ] || fail "a failed setup-snapshot left /dev/bsnap$minor"
		[ ! -e "$cow" ] || fail "a failed setup-snapshot left its CoW file $cow"
	done
	[ -n "$falloc" ] || fail "setup-snapshot refused every CoW size up to 16 MiB"
	wait_for_node "/dev/bsnap$minor" || fail "/dev/bsnap$minor did not appear"
	img=/dev/bsnap$minor
	dd if="$img" of=/dev/null bs=1M count=4 iflag=direct status=none || fail "reading the fresh image failed"
	snap_json "$minor"
	log "with a ${falloc} MiB CoW file: $(cat "$WORK/info.json")"

	log "rewriting all 96 MiB of data.stamp (gen 2), far more than the CoW file holds"
	stamp fill-file "$MNT_ORIGIN/data.stamp" --gen 2 || fail "origin writes failed after the CoW file filled"
	stamp overwrite-file "$MNT_ORIGIN/data.stamp" --gen 3 --seed 5 --ops 300 --threads 3 --direct \
		--map "$WORK/data.map" || fail "origin writes failed on a failed snapshot"
	sync

	snap_json "$minor"
	log "info after: $(cat "$WORK/info.json")"
	err=$(json_get "$WORK/info.json" error)
	bits=$(json_get "$WORK/info.json" state_bits)
	assert_eq "$err" "-$ENOSPC" "info error (negative errno) of a full CoW file"
	[ $((bits & FAILED_BIT)) != 0 ] || fail "info state_bits $bits: the failed bit ($FAILED_BIT) is not set"
	log "state: $(json_get "$WORK/info.json" state)"
	proc_device "$minor"
	assert_eq "$(json_get "$WORK/proc.json" error)" "-$ENOSPC" "/proc/bsnap-info error"
	wait_event failed "$minor"
	low=$(grep -n "^cow-low $minor 0$" "$WORK/events.log" | head -1 | cut -d: -f1)
	failed=$(grep -n "^failed $minor $ENOSPC$" "$WORK/events.log" | head -1 | cut -d: -f1)
	[ -n "$low" ] || fail "no cow-low uevent before the CoW file filled; seen: $(tr '\n' ';' <"$WORK/events.log")"
	if [ -z "$failed" ] || [ "$low" -ge "$failed" ]; then
		fail "expected cow-low, then failed with $ENOSPC; seen: $(tr '\n' ';' <"$WORK/events.log")"
	fi
	[ "$(grep -c "^cow-low $minor " "$WORK/events.log")" = 1 ] || fail "cow-low sent more than once"

	assert_eq "$(json_get "$WORK/info.json" ignore_errors)" "$([ -n "${ignore[*]}" ] && echo true || echo false)" \
		"info ignore_errors"
	drop_caches
	if [ -n "${ignore[*]}" ]; then
		# -i: the failed image stays readable
		for args in "bs=4k count=1" "bs=1M count=8 skip=100" "bs=64k count=1 skip=1000"; do
			run_cmd "$WORK/read" dd if="$img" of=/dev/null iflag=direct status=none $args
			[ "$RC" = 0 ] || fail "dd $args from the failed image with -i: $(head -1 "$WORK/read.err")"
		done
	else
		# the image: every read fails with EIO, never returns (possibly wrong) data
		for args in "bs=4k count=1" "bs=1M count=8 skip=100" "bs=64k count=1 skip=1000"; do
			run_cmd "$WORK/read" dd if="$img" of=/dev/null iflag=direct status=none $args
			[ "$RC" != 0 ] || fail "dd $args from the failed image $img succeeded"
			grep -q "$(errno_text "$(errno_of EIO)")" "$WORK/read.err" ||
				fail "dd $args from the failed image: expected EIO, got: $(head -1 "$WORK/read.err")"
		done
		run_cmd "$WORK/read" dd if="$img" of=/dev/null bs=4k count=1 status=none
		[ "$RC" != 0 ] || fail "a buffered read of the failed image succeeded"
	fi

	# the origin lost nothing
	drop_caches
	stamp verify-file "$MNT_ORIGIN/data.stamp" --gen 2 --map "$WORK/data.map" ||
		fail "the origin lost writes after the CoW file filled"
	echo more >"$MNT_ORIGIN/after-failure" && sync || fail "the origin no longer takes writes"

	# The change map survives the failure: after umount (sealed "index
	# only") and an rmmod, reload-incremental picks the chain up (what
	# bsnapd does for a failed snapshot); reload-snapshot would refuse.
	umount_fs "$MNT_ORIGIN"
	unload_module
	snap_load
	expect_fail_errno EINVAL "$WORK/rs" bsnapctl reload-snapshot "$dev" cow-small "$minor"
	snap_destroy "$minor"
	run_cmd "$WORK/ri" bsnapctl reload-incremental "${ignore[@]}" "$dev" cow-small "$minor"
	[ "$RC" = 0 ] || fail "reload-incremental of the failed snapshot's CoW file exited $RC: $(head -1 "$WORK/ri.err")"
	SNAP_MINORS+=("$minor")
	mount_fs "$dev" "$MNT_ORIGIN"
	snap_json "$minor"
	assert_eq "$(json_get "$WORK/info.json" state_bits)" 2 "state after reload-incremental and mount (active incremental)"
	assert_eq "$(json_get "$WORK/info.json" error)" 0 "error after reload-incremental"
	assert_eq "$(json_get "$WORK/info.json" ignore_errors)" "$([ -n "${ignore[*]}" ] && echo true || echo false)" \
		"ignore_errors after reload"

	snap_destroy "$minor"
	[ ! -e "$cow" ] || rm -f "$cow" || fail "cannot remove the CoW file after destroy"
	umount_fs "$MNT_ORIGIN"
	fsck_n "$fs" "$dev" >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck -n of the origin"; }
	# and it still mounts with the data intact
	mount_fs "$dev" "$MNT_ORIGIN"
	stamp verify-file "$MNT_ORIGIN/data.stamp" --gen 2 --map "$WORK/data.map" ||
		fail "the origin's data is wrong after remount"
	umount_fs "$MNT_ORIGIN"
done
snap_unload
