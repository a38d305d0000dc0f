# shellcheck shell=bash
# dd to the unmounted device while dormant: the blocks written are counted
# at once (changed_blocks grows by exactly their number: none of them had
# changed in this incremental before) and, after the next mount, are in the
# incremental, which equals the new snapshot bit for bit. Then in snapshot
# mode: dd while dormant must be copied before it lands, so the snapshot
# image does not change, and it is in the next incremental.
. "$(dirname "${BASH_SOURCE[0]}")/dormant-lib.bash"

dormant_load
make_fs "$1"
churn 0
raw_target 8
start_chain
churn 1
umount_origin
expect_state 0 "incremental, after umount"
expect_proc_state 0 "incremental, after umount"
before=$(info_num changed_blocks)
raw_write 100 512
read_info
after=$(info_num changed_blocks)
log "changed_blocks: $before before dd of 512 blocks, $after after"
assert_eq "$((after - before))" 512 "changed_blocks growth after dd of 512 untouched blocks while dormant"
expect_state 0 "after dd while dormant"
mount_origin
expect_state 2 "mounted again"
take_snapshot 2
apply_incremental 2

log "snapshot mode: dd while dormant"
umount_origin
expect_state 1 "snapshot, after umount"
before=$(info_num changed_blocks)
raw_write 300 512
raw_write 100 16
read_info
after=$(info_num changed_blocks)
log "changed_blocks: $before before dd of 528 blocks, $after after"
assert_eq "$((after - before))" 528 "changed_blocks growth after dd of 528 untouched blocks while dormant (snapshot)"
same_as_snapshot "snapshot 2 after dd while dormant"
mount_origin
expect_state 3 "snapshot, mounted again"
same_as_snapshot "snapshot 2 after the mount"
must bsnapctl transition-to-incremental "$MINOR"
rm -f "$MNT/.bsnap-cow-1"
take_snapshot 3
apply_incremental 3
must bsnapctl destroy "$MINOR"
umount_origin
unload_module
log "dd while dormant reached the incrementals and never the snapshot"
