#!/bin/bash
# bsnap-vm: timeout=400
# dattobd #365 (NULL dereference in the mount hook) and friends: mounts and
# umounts racing with setup, transitions and destroy. Whatever order things
# happen in, each command succeeds or fails with an errno, the kernel log
# stays clean (the harness checks it), nothing is leaked (rmmod works at
# the end) and no CoW file stays pinned.
. "$(dirname "$0")/dormant-lib.bash"

dormant_load
make_fs ext4
umount_origin

# Mount and umount in a loop while the control commands run.
(
	for ((i = 0; i < 40; i++)); do
		mount "$ORIGIN" "$MNT" 2>/dev/null || true
		nap 0.0$((i % 5))
		umount "$MNT" 2>/dev/null || true
	done
) &
mounter=$!

ok=0 refused=0
for ((i = 0; i < 40; i++)); do
	rc=0
	bsnapctl setup-snapshot -f 4 "$ORIGIN" "$MNT/.bsnap-cow-race-$i" "$MINOR" 2>/dev/null || rc=$?
	case $rc in
	0) ok=$((ok + 1)) ;;
	# not mounted, mounted elsewhere meanwhile, busy, gone under us
	2 | 16 | 18 | 19 | 22 | 30) refused=$((refused + 1)) ;;
	*) fail "setup-snapshot during mount races: unexpected exit $rc" ;;
	esac
	if [ $rc = 0 ]; then
		bsnapctl transition-to-incremental "$MINOR" 2>/dev/null || true
		bsnapctl info "$MINOR" --json >/dev/null || fail "info of a traced minor failed"
		must bsnapctl destroy "$MINOR"
	fi
done
wait "$mounter"
log "setup during mount races: $ok set up, $refused refused"
((ok + refused == 40)) || fail "lost count"

if mountpoint -q "$MNT"; then umount_origin; fi
unload_module
# Nothing stays pinned: every CoW file left behind can be deleted.
mount_origin
rm -f "$MNT"/.bsnap-cow-race-* || fail "a CoW file left by the races cannot be removed"
umount_origin
log "mount races: no leak, no pinned file, clean kernel log"
