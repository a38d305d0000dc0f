#!/bin/bash
# bsnap-vm: timeout=600
exec bash "$(dirname "$0")/dd-dormant.bash" ext4
