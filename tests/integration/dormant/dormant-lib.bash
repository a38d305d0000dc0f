# shellcheck shell=bash
# Helpers of the dormant suite (named *.bash so the harness skips it).
#
# What the suite proves (issue 5): no write to a traced device is lost while
# its filesystem is unmounted, remounted read-only, or the machine reboots.
# The chain under test is the incremental one of tests/integration/incremental:
# setup-snapshot -> full backup of /dev/bsnapN onto the backup disk ->
# transition-to-incremental -> writes, umount/mount, dd, fsck, reboot ... ->
# transition-to-snapshot -> update-img -> the backup must equal the new
# snapshot bit for bit. Any write the module missed leaves an old block in
# the backup, and the comparison names it.
#
# States (bsnapctl info --json "state"): SNAPSHOT 1, ACTIVE 2, UNVERIFIED 4,
# FAILED 8. 0 dormant incremental, 1 dormant snapshot, 2 active incremental,
# 3 active snapshot, 4 unverified incremental, 5 unverified snapshot.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ORIGIN=/dev/vda # the traced device (whole disk)
BACKUP=/dev/vdb # the backup image: a disk of its own, it survives reboots
MNT=/mnt/bsnap-dormant
MINOR=4
IMAGE=/dev/bsnap$MINOR
WORK=$PWD # the runner's per-test directory (tmpfs: gone after a reboot)
# What must survive a reboot goes to the test's directory on the share.
KEEP=${BSNAP_TEST_RESULTS:-$WORK}
# TEST_BOOT: 1 the first time this test runs, 2 after its first reboot, ...
# (BSNAP_BOOT counts the guest's boots of the whole suite run, so a test
# after another one that rebooted starts with BSNAP_BOOT 2).
TEST_BOOT=$(($(cat "$KEEP/test-boot" 2>/dev/null || echo 0) + 1))
echo "$TEST_BOOT" >"$KEEP/test-boot"

BIND=/mnt/bsnap-dormant-bind
ST_SNAPSHOT=1 ST_ACTIVE=2 ST_UNVERIFIED=4 ST_FAILED=8
# A pipe nobody writes to: 'read -t 0.1 -u $NAP_FD' sleeps without starting
# a program (each costs under emulation).
exec {NAP_FD}<> <(:)
nap() { read -r -t "$1" -u "$NAP_FD" || true; }

log() { echo "--- [${SECONDS}s] $*"; }

# ------------------------------------------------------------------ tools

_find_stamp() {
	local c
	for c in "${BSNAP_STAMP:-}" \
		"${BSNAP_TOOLS:+$BSNAP_TOOLS/bsnap-stamp}" \
		"${BSNAP_TOOLS:+$BSNAP_TOOLS/../tools/bsnap-stamp}" \
		"${BSNAP_BIN:+${BSNAP_BIN%/}/../tests/tools/bsnap-stamp}"; do
		if [ -n "$c" ] && [ -x "$c" ]; then
			STAMP=$c
			return 0
		fi
	done
	fail "bsnap-stamp is not built (tests/tools; set BSNAP_STAMP or BSNAP_TOOLS)"
}
_find_stamp

update_img() {
	[ -x "$BSNAP_BIN/update-img" ] || fail "update-img is not built: no $BSNAP_BIN/update-img"
	"$BSNAP_BIN/update-img" "$@"
}

# ------------------------------------------------------------------ info

# read_info: `bsnapctl info $MINOR --json` into $INFO (fails the test if the
# minor is not traced). Fields are read with bash, not python: every python
# start costs a second under emulation.
read_info() {
	INFO=$(bsnapctl info "$MINOR" --json 2>"$WORK/info.err") ||
		fail "bsnapctl info $MINOR failed (exit $?): $(head -1 "$WORK/info.err")"
}
info_num() { # KEY: a number of $INFO
	[[ $INFO =~ \"$1\":\ *(-?[0-9]+) ]] || fail "no number '$1' in info: $INFO"
	echo "${BASH_REMATCH[1]}"
}
info_str() { # KEY: a string of $INFO
	[[ $INFO =~ \"$1\":\ *\"([^\"]*)\" ]] || fail "no string '$1' in info: $INFO"
	echo "${BASH_REMATCH[1]}"
}

state_text() { # BITS: the spec's name of a state
	local b=$1 t
	case $((b & 7)) in
	0) t="dormant incremental" ;; 1) t="dormant snapshot" ;;
	2) t="active incremental" ;; 3) t="active snapshot" ;;
	4) t="unverified incremental" ;; 5) t="unverified snapshot" ;;
	*) t="invalid" ;;
	esac
	((b & ST_FAILED)) && t="failed $t"
	echo "$t"
}

