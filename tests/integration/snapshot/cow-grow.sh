#!/bin/bash
# Growing the CoW file of a running snapshot (ext4 and xfs), as bsnapd does
# on "cow-low", and the trap that makes growth hard: a file in use at the
# snapshot instant and deleted afterwards frees blocks the snapshot still
# needs, and fallocate may hand them to the CoW file.
#
# Each round: data.stamp (32 MiB) and victim.stamp (48 MiB) exist at the
# snapshot instant (CoW file 24 MiB); a filler then takes all but 40 MiB of
# what df calls available and victim.stamp is deleted, so a growth of all
# but 8 MiB of what is then available must take some of victim.stamp's
# blocks: the filesystem keeps some free blocks out of "available" (here
# ext4 about 10 MiB, xfs about 28), and that is all that is left of what the
# snapshot had free; and at least 32 MiB of the growth (all of it but
# victim.stamp's 48 MiB) was free at the snapshot. Checks:
#  - only space the snapshot had free becomes usable: cow_free_bytes grows
#    by at most the added blocks that the snapshot's filesystem had free
#    (dumpe2fs or xfs_db of the image at setup), and by at least 24 MiB;
#    the growth must have taken blocks in use at the snapshot (victim.stamp's),
#    or the test proves nothing;
#  - xfs: the growth succeeds with the space nearly full (xfs reserved the
#    whole range a second time when the size was set; see cow_file_grow.c);
#  - the growth changes the image only where the snapshot's filesystem had
#    free blocks, and those read as zeros from then on (the free space was
#    filled with stale data before the snapshot, so this is exercised);
#  - after rewriting all of data.stamp (more than the file first held) the
#    image still holds victim.stamp and data.stamp of generation 1, and
#    every block of the image equals its digest taken right after growth;
#  - umount/mount finds the grown file again; after rmmod + reload-snapshot
#    (v3 header and usable-space table read back) the image is unchanged,
#    and writes go on into the named space (the created space is spent);
#    expand-cow-file 0 (name again what is free) adds nothing new;
#  - a crash between writing a new usable-space table and the header that
#    names it: the copy the header does not name is overwritten with
#    garbage, and the reload and image do not mind;
#  - refusals: an unknown minor (ENOENT), a file that is not the CoW file
#    (EINVAL), more than the filesystem has (ENOSPC, the size stays), an
#    incremental (EINVAL).
# bsnap-vm: timeout=900
. "$(dirname "$0")/snapshot-lib.bash"
need_disks 1
snap_load
dev=/dev/${DISKS[0]}
BSNAP_STAMP_NONCE=$(new_nonce)
export BSNAP_STAMP_NONCE
MiB=$((1024 * 1024))

file_size() { stat -c %s "$1"; }
avail_mib() { df -B1M --output=avail "$1" | tail -1 | tr -d ' '; }

# cow_free MINOR: cow_free_bytes of MINOR in /proc/bsnap-info
cow_free() {
	python3 - "$BSNAP_PROC" "$1" <<'PY' || fail "no cow_free_bytes for minor $1 in $BSNAP_PROC"
import json, sys
d = [d for d in json.load(open(sys.argv[1]))["devices"] if int(d["minor"]) == int(sys.argv[2])]
print(d[0]["cow_free_bytes"])
PY
}

# free_sectors FS IMG: the blocks the filesystem in IMG has free, as
# "start_sector sector_count" lines, read by dumpe2fs from ext4's bitmaps or
# by xfs_db from xfs's free-space btrees (not through GETFSMAP, which the
# growth itself relies on).
free_sectors() {
	if [ "$1" = xfs ]; then
		local agblocks spb
		agblocks=$(xfs_db -r -c "sb 0" -c "p agblocks" "$2" | awk '{ print $3 }')
		spb=$(($(xfs_db -r -c "sb 0" -c "p blocksize" "$2" | awk '{ print $3 }') / 512))
		xfs_db -r -c "freesp -d" "$2" | awk -v agb="$agblocks" -v spb="$spb" '
			NF == 3 && $1 ~ /^[0-9]+$/ { print ($1 * agb + $2) * spb, $3 * spb }'
		return
	fi
	dumpe2fs "$2" 2>/dev/null | awk '
		/^Block size:/ { spb = $3 / 512 }
		/^  Free blocks: / {
			sub(/^  Free blocks: /, "")
			n = split($0, r, /, */)
			for (i = 1; i <= n; i++) {
				if (r[i] == "") continue
				split(r[i], ab, "-")
				if (ab[2] == "") ab[2] = ab[1]
				print ab[1] * spb, (ab[2] - ab[1] + 1) * spb
			}
		}'
}

