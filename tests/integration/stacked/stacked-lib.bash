# shellcheck shell=bash
# Device stacks for the stacked suite (named *.bash: the harness runs only
# *.sh): an LVM logical volume over two PVs, an md raid1 array of two disks
# and a LUKS2 dm-crypt mapping, built on the suite's virtio disks, traced as
# the origin, and taken down again. Source it after snapshot-lib.bash (or
# lib.sh).
#
# The guest has no udevd: libdevmapper (dmsetup, lvm, cryptsetup) creates
# the device nodes itself with DM_DISABLE_UDEV=1 (without it, a leftover
# /run/udev/control makes libudev wait forever for a dead udevd), mdadm with
# MDADM_NO_UDEV=1, and lvm runs with $LVM_CONFIG: no udev, no devices file,
# no hints, no metadata backups (/etc is the host's, read-only), and it
# scans only the virtio disks (never /dev/bsnapN, an image of an LV).
#
# One stack at a time: STACK_KIND (lv, md, luks) and STACK_DEV (its
# /dev/dm-N or /dev/mdN) name it. stack_down takes it down and fails the
# test if it cannot (a device bsnap still holds after destroy and rmmod);
# on any other exit, bsnap_after_cleanup (lib.sh's exit trap) does it
# quietly, after the module is unloaded.

export DM_DISABLE_UDEV=1 MDADM_NO_UDEV=1 MDADM_NO_SYSTEMCTL=1 LVM_SUPPRESS_FD_WARNINGS=1
# bsnap-stamp's run nonce (integrity_run sets its own)
: "${BSNAP_STAMP_NONCE:=$(new_nonce)}"
export BSNAP_STAMP_NONCE
# the integrity tests' write phase: shorter than the snapshot suite's 40 s
export BSNAP_SNAP_WRITE_SECONDS=${BSNAP_SNAP_WRITE_SECONDS:-15}

STACK_VG=bsnapvg
STACK_LV=lv
STACK_MD=/dev/md0
STACK_CRYPT=bsnap-crypt
STACK_BACKUP=bsnap-backup
STACK_KIND=
STACK_DEV=

LVM_CONFIG='activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
devices { obtain_device_list_from_udev = 0 use_devicesfile = 0 hints = "none"
          global_filter = [ "a|^/dev/vd[a-z]+[0-9]*$|", "r|.*|" ] }
backup { backup = 0 archive = 0 }
global { use_lvmpolld = 0 }'

lvm_() { lvm "$1" --config "$LVM_CONFIG" "${@:2}"; }

