# shellcheck shell=bash
# Helpers of the snapshot suite; source it instead of lib.sh:
#   . "$(dirname "$0")/snapshot-lib.bash"
# (named *.bash so that the harness, which runs every *.sh, does not run it.)
# Disks: see suite.conf. $BSNAP_DISKS lists them (vda vdb ...).
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

WORK=$PWD # the runner's per-test directory on the guest's tmpfs
# lib.sh's log, with the seconds since the test started
log() { echo "--- [${SECONDS}s] $*"; }
MNT_ORIGIN=/mnt/bsnap-origin
MNT_IMAGE=/mnt/bsnap-image
MNT_OTHER=/mnt/bsnap-other

# ------------------------------------------------------------------ tools

# bsnap-stamp (tests/tools): $BSNAP_STAMP, else next to the harness's tools
# ($BSNAP_TOOLS is build/tests/integration), else the usual build trees.
_find_stamp() {
	local c
	for c in "${BSNAP_STAMP:-}" \
		"${BSNAP_TOOLS:+$BSNAP_TOOLS/bsnap-stamp}" \
		"${BSNAP_TOOLS:+$BSNAP_TOOLS/../tools/bsnap-stamp}" \
		"${BSNAP_BIN:+${BSNAP_BIN%/}/../tests/tools/bsnap-stamp}" \
		"${BSNAP_SRC:+$BSNAP_SRC/build/tests/tools/bsnap-stamp}" \
		"${BSNAP_SRC:+$BSNAP_SRC/build-tools/tests/tools/bsnap-stamp}"; do
		if [ -n "$c" ] && [ -x "$c" ]; then
			STAMP=$(readlink -f "$c")
			return 0
		fi
	done
	fail "bsnap-stamp is not built (tests/tools; set BSNAP_STAMP or BSNAP_TOOLS)"
}
_find_stamp
stamp() { "$STAMP" "$@"; }

# errno number of a name, for any name (lib.sh's errno knows a few).
errno_of() { python3 -c 'import errno, sys; print(getattr(errno, sys.argv[1]))' "$1"; }
errno_text() { python3 -c 'import os, sys; print(os.strerror(int(sys.argv[1])))' "$1"; }

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# A fresh random nonce for this run's stamps.
new_nonce() { printf '%d\n' $(((RANDOM << 30 | RANDOM << 15 | RANDOM) ^ $$ ^ $(date +%s))); }

# ------------------------------------------------------------------ disks

read -r -a DISKS <<<"${BSNAP_DISKS:-}"

# need_disks N: this test uses the first N disks of suite.conf.
need_disks() {
	[ "${#DISKS[@]}" -ge "$1" ] ||
		fail "needs $1 disks (suite.conf: $(grep '^disks=' "$(dirname "${BASH_SOURCE[0]}")/suite.conf" 2>/dev/null)); the harness gave: '${BSNAP_DISKS:-}'"
	local d
	for d in "${DISKS[@]:0:$1}"; do
		[ -b "/dev/$d" ] || fail "/dev/$d is not a block device"
	done
}

# dev_size DEV: bytes
dev_size() { blockdev --getsize64 "$1"; }

# kernel_dev DEV: /dev/<the kernel's name> of a block device node
# (/dev/mapper/vg-lv -> /dev/dm-0, also when the node is not a symlink:
# without udev, libdevmapper creates real nodes there)
kernel_dev() {
	local mm
	mm=$(stat -L -c '%t %T' "$1") || return 1
	printf '/dev/%s\n' "$(basename "$(readlink -f "/sys/dev/block/$((0x${mm% *})):$((0x${mm#* }))")")"
}

