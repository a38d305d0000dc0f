#!/bin/bash
# bsnap-vm: timeout=400
exec bash "$(dirname "$0")/crash.bash" incremental ext4
