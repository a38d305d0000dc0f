# shellcheck shell=bash
# Helpers of the paths suite: every path a write can take to a traced
# device's sectors (the whole disk under a traced partition, a partition of
# a traced disk, devices stacked on either) must reach the tracer. Each
# helper writes to sectors of the traced device's file TARGET through
# another device and records what it did; the test then checks the snapshot
# image (must not change) and an incremental backup (must equal the next
# snapshot bit for bit).
. "$(dirname "${BASH_SOURCE[0]}")/../snapshot/snapshot-lib.bash"

MINOR=1
IMAGE=/dev/bsnap$MINOR
PATHS_DM=bsnap-paths-linear
PATHS_LOOP=

_paths_cleanup() {
	local rc=$?
	set +eE
	trap - ERR
	[ -n "$PATHS_LOOP" ] && losetup -d "$PATHS_LOOP"
	dmsetup info "$PATHS_DM" >/dev/null 2>&1 && dmsetup --noudevsync remove "$PATHS_DM"
	dmsetup info bsnap-paths-backup >/dev/null 2>&1 && dmsetup --noudevsync remove bsnap-paths-backup
	(exit "$rc")
	_snap_cleanup
}

paths_load() {
	snap_load
	trap _paths_cleanup EXIT
}

# backup_device DEV ORIGIN: BACKUP becomes a device exactly as large as
# ORIGIN (update-img wants that), the start of DEV under dm-linear
backup_device() {
	modprobe dm-mod 2>/dev/null || true
	dmsetup --noudevsync create bsnap-paths-backup --table "0 $(blockdev --getsz "$2") linear $1 0" ||
		fail "dmsetup create of the backup device failed"
	dmsetup mknodes bsnap-paths-backup
	BACKUP=/dev/mapper/bsnap-paths-backup
}

# target_sector MNT/FILE N: the device sector (relative to the filesystem's
# device) of the file's N-th 4 KiB block; the file must be allocated.
target_sector() {
	stamp extents "$1" | awk -v n="$2" '
		/^#/ { next }
		{ if (n * 8 < $2) { print $1 + n * 8; found = 1; exit } n -= $2 / 8 }
		END { if (!found) exit 1 }' || fail "block $2 of $1 is beyond its extents"
}

# write_direct DEV SECTOR COUNT: COUNT sectors of random data at SECTOR of
# DEV with O_DIRECT (one bio per call, below max_sectors_kb)
write_direct() {
	dd if=/dev/urandom of="$1" bs=512 seek="$2" count="$3" oflag=direct conv=notrunc status=none ||
		fail "write of $3 sectors at $2 of $1 failed"
}

# discard DEV SECTOR COUNT
discard() {
	blkdiscard -f -o $(($2 * 512)) -l $(($3 * 512)) "$1" ||
		fail "discard of $3 sectors at $2 of $1 failed"
}

# via_linear DEV SECTOR COUNT: write COUNT sectors at SECTOR of DEV through a
# dm-linear device mapped over DEV at an offset (kpartx, LVM on a disk).
# device-mapper claims DEV exclusively, which the kernel refuses while the
# traced filesystem (on DEV, a partition of it or the disk under it) is
# mounted: the tests take this path while the tracer is dormant.
via_linear() {
	modprobe dm-mod 2>/dev/null || true
	dmsetup --noudevsync create "$PATHS_DM" --table "0 $(($3 + 64)) linear $1 $(($2 - 64))" ||
		fail "dmsetup create over $1 failed"
	dmsetup mknodes "$PATHS_DM"
	write_direct "/dev/mapper/$PATHS_DM" 64 "$3"
	dmsetup --noudevsync remove "$PATHS_DM"
}

# via_loop DEV SECTOR COUNT: the same through a loop device with an offset,
# buffered (the loop driver writes DEV's page cache, flushed by sync)
via_loop() {
	modprobe loop 2>/dev/null || true
	PATHS_LOOP=$(losetup -f --show -o $((($2 - 8) * 512)) --sizelimit $((($3 + 16) * 512)) "$1") ||
		fail "losetup over $1 failed"
	dd if=/dev/urandom of="$PATHS_LOOP" bs=512 seek=8 count="$3" conv=notrunc,fsync status=none ||
		fail "write through $PATHS_LOOP failed"
	losetup -d "$PATHS_LOOP"
	PATHS_LOOP=
	sync
}

# image_unchanged WHAT: /dev/bsnapN still holds what it did at setup;
# otherwise the path is recorded in LEAKS (the test fails at its end, after
# every path was tried, so that one run names all the broken ones)
LEAKS=()
image_unchanged() {
	if stamp checksum "$IMAGE" --blocks-check "$WORK/image.digests" --max-report 4 >"$WORK/check.log" 2>&1; then
		log "image unchanged after: $1"
	else
		sed 's/^/    /' "$WORK/check.log" | head -8
		LEAKS+=("$1")
		log "IMAGE CHANGED after: $1"
		# the next check compares against the image as it is now
		stamp checksum "$IMAGE" --blocks-out "$WORK/image.digests" >/dev/null
	fi
}

# backup_equals_snapshot WHAT: the backup on BACKUP equals IMAGE bit for bit
backup_equals_snapshot() {
	if stamp compare "$IMAGE" "$BACKUP" --length "$(dev_size "$IMAGE")" >"$WORK/compare.log" 2>&1; then
		log "the backup equals the snapshot: $1"
	else
		sed 's/^/    /' "$WORK/compare.log" | head -12
		LEAKS+=("incremental: $1")
		log "THE BACKUP DIFFERS from the snapshot: $1"
	fi
}

# both_modes FN BASE WHAT: FN BASE (each path once, $CHECK after each) in
# snapshot mode, where the image must not change, then FN at file blocks
# from BASE on in incremental mode, where the next backup must be exact.
# Needs the snapshot of MINOR with CoW file .cow-1 and its full backup.
both_modes() {
	log "snapshot mode: the image must not change"
	CHECK=image_unchanged
	"$1" 0
	log "incremental mode: the next backup must be exact"
	bsnapctl transition-to-incremental "$MINOR"
	CHECK=:
	"$1" "$2"
	bsnapctl transition-to-snapshot -f 32 "$MNT_ORIGIN/.cow-2" "$MINOR"
	"$BSNAP_BIN/update-img" --quiet "$IMAGE" "$MNT_ORIGIN/.cow-1" "$BACKUP" ||
		fail "update-img failed"
	backup_equals_snapshot "writes through $3 in incremental mode"
}

# paths_end: every path tried; fail naming the ones that leaked, else take
# the backup device down and unload the module
paths_end() {
	[ ${#LEAKS[@]} -eq 0 ] || fail "changes missed through: $(printf '%s; ' "${LEAKS[@]}")"
	dmsetup --noudevsync remove bsnap-paths-backup
	snap_unload
}

# dormant_linear MNT DEV SECTOR COUNT: unmount MNT (the tracer goes dormant
# and keeps tracing), write through dm-linear over DEV, mount MNT again
dormant_linear() {
	local mnt=$1 fsdev
	fsdev=$(findmnt -n -o SOURCE "$mnt")
	umount_fs "$mnt"
	via_linear "$2" "$3" "$4"
	mount_fs "$fsdev" "$mnt"
}