# whole_disk DEV: the disk a partition belongs to (vdb2 -> vdb), or itself
whole_disk() {
	local name=${1#/dev/}
	if [ -e "/sys/class/block/$name/partition" ]; then
		basename "$(readlink -f "/sys/class/block/$name/..")"
	else
		echo "$name"
	fi
}

# split_bios DEV KB: lower max_sectors_kb of DEV's disk so that every write
# larger than KB is split by the block layer (the resubmitted remainders must
# still be seen by the tracer).
split_bios() {
	local q
	q=/sys/block/$(whole_disk "$1")/queue/max_sectors_kb
	echo "$2" >"$q" || fail "cannot set $q"
	log "$(whole_disk "$1"): max_sectors_kb $(cat "$q") (writes above it are split)"
}

# wipe_disk DEV: no partition table, no filesystem signature
wipe_disk() {
	wipefs -a -q "$1" 2>/dev/null || true
	dd if=/dev/zero of="$1" bs=1M count=2 oflag=direct status=none
	blockdev --rereadpt "$1" 2>/dev/null || true
}

# partition_disk DEV: two partitions, DEV1 of 96 MiB and DEV2 the rest
partition_disk() {
	local i
	wipe_disk "$1"
	printf 'label: dos\n,96M,L\n,,L\n' | sfdisk -q --wipe always "$1" >/dev/null ||
		fail "sfdisk $1 failed"
	for i in $(seq 50); do
		[ -b "${1}1" ] && [ -b "${1}2" ] && return 0
		sleep 0.1
	done
	fail "partitions ${1}1 ${1}2 did not appear"
}

# make_fs FS DEV: no discard (the device's stamps stay in free space), no
# lazy initialisation (no background writes after mount)
make_fs() {
	case "$1" in
	ext4) mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$2" ;;
	xfs) # mkfs.xfs refuses < 300 MiB unless it believes it runs under fstests
		TEST_DIR=/tmp TEST_DEV="$2" QA_CHECK_FS=xfs mkfs.xfs -q -f -K "$2" ;;
	*) fail "make_fs: unknown filesystem $1" ;;
	esac || fail "mkfs.$1 $2 failed"
}

MOUNTS=()
mount_fs() { # DEV MNT [OPTIONS]
	mkdir -p "$2"
	mount ${3:+-o "$3"} "$1" "$2" || fail "mount ${3:+-o $3 }$1 $2 failed"
	MOUNTS+=("$2")
}
umount_fs() { # MNT
	local i
	for i in $(seq 20); do
		umount "$1" 2>/dev/null && return 0
		sleep 0.5
	done
	umount "$1" || fail "umount $1 failed"
}

# How a snapshot image of FS is mounted: read-only, no journal replay.
image_mount_opts() {
	case "$1" in
	ext4) echo ro,noload ;;
	xfs) echo ro,nouuid,norecovery ;;
	esac
}

# fsck_n FS DEV: read-only check; prints the checker's output, returns its status
fsck_n() {
	case "$1" in
	ext4) e2fsck -fn "$2" ;;
	xfs) xfs_repair -n "$2" ;;
	esac
}

# fsck_image FS IMG: fsck -n of a snapshot image, which is a crash-consistent
# (frozen, still mounted) filesystem. ext4's freeze leaves no journal to
# replay, so e2fsck -fn runs on the image itself. xfs's freeze only covers its
# log (no unmount record), so xfs_repair -n on the image always reports a
# dirty log and stale lazy superblock counters; there the log is replayed on a
# throwaway writable overlay (dm-snapshot over the read-only image, its
# exception store on tmpfs), and xfs_repair -n must then be clean.
fsck_image() {
	local fs=$1 img=$2 rc=0 cowfile=$WORK/overlay.cow
	if [ "$fs" = ext4 ]; then
		fsck_n ext4 "$img"
		return
	fi
	log "xfs_repair -n on the image as it is (informational: the log is not replayed)"
	xfs_repair -n "$img" 2>&1 | sed 's/^/    /' || true
	modprobe dm-snapshot 2>/dev/null || true
	truncate -s 256M "$cowfile"
	modprobe -a loop dm-snapshot || fail "cannot load the loop and dm-snapshot drivers"
	OVERLAY_LOOP=$(losetup -f --show "$cowfile") || fail "losetup for the overlay failed"
	# --noudevsync: a udevd another test ran leaves /run/udev/control
	# behind, and dmsetup would wait forever for a udev that is gone.
	dmsetup --noudevsync create bsnap-overlay --table "0 $(blockdev --getsz "$img") snapshot $img $OVERLAY_LOOP N 8" ||
		fail "cannot create a dm-snapshot overlay over $img"
	dmsetup mknodes bsnap-overlay # no udev in the guest
	mkdir -p /mnt/bsnap-replay
	mount -o nouuid /dev/mapper/bsnap-overlay /mnt/bsnap-replay ||
		fail "the image's xfs log does not replay (mount of the overlay failed)"
	umount /mnt/bsnap-replay
	log "xfs_repair -n after replaying the log on the overlay"
	xfs_repair -n /dev/mapper/bsnap-overlay || rc=$?
	dmsetup --noudevsync remove bsnap-overlay
	losetup -d "$OVERLAY_LOOP"
	OVERLAY_LOOP=
	rm -f "$cowfile"
	return "$rc"
}

# ------------------------------------------------------------------ bsnap

SNAP_MINORS=()
FROZEN=()
BG_PIDS=()

