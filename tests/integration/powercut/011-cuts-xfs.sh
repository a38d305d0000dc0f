#!/bin/bash
# bsnap-vm: timeout=400
# bsnap-vm: reboots=11
exec bash "$(dirname "$0")/powercut.bash" xfs 10
