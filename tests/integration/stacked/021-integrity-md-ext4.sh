#!/bin/bash
# Snapshot integrity (../snapshot/integrity.bash), ext4 on a traced md raid1
# of vda and vdb: md splits the writes above its max_sectors_kb (128, set by
# integrity_run) and resubmits the remainder to the array, where the hook
# sees it again; its mirrors' bios go to the untraced disks. The image must
# equal the origin at the snapshot instant bit for bit through the
# concurrent writes, and the array must stop after destroy and rmmod.
# bsnap-vm: timeout=420
. "$(dirname "$0")/../snapshot/snapshot-lib.bash"
. "$(dirname "$0")/../snapshot/integrity.bash"
. "$(dirname "$0")/stacked-lib.bash"
stack_md 320
integrity_run ext4 "$STACK_MD"
stack_down