# run_cmd OUT_PREFIX CMD...: run CMD with stdout and stderr into
# OUT_PREFIX.out/.err; its exit status in RC (never trips set -e).
run_cmd() {
	local prefix=$1
	shift
	RC=0
	"$@" >"$prefix.out" 2>"$prefix.err" || RC=$?
}

# wait_for_node PATH [present|absent]
wait_for_node() {
	local i want=${2:-present}
	for i in $(seq 100); do
		if [ "$want" = present ]; then [ -b "$1" ] && return 0; else [ ! -e "$1" ] && return 0; fi
		sleep 0.1
	done
	return 1
}

# snap_setup [-c BYTES] [-f MB] BDEV COW MINOR: setup-snapshot that must work
snap_setup() {
	local minor=${*: -1}
	run_cmd "$WORK/setup.$minor" bsnapctl setup-snapshot "$@"
	if [ "$RC" != 0 ]; then
		cat "$WORK/setup.$minor.out" "$WORK/setup.$minor.err"
		fail "bsnapctl setup-snapshot $* exited $RC: $(head -1 "$WORK/setup.$minor.err")"
	fi
	SNAP_MINORS+=("$minor")
	wait_for_node "/dev/bsnap$minor" || fail "/dev/bsnap$minor did not appear after setup-snapshot"
}

snap_destroy() { # MINOR
	run_cmd "$WORK/destroy.$1" bsnapctl destroy "$1"
	[ "$RC" = 0 ] || fail "bsnapctl destroy $1 exited $RC: $(head -1 "$WORK/destroy.$1.err")"
	local m keep=()
	for m in "${SNAP_MINORS[@]}"; do [ "$m" = "$1" ] || keep+=("$m"); done
	SNAP_MINORS=("${keep[@]}")
	wait_for_node "/dev/bsnap$1" absent || fail "/dev/bsnap$1 still exists after destroy"
}

# The device JSON (bsnapctl info --json, /proc/bsnap-info devices[]) is
# docs/bsnap-info.schema.json's: state the bits, error a positive errno. The
# tests of this suite were written against an earlier draft: minor, state
# (string), state_bits, mode, error (negative errno, 0 if none), bdev, cow,
# device_sectors, changed_blocks, cow_used_bytes, falloc_size, seqid, uuid.
# _json_normalize IN OUT maps the schema's shape onto that draft.
_json_normalize() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if "state_bits" not in d and isinstance(d.get("state"), int):
    d["state_bits"] = d["state"]
    d["state"] = d.get("state_name", str(d["state_bits"]))
if isinstance(d.get("error"), int) and d["error"] > 0:
    d["error"] = -d["error"]
json.dump(d, open(sys.argv[2], "w"), indent=1, sort_keys=True)
EOF
}

# snap_json MINOR: `bsnapctl info MINOR --json` into $WORK/info.json
# (normalized; as printed in $WORK/info.out)
snap_json() {
	run_cmd "$WORK/info" bsnapctl info "$1" --json
	[ "$RC" = 0 ] || fail "bsnapctl info $1 --json exited $RC: $(head -1 "$WORK/info.err")"
	_json_normalize "$WORK/info.out" "$WORK/info.json" || fail "bsnapctl info $1 --json: not JSON: $(head -c 300 "$WORK/info.out")"
}

# json_get FILE KEY: a top-level key of a JSON object (fails if missing)
json_get() {
	python3 - "$1" "$2" <<'EOF' || fail "no key '$2' in $1: $(head -c 600 "$1")"
import json, sys
v = json.load(open(sys.argv[1]))[sys.argv[2]]
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)
EOF
}

# proc_device MINOR: the /proc/bsnap-info entry of MINOR into $WORK/proc.json
# (normalized; as found in $WORK/proc.raw.json)
proc_device() {
	python3 - "$BSNAP_PROC" "$1" "$WORK/proc.raw.json" <<'EOF' || fail "minor $1 not in $BSNAP_PROC: $(head -c 800 "$BSNAP_PROC")"
import json, sys
doc = json.load(open(sys.argv[1]))
dev = [d for d in doc["devices"] if int(d["minor"]) == int(sys.argv[2])]
if len(dev) != 1:
    sys.exit(1)
json.dump(dev[0], open(sys.argv[3], "w"))
EOF
	_json_normalize "$WORK/proc.raw.json" "$WORK/proc.json"
}

proc_device_count() {
	python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["devices"]))' "$BSNAP_PROC"
}