# free_added_bytes FREE BEFORE AFTER: bytes of the extents in AFTER but not
# in BEFORE (stamp extents lists of the CoW file) that FREE lists as free.
free_added_bytes() {
	python3 - "$@" <<'PY'
import sys
def ranges(path):
    out = []
    for line in open(path):
        f = line.split()
        if f and not f[0].startswith('#'):
            out.append((int(f[0]), int(f[0]) + int(f[1])))
    return sorted(out)
def minus(a, b):
    out = []
    for s, e in a:
        for bs, be in b:
            if be <= s or bs >= e:
                continue
            if bs > s:
                out.append((s, bs))
            s = max(s, be)
            if s >= e:
                break
        if s < e:
            out.append((s, e))
    return out
def overlap(a, b):
    return sum(max(0, min(e, be) - max(s, bs)) for s, e in a for bs, be in b)
free, before, after = (ranges(p) for p in sys.argv[1:4])
print(overlap(minus(after, before), free) * 512)
PY
}

# reload_mounted WHAT: load the module, reload-snapshot the unmounted
# origin's CoW file, mount the origin; the snapshot must have no error.
reload_mounted() {
	snap_load
	run_cmd "$WORK/reload" bsnapctl reload-snapshot "$dev" cow "$minor"
	[ "$RC" = 0 ] || fail "reload-snapshot $1 exited $RC: $(head -1 "$WORK/reload.err")"
	wait_for_node "$img" || fail "$img did not come back after reload-snapshot $1"
	mount_fs "$dev" "$MNT_ORIGIN"
	snap_json "$minor"
	assert_eq "$(json_get "$WORK/info.json" error)" 0 "snapshot error after reload-snapshot $1"
}

check_image() { # WHAT
	stamp checksum "$img" --blocks-check "$WORK/grown.digests" --max-report 10 ||
		fail "$1: the image changed after the growth"
	mkdir -p "$image_mnt"
	mount -o "$(image_mount_opts "$fs")" "$img" "$image_mnt" || fail "$1: the image does not mount"
	stamp verify-file "$image_mnt/victim.stamp" --gen 1 --max-report 5 ||
		fail "$1: the image lost victim.stamp (deleted after the snapshot; its blocks went to the CoW file)"
	stamp verify-file "$image_mnt/data.stamp" --gen 1 --max-report 5 || fail "$1: the image's data.stamp is not generation 1"
	umount "$image_mnt"
}

