#!/bin/bash
# A 100 TiB dm-thin volume, traced (issue 15, item 4: a bounded change map).
# Boot 1: xfs on it, setup-snapshot + transition-to-incremental, ~1 GiB
# written through the filesystem (one large file and files in 64
# directories, which xfs spreads over its allocation groups); the change
# map's kernel memory (/proc/bsnap-info cbt_bytes) is printed and must stay
# within 16 MiB. umount seals the file: its bitmap (3.2 GiB on disk, mostly
# never written) must hold every block of the written files, and the
# header's count must be what the module counted, within the filesystem's
# own metadata. Boot 2: reload-incremental reads the bitmap back (its CRC
# checked) in pieces; the count is the same and the memory still small;
# mount makes it active.
# BSNAP_LARGE_MB (default 1024) sets how much is written.
# bsnap-vm: timeout=800
# bsnap-vm: reboots=1
. "$(dirname "$0")/../lib.sh"

POOL=bsnap-pool THIN=bsnap-thin
DEV=/dev/mapper/$THIN
MNT=/mnt/bsnap-large
MINOR=5
COW=.bsnap-cow-1
SECTORS=$((100 << 31)) # 100 TiB
MB=${BSNAP_LARGE_MB:-1024}
KEEP=${BSNAP_TEST_RESULTS:-$PWD}
TEST_BOOT=$(($(cat "$KEEP/test-boot" 2>/dev/null || echo 0) + 1))
echo "$TEST_BOOT" >"$KEEP/test-boot"
log() { echo "--- [${SECONDS}s] $*"; }
# No udevd in the guest: libdevmapper makes the nodes (stacked-lib.bash).
export DM_DISABLE_UDEV=1

# thin_up new|old: the pool on vda (data) and vdb (metadata), thin id 0.
thin_up() {
	modprobe dm-thin-pool
	[ "$1" = new ] && dd if=/dev/zero of=/dev/vdb bs=4k count=1 status=none
	# 64 KiB chunks; no zeroing of new chunks (every write is full chunks
	# or the filesystem's business); no low-water event.
	dmsetup create $POOL --table "0 $(blockdev --getsz /dev/vda) thin-pool /dev/vdb /dev/vda 128 0 1 skip_block_zeroing"
	[ "$1" = new ] && dmsetup message $POOL 0 "create_thin 0"
	dmsetup create $THIN --table "0 $SECTORS thin /dev/mapper/$POOL 0"
	[ -b "$DEV" ] || fail "$DEV did not appear"
}

bsnap_after_cleanup() {
	umount "$MNT" 2>/dev/null || true
	dmsetup remove $THIN 2>/dev/null || true
	dmsetup remove $POOL 2>/dev/null || true
}

proc_num() { # KEY: the traced device's value in /proc/bsnap-info
	json_eval $BSNAP_PROC "[d for d in j['devices'] if d['minor'] == $MINOR][0]['$1']" 2>/dev/null ||
		cat $BSNAP_PROC
}

pool_used() { # data blocks of the pool in use / total (64 KiB each)
	dmsetup status $POOL | awk '{print $6}'
}

# memory REPORT-NAME: print the change map's memory and what else the
# module holds in vmalloc; fail over 16 MiB.
memory() {
	local cbt vm changed
	cbt=$(proc_num cbt_bytes)
	changed=$(proc_num changed_blocks)
	vm=$(awk '/\[bsnap\]/ {s += $2} END {print s + 0}' /proc/vmallocinfo)
	log "MEMORY $1: cbt_bytes=$cbt ($((cbt >> 10)) KiB) changed_blocks=$changed; module vmalloc total ${vm} bytes; pool chunks $(pool_used)"
	echo "$1 cbt_bytes=$cbt changed_blocks=$changed vmalloc=$vm" >>"$KEEP/memory"
	((cbt <= 16 << 20)) || fail "$1: the change map holds $cbt bytes, more than 16 MiB"
}

