#!/bin/bash
# get-free-minor, info (human and --json) and /proc/bsnap-info for snapshot
# devices: two devices (ext4 on vda, xfs on vdb), every documented key with a
# checked value, changed blocks and CoW use growing with writes, entries
# disappearing on destroy.
# JSON keys (info --json and /proc/bsnap-info devices[]): minor, state,
# state_bits, mode, error, bdev, cow, device_sectors, changed_blocks,
# cow_used_bytes, falloc_size, seqid, uuid.
# bsnap-vm: timeout=300
. "$(dirname "$0")/snapshot-lib.bash"
need_disks 2
snap_load
KEYS="minor state state_bits mode error bdev cow device_sectors changed_blocks cow_used_bytes falloc_size seqid uuid"
SNAPSHOT_BIT=1 ACTIVE_BIT=2 FAILED_BIT=8

d0=/dev/${DISKS[0]}
d1=/dev/${DISKS[1]}
make_fs ext4 "$d0"
make_fs xfs "$d1"
mount_fs "$d0" "$MNT_ORIGIN"
mount_fs "$d1" "$MNT_OTHER"
sync

assert_eq "$(proc_device_count)" 0 "devices before setup"
free=$(bsnapctl get-free-minor)
assert_eq "$free" 0 "get-free-minor with no device"

snap_setup -f 40 "$d0" "$MNT_ORIGIN/cow-a" "$free"
free=$(bsnapctl get-free-minor)
assert_match "$free" '^[0-9]+$' "get-free-minor"
[ "$free" != 0 ] || fail "get-free-minor returned 0, which is in use"
[ ! -e "/dev/bsnap$free" ] || fail "get-free-minor returned $free, but /dev/bsnap$free exists"
snap_setup -c $((8 << 20)) -f 48 "$d1" "$MNT_OTHER/cow-b" "$free"
m1=$free
free=$(bsnapctl get-free-minor)
[ "$free" != 0 ] && [ "$free" != "$m1" ] || fail "get-free-minor returned $free, in use"

# check_json FILE MINOR BDEV COW FALLOC_MB: the documented keys and values
check_json() {
	local f=$1 k bits
	for k in $KEYS; do json_get "$f" "$k" >/dev/null; done
	assert_eq "$(json_get "$f" minor)" "$2" "$f minor"
	assert_eq "$(json_get "$f" bdev)" "$3" "$f bdev"
	assert_eq "$(json_get "$f" cow)" "$4" "$f cow"
	assert_eq "$(json_get "$f" mode)" snapshot "$f mode"
	assert_eq "$(json_get "$f" error)" 0 "$f error"
	assert_eq "$(json_get "$f" seqid)" 1 "$f seqid"
	assert_eq "$(json_get "$f" device_sectors)" "$(blockdev --getsz "$3")" "$f device_sectors"
	assert_eq "$(json_get "$f" falloc_size)" $(($5 << 20)) "$f falloc_size (bytes)"
	bits=$(json_get "$f" state_bits)
	[ $((bits & SNAPSHOT_BIT)) != 0 ] && [ $((bits & ACTIVE_BIT)) != 0 ] && [ $((bits & FAILED_BIT)) = 0 ] ||
		fail "$f state_bits $bits: expected active snapshot, not failed"
	[ -n "$(json_get "$f" state)" ] || fail "$f state is empty"
	assert_match "$(json_get "$f" uuid)" '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$' "$f uuid"
	[ "$(json_get "$f" changed_blocks)" -ge 0 ] && [ "$(json_get "$f" cow_used_bytes)" -ge 0 ] ||
		fail "$f: negative counters"
}

for spec in "0 $d0 $MNT_ORIGIN/cow-a 40" "$m1 $d1 $MNT_OTHER/cow-b 48"; do
	read -r minor bdev cow mb <<<"$spec"
	snap_json "$minor"
	log "info $minor --json: $(cat "$WORK/info.json")"
	check_json "$WORK/info.json" "$minor" "$bdev" "$cow" "$mb"
	proc_device "$minor"
	log "/proc/bsnap-info entry: $(cat "$WORK/proc.json")"
	check_json "$WORK/proc.json" "$minor" "$bdev" "$cow" "$mb"
	python3 - "$WORK/info.json" "$WORK/proc.json" <<'EOF' || fail "info --json and /proc/bsnap-info disagree for minor $minor"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for k in ("minor", "state_bits", "mode", "error", "bdev", "cow", "device_sectors",
          "falloc_size", "seqid", "uuid"):
    if a[k] != b[k]:
        print(f"{k}: info {a[k]!r}, proc {b[k]!r}")
        sys.exit(1)
EOF
	run_cmd "$WORK/human" bsnapctl info "$minor"
	[ "$RC" = 0 ] || fail "bsnapctl info $minor exited $RC"
	log "info $minor:"
	cat "$WORK/human.out"
	grep -q -- "$bdev" "$WORK/human.out" || fail "info $minor does not show $bdev"
	grep -q -- "$cow" "$WORK/human.out" || fail "info $minor does not show $cow"
done
assert_eq "$(proc_device_count)" 2 "devices in /proc/bsnap-info"
# the last loop iteration left minor $m1 in info.json: two chains, two uuids
uuid1=$(json_get "$WORK/info.json" uuid)
snap_json 0
[ "$(json_get "$WORK/info.json" uuid)" != "$uuid1" ] || fail "minors 0 and $m1 have the same uuid $uuid1"

# counters grow with writes
snap_json 0
cb0=$(json_get "$WORK/info.json" changed_blocks)
cu0=$(json_get "$WORK/info.json" cow_used_bytes)
dd if=/dev/urandom of="$MNT_ORIGIN/written" bs=1M count=12 conv=fsync status=none
sync
snap_json 0
cb1=$(json_get "$WORK/info.json" changed_blocks)
cu1=$(json_get "$WORK/info.json" cow_used_bytes)
log "after 12 MiB of writes: changed_blocks $cb0 -> $cb1, cow_used_bytes $cu0 -> $cu1"
[ "$cb1" -ge $((cb0 + 12 * 256)) ] || fail "changed_blocks grew by $((cb1 - cb0)), expected >= 3072 after 12 MiB"
[ "$cu1" -gt "$cu0" ] || fail "cow_used_bytes did not grow after 12 MiB of first writes"

run_cmd "$WORK/all" bsnapctl info
[ "$RC" = 0 ] || fail "bsnapctl info (all devices) exited $RC"
grep -q -- "$d0" "$WORK/all.out" && grep -q -- "$d1" "$WORK/all.out" ||
	fail "bsnapctl info does not list both devices: $(cat "$WORK/all.out")"

snap_destroy 0
assert_eq "$(proc_device_count)" 1 "devices after destroying minor 0"
assert_eq "$(bsnapctl get-free-minor)" 0 "get-free-minor after destroying minor 0"
snap_destroy "$m1"
assert_eq "$(proc_device_count)" 0 "devices after destroying both"
umount_fs "$MNT_OTHER"
umount_fs "$MNT_ORIGIN"
snap_unload
