#!/bin/bash
# libbsnap's C API against the module, through the plain C program
# bsnap-example (tests/libbsnap): setup-snapshot, info, writes, then the
# transitions that close the first CoW file, whose runs of changed blocks
# must then hold the blocks written (a 4 MiB file: 1024 blocks at least),
# as bsnapctl changed-blocks and cow-info report them too.
# Refusals come back as the errno with bsnap_reason()'s sentence.
# bsnap-vm: timeout=300
. "$(dirname "$0")/snapshot-lib.bash"
need_disks 1
EXAMPLE=${BSNAP_TOOLS%/}/../libbsnap/bsnap-example
[ -x "$EXAMPLE" ] || fail "bsnap-example is not built: no $EXAMPLE"
snap_load

d0=/dev/${DISKS[0]}
make_fs ext4 "$d0"
mount_fs "$d0" "$MNT_ORIGIN"
sync

run_cmd "$WORK/setup" "$EXAMPLE" setup "$d0" "$MNT_ORIGIN/cow-1" 2
[ "$RC" = 0 ] || fail "bsnap-example setup exited $RC: $(cat "$WORK/setup.err")"
SNAP_MINORS+=(2)
run_cmd "$WORK/info" "$EXAMPLE" info 2
[ "$RC" = 0 ] || fail "bsnap-example info exited $RC: $(cat "$WORK/info.err")"
log "info: $(cat "$WORK/info.out")"
assert_match "$(cat "$WORK/info.out")" "^minor=2 state=3 error=0 bdev=$d0 cow=$MNT_ORIGIN/cow-1 seqid=1 " "bsnap-example info"

expect_fail_errno EBUSY "$WORK/busy" "$EXAMPLE" setup "$d0" "$MNT_ORIGIN/cow-x" 3
assert_match "$(cat "$WORK/busy.err")" "^bsnap-example: setup-snapshot: $d0 is traced already, by minor 2: destroy minor 2 first.*\(errno 16\)$" "refusal with its reason"

dd if=/dev/urandom of="$MNT_ORIGIN/data" bs=1M count=4 conv=fsync status=none
sync
run_cmd "$WORK/t1" "$EXAMPLE" transition-incr 2
[ "$RC" = 0 ] || fail "transition-incr exited $RC: $(cat "$WORK/t1.err")"
run_cmd "$WORK/t2" "$EXAMPLE" transition-snap "$MNT_ORIGIN/cow-2" 2
[ "$RC" = 0 ] || fail "transition-snap exited $RC: $(cat "$WORK/t2.err")"

run_cmd "$WORK/runs" "$EXAMPLE" runs "$MNT_ORIGIN/cow-1"
[ "$RC" = 0 ] || fail "bsnap-example runs exited $RC: $(cat "$WORK/runs.err")"
log "runs of cow-1: $(head -1 "$WORK/runs.out"); $(($(wc -l <"$WORK/runs.out") - 1)) runs"
head -1 "$WORK/runs.out" | grep -q " seqid=1 clean=1 " || fail "cow-1 header: $(head -1 "$WORK/runs.out")"
total=$(tail -n +2 "$WORK/runs.out" | awk '{ n += $2 } END { print n + 0 }')
[ "$total" -ge 1024 ] || fail "cow-1 holds $total changed blocks, expected >= 1024 after 4 MiB"
# bsnapctl changed-blocks and cow-info read the same file alike.
bsnapctl changed-blocks "$MNT_ORIGIN/cow-1" >"$WORK/cb.out" || fail "bsnapctl changed-blocks failed"
tail -n +2 "$WORK/runs.out" | cmp -s - "$WORK/cb.out" || fail "bsnapctl changed-blocks differs from bsnap-example runs"
bsnapctl cow-info --json "$MNT_ORIGIN/cow-1" >"$WORK/ci.json" || fail "bsnapctl cow-info --json failed"
json_eval "$WORK/ci.json" 'j["changed_blocks"]' 'j["clean"]' 'j["seqid"]' >"$WORK/ci"
assert_eq "$(paste -sd' ' "$WORK/ci")" "$total true 1" "cow-info --json: changed_blocks clean seqid"
uuid=$(sed -n 's/.* uuid=//p' "$WORK/info.out")
head -1 "$WORK/runs.out" | grep -q "uuid=$uuid\$" || fail "cow-1's uuid is not the chain's $uuid"

# A write after the snapshot: cow-2's header says not clean (write intent).
dd if=/dev/urandom of="$MNT_ORIGIN/data" bs=1M count=1 conv=fsync,notrunc status=none
run_cmd "$WORK/hdr" "$EXAMPLE" header "$MNT_ORIGIN/cow-2"
[ "$RC" = 0 ] || fail "bsnap-example header of the CoW file in use exited $RC: $(cat "$WORK/hdr.err")"
head -1 "$WORK/hdr.out" | grep -q " seqid=2 clean=0 " || fail "cow-2 (in use) header: $(cat "$WORK/hdr.out")"
# Its runs are refused while minor 2 writes it: they are not complete.
expect_fail_errno EBUSY "$WORK/inuse" "$EXAMPLE" runs "$MNT_ORIGIN/cow-2"
expect_fail_errno EBUSY "$WORK/inuse-cli" bsnapctl changed-blocks "$MNT_ORIGIN/cow-2"
grep -q "CoW file $MNT_ORIGIN/cow-2 is in use by minor 2 ($d0)" "$WORK/inuse-cli.err" ||
	fail "changed-blocks of the CoW file in use: $(cat "$WORK/inuse-cli.err")"
# update-img given the CoW file in use: not "damaged" but which minor uses it.
: >"$WORK/img"
expect_fail_errno EBUSY "$WORK/upd" "$BSNAP_BIN/update-img" -q /dev/bsnap2 "$MNT_ORIGIN/cow-2" "$WORK/img"
grep -q "CoW file $MNT_ORIGIN/cow-2 is in use by minor 2 ($d0): run transition-to-snapshot 2 first" "$WORK/upd.err" ||
	fail "update-img of the CoW file in use: $(cat "$WORK/upd.err")"
bsnapctl cow-info "$MNT_ORIGIN/cow-2" | grep -q "clean: *no" || fail "bsnapctl cow-info of cow-2 (in use) does not say not clean"

run_cmd "$WORK/destroy" "$EXAMPLE" destroy 2
[ "$RC" = 0 ] || fail "bsnap-example destroy exited $RC: $(cat "$WORK/destroy.err")"
SNAP_MINORS=()
umount_fs "$MNT_ORIGIN"
snap_unload