case "$TEST_BOOT" in
1)
	load_module
	thin_up new
	log "thin volume of $(blockdev --getsize64 $DEV) bytes, pool $(blockdev --getsize64 /dev/vda) bytes"
	# -K: no discard of 100 TiB; a small log (mkfs writes it whole).
	mkfs.xfs -q -f -K -l size=64m -d agcount=101 $DEV
	mkdir -p $MNT
	mount -o inode64 $DEV $MNT
	log "xfs made and mounted; pool chunks $(pool_used)"
	# The CoW file: the index alone is nr_blocks * 8 = 200 GiB (fallocated,
	# never written whole); its metadata before the index (bitmap 3.2 GiB,
	# valid bitmap, ranges, intent) is written as zeros. 210000 MiB is just
	# over the minimum (the default, 10 % of the device, is 10 TiB).
	t0=$SECONDS
	bsnapctl setup-snapshot -f 210000 $DEV "$MNT/$COW" $MINOR
	log "setup-snapshot took $((SECONDS - t0)) s; pool chunks $(pool_used)"
	memory "snapshot-after-setup"
	t0=$SECONDS
	bsnapctl transition-to-incremental $MINOR
	log "transition-to-incremental took $((SECONDS - t0)) s"
	memory "incremental-start"

	# ~MB MiB: a quarter in 64 directories (xfs puts each directory, and
	# its files, in another allocation group: 64 places 1 TiB apart), the
	# rest in one file.
	per=$((MB / 4 / 64)) big=$((MB - MB / 4 / 64 * 64))
	t0=$SECONDS
	for ((d = 0; d < 64; d++)); do
		mkdir "$MNT/d$d"
		dd if=/dev/zero of="$MNT/d$d/f" bs=1M count=$per status=none
	done
	dd if=/dev/zero of="$MNT/big" bs=1M count=$big status=none
	sync
	log "wrote $MB MiB in $((SECONDS - t0)) s"
	memory "incremental-${MB}MiB-written"

	# Every block of the written files, as device blocks (4 KiB = the
	# filesystem's block): xfs_bmap ranges are in 512-byte sectors.
	for f in "$MNT"/d*/f "$MNT/big"; do
		xfs_bmap "$f" | sed -n 's/.*\]: \([0-9]*\)\.\.\([0-9]*\)$/\1 \2/p'
	done >"$KEEP/written"
	written=$(awk '{s += ($2 - $1 + 1) / 8} END {print s}' "$KEEP/written")
	log "files hold $written blocks in $(wc -l <"$KEEP/written") extents"

	umount $MNT
	log "unmounted: the bitmap is written (dormant)"
	# What the module counted, umount's own writes included.
	proc_num changed_blocks >"$KEEP/changed"
	mount -o ro $DEV $MNT
	# The bitmap as the file holds it: the pages of the written blocks,
	# O_DIRECT (the module wrote them under the page cache).
	python3 - "$MNT/$COW" "$KEEP/written" "$(cat "$KEEP/changed")" "$written" <<'PY' || fail "the CoW file's bitmap is not a superset of the writes"
import mmap, os, struct, sys
path, extents, changed, written = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
def page(off):
    os.preadv(fd, [buf], off)
    return bytes(buf)
hdr = page(0)
# struct bsnap_cow_header: magic u64, version u32, flags u32, header_size
# u32, block_size u32, uuid[16], seqid, device_sectors, nr_blocks,
# file_size, bitmap_off, bitmap_len, index_off, index_len, data_off,
# data_used, changed_blocks (u64 each)
magic, version, flags = struct.unpack_from("<QII", hdr, 0)
(seqid, sectors, nr_blocks, size, bm_off, bm_len, idx_off, idx_len,
 data_off, data_used, hdr_changed) = struct.unpack_from("<11Q", hdr, 40)
print(f"header: version {version} flags {flags:#x} nr_blocks {nr_blocks} bitmap {bm_len} bytes at {bm_off}, "
      f"index {idx_len} bytes, data_off {data_off}, file {size} bytes, changed_blocks {hdr_changed}")
if hdr_changed != changed:
    sys.exit(f"header says {hdr_changed} changed blocks, the module counted {changed}")
# Sealed CLEAN at umount; a write after that (the ro mount) may have
# written the header "in use" again: the bitmap stays the sealed one.
cache, missing, checked = {}, 0, 0
for line in open(extents):
    a, b = (int(x) for x in line.split())
    for blk in range(a // 8, (b + 1) // 8):
        p = blk // 32768
        if p not in cache:
            cache[p] = page(bm_off + p * 4096)
        bit = blk % 32768
        checked += 1
        if not cache[p][bit // 8] >> (bit % 8) & 1:
            missing += 1
print(f"{checked} written blocks checked in {len(cache)} bitmap pages, {missing} not marked")
if missing:
    sys.exit(1)
# The rest is the filesystem's own metadata (log, inodes, directories,
# allocation btrees) and the blocks copied while in snapshot mode.
extra = changed - written
print(f"changed {changed} = written {written} + {extra} other blocks")
if extra < 0 or extra > 65536:
    sys.exit(f"{extra} blocks changed besides the files: more than the metadata can explain")
PY
	umount $MNT
	# The ro mount wrote too (xfs): what the reload must find.
	proc_num changed_blocks >"$KEEP/changed"
	log "rebooting with $(cat "$KEEP/changed") changed blocks: reload-incremental must read the 3.2 GiB bitmap back"
	trap - EXIT
	reboot_and_continue
	;;
2)
	load_module
	thin_up old
	t0=$SECONDS
	bsnapctl reload-incremental $DEV $COW $MINOR
	log "reload-incremental took $((SECONDS - t0)) s"
	state=$(proc_num state)
	assert_eq "$state" 4 "state after reload (unverified incremental)"
	memory "after-reload"
	assert_eq "$(proc_num changed_blocks)" "$(cat "$KEEP/changed")" "changed blocks after reload"
	mkdir -p $MNT
	mount $DEV $MNT
	assert_eq "$(proc_num state)" 2 "state after mount (active incremental)"
	dd if=/dev/zero of="$MNT/after" bs=1M count=8 status=none
	sync
	memory "after-reload-and-8MiB"
	umount $MNT
	bsnapctl destroy $MINOR
	unload_module
	bsnap_after_cleanup
	cat "$KEEP/memory"
	;;
esac