_state_line() { echo "state $(info_num state) ($(info_str state_name)), error $(info_num error)"; }

# expect_state BITS WHAT: the device's state is BITS (with the FAILED bit);
# without FAILED in BITS the error must be 0.
expect_state() {
	read_info
	local s e
	s=$(info_num state)
	e=$(info_num error)
	[ "$s" = "$1" ] || fail "$2: $(_state_line), expected state $1 ($(state_text "$1"))"
	if ((($1 & ST_FAILED) == 0)); then
		[ "$e" = 0 ] || fail "$2: error $e stored ($(_state_line))"
	fi
	log "$2: state $s ($(info_str state_name))"
}

# wait_state BITS WHAT [SECONDS]: the state becomes BITS within SECONDS
# (lazy umount and mount namespace teardown finish after the syscall).
wait_state() {
	local i n=$((${3:-10} * 10)) s
	for ((i = 0; i < n; i++)); do
		read_info
		s=$(info_num state)
		[ "$s" = "$1" ] && break
		nap 0.1
	done
	expect_state "$1" "$2"
}

# expect_error NAME WHAT: the stored error is errno NAME and FAILED is set
expect_error() {
	read_info
	local want e s
	want=$(errno "$1")
	e=$(info_num error)
	s=$(info_num state)
	[ "$e" = "$want" ] || fail "$2: stored error $e, expected $want ($1) ($(_state_line))"
	((s & ST_FAILED)) || fail "$2: error $e stored but the FAILED bit is not set ($(_state_line))"
}

# expect_proc_state BITS WHAT: /proc/bsnap-info says the same
expect_proc_state() {
	local got
	got=$(python3 - "$BSNAP_PROC" "$MINOR" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
devs = [d for d in doc["devices"] if int(d["minor"]) == int(sys.argv[2])]
print(devs[0]["state"] if len(devs) == 1 else "missing")
EOF
	) || fail "$BSNAP_PROC is not readable JSON: $(head -c 300 "$BSNAP_PROC")"
	assert_eq "$got" "$1" "$2: state in $BSNAP_PROC"
}

# expect_untraced WHAT: the minor is not registered
expect_untraced() {
	if bsnapctl info "$MINOR" --json >"$WORK/untraced.out" 2>&1; then
		fail "$1: minor $MINOR is registered: $(tr -d '\n' <"$WORK/untraced.out")"
	fi
}

# expect_fail NAME WHAT CMD...: CMD exits with errno NAME and prints exactly
# one line on stderr (bsnapctl's error contract).
expect_fail() {
	local name=$1 what=$2 want rc=0 lines
	shift 2
	want=$(errno "$name")
	"$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err" || rc=$?
	lines=$(wc -l <"$WORK/cmd.err")
	log "$what: '$*' -> exit $rc: $(head -1 "$WORK/cmd.err")"
	if [ "$rc" != "$want" ]; then
		local now="minor $MINOR not registered"
		INFO=$(bsnapctl info "$MINOR" --json 2>/dev/null) && now=$(_state_line)
		fail "$what: expected exit $want ($name), got $rc: $(head -1 "$WORK/cmd.err") [$now]"
	fi
	[ "$lines" = 1 ] || fail "$what: expected a one-line error on stderr, got $lines lines: $(head -c 300 "$WORK/cmd.err")"
}

# must CMD...: CMD succeeds; otherwise fail with its stderr
must() {
	local rc=0
	"$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err" || rc=$?
	[ "$rc" = 0 ] || fail "'$*' exited $rc: $(head -2 "$WORK/cmd.err" | tr '\n' ' ')"
}

# ------------------------------------------------------------------ fs

