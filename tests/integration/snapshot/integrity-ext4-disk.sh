#!/bin/bash
# Snapshot integrity, ext4 on a whole disk:
# the image equals the origin at snapshot time bit for bit after heavy
# concurrent O_DIRECT/buffered overwrites with split bios; it mounts read-only,
# fsck -n is clean, its files hold snapshot-time data. Method and reasoning:
# integrity.bash.
# bsnap-vm: timeout=600
. "$(dirname "$0")/snapshot-lib.bash"
. "$(dirname "$0")/integrity.bash"
integrity_run ext4 disk