# stack_run CMD...: run CMD, its output indented in the test's log; fails
# the test with the command if it fails
stack_run() {
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	out=$(printf '%s\n' "$out" | grep -v 'metadata update is NOT backed up') || true
	[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/    /'
	[ "$rc" = 0 ] || fail "$* exited $rc: $(printf '%s' "$out" | tail -1)"
}

stack_modules() {
	modprobe -a dm_mod dm_crypt raid1 2>/dev/null ||
		modprobe -a dm_mod dm_crypt raid1 || fail "cannot load dm_mod dm_crypt raid1"
	mkdir -p /run/lock/lvm /run/lvm /run/cryptsetup /run/mdadm
}

# stack_wipe DEV...: no signature left (md superblock, LVM label, LUKS
# header, filesystem), no partition table
stack_wipe() {
	local d
	for d in "$@"; do
		wipefs -a -q "$d" 2>/dev/null || true
		dd if=/dev/zero of="$d" bs=1M count=4 oflag=direct status=none
	done
}

# stack_teardown: whatever is left of any stack, best effort, quiet;
# returns nonzero if something stays
stack_teardown() {
	local rc=0 i m
	# a failed test's cleanup unmounted lazily: let the stack go first
	for i in $(seq 20); do
		m=$(grep -E '^/dev/(mapper/|md|dm-)' /proc/mounts | cut -d' ' -f2) || true
		[ -z "$m" ] && break
		umount $m 2>/dev/null || sleep 0.5
	done
	if [ -e "/dev/mapper/$STACK_CRYPT" ]; then
		timeout 60 cryptsetup close "$STACK_CRYPT" 2>/dev/null ||
			{ echo "teardown: cryptsetup close $STACK_CRYPT failed" >&2; rc=1; }
	fi
	if [ -e /sys/block/md0/md ] || [ -e "$STACK_MD" ]; then
		timeout 60 mdadm --stop "$STACK_MD" >/dev/null 2>&1 ||
			{ [ -e /sys/block/md0/md/array_state ] && { echo "teardown: mdadm --stop $STACK_MD failed" >&2; rc=1; }; }
	fi
	if dmsetup info "$STACK_VG-$STACK_LV" >/dev/null 2>&1; then
		for i in 1 2 3 4 5; do
			timeout 60 lvm vgchange --config "$LVM_CONFIG" -an "$STACK_VG" >"$PWD/teardown.log" 2>&1 && break
			sleep 1
		done
		if dmsetup info "$STACK_VG-$STACK_LV" >/dev/null 2>&1; then
			echo "teardown: vgchange -an $STACK_VG failed: $(tail -3 "$PWD/teardown.log")" >&2
			dmsetup info "$STACK_VG-$STACK_LV" >&2
			rc=1
		fi
	fi
	if dmsetup info "$STACK_BACKUP" >/dev/null 2>&1; then
		timeout 60 dmsetup remove "$STACK_BACKUP" ||
			{ echo "teardown: dmsetup remove $STACK_BACKUP failed" >&2; rc=1; }
	fi
	STACK_KIND='' STACK_DEV=''
	return "$rc"
}

bsnap_after_cleanup() { stack_teardown || true; }

# stack_start: modules loaded, nothing left from an earlier test, the first
# three disks wiped; a stack left at exit is taken down
stack_start() {
	need_disks 3
	stack_modules
	stack_teardown || fail "a device stack from an earlier test cannot be taken down"
	stack_wipe "/dev/${DISKS[0]}" "/dev/${DISKS[1]}" "/dev/${DISKS[2]}"
	# snap_load (integrity.bash) or load_module replaces this trap with
	# theirs, which ends in bsnap_after_cleanup
	trap 'rc=$?; bsnap_after_cleanup; exit $rc' EXIT
}

# stack_lv SEGMENTS EXTENTS: a linear LV ($STACK_VG/$STACK_LV) of SEGMENTS
# segments of EXTENTS 4 MiB extents each, alternately on the first and the
# second disk, so that device-mapper splits every bio that crosses a segment
# boundary and resubmits the remainder (the hook sees it again)
stack_lv() {
	local nseg=$1 ext=$2 a=/dev/${DISKS[0]} b=/dev/${DISKS[1]} i pv
	stack_start
	stack_run lvm_ pvcreate -q -y -ff "$a" "$b"
	stack_run lvm_ vgcreate -q -s 4M "$STACK_VG" "$a" "$b"
	stack_run lvm_ lvcreate -q -y -Wy -Zy -l "$ext" -n "$STACK_LV" "$STACK_VG" "$a"
	for ((i = 1; i < nseg; i++)); do
		if ((i % 2)); then pv=$b; else pv=$a; fi
		stack_run lvm_ lvextend -q -l "+$ext" "$STACK_VG/$STACK_LV" "$pv"
	done
	[ -b "/dev/mapper/$STACK_VG-$STACK_LV" ] || fail "/dev/mapper/$STACK_VG-$STACK_LV did not appear"
	STACK_KIND=lv
	STACK_DEV=$(kernel_dev "/dev/mapper/$STACK_VG-$STACK_LV")
	log "LV $STACK_VG/$STACK_LV = $STACK_DEV, $((nseg * ext * 4)) MiB; its table:"
	dmsetup table "$STACK_VG-$STACK_LV" | sed 's/^/    /'
	assert_eq "$(dmsetup table "$STACK_VG-$STACK_LV" | wc -l)" "$nseg" "segments of the LV"
}

# stack_lv_boundaries: the LV's segment boundaries, in sectors, one a line
stack_lv_boundaries() {
	dmsetup table "$STACK_VG-$STACK_LV" | awk 'NR > 1 { print $1 }'
}

# stack_md MIB: raid1 of the first two disks, MIB of each
stack_md() {
	stack_start
	stack_run mdadm --create "$STACK_MD" --run --assume-clean --metadata=1.2 --level=1 \
		--raid-devices=2 --size=$(($1 * 1024)) --bitmap=none "/dev/${DISKS[0]}" "/dev/${DISKS[1]}"
	local i
	for i in $(seq 50); do
		[ -b "$STACK_MD" ] && break
		sleep 0.1
	done
	[ -b "$STACK_MD" ] || fail "$STACK_MD did not appear"
	STACK_KIND=md
	STACK_DEV=$(kernel_dev "$STACK_MD")
	log "md raid1 $STACK_DEV: $(cat /sys/block/md0/md/level) of $(ls /sys/block/md0/slaves | tr '\n' ' ')$(($(blockdev --getsize64 "$STACK_DEV") >> 20)) MiB, $(cat /sys/block/md0/md/array_state)"
}

# stack_luks [MIB]: LUKS2 on the first disk (its first MIB only, if given),
# opened with discards allowed. PBKDF2 with 1000 iterations: argon2's memory-
# hard default takes minutes under emulation. 512-byte encryption sectors,
# so that the stamp writers' 512-byte O_DIRECT writes stay valid.
stack_luks() {
	local key=$PWD/luks.key disk=/dev/${DISKS[0]}
	stack_start
	head -c 64 /dev/urandom >"$key"
	stack_run cryptsetup luksFormat -q --batch-mode --type luks2 --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 --sector-size 512 --key-file "$key" "$disk"
	stack_run cryptsetup open --type luks2 --key-file "$key" --allow-discards "$disk" "$STACK_CRYPT"
	if [ -n "${1:-}" ]; then
		stack_run cryptsetup resize --key-file "$key" --size $(($1 * 2048)) "$STACK_CRYPT"
	fi
	[ -b "/dev/mapper/$STACK_CRYPT" ] || fail "/dev/mapper/$STACK_CRYPT did not appear"
	STACK_KIND=luks
	STACK_DEV=$(kernel_dev "/dev/mapper/$STACK_CRYPT")
	log "LUKS2 $STACK_CRYPT = $STACK_DEV on $disk, $(($(blockdev --getsize64 "$STACK_DEV") >> 20)) MiB: $(dmsetup table "$STACK_CRYPT" | awk '{ print $3, $4, $NF }')"
}

# stack_down: take the stack down; it must go (bsnap let go of it)
stack_down() {
	local kind=$STACK_KIND dev=$STACK_DEV
	[ -n "$kind" ] || return 0
	case $kind in
	luks) stack_run cryptsetup close "$STACK_CRYPT" ;;
	md) stack_run mdadm --stop "$STACK_MD" ;;
	lv) stack_run lvm_ vgchange -q -an "$STACK_VG" ;;
	esac
	STACK_KIND='' STACK_DEV=''
	[ ! -e "$dev" ] || [ ! -e "/sys/class/block/${dev#/dev/}" ] || [ "$kind" = md ] ||
		fail "$dev still exists after taking the $kind stack down"
	log "$kind stack taken down"
}