# make_fs ext4|xfs: a fresh filesystem on the origin, mounted at $MNT.
make_fs() {
	FS=$1
	case $FS in
	# 4 KiB blocks (a small ext4 gets 1 KiB ones), the tracking unit; no
	# lazy init: no background writes after mount.
	ext4) mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 "$ORIGIN" ;;
	# mkfs.xfs refuses < 300 MiB unless it believes it runs under fstests
	xfs) TEST_DIR=/tmp TEST_DEV="$ORIGIN" QA_CHECK_FS=xfs mkfs.xfs -q -f "$ORIGIN" ;;
	*) fail "make_fs: unknown filesystem $FS" ;;
	esac
	mkdir -p "$MNT"
	mount_origin
}

# mount_origin [OPTIONS]
mount_origin() {
	mount ${1:+-o "$1"} "$ORIGIN" "$MNT" 2>"$WORK/mount.err" ||
		fail "mount ${1:+-o $1 }$ORIGIN $MNT failed: $(head -1 "$WORK/mount.err")"
}

# umount_origin [-l]: no retries: an EBUSY here is the bug under test
# (every writer of this test has stopped before).
umount_origin() {
	umount "$@" "$MNT" 2>"$WORK/umount.err" ||
		fail "umount $* $MNT failed: $(head -1 "$WORK/umount.err")"
}

remount() { # ro|rw
	mount -o "remount,$1" "$MNT" 2>"$WORK/mount.err" ||
		fail "mount -o remount,$1 $MNT failed: $(head -1 "$WORK/mount.err")"
}

# fsck_origin: a repairing fsck of the unmounted origin: it must find the
# filesystem clean; its writes (superblock, log) are changes to trace.
fsck_origin() {
	local rc=0
	case $FS in
	ext4) e2fsck -f -y "$ORIGIN" >"$WORK/fsck.log" 2>&1 || rc=$? ;;
	xfs) xfs_repair "$ORIGIN" >"$WORK/fsck.log" 2>&1 || rc=$? ;;
	esac
	[ "$rc" = 0 ] || { tail -20 "$WORK/fsck.log"; fail "fsck of the unmounted origin exited $rc"; }
}

# ------------------------------------------------------------------ chain

# same_as_snapshot WHAT: the backup disk equals the snapshot image, bit for
# bit (O_DIRECT reads; the first differing sectors are listed).
same_as_snapshot() {
	"$STAMP" compare "$IMAGE" "$BACKUP" --length "$(blockdev --getsize64 "$IMAGE")" >"$WORK/compare.log" 2>&1 ||
		{ head -20 "$WORK/compare.log"; fail "$1: the backup differs from $IMAGE"; }
	log "$1: backup == $IMAGE"
}

# start_chain: snapshot 1 (CoW file .bsnap-cow-1), its full backup, then
# incremental mode.
start_chain() {
	must bsnapctl setup-snapshot -f 16 "$ORIGIN" "$MNT/.bsnap-cow-1" "$MINOR"
	expect_state 3 "after setup-snapshot"
	# Large O_DIRECT reads: buffered ones of the image are slow under
	# emulation. (Not compared here: every later comparison covers it.)
	dd if="$IMAGE" of="$BACKUP" bs=4M iflag=direct oflag=direct status=none
	log "full backup of snapshot 1 written"
	must bsnapctl transition-to-incremental "$MINOR"
	expect_state 2 "after transition-to-incremental"
	[ ! -e "$IMAGE" ] || fail "$IMAGE still exists in incremental mode"
}

# take_snapshot N [MB]: transition-to-snapshot with CoW file N (seqid N)
take_snapshot() {
	must bsnapctl transition-to-snapshot -f "${2:-16}" "$MNT/.bsnap-cow-$1" "$MINOR"
	expect_state 3 "after transition-to-snapshot $1"
	assert_eq "$(info_num seqid)" "$1" "seqid of snapshot $1"
}

# apply_incremental N: update-img from CoW file N-1 onto the backup; the
# backup must then equal snapshot N bit for bit.
apply_incremental() {
	local prev=$(($1 - 1))
	update_img --quiet "$IMAGE" "$MNT/.bsnap-cow-$prev" "$BACKUP" >"$WORK/update-img.log" 2>&1 ||
		{ cat "$WORK/update-img.log"; fail "update-img from .bsnap-cow-$prev failed"; }
	same_as_snapshot "incremental $prev -> $1"
}

# next_backup N: snapshot N, update-img from N-1, compare, drop the old CoW
# file, back to incremental.
next_backup() {
	take_snapshot "$1" "${2:-16}"
	apply_incremental "$1"
	rm -f "$MNT/.bsnap-cow-$(($1 - 1))"
	must bsnapctl transition-to-incremental "$MINOR"
	expect_state 2 "incremental after snapshot $1"
}

