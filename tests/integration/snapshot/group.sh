#!/bin/bash
# Group snapshots (issue 13, deliverable 4): several devices at one instant.
# A writer loops: sequence number k to a file on A (ext4 on vda) with
# O_DIRECT|O_SYNC, then the same k to a file on B (ext4 on vdb2), then k+1.
# In the images of every group snapshot, B's number is A's or one less:
# B never holds a later number than A, and A is never more than one ahead
# (two snapshots taken at different moments would show either). Checked for
# 20 group setup-snapshot cycles in a row (freeze order alternating), for
# group transition-to-snapshot cycles of one chain, and a group the module
# refuses changes nothing (no tracer, no /dev/bsnapN, no CoW file left).
# bsnap-vm: timeout=420
. "$(dirname "$0")/snapshot-lib.bash"
need_disks 2
snap_load

CYCLES=${GROUP_CYCLES:-20}
TRANSITIONS=${GROUP_TRANSITIONS:-3}
A=/dev/${DISKS[0]}
B=/dev/${DISKS[1]}2
OTHER=/dev/${DISKS[1]}1
MNT_A=/mnt/bsnap-a
MNT_B=/mnt/bsnap-b
IMG_A=/mnt/bsnap-img-a
IMG_B=/mnt/bsnap-img-b

make_fs ext4 "$A"
partition_disk "/dev/${DISKS[1]}"
make_fs ext4 "$B"
make_fs ext4 "$OTHER"
mount_fs "$A" "$MNT_A"
mount_fs "$B" "$MNT_B"
mount_fs "$OTHER" "$MNT_OTHER"

