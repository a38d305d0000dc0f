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

LEN=8192 # sectors of each write: 4 MiB
TRACE=/sys/kernel/tracing

trace_start() {
	mountpoint -q "$TRACE" || mount -t tracefs nodev "$TRACE" || fail "cannot mount tracefs"
	echo 0 >"$TRACE/tracing_on"
	echo >"$TRACE/trace"
	echo 1 >"$TRACE/events/block/block_split/enable"
	echo 1 >"$TRACE/tracing_on"
}

# trace_splits DEV: stop tracing; how many block_split events DEV had
trace_splits() {
	local mm
	echo 0 >"$TRACE/tracing_on"
	echo 0 >"$TRACE/events/block/block_split/enable"
	mm=$(stat -L -c '%t %T' "$1")
	mm="$((0x${mm% *})),$((0x${mm#* }))"
	grep -c "block_split: $mm " "$TRACE/trace" || true
}

# counts MINOR: C=changed_blocks U=cow_used_bytes of the device; fails
# unless its error is 0
counts() {
	bsnapctl info "$1" --json >"$WORK/info.out"
	json_eval "$WORK/info.out" 'j["changed_blocks"]' 'j.get("cow_used_bytes", 0)' 'j["error"]' >"$WORK/counts"
	{ read -r C; read -r U; read -r E; } <"$WORK/counts"
	assert_eq "$E" 0 "error of minor $1 ($(tr -d '\n' <"$WORK/info.out"))"
}

# blocks_sum DEV FIRST N: sha256 of N 4 KiB blocks from block FIRST
blocks_sum() {
	dd if="$1" bs=4096 skip="$2" count="$3" iflag=direct status=none | sha256sum | cut -d' ' -f1
}

# range_sum DEV SECTOR: sha256 of the LEN sectors from SECTOR
range_sum() {
	dd if="$1" bs=1M iflag=direct,skip_bytes,count_bytes skip=$(($2 * 512)) count=$((LEN * 512)) status=none |
		sha256sum | cut -d' ' -f1
}

# write_range DEV SECTOR PATTERN: one pwrite of PATTERN (LEN sectors) at
# SECTOR with O_DIRECT, from a buffer in transparent huge pages: its
# physically contiguous pages make one bio of the whole 4 MiB, larger than
# dm-crypt takes at once (dd's buffer would give bios of 1 MiB at most)
write_range() {
	python3 - "$1" "$2" "$3" <<'EOF'
import ctypes, mmap, os, sys
dev, sector, pattern = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(pattern, "rb").read()
huge = 2 << 20
# private anonymous memory (a shared mapping is shmem: no huge pages)
m = mmap.mmap(-1, len(data) + huge, flags=mmap.MAP_PRIVATE)
m.madvise(mmap.MADV_HUGEPAGE)
addr = memoryview(m)
base = ctypes.addressof(ctypes.c_char.from_buffer(m))
off = (-base) % huge
buf = addr[off:off + len(data)]
buf[:] = data
fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
n = os.pwrite(fd, buf, sector * 512)
os.close(fd)
assert n == len(data), n
anon, cur = 0, False
start = base + off
for line in open("/proc/self/smaps"):
    f = line.split()
    if "-" in f[0] and len(f) > 4:
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        cur = lo <= start < hi
    elif cur and f[0] == "AnonHugePages:":
        anon = int(f[1])
print("wrote %d bytes at sector %d; buffer in huge pages: %d KiB" % (n, sector, anon))
del buf, addr
EOF
}