events_start
image_mnt=/mnt/bsnap-image
minor=0
for fs in ext4 xfs; do
	log "$fs"
	wipe_disk "$dev"
	make_fs "$fs" "$dev"
	# No blocks reserved for root: what df calls available is all that is
	# free, so the growth below must take blocks of victim.stamp.
	[ "$fs" = ext4 ] && tune2fs -m 0 "$dev" >/dev/null
	mount_fs "$dev" "$MNT_ORIGIN"
	# Stale data in all the free space: space named usable must then read
	# as zeros in the image, not as what the CoW data put there.
	stamp fill-file "$MNT_ORIGIN/stale.stamp" --size $(($(avail_mib "$MNT_ORIGIN") - 8))M --gen 9
	rm "$MNT_ORIGIN/stale.stamp"
	stamp fill-file "$MNT_ORIGIN/data.stamp" --size 32M --gen 1
	stamp fill-file "$MNT_ORIGIN/victim.stamp" --size 48M --gen 1
	sync
	cow=$MNT_ORIGIN/cow
	snap_setup -f 24 "$dev" "$cow" "$minor"
	img=/dev/bsnap$minor
	stamp checksum "$img" --blocks-out "$WORK/image.digests" >/dev/null
	free_sectors "$fs" "$img" >"$WORK/free.sectors"
	[ -s "$WORK/free.sectors" ] || fail "$img: no free blocks listed"
	size0=$(file_size "$cow")
	stamp extents "$cow" >"$WORK/cow.extents0"

	log "filler: leave 40 MiB available; delete victim.stamp"
	fallocate -l $(($(avail_mib "$MNT_ORIGIN") - 40))M "$MNT_ORIGIN/filler" || fail "fallocate filler"
	rm "$MNT_ORIGIN/victim.stamp"
	sync
	df -B1M "$MNT_ORIGIN"

	log "refusals"
	expect_fail_errno ENOENT "$WORK/e1" bsnapctl expand-cow-file 8 $((minor + 1))
	echo x >"$MNT_ORIGIN/other"
	expect_fail_errno EINVAL "$WORK/e2" bsnapctl expand-cow-file 8 "$minor" "$MNT_ORIGIN/other"
	expect_fail_errno ENOSPC "$WORK/e3" bsnapctl expand-cow-file $(($(avail_mib "$MNT_ORIGIN") + 64)) "$minor"
	assert_eq "$(file_size "$cow")" "$size0" "CoW file size after a refused growth"

	free0=$(cow_free "$minor")
	grow=$(($(avail_mib "$MNT_ORIGIN") - 8))
	log "grow by $grow MiB: more than what is left of the space the snapshot had free; the rest held victim.stamp"
	run_cmd "$WORK/grow" bsnapctl expand-cow-file "$grow" "$minor"
	[ "$RC" = 0 ] || fail "expand-cow-file $grow $minor exited $RC: $(head -1 "$WORK/grow.err")"
	cat "$WORK/grow.out"
	wait_event expanded "$minor"
	free1=$(cow_free "$minor")
	usable=$(((free1 - free0) / MiB))
	log "CoW free: $((free0 / MiB)) -> $((free1 / MiB)) MiB: $usable of the $grow MiB added are usable"
	assert_eq "$(file_size "$cow")" $((size0 + grow * MiB)) "CoW file size after growth"
	stamp extents "$cow" >"$WORK/cow.extents1"
	was_free=$(free_added_bytes "$WORK/free.sectors" "$WORK/cow.extents0" "$WORK/cow.extents1")
	log "of the $grow MiB added, $((was_free / MiB)) MiB were free at the snapshot (by $([ "$fs" = xfs ] && echo xfs_db || echo dumpe2fs) of the image)"
	[ "$was_free" -le $(((grow - 4) * MiB)) ] ||
		fail "the growth took less than 4 MiB of blocks in use at the snapshot: the test does not exercise victim.stamp"
	[ "$usable" -ge 24 ] || fail "only $usable MiB of the added space became usable (the snapshot had at least 32 MiB of it free)"
	[ $((free1 - free0)) -le "$was_free" ] ||
		fail "$((free1 - free0)) bytes became usable, more than the $was_free bytes of the growth the snapshot had free: blocks in use at the snapshot instant were named usable"
	stamp checksum "$img" --blocks-check "$WORK/image.digests" --zero-ranges "$WORK/free.sectors" \
		--max-report 10 >"$WORK/zeroed.out" || {
		cat "$WORK/zeroed.out"
		fail "the growth changed blocks the snapshot's filesystem had in use, or to other than zeros"
	}
	cat "$WORK/zeroed.out"
	zeroed=$(awk '/^zeroed / { print $2 }' "$WORK/zeroed.out")
	[ "${zeroed:-0}" -gt 0 ] ||
		fail "no free block of the snapshot turned to zeros: the stale data in the named space still shows"
	stamp checksum "$img" --blocks-out "$WORK/grown.digests" >/dev/null
	rm -f "$cow" 2>/dev/null && fail "the grown CoW file could be deleted (not pinned)"
	truncate -s 0 "$cow" 2>/dev/null && fail "the grown CoW file could be truncated (not pinned)"

	log "rewrite all of data.stamp: more than the file first held"
	stamp fill-file "$MNT_ORIGIN/data.stamp" --gen 2 || fail "origin writes failed"
	sync
	snap_json "$minor"
	log "info: $(tr -d '\n' <"$WORK/info.json")"
	assert_eq "$(json_get "$WORK/info.json" error)" 0 "snapshot error after the rewrite"
	used=$(json_get "$WORK/info.json" cow_used_bytes)
	[ "$used" -gt "$size0" ] || fail "only $used bytes of the CoW file in use: the test did not need the growth"
	check_image "after growth and rewrite"

	log "umount and mount: the grown file is found again"
	umount_fs "$MNT_ORIGIN"
	mount_fs "$dev" "$MNT_ORIGIN"
	snap_json "$minor"
	assert_eq "$(json_get "$WORK/info.json" error)" 0 "snapshot error after remount"
	assert_eq "$(json_get "$WORK/info.json" state_bits)" 3 "state after remount (snapshot, active)"
	stamp verify-file "$MNT_ORIGIN/data.stamp" --gen 2 || fail "the origin lost writes"

	log "umount, rmmod, insmod, reload-snapshot, mount"
	free_before=$(cow_free "$minor")
	umount_fs "$MNT_ORIGIN"
	unload_module
	reload_mounted "of the grown file"
	assert_eq "$(json_get "$WORK/info.json" falloc_size)" $((size0 + grow * MiB)) "falloc_size after reload"
	free_after=$(cow_free "$minor")
	log "CoW free before umount $((free_before / MiB)) MiB, after reload $((free_after / MiB)) MiB"
	[ "$free_after" -ge $((free_before - 4 * MiB)) ] || fail "the reload lost the named space"
	check_image "after reload"
	log "more writes after the reload go to the named space"
	stamp fill-file "$MNT_ORIGIN/more.stamp" --size 4M --gen 1 || fail "origin writes failed"
	sync
	snap_json "$minor"
	assert_eq "$(json_get "$WORK/info.json" error)" 0 "snapshot error after writes following the reload"
	check_image "after writes following the reload"
	run_cmd "$WORK/rename" bsnapctl expand-cow-file 0 "$minor"
	[ "$RC" = 0 ] || fail "expand-cow-file 0 $minor exited $RC: $(head -1 "$WORK/rename.err")"
	cat "$WORK/rename.out"

	log "a new table torn in the copy the header does not name (a crash before the header) is ignored"
	umount_fs "$MNT_ORIGIN"
	unload_module
	# Read only, no journal: the device stays as sealed (probe_crc).
	mount_fs "$dev" "$MNT_ORIGIN" "$(image_mount_opts "$fs")"
	stamp extents "$MNT_ORIGIN/cow" >"$WORK/cow.extents2"
	spare=$(python3 - "$MNT_ORIGIN/cow" "$WORK/cow.extents2" <<'PY'
import struct, sys
h = open(sys.argv[1], "rb").read(200)
valid_off, valid_len = struct.unpack_from("<QQ", h, 136)
ranges_off, ranges_len, nr = struct.unpack_from("<QQI", h, 176)
base = valid_off + valid_len
assert ranges_off in (base, base + ranges_len), (ranges_off, base, ranges_len)
spare = base + ranges_len if ranges_off == base else base
# the spare copy's device byte offset, from the extents in file order
logical = 0
for line in open(sys.argv[2]):
    f = line.split()
    if not f or f[0].startswith("#"):
        continue
    start, count = int(f[0]) * 512, int(f[1]) * 512
    if logical <= spare and spare + ranges_len <= logical + count:
        print(start + spare - logical, ranges_len, nr, ranges_off - base)
        break
    logical += count
else:
    sys.exit("the spare table copy is not in one extent")
PY
	) || fail "cannot find the spare copy of the usable-space table"
	read -r spare_dev spare_len nr_ranges in_use <<<"$spare"
	# Named twice (the growth, expand-cow-file 0): the first table went to
	# the second copy, the second back to the first.
	assert_eq "$in_use" 0 "offset of the table copy in use after two namings"
	log "header names the table copy at +$in_use ($nr_ranges ranges); tearing the other ($spare_len bytes at device byte $spare_dev)"
	umount_fs "$MNT_ORIGIN"
	python3 - "$dev" "$spare_dev" "$spare_len" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, bytes([0xA5]) * int(sys.argv[3]), int(sys.argv[2]))
os.fsync(fd)
os.close(fd)
PY
	reload_mounted "with a torn spare table"
	check_image "after a reload with a torn spare table"

	log "incremental mode refuses to grow"
	run_cmd "$WORK/ti" bsnapctl transition-to-incremental "$minor"
	[ "$RC" = 0 ] || fail "transition-to-incremental exited $RC"
	expect_fail_errno EINVAL "$WORK/e4" bsnapctl expand-cow-file 8 "$minor" "$cow"

	snap_destroy "$minor"
	rm -f "$cow" "$MNT_ORIGIN/other" "$MNT_ORIGIN/filler" "$MNT_ORIGIN/more.stamp"
	umount_fs "$MNT_ORIGIN"
	fsck_n "$fs" "$dev" >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck -n of the origin"; }
	minor=$((minor + 1))
done
log "events: $(tr '\n' ';' <"$WORK/events.log")"
snap_unload