# writer A_FILE B_FILE STOP: k to A, then k to B, k+1, ... until STOP exists;
# one 4 KiB block per file, overwritten in place with O_DIRECT|O_SYNC.
writer() {
	python3 - "$@" <<'EOF'
import mmap, os, sys
a, b, stop = sys.argv[1:4]
buf = mmap.mmap(-1, 4096)  # page aligned, as O_DIRECT wants
def put(k):
    buf.seek(0)
    buf.write((b"%d\n" % k).ljust(4095, b" ") + b"\n")
fds = []
for path in (a, b):  # allocate the block before the first snapshot
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    put(0)
    os.write(fd, buf)
    os.fsync(fd)
    os.close(fd)
    fds.append(os.open(path, os.O_WRONLY | os.O_DIRECT | os.O_SYNC))
for d in (os.path.dirname(a), os.path.dirname(b)):
    dfd = os.open(d, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
print("started", flush=True)
k = 0
while not os.path.exists(stop):
    k += 1
    put(k)
    for fd in fds:
        if os.pwrite(fd, buf, 0) != 4096:
            sys.exit("short write")
print("wrote up to", k, flush=True)
EOF
}

rm -f "$WORK/stop"
bg writer writer "$MNT_A/seq" "$MNT_B/seq" "$WORK/stop"
for i in $(seq 300); do
	grep -q started "$WORK/writer.log" && break
	kill -0 "$BG_writer" 2>/dev/null || bg_wait writer
	sleep 0.1
done
grep -q started "$WORK/writer.log" || fail "the writer did not start: $(cat "$WORK/writer.log")"
log "writer running"

# CoW files: -f 32 (MiB). The writer's O_SYNC commits cycle through ext4's
# 16 MiB journal, and every journal block overwritten is copied: 8 MiB
# filled up (ENOSPC) in the transition chain.

# group_ok OUT_PREFIX CMD ARGS...: a bsnapctl command that must work
group_ok() {
	local prefix=$1
	shift
	run_cmd "$WORK/$prefix" bsnapctl "$@"
	if [ "$RC" != 0 ]; then
		cat "$WORK/$prefix.out" "$WORK/$prefix.err"
		fail "bsnapctl $* exited $RC: $(head -1 "$WORK/$prefix.err")"
	fi
}

LAST_A=0
SKEWED=0
# check_images WHAT: mount /dev/bsnap0 (A) and /dev/bsnap1 (B) read-only,
# compare the numbers they hold, unmount them.
check_images() {
	local na nb
	mount_fs /dev/bsnap0 "$IMG_A" "$(image_mount_opts ext4)"
	mount_fs /dev/bsnap1 "$IMG_B" "$(image_mount_opts ext4)"
	read -r na <"$IMG_A/seq" || fail "$1: cannot read the number in A's image"
	read -r nb <"$IMG_B/seq" || fail "$1: cannot read the number in B's image"
	umount_fs "$IMG_A"
	umount_fs "$IMG_B"
	[[ "$na" =~ ^[0-9]+$ && "$nb" =~ ^[0-9]+$ ]] || fail "$1: not numbers: A '$na', B '$nb'"
	log "$1: image A holds $na, image B holds $nb"
	[ "$nb" -le "$na" ] || fail "$1: B's image holds $nb, later than A's $na: not one instant"
	[ $((na - nb)) -le 1 ] || fail "$1: A's image holds $na, B's only $nb: not one instant"
	[ "$na" -gt "$LAST_A" ] || fail "$1: A's image holds $na, not more than the previous $LAST_A: is the writer stuck?"
	[ "$na" = "$nb" ] || SKEWED=$((SKEWED + 1))
	LAST_A=$na
	kill -0 "$BG_writer" 2>/dev/null || bg_wait writer
}

# no_trace_of MINOR FILE...: MINOR is not in use and none of the files exists
no_trace_of() {
	local minor=$1 f
	shift
	[ ! -e "/dev/bsnap$minor" ] || fail "/dev/bsnap$minor exists after a refused group"
	grep -Eq "\"minor\": *$minor[,}]" "$BSNAP_PROC" &&
		fail "minor $minor is in $BSNAP_PROC after a refused group: $(cat "$BSNAP_PROC")"
	for f in "$@"; do
		[ ! -e "$f" ] || fail "CoW file $f left behind by a refused group"
	done
	return 0
}

# --- 1. groups refused before anything changes
log "1. refused groups"
expect_fail_errno EBUSY "$WORK/dup" bsnapctl setup-snapshot "$A" "$MNT_A/cow-dup" 0 "$B" "$MNT_B/cow-dup" 0
grep -q "minor 0 given twice" "$WORK/dup.err" || fail "duplicate minor: unexpected message: $(cat "$WORK/dup.err")"
no_trace_of 0 "$MNT_A/cow-dup" "$MNT_B/cow-dup"

# The second member names a minor in use: the first one (already prepared,
# its CoW file created) is undone.
snap_setup -f 32 "$B" "$MNT_B/cow-b" 1
expect_fail_errno EBUSY "$WORK/busy" bsnapctl setup-snapshot -f 32 "$A" "$MNT_A/cow-r" 0 "$OTHER" "$MNT_OTHER/cow-r" 1
assert_match "$(cat "$WORK/busy.err")" "^bsnapctl: setup-snapshot: member 2 \\($OTHER, minor 1, cow $MNT_OTHER/cow-r\\): Device or resource busy\$" "message"
no_trace_of 0 "$MNT_A/cow-r" "$MNT_OTHER/cow-r"
[ "$(proc_device_count)" = 1 ] || fail "a refused group left tracers: $(cat "$BSNAP_PROC")"

# A member that is already traced (B, minor 1) as the first of the group.
expect_fail_errno EBUSY "$WORK/busy2" bsnapctl setup-snapshot -f 32 "$B" "$MNT_B/cow-r2" 2 "$A" "$MNT_A/cow-r2" 0
assert_match "$(cat "$WORK/busy2.err")" "member 1 \\($B, minor 2, " "message"
no_trace_of 0 "$MNT_A/cow-r2" "$MNT_B/cow-r2"
no_trace_of 2

# A transition group whose second member does not exist: the first stays
# incremental, with its seqid, and no new CoW file.
group_ok tti1 transition-to-incremental 1
expect_fail_errno ENOENT "$WORK/tts-missing" bsnapctl transition-to-snapshot -f 32 "$MNT_B/cow-t" 1 "$MNT_A/cow-t" 7
assert_match "$(cat "$WORK/tts-missing.err")" "member 2 \\(minor 7, cow $MNT_A/cow-t\\): No such file or directory" "message"
snap_json 1
assert_eq "$(json_get "$WORK/info.json" seqid)" 1 "seqid of minor 1 after a refused group transition"
assert_eq "$(json_get "$WORK/info.json" mode)" incremental "mode of minor 1 after a refused group transition"
no_trace_of 7 "$MNT_B/cow-t" "$MNT_A/cow-t"
snap_destroy 1
rm -f "$MNT_B/cow-b"

# --- 2. group setup-snapshot, CYCLES times in a row
log "2. $CYCLES group setup-snapshot cycles"
t0=$SECONDS
for c in $(seq "$CYCLES"); do
	# freeze order alternates: A first, then B first
	if ((c % 2)); then
		group_ok setup.$c setup-snapshot -f 32 "$A" "$MNT_A/cow.$c" 0 "$B" "$MNT_B/cow.$c" 1
	else
		group_ok setup.$c setup-snapshot -f 32 "$B" "$MNT_B/cow.$c" 1 "$A" "$MNT_A/cow.$c" 0
	fi
	SNAP_MINORS+=(0 1)
	wait_for_node /dev/bsnap0 || fail "/dev/bsnap0 did not appear"
	wait_for_node /dev/bsnap1 || fail "/dev/bsnap1 did not appear"
	check_images "cycle $c"
	snap_destroy 0
	snap_destroy 1
	rm -f "$MNT_A/cow.$c" "$MNT_B/cow.$c"
done
log "$CYCLES cycles in $((SECONDS - t0)) s; A one ahead of B in $SKEWED of them"

# --- 3. one chain, group transition-to-snapshot
log "3. group transition-to-snapshot, $TRANSITIONS times"
group_ok setup.t setup-snapshot -f 32 "$A" "$MNT_A/cow.t0" 0 "$B" "$MNT_B/cow.t0" 1
SNAP_MINORS+=(0 1)
wait_for_node /dev/bsnap1 || fail "/dev/bsnap1 did not appear"
check_images "transition chain, setup"
for t in $(seq "$TRANSITIONS"); do
	group_ok tti0.$t transition-to-incremental 0
	group_ok tti1.$t transition-to-incremental 1
	sleep 1 # the writer moves on while both are incremental
	group_ok tts.$t transition-to-snapshot -f 32 "$MNT_A/cow.t$t" 0 "$MNT_B/cow.t$t" 1
	# the previous CoW files (for update-img) are free now
	rm -f "$MNT_A/cow.t$((t - 1))" "$MNT_B/cow.t$((t - 1))"
	wait_for_node /dev/bsnap0 || fail "/dev/bsnap0 did not appear"
	wait_for_node /dev/bsnap1 || fail "/dev/bsnap1 did not appear"
	check_images "transition $t"
done
for m in 0 1; do
	snap_json "$m"
	assert_eq "$(json_get "$WORK/info.json" seqid)" $((TRANSITIONS + 1)) "seqid of minor $m"
	assert_eq "$(json_get "$WORK/info.json" mode)" snapshot "mode of minor $m"
	assert_eq "$(json_get "$WORK/info.json" error)" 0 "error of minor $m"
done
snap_destroy 0
snap_destroy 1

touch "$WORK/stop"
bg_wait writer
cat "$WORK/writer.log"
log "A one ahead of B in $SKEWED of $((CYCLES + TRANSITIONS + 1)) images"
umount_fs "$MNT_A"
umount_fs "$MNT_B"
umount_fs "$MNT_OTHER"
snap_unload
