#!/bin/bash
# Snapshot integrity (../snapshot/integrity.bash), ext4 on a traced LVM LV of
# four 96 MiB segments alternately on vda and vdb: device-mapper splits every
# write that crosses a segment boundary and resubmits the remainder to the
# LV, where the hook sees it again. The image must equal the origin at the
# snapshot instant bit for bit through the concurrent writes, and the LV
# must come down after destroy and rmmod.
# bsnap-vm: timeout=420
. "$(dirname "$0")/../snapshot/snapshot-lib.bash"
. "$(dirname "$0")/../snapshot/integrity.bash"
. "$(dirname "$0")/stacked-lib.bash"
stack_lv 4 24
split_bios "/dev/${DISKS[0]}" 128
split_bios "/dev/${DISKS[1]}" 128
integrity_run ext4 "/dev/mapper/$STACK_VG-$STACK_LV"
stack_down
