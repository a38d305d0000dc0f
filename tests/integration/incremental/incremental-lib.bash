# shellcheck shell=bash
# Helpers of the incremental suite (named *.bash so the harness skips it).
# The chain under test: setup-snapshot -> full backup of /dev/bsnapN to the
# backup disk -> transition-to-incremental -> writes -> transition-to-snapshot
# -> update-img -> the backup must equal the new snapshot bit for bit.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# The origin and the backup device; another suite may give others (a
# stacked device as the origin: tests/integration/stacked).
ORIGIN=${BSNAP_INC_ORIGIN:-/dev/vda}
BACKUP=${BSNAP_INC_BACKUP:-/dev/vdb}
MNT=/mnt/bsnap-inc
MINOR=3
IMAGE=/dev/bsnap$MINOR

update_img() {
	[ -x "$BSNAP_BIN/update-img" ] || fail "update-img is not built: no $BSNAP_BIN/update-img"
	"$BSNAP_BIN/update-img" "$@"
}

# make_fs ext4|xfs: a fresh filesystem on the origin, mounted at $MNT.
make_fs() {
	FS=$1
	case $FS in
	# No lazy init: its background zeroing of inode tables would be
	# copied into the small CoW files of this suite and fill them.
	ext4) mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$ORIGIN" ;;
	xfs) mkfs.xfs -q -f "$ORIGIN" ;;
	*) fail "make_fs: unknown filesystem $FS" ;;
	esac
	mkdir -p "$MNT"
	mount "$ORIGIN" "$MNT"
	trap _inc_cleanup EXIT
}

_inc_cleanup() {
	local rc=$?
	[ -n "${WRITER_PID:-}" ] && kill "$WRITER_PID" 2>/dev/null && wait "$WRITER_PID" 2>/dev/null
	bsnapctl destroy "$MINOR" 2>/dev/null || true
	umount "$MNT" 2>/dev/null || true
	if module_loaded; then rmmod bsnap 2>/dev/null || echo "cleanup: rmmod failed" >&2; fi
	exit "$rc"
}

# fsck_image: the backup must be a clean filesystem (read-only check).
fsck_image() {
	case $FS in
	ext4) e2fsck -fn "$BACKUP" >"$WORK_LOG" 2>&1 || { cat "$WORK_LOG"; fail "e2fsck -fn on the backup found problems"; } ;;
	xfs) fsck_xfs_copy ;;
	esac
}

# An xfs image of a live filesystem has a covered but not unmounted log, so
# xfs_repair -n reports the lazy superblock counters as wrong. A restore
# replays the log at its first mount: check a scratch copy the same way,
# leaving the backup itself untouched for the next comparison.
fsck_xfs_copy() {
	local copy=$PWD/xfs-copy.img m=$PWD/xfs-copy
	dd if="$BACKUP" of="$copy" bs=1M status=none
	modprobe loop
	mkdir -p "$m"
	mount -o loop,nouuid "$copy" "$m" || fail "the backup does not mount (log replay failed)"
	umount "$m"
	xfs_repair -n "$copy" >"$WORK_LOG" 2>&1 || { cat "$WORK_LOG"; fail "xfs_repair -n on the backup found problems"; }
	rm -f "$copy"
}
WORK_LOG=$PWD/fsck.log

STAMP=${BSNAP_TOOLS:-}/../tools/bsnap-stamp
[ -x "$STAMP" ] || fail "bsnap-stamp is not built: no $STAMP"

# same_as_snapshot WHAT: the backup disk equals the snapshot image, bit for
# bit (bsnap-stamp compare: large O_DIRECT reads, differing sectors listed).
same_as_snapshot() {
	"$STAMP" compare "$IMAGE" "$BACKUP" --length "$(blockdev --getsize64 "$IMAGE")" >"$PWD/compare.log" 2>&1 ||
		{ head -20 "$PWD/compare.log"; fail "$1: the backup differs from $IMAGE"; }
}

# start_chain: snapshot 1, its full backup, then incremental mode.
start_chain() {
	bsnapctl setup-snapshot -f 16 "$ORIGIN" "$MNT/.bsnap-cow-1" "$MINOR"
	dd if="$IMAGE" of="$BACKUP" bs=1M status=none
	sync "$BACKUP"
	same_as_snapshot "full backup"
	bsnapctl transition-to-incremental "$MINOR"
	[ ! -e "$IMAGE" ] || fail "$IMAGE still exists in incremental mode"
}

# next_backup N: snapshot N (seqid N), update-img from CoW file N-1,
# compare, drop the old CoW file, back to incremental.
next_backup() {
	local n=$1 prev=$(($1 - 1)) seqid
	bsnapctl transition-to-snapshot -f 16 "$MNT/.bsnap-cow-$n" "$MINOR"
	seqid=$(bsnapctl info "$MINOR" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["seqid"])')
	assert_eq "$seqid" "$n" "seqid after transition $n"
	update_img --quiet "$IMAGE" "$MNT/.bsnap-cow-$prev" "$BACKUP"
	same_as_snapshot "incremental $n"
	rm -f "$MNT/.bsnap-cow-$prev"
	bsnapctl transition-to-incremental "$MINOR"
}

# churn SEED: a mix of rewrites, appends, new files and deletions.
churn() {
	local seed=$1 i
	mkdir -p "$MNT/data"
	for i in 1 2 3; do
		dd if=/dev/urandom of="$MNT/data/f$(((seed + i) % 7))" bs=64k count=$((1 + (seed * i) % 16)) \
			seek=$(((seed * 13 + i) % 40)) conv=notrunc status=none
	done
	dd if=/dev/urandom of="$MNT/data/new-$seed" bs=256k count=2 status=none
	rm -f "$MNT/data/new-$((seed - 3))"
	sync
}
