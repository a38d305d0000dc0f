#!/bin/bash
# bsnap-vm: timeout=400
# SCSI passthrough (SG_IO), which never reaches submit_bio_noacct: commands
# that only read (INQUIRY, TEST UNIT READY, READ CAPACITY, READ(10),
# SYNCHRONIZE CACHE) leave a traced disk alone; a WRITE(10) fails the
# snapshot and an UNMAP breaks the incremental chain (ESTALE), never
# silently trusted. The disk is scsi_debug's RAM disk (an sd device).
# bsnap-vm: allow-dmesg=may have changed the device behind bsnap's back
# bsnap-vm: allow-dmesg=snapshot failed with error -116
. "$(dirname "$0")/paths-lib.bash"
paths_load

# no udev in the guest: the disk driver is loaded by hand
modprobe sd_mod || fail "cannot load sd_mod"
modprobe scsi_debug dev_size_mb=128 lbpu=1 || fail "cannot load scsi_debug"
sd=
for _ in $(seq 100); do
	sd=$(ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block 2>/dev/null | head -1) || true
	[ -n "$sd" ] && [ -b "/dev/$sd" ] && break
	sleep 0.1
done
[ -n "$sd" ] && [ -b "/dev/$sd" ] || fail "scsi_debug's disk did not appear"
dev=/dev/$sd
log "scsi_debug disk $dev"
make_fs ext4 "$dev"
mount_fs "$dev" "$MNT_ORIGIN"
head -c 4096 /dev/urandom >"$WORK/block"

# reads_only: passthrough commands that must not touch the tracer
reads_only() {
	sg_inq "$dev" >/dev/null
	sg_turs "$dev"
	sg_readcap "$dev" >/dev/null
	sg_raw -r 4096 "$dev" 28 00 00 00 10 00 00 00 08 00 >/dev/null 2>&1 || fail "READ(10) failed"
	sg_sync "$dev"
}
error_of() { snap_json "$1"; json_get "$WORK/info.json" error; }

log "snapshot mode: read-only commands, then a WRITE(10)"
snap_setup -f 16 "$dev" "$MNT_ORIGIN/.cow-1" "$MINOR"
reads_only
assert_eq "$(error_of "$MINOR")" 0 "error after read-only passthrough commands"
dd if="$IMAGE" of=/dev/null bs=1M count=4 iflag=direct status=none || fail "the image is not readable"
# LBA 196608 (96 MiB): free space of the filesystem, which stays intact
sg_raw -s 4096 -i "$WORK/block" "$dev" 2a 00 00 03 00 00 00 00 08 00 || fail "WRITE(10) failed"
assert_eq "$(error_of "$MINOR")" "-$(errno_of ESTALE)" "error after a passthrough WRITE(10)"
dmesg | grep -q "SCSI command 0x2a to $sd may have changed the device" ||
	fail "no kernel message names the command"
if dd if="$IMAGE" of=/dev/null bs=1M count=4 iflag=direct status=none 2>/dev/null; then
	fail "the failed snapshot's image still reads"
fi
snap_destroy "$MINOR"

log "incremental mode: read-only commands keep the chain, an UNMAP breaks it"
snap_setup -f 16 "$dev" "$MNT_ORIGIN/.cow-2" "$MINOR"
bsnapctl transition-to-incremental "$MINOR"
reads_only
bsnapctl transition-to-snapshot -f 16 "$MNT_ORIGIN/.cow-3" "$MINOR" ||
	fail "read-only passthrough commands broke the chain"
bsnapctl transition-to-incremental "$MINOR"
sg_unmap --lba=200000 --num=8 "$dev" || fail "UNMAP failed"
expect_fail_errno ESTALE "$WORK/t2s" bsnapctl transition-to-snapshot -f 16 "$MNT_ORIGIN/.cow-4" "$MINOR"
snap_destroy "$MINOR"
umount_fs "$MNT_ORIGIN"
snap_unload
rmmod scsi_debug
