#!/bin/bash
# Incremental cycles (../incremental/cycles.bash, 5 of them) on ext4 on a
# traced LUKS2 dm-crypt mapping of vda (discards allowed); the backup on
# vdc. After every cycle the backup equals the snapshot bit for bit.
# bsnap-vm: timeout=360
. "$(dirname "$0")/../snapshot/snapshot-lib.bash"
. "$(dirname "$0")/stacked-lib.bash"
stack_luks 256
stack_cycles ext4 "/dev/mapper/$STACK_CRYPT"
stack_down
