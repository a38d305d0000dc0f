# shellcheck shell=bash
# crash.bash incremental|snapshot ext4|xfs
# The guest is reset in the middle of writes (sysrq b: no sync, no unmount,
# no reboot notifier), then booted again. bsnap cannot know what was written
# after its CoW file was last flushed, so the only acceptable outcome is the
# explicit "take a full backup" error, never an incremental: reload exits
# EUCLEAN with one line; the device is registered unverified and failed with
# EUCLEAN in info and /proc/bsnap-info; the filesystem still mounts (no
# EBUSY), the error stays; transition-to-snapshot is refused and makes no
# image; destroy works.
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
		take_snapshot 2
		apply_incremental 2
		cow=2 bits=1
	else
		cow=1 bits=0
	fi
	echo "$cow $bits" >"$KEEP/chain"
	start_writer 0
	nap 2
	log "resetting the guest in the middle of writes ($MODE)"
	crash_and_continue
	;;
2)
	read -r cow bits <"$KEEP/chain"
	dormant_load
	mkdir -p "$MNT"
	expect_fail EUCLEAN "reload-$MODE after a crash" \
		bsnapctl "reload-$MODE" "$ORIGIN" ".bsnap-cow-$cow" "$MINOR"
	expect_state $((bits | ST_UNVERIFIED | ST_FAILED)) "after the refused reload"
	expect_error EUCLEAN "after the refused reload"
	expect_proc_state $((bits | ST_UNVERIFIED | ST_FAILED)) "after the refused reload"
	mount_origin # replays the journal; must not be refused because of bsnap
	read_info
	log "after the mount: $(_state_line)"
	expect_error EUCLEAN "after the mount"
	echo after-crash >"$MNT/after-crash"
	sync -f "$MNT"
	if [ "$MODE" = snapshot ]; then
		rc=0
		bsnapctl transition-to-incremental "$MINOR" 2>"$WORK/tti.err" || rc=$?
		log "transition-to-incremental of the failed snapshot: exit $rc $(head -1 "$WORK/tti.err")"
		expect_error EUCLEAN "after transition-to-incremental"
	fi
	rc=0
	bsnapctl transition-to-snapshot -f 16 "$MNT/.bsnap-cow-next" "$MINOR" 2>"$WORK/tts.err" || rc=$?
	log "transition-to-snapshot on the failed device: exit $rc: $(head -1 "$WORK/tts.err")"
	[ "$rc" != 0 ] || fail "transition-to-snapshot succeeded on a device whose chain broke in a crash"
	expect_error EUCLEAN "after the refused transition-to-snapshot"
	read_info
	(($(info_num state) & ST_SNAPSHOT)) && [ "$MODE" = incremental ] &&
		fail "the failed incremental device is in snapshot mode: $(_state_line)"
	if [ "$MODE" = incremental ] && [ -e "$IMAGE" ]; then
		fail "$IMAGE exists after a refused transition-to-snapshot"
	fi
	must bsnapctl destroy "$MINOR"
	expect_untraced "after destroy"
	umount_origin
	unload_module
	log "crash in $MODE mode: explicit EUCLEAN, no incremental"
	;;
*) fail "unexpected boot $TEST_BOOT of this test" ;;
esac
