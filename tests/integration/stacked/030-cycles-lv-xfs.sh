#!/bin/bash
# Incremental cycles (../incremental/cycles.bash, 5 of them) on xfs on a
# traced LVM LV of four segments alternately on vda and vdb; the backup on
# vdc. After every cycle the backup equals the snapshot bit for bit.
# bsnap-vm: timeout=360
. "$(dirname "$0")/../snapshot/snapshot-lib.bash"
. "$(dirname "$0")/stacked-lib.bash"
stack_lv 4 20
stack_cycles xfs "/dev/mapper/$STACK_VG-$STACK_LV"
stack_down
