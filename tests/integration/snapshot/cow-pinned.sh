#!/bin/bash
# The CoW file is pinned while a snapshot uses it (ext4 and xfs): unlink,
# rename (from and onto it), truncate, write, append, hole punching and
# hard links fail with EPERM ("Operation not permitted"); its size and
# extents do not move; after destroy it can be removed.
# bsnap-vm: timeout=600
. "$(dirname "$0")/snapshot-lib.bash"
need_disks 1
snap_load
dev=/dev/${DISKS[0]}
EPERM_TEXT=$(errno_text "$(errno_of EPERM)")

# must_eperm WHAT CMD...: CMD fails and says "Operation not permitted"
must_eperm() {
	local what=$1
	shift
	run_cmd "$WORK/pin" "$@"
	echo "    $what: exit $RC: $(head -1 "$WORK/pin.err")"
	[ "$RC" != 0 ] || fail "$what on the pinned CoW file succeeded"
	grep -q "$EPERM_TEXT" "$WORK/pin.err" ||
		fail "$what on the pinned CoW file: expected '$EPERM_TEXT', got: $(head -1 "$WORK/pin.err")"
}

for fs in ext4 xfs; do
	log "$fs"
	wipe_disk "$dev"
	make_fs "$fs" "$dev"
	mount_fs "$dev" "$MNT_ORIGIN"
	echo other >"$MNT_ORIGIN/other"
	sync
	cow=$MNT_ORIGIN/cow-pinned
	snap_setup -f 32 "$dev" "$cow" 0
	[ -f "$cow" ] || fail "setup-snapshot did not create the CoW file $cow"
	size0=$(stat -c %s "$cow")
	stamp extents "$cow" >"$WORK/ext0"

	must_eperm "rm" rm -f "$cow"
	must_eperm "unlink" unlink "$cow"
	must_eperm "mv away" mv "$cow" "$MNT_ORIGIN/renamed"
	must_eperm "mv onto it" mv "$MNT_ORIGIN/other" "$cow"
	must_eperm "truncate" truncate -s 0 "$cow"
	must_eperm "truncate longer" truncate -s $((size0 + 4096)) "$cow"
	must_eperm "write" dd if=/dev/zero of="$cow" bs=4k count=1 conv=notrunc status=none
	must_eperm "O_DIRECT write" dd if=/dev/zero of="$cow" bs=4k count=1 conv=notrunc oflag=direct status=none
	must_eperm "append" bash -c "echo x >>'$cow'"
	must_eperm "open with O_TRUNC" bash -c ": >'$cow'"
	must_eperm "punch hole" fallocate -p -o 0 -l 4096 "$cow"
	must_eperm "hard link" ln "$cow" "$MNT_ORIGIN/cow-link"

	[ -f "$cow" ] || fail "the CoW file is gone"
	assert_eq "$(stat -c %s "$cow")" "$size0" "size of the CoW file"
	stamp extents "$cow" >"$WORK/ext1"
	cmp -s "$WORK/ext0" "$WORK/ext1" || fail "the CoW file's extents moved: $(diff "$WORK/ext0" "$WORK/ext1" | head)"
	# reading it is fine (backup tools may)
	dd if="$cow" of=/dev/null bs=64k count=4 status=none || fail "reading the CoW file failed"
	# the rest of the filesystem works as usual
	echo hello >"$MNT_ORIGIN/new" && mv "$MNT_ORIGIN/new" "$MNT_ORIGIN/new2" && rm "$MNT_ORIGIN/new2" ||
		fail "ordinary files on the traced filesystem cannot be changed"

	snap_destroy 0
	if [ -e "$cow" ]; then
		rm "$cow" || fail "the CoW file cannot be removed after destroy"
	fi
	umount_fs "$MNT_ORIGIN"
	fsck_n "$fs" "$dev" >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck -n after destroy"; }
done
snap_unload
