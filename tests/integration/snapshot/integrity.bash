# shellcheck shell=bash
# The snapshot integrity test, run by integrity-{ext4,xfs}-{disk,part}.sh.
#
# WHAT IT PROVES: /dev/bsnapN is the origin as it was at the snapshot instant,
# bit for bit (except the CoW file's own blocks, which read as zeros), and
# stays so while concurrent writers overwrite the origin with O_DIRECT and
# buffered writes from 512 B to 4 MiB (above max_sectors_kb, so the block
# layer splits them and resubmits the remainders), while the filesystem
# allocates, frees, trims and freezes; the image mounts read-only, fsck finds
# it clean and its files hold their snapshot-time contents; the origin loses
# no write.
#
# WHY THIS WAY (and not "copy the origin with the filesystem frozen"):
# a mounted ext4 or xfs writes to its device on every freeze and thaw (ext4
# rewrites its superblock, xfs covers its log); measured in the guest, two
# freeze/copy/thaw cycles of an idle filesystem differ in 2-5 sectors. So no
# copy taken from outside is the origin at the snapshot instant: one taken
# before setup also lacks the CoW file's creation and the module's own
# freeze/thaw, one taken after setup has the thaw's writes. The test therefore
# splits the claim in two and makes every data sector self-identifying:
#
#  0. Stamps everywhere. Before mkfs the whole origin device is stamped
#     (bsnap-stamp fill: each sector holds magic, its own LBA, generation,
#     run nonce, crc32c), and mkfs does not discard, so every free block is
#     unique; the files are stamped too (each sector its file offset, a file
#     id, generation, crc). Only filesystem metadata is unstamped.
#  1. At the snapshot instant (right after setup, nothing else running): the
#     image is compared sector by sector with the live origin. Required:
#     zeros in the CoW file's extents (FIEMAP of the pinned file); identical
#     everywhere else, except at most TOLERATE sectors where NEITHER side is
#     a stamp (the superblock/log the thaw wrote after the snapshot point).
#     A data block, a free block or a misplaced block always carries a stamp,
#     so no wrong block can hide in that tolerance; the tolerated sectors are
#     listed in the log.
#  2. Over time: per-4 KiB-block digests of the whole image are taken then,
#     and after the heavy writes (and in a loop during them, racing the
#     copy-before-write) every block of the image must be unchanged: the
#     checksum of the whole /dev/bsnapN equals the one at snapshot time.
#     A changed block is reported with what it holds now (a stamp of
#     generation 2 = a write leaked into the image; a wrong LBA = an
#     addressing bug; a bad crc = a torn copy).
#  3. Independently of both: the files read from the read-only mounted image
#     verify as generation 1 sector by sector, the small-file tree matches
#     its manifest, fsck -n is clean; on the origin every sector of the
#     stamped files holds the generation the writers' maps say (nothing lost,
#     nothing reverted by the CoW path).
# Reads of the image bypass the page cache (bsnap-stamp reads block devices
# with O_DIRECT), so they always reach the module.
#
# Knobs (environment): BSNAP_SNAP_WRITE_SECONDS (default 40) for the write
# phase, BSNAP_SNAP_MAX_SECTORS_KB (default 128).

TOLERATE=64