# stack_cycles FS DEV: ../incremental/cycles.bash on DEV (the stack),
# $BSNAP_STACK_CYCLES cycles (default 5); the backup is a linear mapping of
# the third disk's first sectors, exactly as large as DEV (update-img wants
# the same size). cycles.bash runs as a child (it loads and unloads the
# module itself); this shell keeps the stack and takes it down.
stack_cycles() {
	local backup=/dev/mapper/$STACK_BACKUP
	stack_run dmsetup create "$STACK_BACKUP" --table "0 $(blockdev --getsz "$2") linear /dev/${DISKS[2]} 0"
	[ -b "$backup" ] || fail "$backup did not appear"
	BSNAP_INC_ORIGIN=$2 BSNAP_INC_BACKUP=$backup BSNAP_INC_CYCLES=${BSNAP_STACK_CYCLES:-5} \
		bash "$(dirname "${BASH_SOURCE[0]}")/../incremental/cycles.bash" "$1" ||
		fail "incremental cycles on $2 failed (see above)"
	stack_run dmsetup remove "$STACK_BACKUP"
}

# ------------------------------------------------------------------ one write
# The "seen once" checks of 010-once: one 4 MiB write that a stacking
# driver splits, and what it must change.

LEN=8192 # sectors of each write: 4 MiB
TRACE=/sys/kernel/tracing

trace_start() {
	mountpoint -q "$TRACE" || mount -t tracefs nodev "$TRACE" || fail "cannot mount tracefs"
	echo 0 >"$TRACE/tracing_on"
	echo >"$TRACE/trace"
	echo 1 >"$TRACE/events/block/block_split/enable"
	echo 1 >"$TRACE/tracing_on"
}

# trace_splits DEV: stop tracing; how many block_split events DEV had
trace_splits() {
	local mm
	echo 0 >"$TRACE/tracing_on"
	echo 0 >"$TRACE/events/block/block_split/enable"
	mm=$(stat -L -c '%t %T' "$1")
	mm="$((0x${mm% *})),$((0x${mm#* }))"
	grep -c "block_split: $mm " "$TRACE/trace" || true
}

