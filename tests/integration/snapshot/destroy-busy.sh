#!/bin/bash
# destroy while /dev/bsnapN is in use: (1) held open by an idle fd, (2) read
# by several readers (O_DIRECT and buffered, one through an fd opened before)
# while writers on the origin keep the copy-before-write busy. destroy must
# either succeed or refuse with EBUSY, within a minute; readers end with data
# or with EIO/ENXIO (or ENOENT once the node is gone), never hang; the origin
# loses nothing; the module still unloads (no reference leaked). The
# harness's dmesg scan catches warnings, oopses and hung tasks.
# bsnap-vm: timeout=600
. "$(dirname "$0")/snapshot-lib.bash"
need_disks 1
snap_load
dev=/dev/${DISKS[0]}
BSNAP_STAMP_NONCE=$(new_nonce)
export BSNAP_STAMP_NONCE
OK_ERRORS="$(errno_text "$(errno_of EIO)")|$(errno_text "$(errno_of ENXIO)")|$(errno_text "$(errno_of ENOENT)")|$(errno_text "$(errno_of ENODEV)")"

make_fs ext4 "$dev"
mount_fs "$dev" "$MNT_ORIGIN"
stamp fill-file "$MNT_ORIGIN/data.stamp" --size 128M --gen 1
sync

# destroy_in_use MINOR: destroy; if EBUSY, that is an answer too: then the
# caller releases the device and destroys again. Sets DESTROYED=1|0.
destroy_in_use() {
	local t0
	t0=$(now_ms)
	run_cmd "$WORK/destroy" timeout 60 "$BSNAP_BIN/bsnapctl" destroy "$1"
	log "destroy $1 while in use: exit $RC after $(($(now_ms) - t0)) ms: $(head -1 "$WORK/destroy.err")"
	case "$RC" in
	0) DESTROYED=1 ;;
	"$(errno_of EBUSY)") DESTROYED=0 ;;
	124) fail "destroy of a busy /dev/bsnap$1 hung for 60 s" ;;
	*) fail "destroy of a busy /dev/bsnap$1: exit $RC (expected 0 or EBUSY)" ;;
	esac
	if [ "$DESTROYED" = 1 ]; then
		local m keep=()
		for m in "${SNAP_MINORS[@]}"; do [ "$m" = "$1" ] || keep+=("$m"); done
		SNAP_MINORS=("${keep[@]}")
	fi
}

# --- 1. an idle open fd
log "1. destroy while an idle fd holds /dev/bsnap0"
snap_setup -f 64 "$dev" "$MNT_ORIGIN/cow0" 0
exec 3</dev/bsnap0
destroy_in_use 0
if [ "$DESTROYED" = 1 ]; then
	run_cmd "$WORK/fdread" dd bs=4k count=16 iflag=direct of=/dev/null status=none <&3
	log "read through the fd after destroy: exit $RC $(head -1 "$WORK/fdread.err")"
	[ "$RC" = 0 ] || grep -Eq "$OK_ERRORS" "$WORK/fdread.err" ||
		fail "read after destroy failed with an unexpected error: $(head -1 "$WORK/fdread.err")"
	exec 3<&-
	wait_for_node /dev/bsnap0 absent || fail "/dev/bsnap0 still exists after destroy and close"
else
	exec 3<&-
	snap_destroy 0
fi

# --- 2. busy readers and writers
# reader IMG STOP [DIRECT]: whole-image reads until STOP exists; read errors
# must be EIO/ENXIO/ENOENT/ENODEV
reader() {
	local n=0 errs=0 flag='' err="$WORK/reader.$BASHPID.err"
	[ "${3:-}" = direct ] && flag=iflag=direct
	while [ ! -e "$2" ]; do
		if dd if="$1" of=/dev/null bs=1M $flag status=none 2>"$err"; then
			n=$((n + 1))
		else
			errs=$((errs + 1))
			grep -Eq "$OK_ERRORS" "$err" || { echo "unexpected read error: $(cat "$err")"; return 1; }
			sleep 0.2
		fi
	done
	echo "reader ${3:-buffered}: $n whole reads, $errs failed opens or reads"
}
# fd_reader IMG READY: open, say so, then read to the end through that fd
fd_reader() {
	exec 4<"$1" || return 1
	touch "$2"
	if dd of=/dev/null bs=64k status=none <&4 2>"$WORK/fdreader.err"; then
		echo "fd reader: read to the end"
	else
		grep -Eq "$OK_ERRORS" "$WORK/fdreader.err" ||
			{ echo "fd reader: unexpected error: $(cat "$WORK/fdreader.err")"; return 1; }
		echo "fd reader: stopped by $(head -1 "$WORK/fdreader.err")"
	fi
	exec 4<&-
}

log "2. destroy while readers read /dev/bsnap1 and writers write the origin"
rm -f "$WORK/data.map"
snap_setup -f 200 "$dev" "$MNT_ORIGIN/cow1" 1
rm -f "$WORK/stop" "$WORK/ready"
bg writer stamp overwrite-file "$MNT_ORIGIN/data.stamp" --gen 2 --seed 3 --seconds 30 \
	--threads 3 --direct --map "$WORK/data.map"
bg r1 reader /dev/bsnap1 "$WORK/stop" direct
bg r2 reader /dev/bsnap1 "$WORK/stop"
bg r3 fd_reader /dev/bsnap1 "$WORK/ready"
for i in $(seq 100); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
sleep 3
destroy_in_use 1
touch "$WORK/stop"
for j in r1 r2 r3; do
	# a reader blocked in the kernel would hang here: give them 60 s
	for i in $(seq 600); do
		eval "kill -0 \$BG_$j" 2>/dev/null || break
		sleep 0.1
	done
	eval "kill -0 \$BG_$j" 2>/dev/null && fail "reader $j still running 60 s after destroy (stuck?)"
	bg_wait "$j"
	cat "$WORK/$j.log"
done
[ "$DESTROYED" = 1 ] || snap_destroy 1
bg_wait writer
cat "$WORK/writer.log"
wait_for_node /dev/bsnap1 absent || fail "/dev/bsnap1 still exists after destroy"

drop_caches
stamp verify-file "$MNT_ORIGIN/data.stamp" --gen 1 --map "$WORK/data.map" ||
	fail "the origin lost writes around destroy"
umount_fs "$MNT_ORIGIN"
fsck_n ext4 "$dev" >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck -n of the origin"; }
snap_unload
