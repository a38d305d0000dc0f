#!/bin/bash
# Snapshot integrity (../snapshot/integrity.bash), xfs on a traced LUKS2
# dm-crypt mapping of vda (discards allowed): dm-crypt takes at most 1 MiB
# of a write bio and resubmits the rest to the mapping, where the hook sees
# it again; the encrypted bios go to the untraced disk from kcryptd. The
# image must equal the origin at the snapshot instant bit for bit through
# the concurrent writes, and the mapping must close after destroy and rmmod.
# bsnap-vm: timeout=480
. "$(dirname "$0")/../snapshot/snapshot-lib.bash"
. "$(dirname "$0")/../snapshot/integrity.bash"
. "$(dirname "$0")/stacked-lib.bash"
stack_luks
split_bios "/dev/${DISKS[0]}" 128
integrity_run xfs "/dev/mapper/$STACK_CRYPT"
stack_down