# counts MINOR: C=changed_blocks U=cow_used_bytes of the device; fails
# unless its error is 0
counts() {
	bsnapctl info "$1" --json >"$WORK/info.out"
	json_eval "$WORK/info.out" 'j["changed_blocks"]' 'j.get("cow_used_bytes", 0)' 'j["error"]' >"$WORK/counts"
	{ read -r C; read -r U; read -r E; } <"$WORK/counts"
	assert_eq "$E" 0 "error of minor $1 ($(tr -d '\n' <"$WORK/info.out"))"
}

# blocks_sum DEV FIRST N: sha256 of N 4 KiB blocks from block FIRST
blocks_sum() {
	dd if="$1" bs=4096 skip="$2" count="$3" iflag=direct status=none | sha256sum | cut -d' ' -f1
}

# range_sum DEV SECTOR: sha256 of the LEN sectors from SECTOR
range_sum() {
	dd if="$1" bs=1M iflag=direct,skip_bytes,count_bytes skip=$(($2 * 512)) count=$((LEN * 512)) status=none |
		sha256sum | cut -d' ' -f1
}

# write_range DEV SECTOR PATTERN: one pwrite of PATTERN (LEN sectors) at
# SECTOR with O_DIRECT, from a buffer in transparent huge pages: its
# physically contiguous pages make one bio of the whole 4 MiB, larger than
# dm-crypt takes at once (dd's buffer would give bios of 1 MiB at most)
write_range() {
	python3 - "$1" "$2" "$3" <<'EOF'
import ctypes, mmap, os, sys
dev, sector, pattern = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(pattern, "rb").read()
huge = 2 << 20
# private anonymous memory (a shared mapping is shmem: no huge pages)
m = mmap.mmap(-1, len(data) + huge, flags=mmap.MAP_PRIVATE)
m.madvise(mmap.MADV_HUGEPAGE)
addr = memoryview(m)
base = ctypes.addressof(ctypes.c_char.from_buffer(m))
off = (-base) % huge
buf = addr[off:off + len(data)]
buf[:] = data
fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
n = os.pwrite(fd, buf, sector * 512)
os.close(fd)
assert n == len(data), n
anon, cur = 0, False
start = base + off
for line in open("/proc/self/smaps"):
    f = line.split()
    if "-" in f[0] and len(f) > 4:
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        cur = lo <= start < hi
    elif cur and f[0] == "AnonHugePages:":
        anon = int(f[1])
print("wrote %d bytes at sector %d; buffer in huge pages: %d KiB" % (n, sector, anon))
del buf, addr
EOF
}