# pick_ranges EXTENTS [BOUNDARY...]: two start sectors, "S1 S2", of LEN
# sector ranges inside the file's extents, 512 B past a 4 KiB boundary,
# at least a block apart; with boundaries, each range has one of them in
# its middle
pick_ranges() {
	python3 - "$LEN" "$@" <<'EOF'
import sys
n, ext = int(sys.argv[1]), sys.argv[2]
bounds = [int(b) for b in sys.argv[3:]]
exts = [tuple(map(int, l.split())) for l in open(ext) if l.strip() and not l.startswith("#")]
def inside(s):
    return any(es <= s and s + n <= es + ec for es, ec in exts)
cands = []
if bounds:
    cands = [b - n // 2 + 1 for b in bounds]
else:
    for es, ec in exts:
        s = (es + 7) // 8 * 8 + 1
        while s + n <= es + ec:
            cands.append(s)
            s += n + 16
picked = []
for s in cands:
    if inside(s) and all(s >= p + n + 8 or s + n + 8 <= p for p in picked):
        picked.append(s)
    if len(picked) == 2:
        break
if len(picked) < 2:
    sys.exit("no two ranges of %d sectors found in %s (bounds %s)" % (n, exts, bounds))
print(*picked)
EOF
}

once() {
	local kind=$1 origin minor img s1 s2 f n c0 u0 c1 u1 c2 u2 c3 c4 c5 h_img h_org splits
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
	origin=$STACK_DEV
	make_fs ext4 "$origin"
	mount_fs "$origin" "$MNT_ORIGIN" noatime
	stamp fill-file "$MNT_ORIGIN/target" --size 40M --gen 1
	sync
	stamp extents "$MNT_ORIGIN/target" >"$WORK/extents"
	if [ "$kind" = lv ]; then
		read -r s1 s2 < <(pick_ranges "$WORK/extents" $(stack_lv_boundaries)) || true
	else
		read -r s1 s2 < <(pick_ranges "$WORK/extents") || true
	fi
	[ -n "${s2:-}" ] || { cat "$WORK/extents"; fail "$kind: no ranges to write in the file's extents"; }
	log "$kind: ranges at sectors $s1 and $s2, $LEN sectors each (file extents: $(grep -v '^#' "$WORK/extents" | tr '\n' ';'))"
	head -c $((LEN * 512)) /dev/urandom >"$WORK/pat1"
	head -c $((LEN * 512)) /dev/urandom >"$WORK/pat2"

	minor=$(bsnapctl get-free-minor)
	img=/dev/bsnap$minor
	snap_setup -f 16 "$origin" "$MNT_ORIGIN/cow" "$minor"

	# --- snapshot mode
	freeze "$MNT_ORIGIN"
	f=$((s1 / 8)) n=$(((s1 + LEN - 1) / 8 - s1 / 8 + 1))
	h_img=$(blocks_sum "$img" "$f" "$n")
	h_org=$(blocks_sum "$origin" "$f" "$n")
	assert_eq "$h_img" "$h_org" "$kind: blocks $f+$n of the image and the origin before the write"
	counts "$minor"; c0=$C u0=$U
	trace_start
	write_range "$origin" "$s1" "$WORK/pat1"
	splits=$(trace_splits "$origin")
	counts "$minor"; c1=$C u1=$U
	log "$kind snapshot: $n blocks written in one 4 MiB write ($splits block_split events on $origin): changed_blocks $c0 -> $c1, cow_used_bytes $u0 -> $u1"
	[ "$splits" -gt 0 ] || fail "$kind: the write was not split on $origin: this test proves nothing here"
	assert_eq "$((c1 - c0))" "$n" "$kind snapshot: new changed blocks after one write of $n blocks"
	assert_eq "$((u1 - u0))" "$((n * 4096))" "$kind snapshot: new CoW bytes after one write of $n blocks"
	assert_eq "$(blocks_sum "$img" "$f" "$n")" "$h_img" "$kind: the image's blocks $f+$n after the write"
	assert_eq "$(range_sum "$origin" "$s1")" "$(sha256sum <"$WORK/pat1" | cut -d' ' -f1)" "$kind: the origin after the write"
	write_range "$origin" "$s1" "$WORK/pat2"
	counts "$minor"; c2=$C u2=$U
	log "$kind snapshot: the same blocks again: changed_blocks $c2, cow_used_bytes $u2"
	assert_eq "$c2 $u2" "$c1 $u1" "$kind snapshot: changed blocks and CoW bytes after writing the same blocks again"
	assert_eq "$(blocks_sum "$img" "$f" "$n")" "$h_img" "$kind: the image's blocks $f+$n after the second write"
	thaw "$MNT_ORIGIN"

	# --- incremental mode
	bsnapctl transition-to-incremental "$minor"
	freeze "$MNT_ORIGIN"
	f=$((s2 / 8)) n=$(((s2 + LEN - 1) / 8 - s2 / 8 + 1))
	counts "$minor"; c3=$C
	trace_start
	write_range "$origin" "$s2" "$WORK/pat1"
	splits=$(trace_splits "$origin")
	counts "$minor"; c4=$C
	write_range "$origin" "$s2" "$WORK/pat2"
	counts "$minor"; c5=$C
	log "$kind incremental: $n blocks written ($splits block_split events): changed_blocks $c3 -> $c4, again: $c5"
	[ "$splits" -gt 0 ] || fail "$kind: the incremental write was not split on $origin"
	assert_eq "$((c4 - c3))" "$n" "$kind incremental: new changed blocks after one write of $n blocks"
	assert_eq "$c5" "$c4" "$kind incremental: changed blocks after writing the same blocks again"
	thaw "$MNT_ORIGIN"

	# --- the next snapshot shows the second write
	bsnapctl transition-to-snapshot -f 16 "$MNT_ORIGIN/cow2" "$minor"
	wait_for_node "$img" || fail "$img did not come back after transition-to-snapshot"
	assert_eq "$(range_sum "$img" "$s2")" "$(sha256sum <"$WORK/pat2" | cut -d' ' -f1)" "$kind: the next snapshot's image at the second range"
	snap_destroy "$minor"
	umount_fs "$MNT_ORIGIN"
	stack_down
}

snap_load
for kind in lv md luks; do
	once "$kind"
done
snap_unload
log "PASS: each write through an LV, an md raid1 and a LUKS2 device was handled once"
