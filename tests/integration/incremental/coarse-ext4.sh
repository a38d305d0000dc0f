#!/bin/bash
# The change map without memory for incremental marks (cbt_max_mb=0): every
# write marks the whole 128 MiB range of its change map page, a superset.
# 5 cycles: each incremental still gives a backup equal to the snapshot bit
# for bit (more blocks copied, none missed), and the module said so.
# bsnap-vm: timeout=600
export BSNAP_INC_CYCLES=5 BSNAP_INC_MODULE_ARGS=cbt_max_mb=0 BSNAP_INC_COARSE=1
exec bash "$(dirname "$0")/cycles.bash" ext4