# churn MNT SECONDS: metadata work until SECONDS pass: create, append,
# rename, delete, punch holes, fstrim (rounds 2, 5, 8...), one freeze/thaw
# (round 3); the trims and the freeze happen however slow the rounds are.
churn() {
	local mnt=$1 end=$(($(date +%s) + $2)) k=0 i
	mkdir -p "$mnt/churn"
	while [ "$(date +%s)" -lt "$end" ] || [ "$k" -lt 3 ]; do
		k=$((k + 1))
		mkdir -p "$mnt/churn/d$k"
		for i in 1 2 3 4 5 6 7 8; do
			head -c $(((RANDOM % 48 + 1) * 1024)) /dev/urandom >"$mnt/churn/d$k/f$i"
		done
		date >>"$mnt/churn/log"
		mv "$mnt/churn/d$k/f1" "$mnt/churn/d$k/moved"
		head -c 2M /dev/urandom >"$mnt/churn/big$k"
		fallocate -p -o 64K -l 1M "$mnt/churn/big$k" || echo "punch hole failed"
		[ -d "$mnt/churn/d$((k - 2))" ] && rm -rf "$mnt/churn/d$((k - 2))" "$mnt/churn/big$((k - 2))"
		if [ $((k % 3)) = 2 ]; then
			sync
			fstrim -v "$mnt" || echo "fstrim failed"
		fi
		if [ "$k" = 3 ]; then
			fsfreeze -f "$mnt" && echo "froze the origin"
			sleep 1
			fsfreeze -u "$mnt" && echo "thawed the origin"
		fi
	done
	sync
	echo "churn: $k rounds"
}

# image_watch IMG DIGESTS STOPFILE: check the image's blocks again and again
# while the writers run; every pass must find it unchanged
image_watch() {
	local passes=0
	while [ ! -e "$3" ]; do
		stamp checksum "$1" --blocks-check "$2" --max-report 5 || return 1
		passes=$((passes + 1))
	done
	echo "image unchanged in $passes passes during the writes"
	[ "$passes" -gt 0 ]
}

