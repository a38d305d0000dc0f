#!/bin/bash
# Incremental cycles (../incremental/cycles.bash, 5 of them) on ext4 on a
# traced md raid1 of vda and vdb; the backup on vdc. After every cycle the
# backup equals the snapshot bit for bit.
# bsnap-vm: timeout=360
. "$(dirname "$0")/../snapshot/snapshot-lib.bash"
. "$(dirname "$0")/stacked-lib.bash"
stack_md 256
stack_cycles ext4 "$STACK_MD"
stack_down
