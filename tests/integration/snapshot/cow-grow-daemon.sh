#!/bin/bash
# bsnapd grows a CoW file that runs low, in a real guest (its unit tests
# fake the module). A snapshot with a 32 MiB CoW file; bsnapd runs in the
# background; all 128 MiB of a file in the snapshot are rewritten in 4 MiB
# steps, and after each step the test waits until bsnapd has answered every
# "cow-low" uevent with an "expanded" one (a writer slow enough for it: a
# writer faster than the growth fills the file, which cow-full.sh covers).
# Checks: the snapshot never fails; the file grew at least three times;
# bsnapd logged each growth; the image still holds the file as it was at
# the snapshot instant; the origin holds the new data; bsnapd stops cleanly
# on SIGTERM and its state file names the device. Needs systemd-udevd (the
# test starts it): bsnapd hears uevents through udev.
# bsnap-vm: timeout=600
. "$(dirname "$0")/snapshot-lib.bash"
need_disks 1
snap_load
dev=/dev/${DISKS[0]}
BSNAP_STAMP_NONCE=$(new_nonce)
export BSNAP_STAMP_NONCE
MiB=$((1024 * 1024))
bsnapd=$BSNAP_BIN/../daemon/bsnapd
[ -x "$bsnapd" ] || fail "bsnapd is not built: no $bsnapd"

count_events() { grep -c "^$1 0 " "$WORK/events.log" || true; }

events_start
wipe_disk "$dev"
make_fs ext4 "$dev"
mount_fs "$dev" "$MNT_ORIGIN"
stamp fill-file "$MNT_ORIGIN/data.stamp" --size 128M --gen 1
sync
snap_setup -f 32 "$dev" "$MNT_ORIGIN/cow" 0
img=/dev/bsnap0

# bsnapd hears the module's uevents through udev (sd_device_monitor), as
# on any systemd machine; this guest runs no udevd of its own, so the test
# starts one for itself (stopped by the cleanup like any background job).
udevd=/lib/systemd/systemd-udevd
[ -x "$udevd" ] || fail "no $udevd (package udev): bsnapd gets the module's events through udev"
pgrep -x systemd-udevd >/dev/null && fail "a udevd already runs in this guest"
bg udevd "$udevd" --children-max=2
# Leave no trace of it for the tests after this one in the same boot:
# libudev (dmsetup's udev sync) takes /run/udev/control for a live udevd.
trap '_rc=$?; rm -rf /run/udev; (exit $_rc); _snap_cleanup' EXIT
udevadm settle --timeout=30 || log "udevadm settle timed out"
bg bsnapd "$bsnapd" --state-file "$WORK/state.json" --no-modprobe
for _ in $(seq 100); do
	grep -q "bsnapd running" "$WORK/bsnapd.log" && break
	sleep 0.2
done
grep -q "bsnapd running" "$WORK/bsnapd.log" || { cat "$WORK/bsnapd.log"; fail "bsnapd did not start"; }

head -c 128M /dev/urandom >"$WORK/new.bin"
log "rewrite data.stamp in 4 MiB steps; bsnapd must grow the CoW file as it fills"
for step in $(seq 0 31); do
	dd if="$WORK/new.bin" of="$MNT_ORIGIN/data.stamp" bs=1M skip=$((step * 4)) seek=$((step * 4)) \
		count=4 conv=notrunc oflag=direct status=none || fail "origin write $step failed"
	for _ in $(seq 300); do
		[ "$(count_events expanded)" -ge "$(count_events cow-low)" ] && break
		sleep 0.2
	done
	[ "$(count_events expanded)" -ge "$(count_events cow-low)" ] || {
		cat "$WORK/bsnapd.log"
		fail "step $step: bsnapd did not grow the CoW file within 60 s of cow-low"
	}
	snap_json 0
	[ "$(json_get "$WORK/info.json" error)" = 0 ] || {
		cat "$WORK/bsnapd.log"
		fail "step $step: the snapshot failed: $(tr -d '\n' <"$WORK/info.json")"
	}
done
sync
snap_json 0
log "info: $(tr -d '\n' <"$WORK/info.json")"
assert_eq "$(json_get "$WORK/info.json" error)" 0 "snapshot error after all writes"
size=$(json_get "$WORK/info.json" falloc_size)
grown=$(count_events expanded)
log "CoW file: 32 MiB -> $((size / MiB)) MiB in $grown growths ($(count_events cow-low) cow-low events)"
[ "$grown" -ge 3 ] || fail "the CoW file grew only $grown times for 128 MiB of CoW data"
[ "$size" -ge $((128 * MiB)) ] || fail "the CoW file is $size bytes, less than the 128 MiB copied into it"
logged=$(grep -c "CoW file grown by" "$WORK/bsnapd.log" || true)
[ "$logged" -ge "$grown" ] || { cat "$WORK/bsnapd.log"; fail "bsnapd logged $logged growths, the module sent $grown"; }

log "the image holds data.stamp of the snapshot instant; the origin the new data"
mkdir -p /mnt/bsnap-image
mount -o ro,noload "$img" /mnt/bsnap-image || fail "the image does not mount"
MOUNTS+=(/mnt/bsnap-image)
stamp verify-file /mnt/bsnap-image/data.stamp --gen 1 --max-report 5 || fail "the image's data.stamp is not generation 1"
umount /mnt/bsnap-image
cmp "$MNT_ORIGIN/data.stamp" "$WORK/new.bin" || fail "the origin's data.stamp is not what was written"

log "SIGTERM: bsnapd stops cleanly"
kill -TERM "$BG_bsnapd"
bg_wait bsnapd
grep -q "bsnapd stopped" "$WORK/bsnapd.log" || fail "bsnapd did not log its stop"
fs_uuid=$(blkid -o value -s UUID "$dev")
python3 - "$WORK/state.json" "$fs_uuid" <<'PY' || { cat "$WORK/state.json"; fail "bsnapd's state file does not hold the snapshot (minor 0, cow, the filesystem's UUID)"; }
import json, sys
d = [d for d in json.load(open(sys.argv[1]))["devices"] if d.get("minor") == 0]
assert d and d[0]["fs_uuid"] == sys.argv[2] and d[0]["cow"] == "cow" and d[0]["mode"] == "snapshot", d
PY
tail -5 "$WORK/bsnapd.log"

udevadm control --exit || fail "udevd did not stop"
bg_wait udevd
rm -rf /run/udev
snap_destroy 0
rm -f "$MNT_ORIGIN/cow"
umount_fs "$MNT_ORIGIN"
snap_unload
