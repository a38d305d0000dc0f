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
	STACK_KIND= STACK_DEV=
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
	STACK_KIND= STACK_DEV=
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
