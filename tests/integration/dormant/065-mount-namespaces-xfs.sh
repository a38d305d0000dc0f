#!/bin/bash
# bsnap-vm: timeout=500
# Mounts other than "the" mount of the traced filesystem change nothing
# while it stays mounted: a bind mount and its umount, a move of the mount,
# umount of the copy in another mount namespace (unshare -m) while a writer
# keeps writing in this one: the state stays active incremental, tracing
# goes on, and the next incremental equals the snapshot bit for bit. Then
# the new mount API (fsopen/fsmount/move_mount) mounts the dormant device:
# active again, and the writes after it are in the next incremental too.
. "$(dirname "$0")/dormant-lib.bash"

# new_api_mount FSTYPE DEV DIR: fsopen + fsconfig + fsmount + move_mount
new_api_mount() {
	python3 - "$@" <<'EOF2'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(*a):
    r = libc.syscall(*a)
    if r < 0:
        e = ctypes.get_errno()
        sys.exit("syscall %d: %s" % (a[0], os.strerror(e)))
    return r
fstype, dev, target = (s.encode() for s in sys.argv[1:4])
fs = sc(430, fstype, 1)                                            # fsopen, FSOPEN_CLOEXEC
sc(431, fs, 1, b"source", dev, 0)                                   # FSCONFIG_SET_STRING
sc(431, fs, 6, None, None, 0)                                       # FSCONFIG_CMD_CREATE
mnt = sc(432, fs, 1, 0)                                             # fsmount, FSMOUNT_CLOEXEC
sc(429, mnt, b"", ctypes.c_int(-100), target, 4)                    # move_mount, F_EMPTY_PATH
EOF2
}

dormant_load
make_fs xfs
churn 0
start_chain
start_writer 0

log "bind mount"
mkdir -p "$BIND"
mount --bind "$MNT" "$BIND"
echo "through the bind mount" >"$BIND/bound"
umount "$BIND"
expect_state 2 "after umount of a bind mount"

log "move mount"
mount --make-private /mnt 2>/dev/null || true
mkdir -p /mnt/bsnap-moved
stop_writer
mount --move "$MNT" /mnt/bsnap-moved
expect_state 2 "after mount --move"
echo "through the moved mount" >/mnt/bsnap-moved/moved
mount --move /mnt/bsnap-moved "$MNT"
expect_state 2 "after moving it back"
start_writer 1000

log "umount in another mount namespace"
unshare -m --propagation private sh -c "umount '$MNT' && ! mountpoint -q '$MNT'" ||
	fail "umount of $MNT in a new mount namespace failed"
expect_state 2 "after umount in another namespace"
mountpoint -q "$MNT" || fail "$MNT is gone from this namespace"
nap 2
expect_state 2 "with the writer still writing"
stop_writer
churn 1
next_backup 2

log "the new mount API"
umount_origin
expect_state 0 "after umount"
new_api_mount xfs "$ORIGIN" "$MNT" || fail "mount with fsopen/fsmount/move_mount failed"
mountpoint -q "$MNT" || fail "$MNT is not a mount point after move_mount"
expect_state 2 "after fsmount + move_mount"
churn 2
next_backup 3
must bsnapctl destroy "$MINOR"
umount_origin
unload_module
log "bind, move, other-namespace umounts changed nothing; fsmount reactivates"
