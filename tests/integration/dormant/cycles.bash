# shellcheck shell=bash
# 20 umount/mount cycles under a concurrent writer, then the incremental
# must equal the new snapshot bit for bit. The writer writes into the
# filesystem between umounts and is stopped just before each one, so its
# last writes are still dirty and reach the device during the umount. Each
# cycle goes dormant in one of four ways: remount read-only; umount; lazy
# umount while a file is held open (dormant only once it is closed; the
# detached filesystem is written through it meanwhile); umount while a
# copy of the mount lives in another mount namespace (still active: mounted
# elsewhere), then the namespace ends. While unmounted, blocks of a file are
# rewritten on the raw device and, in cycles 1 and 13, a repairing fsck runs.
# Then three cycles in snapshot mode with the writer: the snapshot image
# must not change.
. "$(dirname "${BASH_SOURCE[0]}")/dormant-lib.bash"

dormant_load
make_fs "$1"
churn 0
raw_target 4
start_chain
start_writer 0
NS_PID=
for ((c = 1; c <= 20; c++)); do
	nap 0.5
	stop_writer
	case $((c % 4)) in
	0)
		remount ro
		expect_state 0 "cycle $c: remount ro"
		remount rw
		expect_state 2 "cycle $c: remount rw"
		start_writer $((c * 1000))
		continue
		;;
	1)
		umount_origin
		;;
	2)
		exec {held}<>"$MNT/w/f1"
		umount_origin -l
		printf 'written through a detached mount, cycle %d\n' "$c" >&"$held"
		expect_state 2 "cycle $c: lazy umount, a file still open"
		exec {held}>&-
		;;
	3)
		unshare -m --propagation private sleep 600 &
		NS_PID=$!
		for ((i = 0; i < 100; i++)); do
			[ "$(readlink "/proc/$NS_PID/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] && break
			nap 0.1
		done
		((i < 100)) || fail "unshare -m did not start a mount namespace"
		umount_origin
		expect_state 2 "cycle $c: umounted here, still mounted in another namespace"
		kill "$NS_PID"
		wait "$NS_PID" || true
		NS_PID=
		;;
	esac
	wait_state 0 "cycle $c: unmounted (way $((c % 4)))"
	before=$(info_num changed_blocks)
	raw_write $(((c * 37) % (RAW_BLOCKS - 16))) 16
	if ((c == 1)); then
		# the first raw write hits blocks unchanged so far: counted at once
		read_info
		assert_eq "$(($(info_num changed_blocks) - before))" 16 "changed_blocks growth after dd of 16 blocks while dormant"
	fi
	if ((c % 12 == 1)); then
		fsck_origin
		log "cycle $c: fsck of the dormant origin: clean"
	fi
	mount_origin
	expect_state 2 "cycle $c: mounted again"
	start_writer $((c * 1000))
done
stop_writer
take_snapshot 2 32
apply_incremental 2

log "snapshot mode: three dormant cycles with the writer; the image must not change"
start_writer 50000
for ((c = 1; c <= 3; c++)); do
	nap 0.5
	stop_writer
	umount_origin
	expect_state 1 "snapshot cycle $c: unmounted"
	raw_write $(((c * 53) % (RAW_BLOCKS - 16))) 16
	mount_origin
	expect_state 3 "snapshot cycle $c: mounted again"
	start_writer $((50000 + c * 1000))
done
stop_writer
same_as_snapshot "snapshot 2 after three dormant cycles with writes"
must bsnapctl destroy "$MINOR"
umount_origin
unload_module
log "20 dormant cycles: the incremental equals the snapshot; the snapshot survived 3 more"
