#!/bin/bash
# bsnap-vm: timeout=600
exec bash "$(dirname "$0")/cycles.bash" ext4
