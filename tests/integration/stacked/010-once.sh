#!/bin/bash
# bsnap-vm: timeout=600
# A write through a traced stacked device (LVM LV, md raid1, LUKS2) is
# handled once, although the stacking driver splits it and resubmits the
# remainder through submit_bio_noacct (where the hook sits) from kernel text:
#
#   snapshot mode: one 4 MiB O_DIRECT write, not 4 KiB aligned, that the
#     driver splits (an LV segment boundary in its middle; md with
#     max_sectors_kb 64; dm-crypt's 1 MiB limit on write bios) changes
#     exactly the blocks it covers: changed_blocks and the CoW file's used
#     bytes grow by that many blocks and 4 KiB each, no more (a remainder
#     copied again, or mapped onto other blocks, would take more); the image
#     still holds the old blocks, the origin the new data. The same write
#     again copies nothing.
#   incremental mode: the same for another range: changed_blocks grows by
#     exactly its blocks, and not at all when it is written again.
#   The split is seen to happen: the block layer's block_split trace events
#     for the stacked device during the write (each one is a remainder sent
#     back through submit_bio_noacct) must not be zero.
# The filesystem is frozen around the writes, so nothing else writes.
. "$(dirname "$0")/../snapshot/snapshot-lib.bash"
. "$(dirname "$0")/stacked-lib.bash"

once() {
	local kind=$1
	log "=== $kind"
	case $kind in
	lv) stack_lv 6 4 ;; # 6 segments of 16 MiB, alternately on vda and vdb
	md)
		stack_md 96
		echo 64 >/sys/block/md0/queue/max_sectors_kb
		log "md0: max_sectors_kb $(cat /sys/block/md0/queue/max_sectors_kb): md splits larger bios"
		;;
	luks) stack_luks 96 ;;
	esac
	if [ "$kind" = lv ]; then
		# shellcheck disable=SC2046 # one argument per boundary
		once_run "$kind" "$STACK_DEV" "$STACK_DEV" $(stack_lv_boundaries)
	else
		once_run "$kind" "$STACK_DEV" "$STACK_DEV"
	fi
	stack_down
}

snap_load
for kind in lv md luks; do
	once "$kind"
done
snap_unload
log "PASS: each write through an LV, an md raid1 and a LUKS2 device was handled once"
