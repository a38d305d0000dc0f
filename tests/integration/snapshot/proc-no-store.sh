#!/bin/bash
# /proc/bsnap-info shows no CoW numbers for a device without a CoW store.
# Minor 0 is a snapshot with a 40 MiB CoW file; minor 1 is reloaded from a
# CoW file that does not exist: the reload fails (ENOENT) but registers the
# device, unverified and failed, with no CoW store. Its entry comes right
# after minor 0's, and used to repeat minor 0's falloc_size, cow_used_bytes
# and cow_free_bytes (one struct for the whole walk, fields left unset).
# info --json (the ioctl) must agree. Every output is valid against
# docs/bsnap-info.schema.json, with a stored error (ENOENT) in it. Then
# refusals name their cause (refusals.hpp).
# bsnap-vm: timeout=300
. "$(dirname "$0")/snapshot-lib.bash"
need_disks 2
snap_load

d0=/dev/${DISKS[0]}
d1=/dev/${DISKS[1]}
make_fs ext4 "$d0"
make_fs ext4 "$d1"
mount_fs "$d0" "$MNT_ORIGIN"
sync
snap_setup -f 40 "$d0" "$MNT_ORIGIN/cow-a" 0
dd if=/dev/urandom of="$MNT_ORIGIN/written" bs=1M count=2 conv=fsync status=none

expect_fail_errno ENOENT "$WORK/reload" bsnapctl reload-incremental "$d1" missing-cow 1
SNAP_MINORS+=(1)
log "$BSNAP_PROC: $(cat "$BSNAP_PROC")"
cat "$BSNAP_PROC" >"$WORK/proc-all.json"
json_check "$WORK/proc-all.json"
python3 - "$WORK/proc-all.json" <<'PY' || fail "minor 1 in $BSNAP_PROC: not failed with a positive ENOENT"
import json, sys
d = [x for x in json.load(open(sys.argv[1]))["devices"] if x["minor"] == 1][0]
sys.exit(0 if (d["error"], d["error_name"], d["failed"], d["activity"]) == (2, "ENOENT", True, "unverified") else 1)
PY
for cmd in "info --json" "status --json" "info 0 --json" "info 1 --json"; do
	# shellcheck disable=SC2086 # the words of $cmd are the arguments
	bsnapctl $cmd >"$WORK/cli.json" || fail "bsnapctl $cmd failed"
	json_check "$WORK/cli.json"
done

proc_device 0
assert_eq "$(json_get "$WORK/proc.json" falloc_size)" $((40 << 20)) "minor 0 falloc_size"
[ "$(json_get "$WORK/proc.json" cow_used_bytes)" -gt 0 ] || fail "minor 0: cow_used_bytes is 0"
[ "$(json_get "$WORK/proc.json" cow_free_bytes)" -gt 0 ] || fail "minor 0: cow_free_bytes is 0"

proc_device 1
bits=$(json_get "$WORK/proc.json" state_bits)
[ $((bits & 12)) = 12 ] || fail "minor 1: state_bits $bits, expected unverified and failed"
for k in falloc_size cow_used_bytes cow_free_bytes cow_data_bytes; do
	assert_eq "$(json_get "$WORK/proc.json" "$k")" 0 "minor 1 (no CoW store) $k in $BSNAP_PROC"
done
snap_json 1
for k in falloc_size cow_used_bytes cow_free_bytes cow_data_bytes; do
	assert_eq "$(json_get "$WORK/info.json" "$k")" 0 "minor 1 (no CoW store) $k in info --json"
done

# Refusals that say why: the failed minor answers a snapshot with the errno
# it failed with (ENOENT), and its device is traced already.
expect_fail_errno ENOENT "$WORK/t2s" bsnapctl transition-to-snapshot "$MNT_ORIGIN/cow-x" 1
grep -q "minor 1 ($d1) failed earlier (ENOENT, No such file or directory): .* destroy minor 1 and start a new chain" "$WORK/t2s.err" ||
	fail "transition-to-snapshot of the failed minor 1: $(cat "$WORK/t2s.err")"
expect_fail_errno EBUSY "$WORK/again" bsnapctl setup-snapshot "$d1" "$MNT_ORIGIN/cow-y" 2
grep -q "$d1 is traced already, by minor 1: destroy minor 1 first" "$WORK/again.err" ||
	fail "setup-snapshot of a traced device: $(cat "$WORK/again.err")"

# Destroy of a dormant snapshot leaves its CoW file, and says so.
snap_destroy 1
umount_fs "$MNT_ORIGIN"
snap_destroy 0
log "destroy 0 (dormant): $(cat "$WORK/destroy.0.err")"
grep -q "^bsnapctl: destroy: minor 0 was dormant: its CoW file $MNT_ORIGIN/cow-a is left in place" "$WORK/destroy.0.err" ||
	fail "destroy of a dormant device does not say its CoW file stays: $(cat "$WORK/destroy.0.err")"
snap_unload