# integrity_run FS disk|part|DEVICE
#   disk: the first disk is the origin;
#   part: the second partition of the second disk, the first one an
#         untraced sibling written all along;
#   DEVICE: a /dev path the caller built and tears down (an LVM LV, an md
#         array, a dm-crypt mapping stacked on the disks): traced as it is.
integrity_run() {
	local fs=$1 kind=$2 origin disk sibling='' nonce minor img cow falloc_mb size
	local secs=${BSNAP_SNAP_WRITE_SECONDS:-40} nfiles=4 i t0 setup_ms d0 d1
	need_disks 2
	nonce=$(new_nonce)
	export BSNAP_STAMP_NONCE=$nonce
	log "integrity: $fs on a $kind, nonce $nonce, tool $STAMP"
	snap_load

	case "$kind" in
	disk) origin=/dev/${DISKS[0]} ;;
	part)
		disk=/dev/${DISKS[1]}
		partition_disk "$disk"
		origin=${disk}2 sibling=${disk}1
		;;
	/dev/*)
		[ -b "$kind" ] || fail "integrity_run: $kind is not a block device"
		# /dev/dm-N, not /dev/mapper/NAME: split_bios finds its queue
		origin=$(kernel_dev "$kind")
		kind="stacked device $kind ($origin)"
		;;
	*) fail "integrity_run: unknown kind '$kind'" ;;
	esac
	split_bios "$origin" "${BSNAP_SNAP_MAX_SECTORS_KB:-128}"
	size=$(dev_size "$origin")

	log "stamping the whole origin $origin ($((size >> 20)) MiB), generation 1"
	stamp fill "$origin" --gen 1 --threads 2
	make_fs "$fs" "$origin"
	mount_fs "$origin" "$MNT_ORIGIN"

	if [ -n "$sibling" ]; then
		# The other partition of the same disk: written all along, never
		# traced; its data must not be touched by the tracer.
		make_fs ext4 "$sibling"
		mount_fs "$sibling" "$MNT_OTHER"
		stamp fill-file "$MNT_OTHER/sibling.stamp" --size 48M --gen 1
		# The binary, not the stamp() function: bg execs a plain command,
		# so the TERM sent at the end reaches the tool, which then stops
		# cleanly and writes its map.
		bg sibling "$STAMP" overwrite-file "$MNT_OTHER/sibling.stamp" --gen 2 --seed 99 \
			--seconds $((secs + 60)) --threads 2 --direct --max-io 1M \
			--map "$WORK/sibling.map"
	fi

	log "populating: $nfiles stamped files, a tail file, a tree of small files"
	local fs_bytes file_mb
	fs_bytes=$(df -B1 --output=size "$MNT_ORIGIN" | tail -1)
	# 4 files of 7 % leave room for the CoW file (52 % of the device).
	file_mb=$((fs_bytes * 7 / 100 >> 20))
	for i in $(seq 0 $((nfiles - 1))); do
		stamp fill-file "$MNT_ORIGIN/data-$i.stamp" --size "${file_mb}M" --gen 1
	done
	stamp fill-file "$MNT_ORIGIN/tail.stamp" --size $((1024 * 1024 + 1536)) --gen 1
	# (one process: spawning hundreds under TCG takes minutes)
	python3 - "$MNT_ORIGIN" "$WORK/tree.sha256" <<'EOF'
import hashlib, os, random, sys
mnt, manifest = sys.argv[1], sys.argv[2]
lines = []
for i in range(1, 301):
    rel = "tree/d%d/f%d" % (i % 10, i)
    os.makedirs(os.path.dirname(os.path.join(mnt, rel)), exist_ok=True)
    data = os.urandom(random.randint(1, 24000))
    with open(os.path.join(mnt, rel), "wb") as f:
        f.write(data)
    lines.append("%s  %s\n" % (hashlib.sha256(data).hexdigest(), rel))
with open(manifest, "w") as f:
    f.writelines(lines)
EOF
	sync

	minor=$(bsnapctl get-free-minor)
	assert_match "$minor" '^[0-9]+$' "get-free-minor"
	[ ! -e "/dev/bsnap$minor" ] || fail "get-free-minor gave $minor but /dev/bsnap$minor exists"
	img=/dev/bsnap$minor
	cow=$MNT_ORIGIN/bsnap-cow
	# Big enough for every block outside the CoW file to be copied, plus
	# its metadata (f >= size - f + 0.3 %): whatever the writers, fstrim
	# and churn touch, the snapshot must not fill (cow-full tests that).
	falloc_mb=$((size * 52 / 100 >> 20))
	log "setup-snapshot -f $falloc_mb $origin $cow $minor"
	t0=$(now_ms)
	snap_setup -f "$falloc_mb" "$origin" "$cow" "$minor"
	setup_ms=$(($(now_ms) - t0))
	log "setup took $setup_ms ms"

	# --- 1. the image at the snapshot instant
	stamp extents "$cow" >"$WORK/cow.ranges"
	log "CoW file: $(tail -1 "$WORK/cow.ranges")"
	assert_eq "$(dev_size "$img")" "$size" "size of $img"
	assert_eq "$(blockdev --getro "$img")" 1 "$img read-only"
	drop_caches
	log "1. image vs origin at the snapshot instant"
	stamp compare "$img" "$origin" --zero-ranges "$WORK/cow.ranges" \
		--tolerate-nonstamp "$TOLERATE" --max-report 20 ||
		fail "the image differs from the origin at the snapshot instant (see above)"
	d0=$(stamp checksum "$img" --blocks-out "$WORK/image.digests" | cut -d' ' -f1)
	log "checksum of $img at snapshot time: $d0"

	# --- heavy writes
	log "writing for $secs s: $nfiles x 3 stamped writers (O_DIRECT + buffered, 512 B..4 MiB), churn, image reads"
	for i in $(seq 0 $((nfiles - 1))); do
		bg "writer$i" stamp overwrite-file "$MNT_ORIGIN/data-$i.stamp" --gen 2 \
			--seed $((nonce + i)) --seconds "$secs" --threads 3 --direct --max-io 4M \
			--map "$WORK/data-$i.map"
	done
	bg tailwriter stamp overwrite-file "$MNT_ORIGIN/tail.stamp" --gen 2 --seed $((nonce + 77)) \
		--seconds "$secs" --threads 1 --max-io 64K --map "$WORK/tail.map"
	bg churn churn "$MNT_ORIGIN" "$secs"
	rm -f "$WORK/writers-done"
	bg watch image_watch "$img" "$WORK/image.digests" "$WORK/writers-done"
	for i in $(seq 0 $((nfiles - 1))); do
		bg_wait "writer$i"
		cat "$WORK/writer$i.log"
	done
	bg_wait tailwriter
	bg_wait churn
	cat "$WORK/churn.log"
	touch "$WORK/writers-done"
	bg_wait watch
	cat "$WORK/watch.log"

	# --- 2. the image after the writes
	drop_caches
	log "2. image after the writes vs the image at snapshot time"
	d1=$(stamp checksum "$img" --blocks-check "$WORK/image.digests" --max-report 10 |
		tee "$WORK/check.out" | grep '^xxh64:' | cut -d' ' -f1) || true
	cat "$WORK/check.out"
	grep -q '^OK ' "$WORK/check.out" || fail "blocks of the image changed after the writes (see above)"
	assert_eq "$d1" "$d0" "checksum of the whole $img after the writes"
	snap_json "$minor"
	log "info: $(cat "$WORK/info.json")"
	assert_eq "$(json_get "$WORK/info.json" error)" 0 "info error"
	[ "$(json_get "$WORK/info.json" changed_blocks)" -gt 0 ] || fail "info: no changed blocks after the writes"

	# --- 3. the origin lost nothing; the image's files are from snapshot time
	log "3. origin files hold what the writers wrote"
	for i in $(seq 0 $((nfiles - 1))); do
		stamp verify-file "$MNT_ORIGIN/data-$i.stamp" --gen 1 --map "$WORK/data-$i.map" ||
			fail "origin file data-$i.stamp lost or reverted writes"
	done
	stamp verify-file "$MNT_ORIGIN/tail.stamp" --gen 1 --map "$WORK/tail.map" ||
		fail "origin file tail.stamp lost or reverted writes"

	log "3. the image mounts read-only ($(image_mount_opts "$fs")) and holds snapshot-time files"
	mount_fs "$img" "$MNT_IMAGE" "$(image_mount_opts "$fs")"
	for i in $(seq 0 $((nfiles - 1))); do
		stamp verify-file "$MNT_IMAGE/data-$i.stamp" --gen 1 ||
			fail "data-$i.stamp in the image is not the snapshot-time file"
	done
	stamp verify-file "$MNT_IMAGE/tail.stamp" --gen 1 || fail "tail.stamp in the image is wrong"
	(cd "$MNT_IMAGE" && sha256sum --quiet -c "$WORK/tree.sha256") ||
		fail "the small files in the image differ from snapshot time"
	[ ! -e "$MNT_IMAGE/churn" ] || fail "the image has churn/, created after the snapshot"
	umount_fs "$MNT_IMAGE"
	log "3. fsck -n of the image"
	fsck_image "$fs" "$img" || fail "fsck -n of the image $img found problems"
	stamp checksum "$img" --blocks-check "$WORK/image.digests" --quiet >/dev/null ||
		fail "the image changed while mounted read-only or checked"

	log "destroy"
	snap_destroy "$minor"
	if [ -e "$cow" ]; then
		rm "$cow" || fail "the CoW file is still pinned after destroy"
	fi
	if [ -n "$sibling" ]; then
		kill -TERM "$BG_sibling" 2>/dev/null || true
		bg_wait sibling
		cat "$WORK/sibling.log"
		stamp verify-file "$MNT_OTHER/sibling.stamp" --gen 1 --map "$WORK/sibling.map" ||
			fail "the untraced partition $sibling lost or reverted writes"
		umount_fs "$MNT_OTHER"
		fsck_n ext4 "$sibling" || fail "fsck of the untraced partition $sibling"
	fi
	umount_fs "$MNT_ORIGIN"
	fsck_n "$fs" "$origin" || fail "fsck -n of the origin $origin found problems"
	snap_unload
	log "PASS: $fs on a $kind; setup $setup_ms ms; image checksum $d0"
}
