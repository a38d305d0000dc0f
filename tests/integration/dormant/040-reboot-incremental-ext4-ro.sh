#!/bin/bash
# bsnap-vm: timeout=400
exec bash "$(dirname "$0")/reboot.bash" incremental ext4 ro
