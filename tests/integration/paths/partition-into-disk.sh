#!/bin/bash
# bsnap-vm: timeout=600
# A traced WHOLE DISK written through a partition added on top of it (BLKPG,
# as `partx -a` or a partitioning tool does on a live disk) or through
# devices stacked on that partition (a loop device with an offset, and
# dm-linear while the tracer is dormant): the writes and discards are copied in snapshot mode and recorded
# in incremental mode. Proven by the image not changing at all and by an
# incremental backup equal to the next snapshot bit for bit.
# (Issue 13: before, the partition's device number matched no tracer.)
. "$(dirname "$0")/paths-lib.bash"
need_disks 2
paths_load

disk=/dev/${DISKS[1]}
wipe_disk "$disk"
make_fs ext4 "$disk"
mount_fs "$disk" "$MNT_ORIGIN"
F=$MNT_ORIGIN/target
dd if=/dev/urandom of="$F" bs=1M count=8 conv=fsync status=none

backup_device "/dev/${DISKS[0]}" "$disk"
snap_setup -f 32 "$disk" "$MNT_ORIGIN/.cow-1" "$MINOR"
dd if="$IMAGE" of="$BACKUP" bs=1M iflag=direct oflag=direct status=none
stamp checksum "$IMAGE" --blocks-out "$WORK/image.digests" >/dev/null

# A partition over the file's first extent (at least 4 MiB of it)
read -r pstart plen < <(stamp extents "$F" | grep -v '^#' | head -1)
[ "$plen" -ge 8192 ] || fail "the file's first extent is only $plen sectors"
plen=8192
addpart "$disk" 1 "$pstart" "$plen" || fail "addpart $disk 1 $pstart $plen failed"
part=${disk}1
wait_for_node "$part" || fail "$part did not appear"
log "$part: sectors [$pstart, $((pstart + plen))) of the traced $disk"

every_path() {
	local s=$1
	write_direct "$part" "$s" 16
	$CHECK "O_DIRECT write to $part"
	discard "$part" $((s + 32)) 128
	$CHECK "discard of $part"
	dormant_linear "$MNT_ORIGIN" "$part" $((s + 320)) 32
	$CHECK "dm-linear over $part (while dormant)"
	via_loop "$part" $((s + 480)) 32
	$CHECK "loop device over $part"
}

both_modes every_path 2048 "$part"

delpart "$disk" 1 || fail "delpart $disk 1 failed"
snap_destroy "$MINOR"
umount_fs "$MNT_ORIGIN"
paths_end
