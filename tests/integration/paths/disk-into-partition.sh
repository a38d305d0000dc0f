#!/bin/bash
# bsnap-vm: timeout=600
# Writes and discards sent to the WHOLE DISK under a traced partition, or to
# devices stacked on the whole disk (a loop device with an offset, and
# dm-linear while the tracer is dormant), that land in the partition are copied in snapshot mode and
# recorded in incremental mode, exactly as if sent to the partition; a write
# or discard that straddles the partition's edges is split there (the part
# outside is not the tracer's). Proven by the image not changing at all and
# by an incremental backup equal to the next snapshot bit for bit.
# (Issue 13: before, a bio was matched by its exact device number, so every
# one of these paths changed the image or was missing from the backup.)
. "$(dirname "$0")/paths-lib.bash"
need_disks 2
paths_load

disk=/dev/${DISKS[1]}
wipe_disk "$disk"
printf 'label: dos\n,96M,L\n,320M,L\n,,L\n' | sfdisk -q --wipe always "$disk" >/dev/null ||
	fail "sfdisk $disk failed"
origin=${disk}2
wait_for_node "$origin" && wait_for_node "${disk}3" || fail "partitions of $disk did not appear"
start=$(cat "/sys/class/block/${origin#/dev/}/start")
end=$((start + $(cat "/sys/class/block/${origin#/dev/}/size")))
log "origin $origin: sectors [$start, $end) of $disk"

make_fs ext4 "$origin"
mount_fs "$origin" "$MNT_ORIGIN"
F=$MNT_ORIGIN/target
dd if=/dev/urandom of="$F" bs=1M count=8 conv=fsync status=none

backup_device "/dev/${DISKS[0]}" "$origin"
snap_setup -f 32 "$origin" "$MNT_ORIGIN/.cow-1" "$MINOR"
dd if="$IMAGE" of="$BACKUP" bs=1M iflag=direct oflag=direct status=none
stamp checksum "$IMAGE" --blocks-out "$WORK/image.digests" >/dev/null

# on_disk N: the sector of the disk that holds the file's N-th 4 KiB block
on_disk() { echo $((start + $(target_sector "$F" "$1"))); }

# every_path BASE: one write or discard through each path, at file blocks
# from BASE on; CHECK runs after each
every_path() {
	local b=$1
	# virtio-blk's serial number comes by a passthrough command that only
	# reads: it must leave the tracer alone (the image would fail to read)
	cat "/sys/block/${disk#/dev/}/serial" >/dev/null
	write_direct "$disk" "$(on_disk "$b")" 16
	$CHECK "O_DIRECT write to $disk"
	discard "$disk" "$(on_disk $((b + 4)))" 128
	$CHECK "discard of $disk"
	write_direct "$disk" $((end - 8)) 16
	$CHECK "write to $disk across the end of $origin"
	# (in snapshot mode the first block was copied already: the thaw at
	# setup rewrote ext4's superblock there; the backup checks this one)
	write_direct "$disk" $((start - 8)) 16
	$CHECK "write to $disk across the start of $origin"
	discard "$disk" $((end - 64)) 128
	$CHECK "discard of $disk across the end of $origin"
	dormant_linear "$MNT_ORIGIN" "$disk" "$(on_disk $((b + 40)))" 32
	$CHECK "dm-linear over $disk (while dormant)"
	via_loop "$disk" "$(on_disk $((b + 60)))" 32
	$CHECK "loop device over $disk"
}

both_modes every_path 100 "$disk"

snap_destroy "$MINOR"
umount_fs "$MNT_ORIGIN"
paths_end
