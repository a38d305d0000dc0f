# shellcheck shell=bash
# crash.bash incremental|snapshot ext4|xfs
# The guest is reset in the middle of writes (sysrq b: no sync, no unmount,
# no reboot notifier), then booted again. A crash must cost an incremental,
# never the chain (issue 15, write intent: uapi/bsnap_cow.h):
# - incremental mode: reload-incremental of the CoW file in use succeeds,
#   the journal replay at mount is recorded, and the next incremental,
#   applied to the last backup, gives the next snapshot bit for bit;
# - snapshot mode, the backup of snapshot 2 never finished: the snapshot is
#   lost (reload-snapshot refuses with EUCLEAN, with one line), but
#   reload-incremental of its file goes on, and the union of the changes of
#   files 1 and 2 (update-img with both, in order) brings the backup of
#   snapshot 1 to snapshot 3 bit for bit.
. "$(dirname "${BASH_SOURCE[0]}")/dormant-lib.bash"

MODE=$1 FS=$2
case "$TEST_BOOT" in
1)
	dormant_load
	make_fs "$FS"
	churn 0
	start_chain
	churn 1
	if [ "$MODE" = snapshot ]; then
		# The backup of snapshot 2 is running: it never completes.
		take_snapshot 2
		cow=2
	else
		cow=1
	fi
	echo "$cow" >"$KEEP/chain"
	start_writer 0
	nap 2
	log "resetting the guest in the middle of writes ($MODE)"
	crash_and_continue
	;;
2)
	read -r cow <"$KEEP/chain"
	dormant_load
	mkdir -p "$MNT"
	if [ "$MODE" = snapshot ]; then
		expect_fail EUCLEAN "reload-snapshot of the snapshot in use at the crash" \
			bsnapctl reload-snapshot "$ORIGIN" ".bsnap-cow-$cow" "$MINOR"
		expect_state $((ST_SNAPSHOT | ST_UNVERIFIED | ST_FAILED)) "after the refused reload-snapshot"
		must bsnapctl destroy "$MINOR"
	fi
	must bsnapctl reload-incremental "$ORIGIN" ".bsnap-cow-$cow" "$MINOR"
	expect_state "$ST_UNVERIFIED" "after reload-incremental of the crashed file"
	dmesg | grep -q "in use at a crash" || fail "reload did not say the file was in use at a crash"
	mount_origin # replays the journal: recorded like any write
	expect_state "$ST_ACTIVE" "after the mount"
	churn 2
	next=$((cow + 1))
	take_snapshot "$next"
	if [ "$MODE" = snapshot ]; then
		# Backup = snapshot 1: files 1 (1 -> 2) and 2 (2 -> 3), in order.
		update_img --quiet "$IMAGE" "$MNT/.bsnap-cow-1" "$MNT/.bsnap-cow-2" "$BACKUP" \
			>"$WORK/update-img.log" 2>&1 ||
			{ cat "$WORK/update-img.log"; fail "update-img from .bsnap-cow-1 and -2 failed"; }
		same_as_snapshot "incremental 1 -> 3 across the lost snapshot 2"
	else
		apply_incremental "$next"
	fi
	must bsnapctl destroy "$MINOR"
	expect_untraced "after destroy"
	umount_origin
	fsck_origin
	unload_module
	log "crash in $MODE mode: the chain went on, the incremental is exact"
	;;
*) fail "unexpected boot $TEST_BOOT of this test" ;;
esac
