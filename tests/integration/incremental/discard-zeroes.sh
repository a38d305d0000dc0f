#!/bin/bash
# bsnap-vm: timeout=600
# Discard and write-zeroes bios are changes: blocks that held data in the
# previous backup and were discarded (fstrim) or zeroed (BLKZEROOUT) read
# differently afterwards; an incremental that missed them would not equal
# the new snapshot.
. "$(dirname "$0")/incremental-lib.bash"

load_module
make_fs ext4
for f in a b; do
	dd if=/dev/urandom of="$MNT/$f" bs=1M count=8 status=none
done
sync
# Where file b lives on the device, to zero it with BLKZEROOUT later.
read -r b_start b_len < <(filefrag -b512 -v "$MNT/b" |
	awk '$1 ~ /^[0-9]+:$/ { split($4, p, "."); s = p[1]; n = $6 + 0; print s * 512, n * 512; exit }')
[ -n "$b_start" ] && [ "$b_len" -gt 0 ] || fail "cannot map file b"
start_chain

rm "$MNT/a"
sync
fstrim -v "$MNT" || fail "fstrim failed"
next_backup 2

rm "$MNT/b"
sync
blkdiscard -f -z -o "$b_start" -l "$b_len" "$ORIGIN"
next_backup 3
log "discarded and zeroed ranges reached the incrementals"