# churn SEED: rewrites, appends, new files and deletions, synced.
churn() {
	local seed=$1 i
	mkdir -p "$MNT/data"
	for i in 1 2 3; do
		dd if=/dev/urandom of="$MNT/data/f$(((seed + i) % 7))" bs=64k count=$((1 + (seed * i) % 16)) \
			seek=$(((seed * 13 + i) % 40)) conv=notrunc status=none
	done
	dd if=/dev/urandom of="$MNT/data/new-$seed" bs=256k count=2 status=none
	rm -f "$MNT/data/new-$((seed - 3))"
	sync -f "$MNT"
}

# ------------------------------------------------------------------ writer

# start_writer: a background writer into the filesystem (rewrites of five
# files, an fsync now and then) until stop_writer.
WRITER_PID=
WRITER_STOP=$WORK/writer.stop
start_writer() {
	local seed=${1:-0}
	rm -f "$WRITER_STOP"
	mkdir -p "$MNT/w"
	(
		trap - ERR
		set +e
		i=$seed
		while [ ! -e "$WRITER_STOP" ]; do
			dd if=/dev/urandom of="$MNT/w/f$((i % 5))" bs=16k count=4 \
				seek=$(((i * 7) % 97)) conv=notrunc status=none || exit 1
			[ $((i % 8)) -eq 0 ] && sync -f "$MNT/w"
			i=$((i + 1))
		done
		exit 0
	) &
	WRITER_PID=$!
}
# stop_writer: it finishes its current write and exits (no process is left
# with a file open on the filesystem); its data may still be dirty.
stop_writer() {
	[ -n "$WRITER_PID" ] || return 0
	local rc=0
	touch "$WRITER_STOP"
	wait "$WRITER_PID" || rc=$?
	WRITER_PID=
	[ "$rc" = 0 ] || fail "the background writer failed (exit $rc)"
}

# ------------------------------------------------------------------ raw I/O

# raw_target MB: a file of MB MiB with data, synced, whose blocks are then
# written directly on the device while the filesystem is not mounted (the
# filesystem stays consistent: only the file's contents change). Its first
# extent, in 4 KiB blocks of the device, goes to RAW_START/RAW_BLOCKS (kept
# in $KEEP/raw-extent for later boots).
raw_target() {
	dd if=/dev/urandom of="$MNT/rawtarget" bs=1M count="$1" status=none
	sync -f "$MNT"
	local start count
	read -r start count < <("$STAMP" extents "$MNT/rawtarget" | grep -v '^#' | head -1)
	[ -n "${start:-}" ] && [ "${count:-0}" -ge 256 ] || fail "cannot map rawtarget (extents: $start $count)"
	((start % 8 == 0)) || fail "rawtarget's extent is not 4 KiB aligned (sector $start)"
	RAW_START=$((start / 8)) RAW_BLOCKS=$((count / 8))
	echo "$RAW_START $RAW_BLOCKS" >"$KEEP/raw-extent"
	log "rawtarget: device blocks $RAW_START + $RAW_BLOCKS"
}
raw_target_load() { read -r RAW_START RAW_BLOCKS <"$KEEP/raw-extent"; }

# raw_write OFFSET BLOCKS: random data on the device, straight into
# rawtarget's blocks [OFFSET, OFFSET + BLOCKS) (4 KiB units, O_DIRECT)
raw_write() {
	(($1 + $2 <= RAW_BLOCKS)) || fail "raw_write $1 $2: outside rawtarget ($RAW_BLOCKS blocks)"
	dd if=/dev/urandom of="$ORIGIN" bs=4096 seek=$((RAW_START + $1)) count="$2" \
		oflag=direct conv=notrunc status=none
}

# ------------------------------------------------------------------ CoW header

# cow_sector FILE: the device sector where FILE (on the mounted origin) starts
cow_sector() {
	local start
	read -r start _ < <("$STAMP" extents "$1" | grep -v '^#' | head -1)
	[ -n "${start:-}" ] || fail "cannot map $1"
	echo "$start"
}
# header_read SECTOR OUT / header_write SECTOR IN: the 4 KiB header on the
# device, O_DIRECT (the module writes it with bios, not through a cache)
header_read() { dd if="$ORIGIN" of="$2" bs=512 skip="$1" count=8 iflag=direct status=none; }
header_write() { dd if="$2" of="$ORIGIN" bs=512 seek="$1" count=8 oflag=direct conv=notrunc status=none; }