# bg NAME CMD...: run CMD (a command or a function of this shell) in the
# background, output in $WORK/NAME.log; its own status is kept for bg_wait
# (the ERR trap is off in there). $BG_NAME holds the pid; a plain command is
# exec'd, so signals reach it directly.
bg() {
	local name=$1
	shift
	if [ "$(type -t "$1")" = function ]; then
		(trap - ERR; set +e; "$@") >"$WORK/$name.log" 2>&1 &
	else
		(trap - ERR; exec "$@") >"$WORK/$name.log" 2>&1 &
	fi
	BG_PIDS+=("$!")
	eval "BG_$name=$!"
}

# bg_wait NAME: wait for it; fail with its log's tail unless it exited 0
bg_wait() {
	local pid rc=0
	eval "pid=\$BG_$1"
	wait "$pid" || rc=$?
	if [ "$rc" != 0 ]; then
		tail -20 "$WORK/$1.log"
		fail "background job $1 exited $rc (log above)"
	fi
}

freeze() { fsfreeze -f "$1" && FROZEN+=("$1"); }
thaw() { fsfreeze -u "$1"; }

# events_start: log bsnap's uevents, straight from the kernel's netlink
# socket (no udevd needed), one line per event "EVENT MINOR ERROR" in
# $WORK/events.log (events_reset empties it); the cleanup stops the listener.
events_start() {
	: >"$WORK/events.log"
	python3 -u - >>"$WORK/events.log" 2>&1 <<'EOF' &
import socket
s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15)  # NETLINK_KOBJECT_UEVENT
s.bind((0, 1))
print("listening", flush=True)
while True:
    fields = s.recv(65536).decode(errors="replace").split("\0")[1:]
    env = dict(f.split("=", 1) for f in fields if "=" in f)
    if "BSNAP_EVENT" in env:
        print(env["BSNAP_EVENT"], env.get("BSNAP_MINOR"), env.get("BSNAP_ERROR"), flush=True)
EOF
	BG_PIDS+=("$!")
	local i
	for i in $(seq 50); do
		grep -q listening "$WORK/events.log" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "the uevent listener did not start"
}

events_reset() { : >"$WORK/events.log"; }

# wait_event NAME MINOR: the listener saw that event (within 10 s)
wait_event() {
	local i
	for i in $(seq 100); do
		grep -q "^$1 $2 " "$WORK/events.log" && return 0
		sleep 0.1
	done
	fail "no '$1' uevent for minor $2; seen: $(tr '\n' ';' <"$WORK/events.log")"
}

# Undo what a test left behind, in order: writers, freezes, mounts, devices;
# then lib.sh's cleanup unloads the module.
_snap_cleanup() {
	local rc=$? p m i
	set +eE
	trap - ERR
	for p in "${BG_PIDS[@]}"; do
		pkill -TERM -P "$p" 2>/dev/null
		kill "$p" 2>/dev/null
	done
	for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for m in "${FROZEN[@]}"; do fsfreeze -u "$m" 2>/dev/null; done
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		mountpoint -q "${MOUNTS[i]}" && umount -l "${MOUNTS[i]}" 2>/dev/null
	done
	mountpoint -q /mnt/bsnap-replay && umount /mnt/bsnap-replay
	dmsetup info bsnap-overlay >/dev/null 2>&1 && dmsetup --noudevsync remove bsnap-overlay
	[ -n "${OVERLAY_LOOP:-}" ] && losetup -d "$OVERLAY_LOOP"
	for m in "${SNAP_MINORS[@]}"; do
		timeout 60 "$BSNAP_BIN/bsnapctl" destroy "$m" >/dev/null 2>&1 ||
			echo "cleanup: bsnapctl destroy $m failed" >&2
	done
	(exit "$rc")
	_bsnap_cleanup
}

# snap_load: load the module and install the cleanup above
snap_load() {
	load_module "$@"
	trap _snap_cleanup EXIT
}

# snap_unload: everything destroyed and unmounted: rmmod must work
snap_unload() {
	unload_module
	trap - EXIT
}

# expect_fail_errno NAME PREFIX CMD...: CMD exits with errno NAME and prints
# exactly one line on stderr. (bsnapctl's exit status carries the errno.)
expect_fail_errno() {
	local name=$1 prefix=$2 want
	shift 2
	want=$(errno_of "$name")
	run_cmd "$prefix" "$@"
	local lines
	lines=$(wc -l <"$prefix.err")
	echo "    $* -> exit $RC; stderr: $(head -3 "$prefix.err")"
	[ "$RC" = "$want" ] || fail "$*: expected exit $want ($name), got $RC: $(head -1 "$prefix.err")"
	[ "$lines" = 1 ] || fail "$*: expected a one-line message on stderr, got $lines lines"
}
