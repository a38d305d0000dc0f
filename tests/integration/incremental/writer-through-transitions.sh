#!/bin/bash
# bsnap-vm: timeout=900
# A writer keeps writing through every transition; each incremental must
# still equal its snapshot, so nothing written between two snapshots is
# missing from the change map.
. "$(dirname "$0")/incremental-lib.bash"

load_module
make_fs ext4
churn 0
start_chain
mkdir -p "$MNT/w"
(
	i=0
	while :; do
		dd if=/dev/urandom of="$MNT/w/f$((i % 5))" bs=16k count=8 \
			seek=$((i % 97)) conv=notrunc status=none
		[ $((i % 4)) -eq 0 ] && sync -f "$MNT/w"
		i=$((i + 1))
	done
) &
WRITER_PID=$!
for ((n = 2; n <= 8; n++)); do
	sleep 1
	next_backup "$n"
done
kill "$WRITER_PID"
wait "$WRITER_PID" 2>/dev/null || true
WRITER_PID=
log "7 incrementals under a concurrent writer, each equal to its snapshot"
