# shellcheck shell=bash
# Umount with a large amount of dirty data: 96 MiB of buffered writes, then
# umount at once (the writeback happens inside the umount, while the module
# must keep tracing); remount read-only with dirty data and back read-write
# (dormant, then active); the incremental must equal the snapshot bit for
# bit. Then the same in snapshot mode: dirty data flushed by remount ro and
# by umount must not change the snapshot image.
. "$(dirname "${BASH_SOURCE[0]}")/dormant-lib.bash"

# dirty_kb: the kernel's Dirty + Writeback, KiB
dirty_kb() { awk '/^(Dirty|Writeback):/ { n += $2 } END { print n }' /proc/meminfo; }
# expect_dirty MB WHAT: at least MB MiB are still waiting for writeback
# (otherwise this test would not test what it claims)
expect_dirty() {
	local kb
	kb=$(dirty_kb)
	log "$2: $((kb / 1024)) MiB dirty"
	((kb >= $1 * 1024)) || fail "$2: only $((kb / 1024)) MiB dirty, the test needs $1 MiB"
}

dormant_load
# Keep the data dirty until the umount writes it back.
echo 60 >/proc/sys/vm/dirty_ratio
echo 50 >/proc/sys/vm/dirty_background_ratio
echo 6000 >/proc/sys/vm/dirty_expire_centisecs
make_fs "$1"
churn 0
start_chain

dd if=/dev/urandom of="$MNT/big" bs=1M count=96 status=none
expect_dirty 64 "before umount"
umount_origin
expect_state 0 "after umount with dirty data"
mount_origin
expect_state 2 "mounted again"

dd if=/dev/urandom of="$MNT/big" bs=1M count=24 seek=40 conv=notrunc status=none
dd if=/dev/urandom of="$MNT/second" bs=1M count=24 status=none
rm -f "$MNT/data/f1"
expect_dirty 32 "before remount ro"
remount ro
expect_state 0 "after remount ro"
remount rw
expect_state 2 "after remount rw"
churn 5
take_snapshot 2 24
apply_incremental 2

log "snapshot mode: dirty data flushed by remount ro and by umount"
dd if=/dev/urandom of="$MNT/big" bs=1M count=8 seek=8 conv=notrunc status=none
expect_dirty 6 "snapshot mode, before remount ro"
remount ro
expect_state 1 "snapshot mode, after remount ro"
remount rw
expect_state 3 "snapshot mode, after remount rw"
dd if=/dev/urandom of="$MNT/second" bs=1M count=8 conv=notrunc status=none
umount_origin
expect_state 1 "snapshot mode, after umount with dirty data"
same_as_snapshot "snapshot 2 while dormant"
mount_origin
expect_state 3 "snapshot mode, mounted again"
must bsnapctl transition-to-incremental "$MINOR"
rm -f "$MNT/.bsnap-cow-1"
churn 7
take_snapshot 3
apply_incremental 3
must bsnapctl destroy "$MINOR"
umount_origin
unload_module
log "dirty umount, remount ro/rw: every write reached the incrementals"
