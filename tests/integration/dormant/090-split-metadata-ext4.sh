#!/bin/bash
# bsnap-vm: timeout=400
# With max_sectors_kb at its minimum (4), every write bsnap makes to its CoW
# file is split by the block layer, and the pieces come back through the
# hook from block-core text. Sealing at umount writes the bitmap (and, in
# snapshot mode, drains copies) while new writes are held: holding those
# pieces would deadlock the umount. Snapshot mode, then incremental: umount
# and mount cycles complete, the image keeps its instant, and the next
# incremental is exact.
. "$(dirname "$0")/dormant-lib.bash"

dormant_load
make_fs ext4
queue=/sys/block/${ORIGIN#/dev/}/queue/max_sectors_kb
old=$(cat "$queue")
echo 4 >"$queue"
trap 'echo "$old" >"$queue" 2>/dev/null; _dormant_cleanup' EXIT
churn 0
must bsnapctl setup-snapshot -f 16 "$ORIGIN" "$MNT/.bsnap-cow-1" "$MINOR"
dd if="$IMAGE" of="$BACKUP" bs=4M iflag=direct oflag=direct status=none
for i in 1 2 3; do
	churn "$i" # copies before the first writes of each block
	umount_origin
	expect_state 1 "umount $i (snapshot, split metadata writes)"
	mount_origin
	expect_state 3 "mount $i"
done
same_as_snapshot "snapshot 1 after split-write umounts"
must bsnapctl transition-to-incremental "$MINOR"
for i in 4 5; do
	churn "$i"
	umount_origin
	expect_state 0 "umount $i (incremental)"
	mount_origin
done
next_backup 2
must bsnapctl destroy "$MINOR"
umount_origin
unload_module
log "split CoW writes: seal at umount never waits for itself"