# pick_ranges EXTENTS [BOUNDARY...]: two start sectors, "S1 S2", of LEN
# sector ranges inside the file's extents, 512 B past a 4 KiB boundary,
# at least a block apart; with boundaries, each range has one of them in
# its middle
pick_ranges() {
	python3 - "$LEN" "$@" <<'EOF'
import sys
n, ext = int(sys.argv[1]), sys.argv[2]
bounds = [int(b) for b in sys.argv[3:]]
exts = [tuple(map(int, l.split())) for l in open(ext) if l.strip() and not l.startswith("#")]
def inside(s):
    return any(es <= s and s + n <= es + ec for es, ec in exts)
cands = []
if bounds:
    cands = [b - n // 2 + 1 for b in bounds]
else:
    for es, ec in exts:
        s = (es + 7) // 8 * 8 + 1
        while s + n <= es + ec:
            cands.append(s)
            s += n + 16
picked = []
for s in cands:
    if inside(s) and all(s >= p + n + 8 or s + n + 8 <= p for p in picked):
        picked.append(s)
    if len(picked) == 2:
        break
if len(picked) < 2:
    sys.exit("no two ranges of %d sectors found in %s (bounds %s)" % (n, exts, bounds))
print(*picked)
EOF
}

# once_run KIND ORIGIN WRITER [BOUNDARY...]: the checks of 010-once on the
# traced ORIGIN (ext4 made here), its blocks written through WRITER (ORIGIN
# itself; a device stacked on the traced one cannot be: both claim the
# lower device exclusively), each write with a BOUNDARY (sector) of
# WRITER's in its middle if given; ORIGIN unmounted at the end
once_run() {
	local kind=$1 origin=$2 writer=$3 minor img s1 s2 f n c0 u0 c1 u1 c2 u2 c3 c4 c5 h_img h_org splits
	shift 3
	make_fs ext4 "$origin"
	mount_fs "$origin" "$MNT_ORIGIN" noatime
	stamp fill-file "$MNT_ORIGIN/target" --size 40M --gen 1
	sync
	stamp extents "$MNT_ORIGIN/target" >"$WORK/extents"
	read -r s1 s2 < <(pick_ranges "$WORK/extents" "$@") || true
	[ -n "${s2:-}" ] || { cat "$WORK/extents"; fail "$kind: no ranges to write in the file's extents"; }
	log "$kind: ranges at sectors $s1 and $s2, $LEN sectors each (file extents: $(grep -v '^#' "$WORK/extents" | tr '\n' ';'))"
	head -c $((LEN * 512)) /dev/urandom >"$WORK/pat1"
	head -c $((LEN * 512)) /dev/urandom >"$WORK/pat2"

	minor=$(bsnapctl get-free-minor)
	img=/dev/bsnap$minor
	snap_setup -f 16 "$origin" "$MNT_ORIGIN/cow" "$minor"

	# --- snapshot mode
	freeze "$MNT_ORIGIN"
	f=$((s1 / 8)) n=$(((s1 + LEN - 1) / 8 - s1 / 8 + 1))
	h_img=$(blocks_sum "$img" "$f" "$n")
	h_org=$(blocks_sum "$origin" "$f" "$n")
	assert_eq "$h_img" "$h_org" "$kind: blocks $f+$n of the image and the origin before the write"
	counts "$minor"; c0=$C u0=$U
	trace_start
	write_range "$writer" "$s1" "$WORK/pat1"
	splits=$(trace_splits "$writer")
	counts "$minor"; c1=$C u1=$U
	log "$kind snapshot: $n blocks written in one 4 MiB write ($splits block_split events on $writer): changed_blocks $c0 -> $c1, cow_used_bytes $u0 -> $u1"
	[ "$splits" -gt 0 ] || fail "$kind: the write was not split on $writer: this test proves nothing here"
	assert_eq "$((c1 - c0))" "$n" "$kind snapshot: new changed blocks after one write of $n blocks"
	assert_eq "$((u1 - u0))" "$((n * 4096))" "$kind snapshot: new CoW bytes after one write of $n blocks"
	assert_eq "$(blocks_sum "$img" "$f" "$n")" "$h_img" "$kind: the image's blocks $f+$n after the write"
	assert_eq "$(range_sum "$origin" "$s1")" "$(sha256sum <"$WORK/pat1" | cut -d' ' -f1)" "$kind: the origin after the write"
	write_range "$writer" "$s1" "$WORK/pat2"
	counts "$minor"; c2=$C u2=$U
	log "$kind snapshot: the same blocks again: changed_blocks $c2, cow_used_bytes $u2"
	assert_eq "$c2 $u2" "$c1 $u1" "$kind snapshot: changed blocks and CoW bytes after writing the same blocks again"
	assert_eq "$(blocks_sum "$img" "$f" "$n")" "$h_img" "$kind: the image's blocks $f+$n after the second write"
	thaw "$MNT_ORIGIN"

	# --- incremental mode
	bsnapctl transition-to-incremental "$minor"
	freeze "$MNT_ORIGIN"
	f=$((s2 / 8)) n=$(((s2 + LEN - 1) / 8 - s2 / 8 + 1))
	counts "$minor"; c3=$C
	trace_start
	write_range "$writer" "$s2" "$WORK/pat1"
	splits=$(trace_splits "$writer")
	counts "$minor"; c4=$C
	write_range "$writer" "$s2" "$WORK/pat2"
	counts "$minor"; c5=$C
	log "$kind incremental: $n blocks written ($splits block_split events): changed_blocks $c3 -> $c4, again: $c5"
	[ "$splits" -gt 0 ] || fail "$kind: the incremental write was not split on $writer"
	assert_eq "$((c4 - c3))" "$n" "$kind incremental: new changed blocks after one write of $n blocks"
	assert_eq "$c5" "$c4" "$kind incremental: changed blocks after writing the same blocks again"
	thaw "$MNT_ORIGIN"

	# --- the next snapshot shows the second write
	bsnapctl transition-to-snapshot -f 16 "$MNT_ORIGIN/cow2" "$minor"
	wait_for_node "$img" || fail "$img did not come back after transition-to-snapshot"
	assert_eq "$(range_sum "$img" "$s2")" "$(sha256sum <"$WORK/pat2" | cut -d' ' -f1)" "$kind: the next snapshot's image at the second range"
	snap_destroy "$minor"
	umount_fs "$MNT_ORIGIN"
}
