#!/bin/bash
# Every bad argument of setup-snapshot (and destroy/info) gets its own errno as
# bsnapctl's exit status and a one-line message on stderr, and leaves nothing
# behind: no /dev/bsnapN, no CoW file, no /proc/bsnap-info entry.
# Disks: vda whole (ext4, rw, the device that gets traced); vdb split in two:
# vdb1 ext4 mounted read-only, vdb2 ext4 first unmounted, then mounted rw as
# "another filesystem".
# bsnap-vm: timeout=300
. "$(dirname "$0")/snapshot-lib.bash"
need_disks 2
snap_load

# Errnos the issue does not name; the module's choice, pinned here (change in
# one place if the module settles on another).
NOT_MOUNTED=ENODEV

dev=/dev/${DISKS[0]}
other=/dev/${DISKS[1]}
make_fs ext4 "$dev"
mount_fs "$dev" "$MNT_ORIGIN"
mkdir "$MNT_ORIGIN/adir"
touch "$MNT_ORIGIN/regular"
partition_disk "$other"
make_fs ext4 "${other}1"
make_fs ext4 "${other}2"
mount_fs "${other}1" /mnt/bsnap-ro ro
sync

n=0
# bad NAME[|NAME] WHAT ARGS...: setup-snapshot ARGS must fail with NAME
bad() {
	local names=$1 what=$2 want name ok=0 lines cow minor
	shift 2
	n=$((n + 1))
	cow=${*: -2:1}
	minor=${*: -1}
	run_cmd "$WORK/bad$n" "$BSNAP_BIN/bsnapctl" setup-snapshot "$@"
	lines=$(wc -l <"$WORK/bad$n.err")
	printf '  %-28s exit %-3s %s\n' "$what:" "$RC" "$(head -1 "$WORK/bad$n.err")"
	for name in ${names//|/ }; do
		want=$(errno_of "$name")
		[ "$RC" = "$want" ] && ok=1
	done
	[ "$ok" = 1 ] || fail "$what: setup-snapshot $*: expected exit $names, got $RC: $(head -1 "$WORK/bad$n.err")"
	[ "$lines" = 1 ] || fail "$what: expected one line on stderr, got $lines: $(cat "$WORK/bad$n.err")"
	[ -s "$WORK/bad$n.err" ] || fail "$what: empty message"
	[ -s "$WORK/bad$n.out" ] && fail "$what: a failure printed on stdout: $(head -1 "$WORK/bad$n.out")"
	# nothing left behind (minor may be out of range or someone else's)
	if [[ "$minor" =~ ^[0-9]+$ ]] && [ "$minor" -lt 256 ] && [[ " ${SNAP_MINORS[*]} " != *" $minor "* ]]; then
		[ ! -e "/dev/bsnap$minor" ] || fail "$what: a failed setup left /dev/bsnap$minor"
	fi
	case "$what" in
	"CoW path a directory") ;;
	*) [ ! -f "$cow" ] || [[ "$cow" == "$MNT_ORIGIN/cow-good" ]] || fail "$what: a failed setup left the CoW file $cow" ;;
	esac
	assert_eq "$(proc_device_count)" "${#SNAP_MINORS[@]}" "/proc/bsnap-info devices after '$what'"
}

# bad_cmd NAME WHAT CMD ARGS...: another bsnapctl command must fail with NAME
bad_cmd() {
	local name=$1 what=$2
	shift 2
	n=$((n + 1))
	run_cmd "$WORK/bad$n" "$BSNAP_BIN/bsnapctl" "$@"
	printf '  %-28s exit %-3s %s\n' "$what:" "$RC" "$(head -1 "$WORK/bad$n.err")"
	assert_eq "$RC" "$(errno_of "$name")" "$what: bsnapctl $* exit status"
	assert_eq "$(wc -l <"$WORK/bad$n.err")" 1 "$what: lines on stderr"
}

# A CoW path longer than PATH_MAX (4096) whose directories all exist, so that
# "too long" is the only thing wrong with it (created step by step: no single
# path of that length can be passed to mkdir).
long=$MNT_ORIGIN
comp=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
(
	cd "$MNT_ORIGIN" || exit 1
	while [ ${#long} -le 4200 ]; do
		mkdir "$comp" && cd "$comp" || exit 1
		long=$long/$comp
	done
)
while [ ${#long} -le 4200 ]; do long=$long/$comp; done
long=$long/cow-x

log "before any device exists"
bad EINVAL "minor out of range" "$dev" "$MNT_ORIGIN/cow-x" 256
bad EINVAL "minor far out of range" "$dev" "$MNT_ORIGIN/cow-x" 4294967295
bad ENOTBLK "bdev a character device" /dev/null "$MNT_ORIGIN/cow-x" 0
bad ENOTBLK "bdev a regular file" "$MNT_ORIGIN/regular" "$MNT_ORIGIN/cow-x" 0
bad ENOENT "bdev does not exist" /dev/bsnap-no-such-disk "$MNT_ORIGIN/cow-x" 0
bad "$NOT_MOUNTED" "bdev not mounted" "${other}2" "$MNT_ORIGIN/cow-x" 0
bad EROFS "bdev mounted read-only" "${other}1" /mnt/bsnap-ro/cow-x 0
bad EISDIR "CoW path a directory" "$dev" "$MNT_ORIGIN/adir" 0
bad ENAMETOOLONG "CoW path too long" "$dev" "$long" 0
bad_cmd ENOENT "destroy of an unused minor" destroy 7
bad_cmd EINVAL "destroy out of range" destroy 256
bad_cmd ENOENT "info of an unused minor" info 7

mount_fs "${other}2" "$MNT_OTHER"
bad EXDEV "CoW on another filesystem" "$dev" "$MNT_OTHER/cow-x" 0

log "with $dev traced on minor 0"
snap_setup -f 16 "$dev" "$MNT_ORIGIN/cow-good" 0
bad EBUSY "minor in use" "${other}2" "$MNT_OTHER/cow-y" 0
bad EBUSY "device already traced" "$dev" "$MNT_ORIGIN/cow-z" 1
[ ! -e /dev/bsnap1 ] || fail "a refused setup created /dev/bsnap1"
# the traced device is unharmed by the refusals
snap_json 0
assert_eq "$(json_get "$WORK/info.json" error)" 0 "error of minor 0 after the refusals"
dd if=/dev/bsnap0 of=/dev/null bs=1M count=2 iflag=direct status=none || fail "/dev/bsnap0 unreadable"
snap_destroy 0
umount_fs "$MNT_OTHER"
umount_fs /mnt/bsnap-ro
umount_fs "$MNT_ORIGIN"
snap_unload
log "all $n bad arguments refused with their errno"
