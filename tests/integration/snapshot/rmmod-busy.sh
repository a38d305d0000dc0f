#!/bin/bash
# rmmod is refused while a device is traced, and while /dev/bsnapN is held
# open after destroy; the module keeps working after the refusal, and unloads
# once the last device is destroyed and closed.
# The kernel answers delete_module with EWOULDBLOCK (= EAGAIN) when the
# module's reference count is held and EBUSY when its exit is in progress;
# either is a refusal, the errno is printed.
# bsnap-vm: timeout=300
. "$(dirname "$0")/snapshot-lib.bash"
need_disks 1
snap_load
dev=/dev/${DISKS[0]}

# try_unload: delete_module(O_NONBLOCK) as rmmod does; prints 0 or the errno
try_unload() {
	python3 - <<'EOF'
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.delete_module(b"bsnap", os.O_NONBLOCK)
print(0 if rc == 0 else ctypes.get_errno())
EOF
}

must_refuse() { # WHY
	run_cmd "$WORK/rmmod" rmmod bsnap
	log "rmmod while $1: exit $RC: $(head -1 "$WORK/rmmod.err")"
	[ "$RC" != 0 ] || fail "rmmod succeeded while $1"
	module_loaded || fail "bsnap is gone after a refused rmmod ($1)"
	local e
	e=$(try_unload)
	log "delete_module while $1: errno $e ($(errno_text "$e"))"
	case "$e" in
	"$(errno_of EBUSY)" | "$(errno_of EAGAIN)") ;;
	0) fail "delete_module succeeded while $1" ;;
	*) fail "delete_module while $1: errno $e, expected EBUSY or EAGAIN" ;;
	esac
	module_loaded || fail "bsnap is gone after a refused delete_module ($1)"
}

make_fs ext4 "$dev"
mount_fs "$dev" "$MNT_ORIGIN"
echo data >"$MNT_ORIGIN/file"
sync
snap_setup -f 32 "$dev" "$MNT_ORIGIN/cow" 0

must_refuse "a device is traced"
# the module still works after the refusal
dd if=/dev/bsnap0 of=/dev/null bs=1M count=4 iflag=direct status=none || fail "image unreadable after a refused rmmod"
echo more >>"$MNT_ORIGIN/file" && sync || fail "origin writes fail after a refused rmmod"
snap_json 0
assert_eq "$(json_get "$WORK/info.json" error)" 0 "info error after a refused rmmod"

log "destroy while /dev/bsnap0 is held open"
exec 3</dev/bsnap0
run_cmd "$WORK/destroy" timeout 60 "$BSNAP_BIN/bsnapctl" destroy 0
log "destroy with the image open: exit $RC $(head -1 "$WORK/destroy.err")"
if [ "$RC" = 0 ]; then
	SNAP_MINORS=()
	must_refuse "/dev/bsnap0 is open after destroy"
	exec 3<&-
else
	assert_eq "$RC" "$(errno_of EBUSY)" "destroy of an open image (0 or EBUSY)"
	must_refuse "a device is traced and its image open"
	exec 3<&-
	snap_destroy 0
fi
wait_for_node /dev/bsnap0 absent || fail "/dev/bsnap0 still exists"
umount_fs "$MNT_ORIGIN"
snap_unload
log "rmmod after the last destroy and close: ok"

# and it loads again cleanly (nothing left registered)
snap_load
assert_eq "$(proc_device_count)" 0 "devices after reload"
snap_unload
