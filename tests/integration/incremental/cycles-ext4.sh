#!/bin/bash
# bsnap-vm: timeout=900
exec bash "$(dirname "$0")/cycles.bash" ext4
