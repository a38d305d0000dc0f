#!/bin/bash
# bsnap-vm: timeout=300
# dattobd #422: mounts made with the new mount API (fsopen, fsconfig,
# fsmount, move_mount) were not seen, and devices stayed unverified. Here a
# dormant device becomes active when its filesystem is mounted that way, and
# a reload'ed one leaves unverified; each time the CoW file is pinned again
# (rm gives EPERM). Then the incremental chain is still exact.
. "$(dirname "$0")/dormant-lib.bash"

# new_api_mount DEV DIR: mount ext4 with fsopen/fsconfig/fsmount/move_mount.
new_api_mount() {
	python3 - "$1" "$2" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_move_mount, SYS_fsopen, SYS_fsconfig, SYS_fsmount = 429, 430, 431, 432
FSCONFIG_SET_STRING, FSCONFIG_CMD_CREATE = 1, 6
MOVE_MOUNT_F_EMPTY_PATH, AT_FDCWD = 4, -100
def check(r, what):
    if r < 0:
        e = ctypes.get_errno()
        sys.exit(f"{what}: {os.strerror(e)}")
    return r
fs = check(libc.syscall(SYS_fsopen, b"ext4", 0), "fsopen")
check(libc.syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, b"source", sys.argv[1].encode(), 0), "fsconfig source")
check(libc.syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, None, None, 0), "fsconfig create")
mnt = check(libc.syscall(SYS_fsmount, fs, 0, 0), "fsmount")
check(libc.syscall(SYS_move_mount, mnt, b"", AT_FDCWD, sys.argv[2].encode(), MOVE_MOUNT_F_EMPTY_PATH), "move_mount")
PY
}

cow_pinned() { # the CoW file is held: unlink is refused
	if rm -f "$MNT/.bsnap-cow-$1" 2>/dev/null; then
		fail "$2: the CoW file could be removed: not pinned"
	fi
	[ -e "$MNT/.bsnap-cow-$1" ] || fail "$2: the CoW file is gone"
}

dormant_load
make_fs ext4
churn 0
start_chain
cow_pinned 1 "after setup"

umount_origin
expect_state 0 "after umount"
new_api_mount "$ORIGIN" "$MNT" || fail "new mount API mount failed"
expect_state $ST_ACTIVE "after a new-API mount of the dormant device"
cow_pinned 1 "after the new-API mount"
churn 1

umount_origin
unload_module
dormant_load
must bsnapctl reload-incremental "$ORIGIN" .bsnap-cow-1 "$MINOR"
expect_state $ST_UNVERIFIED "after reload-incremental"
new_api_mount "$ORIGIN" "$MNT" || fail "new mount API mount failed"
expect_state $ST_ACTIVE "after a new-API mount of the reloaded device"
cow_pinned 1 "after the new-API mount following reload"
churn 2
next_backup 2
must bsnapctl destroy "$MINOR"
umount_origin
unload_module
log "new mount API: dormant and unverified devices become active, the chain is exact"