# header_tool check IN...: one line per saved header (bsnap_cow.h):
#   "magic=ok|bad crc=ok|bad version=V flags=F seqid=S"
# header_tool make IN PREFIX: altered copies of a saved header, one python
# start for all (each costs seconds under emulation):
#   PREFIX.flip-magic  one bit of the magic flipped (CRC left as it was)
#   PREFIX.flip-uuid   one bit of the chain UUID flipped (CRC now wrong)
#   PREFIX.version     version 99, CRC recomputed
#   PREFIX.unclean     CLEAN flag cleared, CRC recomputed
#   PREFIX.broken      CLEAN cleared and BROKEN (0x8) set, CRC recomputed
header_tool() {
	python3 - "$@" <<'EOF'
import struct, sys, zlib
CRC = 128  # the crc field; it covers the whole struct, whose size depends on
           # the format version: found as the size whose CRC matches
def crc(b, size):
    c = bytearray(b[:size]); c[CRC:CRC + 4] = b"\0" * 4
    return zlib.crc32(bytes(c)) & 0xffffffff
def load(path):
    h = bytearray(open(path, "rb").read(4096))
    stored = struct.unpack_from("<I", h, CRC)[0]
    return h, [n for n in range(136, 4097, 8) if crc(h, n) == stored]
op = sys.argv[1]
if op == "check":
    for path in sys.argv[2:]:
        h, sizes = load(path)
        magic, version, flags = struct.unpack_from("<QII", h, 0)
        print("magic=%s crc=%s version=%d flags=%d seqid=%d" % (
            "ok" if magic == 0x574f43504e534230 else "bad",
            "ok" if sizes else "bad", version, flags, struct.unpack_from("<Q", h, 40)[0]))
    sys.exit(0)
if op != "make":
    sys.exit("header_tool: unknown op " + op)
src, prefix = sys.argv[2], sys.argv[3]
orig, sizes = load(src)
if not sizes:
    sys.exit("header_tool: the original CRC matches no struct size")
flags = struct.unpack_from("<I", orig, 12)[0]
def variant(name, edit, fix):
    h = bytearray(orig)
    edit(h)
    if fix:
        h[CRC:CRC + 4] = struct.pack("<I", crc(h, sizes[0]))
    open(prefix + "." + name, "wb").write(bytes(h))
def flip(off, bit):
    def f(h): h[off] ^= bit
    return f
variant("flip-magic", flip(0, 0x01), False)
variant("flip-uuid", flip(24 + 5, 0x10), False)
variant("version", lambda h: struct.pack_into("<I", h, 8, 99), True)
variant("unclean", lambda h: struct.pack_into("<I", h, 12, flags & ~1), True)
variant("broken", lambda h: struct.pack_into("<I", h, 12, (flags & ~1) | 8), True)
EOF
}

# ------------------------------------------------------------------ cleanup

_dormant_cleanup() {
	local rc=$?
	set +eE
	trap - ERR
	if [ -n "${WRITER_PID:-}" ]; then
		touch "$WRITER_STOP"
		kill "$WRITER_PID" 2>/dev/null
		wait "$WRITER_PID" 2>/dev/null
	fi
	[ -n "${NS_PID:-}" ] && kill "$NS_PID" 2>/dev/null && wait "$NS_PID" 2>/dev/null
	mountpoint -q "$BIND" 2>/dev/null && umount "$BIND"
	if module_loaded; then
		bsnapctl destroy "$MINOR" >/dev/null 2>&1
	fi
	mountpoint -q "$MNT" && umount "$MNT" 2>/dev/null
	if module_loaded; then rmmod bsnap 2>/dev/null || echo "cleanup: rmmod failed" >&2; fi
	exit "$rc"
}

# dormant_load: load the module, install the cleanup above
dormant_load() {
	load_module "$@"
	trap _dormant_cleanup EXIT
}

# Needs: the disks of suite.conf
[ -b "$ORIGIN" ] && [ -b "$BACKUP" ] || fail "needs disks vda and vdb (suite.conf); got '${BSNAP_DISKS:-}'"
