# shellcheck shell=bash
# reboot.bash incremental|snapshot ext4|xfs ro|unmounted|rw
# A guest shutdown while tracing, then boot again, insmod, reload, mount:
#   ro         the filesystem remounted read-only first (what a shutdown does
#              to the root filesystem): dormant at the reboot notifier
#   unmounted  umount first (what a shutdown does to the others)
#   rw         still mounted read-write when the guest powers off
#              (poweroff -f, as the harness does)
# In every case the header must be clean: reload-MODE works (state
# unverified); with ro and unmounted, blocks written on the raw device while
# unverified are counted;
# the first mount makes it active with the same seqid and chain UUID; in
# snapshot mode /dev/bsnapN still equals the backup of the pre-reboot
# snapshot (then transition-to-incremental); after more writes,
# transition-to-snapshot + update-img: the backup equals the new snapshot bit
# for bit. The backup lives on its own disk, which survives the reboot.
# rw: the same: the reboot notifier seals a filesystem still mounted
# read-write too; whatever its next mount replays must be in the incremental.
. "$(dirname "${BASH_SOURCE[0]}")/dormant-lib.bash"

MODE=$1 FS=$2 HOW=$3
case "$TEST_BOOT" in
1)
	dormant_load
	make_fs "$FS"
	churn 0
	raw_target 4
	start_chain
	churn 1
	next_backup 2
	churn 2
	if [ "$MODE" = snapshot ]; then
		# snapshot 3, backed up; then writes the snapshot must not show
		take_snapshot 3
		apply_incremental 3
		rm -f "$MNT/.bsnap-cow-2"
		churn 3
		cow=3 bits=1
	else
		cow=2 bits=0
	fi
	read_info
	echo "$cow $bits $(info_num seqid) $(info_str uuid)" >"$KEEP/chain"
	case $HOW in
	unmounted)
		umount_origin
		expect_state "$bits" "unmounted before the reboot"
		;;
	ro)
		remount ro
		expect_state "$bits" "remounted read-only before the reboot"
		;;
	rw)
		# dirty metadata in the journal, committed, not checkpointed
		echo "in the journal" >"$MNT/journaled"
		sync
		expect_state $((bits | ST_ACTIVE)) "still mounted read-write at the reboot"
		;;
	esac
	log "rebooting ($MODE, $HOW)"
	reboot_and_continue
	;;
2)
	read -r cow bits seqid uuid <"$KEEP/chain"
	raw_target_load
	dormant_load
	mkdir -p "$MNT"
	rc=0
	bsnapctl "reload-$MODE" "$ORIGIN" ".bsnap-cow-$cow" "$MINOR" 2>"$WORK/reload.err" || rc=$?
	log "reload-$MODE .bsnap-cow-$cow: exit $rc $(head -1 "$WORK/reload.err")"
	[ "$rc" = 0 ] || fail "reload-$MODE .bsnap-cow-$cow after a shutdown ($HOW) exited $rc: $(head -1 "$WORK/reload.err")"
	expect_state $((bits | ST_UNVERIFIED)) "after reload-$MODE"
	expect_proc_state $((bits | ST_UNVERIFIED)) "after reload-$MODE"
	if [ "$HOW" != rw ]; then
		before=$(info_num changed_blocks)
		raw_write 40 64
		read_info
		log "changed_blocks: $before before dd of 64 blocks while unverified, $(info_num changed_blocks) after"
		(($(info_num changed_blocks) > before)) || fail "dd while unverified: changed_blocks did not grow ($before)"
	fi
	mount_origin
	expect_state $((bits | ST_ACTIVE)) "after the first mount"
	assert_eq "$(info_num seqid)" "$seqid" "seqid after the reboot"
	assert_eq "$(info_str uuid)" "$uuid" "chain UUID after the reboot"
	if [ "$MODE" = snapshot ]; then
		same_as_snapshot "snapshot $cow after the reboot"
		must bsnapctl transition-to-incremental "$MINOR"
		expect_state 2 "transition-to-incremental after the reboot"
	fi
	churn 4
	next_backup $((cow + 1))
	must bsnapctl destroy "$MINOR"
	umount_origin
	unload_module
	log "after the reboot ($MODE, $HOW) the incremental equals the snapshot"
	;;
*) fail "unexpected boot $TEST_BOOT of this test" ;;
esac
