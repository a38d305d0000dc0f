#!/bin/bash
# Guest part of snapshot-bench.sh (runs inside bsnap-vm, as root, with the
# host root mounted read-only). Disks: $BSNAP_DISKS = "vda vdb": vda the
# origin (ext4), vdb dm-snapshot's exception store. Module: $BSNAP_MODULE
# (bsnap parts are skipped without it), bsnapctl in $BSNAP_BIN.
#
# Workloads (fio, O_DIRECT, libaio), on a 384 MiB file written beforehand:
#   rand4k: 4 KiB random writes, iodepth 16, each block of [0, 64M) once
#   seq1m:  1 MiB sequential writes, iodepth 4, [128M, 384M) once
# Disjoint regions: the first pass of each under a snapshot copies every
# block it writes ("first"), the second pass finds them copied ("rewrite").
# Measured: untraced; bsnap snapshot; dm-linear (untraced under dm) and
# dm-snapshot (persistent store, 4 KiB chunks). Ratios are to untraced (dm-*
# also to dm-linear). Setup time of a snapshot with a small and a large CoW
# file; memory: slab, vmalloc, percpu and module size deltas, bsnap's own
# slab caches, and /proc/bsnap-info.
set -uo pipefail
repeat=1
[ "${1:-}" = --repeat ] && repeat=$2
read -r -a DISKS <<<"${BSNAP_DISKS:-}"
[ "${#DISKS[@]}" -ge 2 ] || { echo "needs 2 disks, got '${BSNAP_DISKS:-}'"; exit 1; }
ORIGIN=/dev/${DISKS[0]}
STORE=/dev/${DISKS[1]}
MNT=/mnt/bench
FILE=$MNT/bench.dat
OUT=${BSNAP_TEST_RESULTS:-/tmp}/bench
mkdir -p "$OUT" "$MNT"
CTL=${BSNAP_BIN:-}/bsnapctl
have_bsnap=0
[ -n "${BSNAP_MODULE:-}" ] && [ -r "$BSNAP_MODULE" ] && [ -x "$CTL" ] && have_bsnap=1
declare -A BW # label -> MB/s
declare -a ORDER

say() { echo "== $*"; }
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# fio_run LABEL rand4k|seq1m: run it REPEAT times, record the mean MB/s
fio_run() {
	local label=$1 wl=$2 i sum=0 mbs args
	case "$wl" in
	rand4k) args=(--rw=randwrite --bs=4k --iodepth=16 --offset=0 --size=64M) ;;
	seq1m) args=(--rw=write --bs=1M --iodepth=4 --offset=128M --size=256M) ;;
	esac
	for i in $(seq "$repeat"); do
		drop
		fio --name="$label" --filename="$FILE" --ioengine=libaio --direct=1 \
			--randrepeat=0 --norandommap=0 --end_fsync=1 "${args[@]}" \
			--output-format=json --output="$OUT/$label.$i.json" >/dev/null 2>"$OUT/$label.$i.err" ||
			{ echo "fio $label failed: $(head -3 "$OUT/$label.$i.err")"; return 1; }
		mbs=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]["write"]; print("%.2f" % (j["bw_bytes"] / 1048576))' \
			"$OUT/$label.$i.json")
		sum=$(python3 -c "print('%.2f' % ($sum + $mbs))")
	done
	BW[$label]=$(python3 -c "print('%.2f' % ($sum / $repeat))")
	ORDER+=("$label")
	printf '   %-28s %9s MB/s\n' "$label" "${BW[$label]}"
}

# mem LABEL: record memory figures into $OUT/mem.LABEL
mem() {
	drop
	{
		grep -E '^(MemFree|MemAvailable|Slab|SReclaimable|SUnreclaim|VmallocUsed|Percpu):' /proc/meminfo
		echo "ModuleSize: $(awk '$1 == "bsnap" { print $2 }' /proc/modules) bytes"
		grep -iE '^bsnap' /proc/slabinfo | awk '{ printf "slab %s: %d objects x %d bytes = %d KiB\n", $1, $3, $4, $3 * $4 / 1024 }'
		grep -E '^(dm_exception|dm_snap_pending_exception|dm_snap_tracked_chunk|kcopyd_job) ' /proc/slabinfo |
			awk '{ printf "slab %s: %d objects x %d bytes = %d KiB\n", $1, $3, $4, $3 * $4 / 1024 }'
	} >"$OUT/mem.$1"
}
memval() { awk -v k="$2:" '$1 == k { print $2 }' "$OUT/mem.$1"; }
memdelta() { # FROM TO: one line of kB deltas
	local k out=""
	for k in Slab SUnreclaim VmallocUsed Percpu MemAvailable; do
		out="$out $k $(($(memval "$2" "$k") - $(memval "$1" "$k"))) kB;"
	done
	echo "$out"
}

say "preparing: ext4 on $ORIGIN, a 384 MiB file"
wipefs -a -q "$ORIGIN" "$STORE" 2>/dev/null
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$ORIGIN" || exit 1
mount "$ORIGIN" "$MNT" || exit 1
fio --name=layout --filename="$FILE" --rw=write --bs=1M --size=384M --direct=1 --ioengine=libaio \
	--iodepth=4 --end_fsync=1 >/dev/null || exit 1
sync

say "untraced"
fio_run untraced-rand4k rand4k
fio_run untraced-seq1m seq1m

if [ "$have_bsnap" = 1 ]; then
	mem before-load
	insmod "$BSNAP_MODULE" || { echo "insmod failed"; have_bsnap=0; }
fi
if [ "$have_bsnap" = 1 ]; then
	for i in $(seq 50); do [ -c /dev/bsnap-ctl ] && break; sleep 0.1; done
	mem loaded
	say "bsnap setup time"
	for mb in 16 64 512; do
		sync
		t0=$(now_ms)
		if "$CTL" setup-snapshot -f "$mb" "$ORIGIN" "$MNT/cow-setup" 5 >"$OUT/setup.out" 2>&1; then
			t=$(($(now_ms) - t0))
			printf '   setup-snapshot -f %-4s MiB   %6d ms\n' "$mb" "$t"
			eval "SETUP_$mb=$t"
			"$CTL" destroy 5 >/dev/null 2>&1 || echo "destroy failed"
			rm -f "$MNT/cow-setup"
		else
			echo "   setup-snapshot -f $mb failed: $(head -1 "$OUT/setup.out")"
		fi
	done

	say "bsnap snapshot (CoW file 448 MiB)"
	if "$CTL" setup-snapshot -f 448 "$ORIGIN" "$MNT/cow" 0 >"$OUT/setup.out" 2>&1; then
		mem snapshot-setup
		fio_run bsnap-first-rand4k rand4k
		fio_run bsnap-rewrite-rand4k rand4k
		fio_run bsnap-first-seq1m seq1m
		fio_run bsnap-rewrite-seq1m seq1m
		mem snapshot-written
		cp /proc/bsnap-info "$OUT/bsnap-info.json" 2>/dev/null
		"$CTL" info 0 --json >"$OUT/info.json" 2>&1
		"$CTL" destroy 0 >/dev/null 2>&1 || echo "destroy failed"
		rm -f "$MNT/cow"
		mem destroyed
	else
		echo "   setup-snapshot failed: $(head -1 "$OUT/setup.out")"
	fi
	rmmod bsnap || echo "rmmod failed"
fi

say "dm-snapshot baseline (origin $ORIGIN, exception store $STORE, 4 KiB chunks)"
umount "$MNT"
sectors=$(blockdev --getsz "$ORIGIN")
dmsetup create bench-base --table "0 $sectors linear $ORIGIN 0" || exit 1
dmsetup mknodes bench-base # no udev in the guest
mount /dev/mapper/bench-base "$MNT" || exit 1
fio_run dm-linear-rand4k rand4k
fio_run dm-linear-seq1m seq1m
mem dm-before
dd if=/dev/zero of="$STORE" bs=1M count=1 oflag=direct status=none
sync
t0=$(now_ms)
# dmsetup suspend freezes the filesystem itself (lockfs), as LVM does
dmsetup suspend bench-base &&
	dmsetup create bench-snap --table "0 $sectors snapshot $ORIGIN $STORE P 8" &&
	dmsetup reload bench-base --table "0 $sectors snapshot-origin $ORIGIN" &&
	dmsetup resume bench-base || { echo "dm-snapshot setup failed"; dmsetup table; }
dmsetup mknodes
DM_SETUP=$(($(now_ms) - t0))
printf '   dm-snapshot creation        %6d ms\n' "$DM_SETUP"
fio_run dm-snap-first-rand4k rand4k
fio_run dm-snap-rewrite-rand4k rand4k
fio_run dm-snap-first-seq1m seq1m
fio_run dm-snap-rewrite-seq1m seq1m
mem dm-written
dmsetup status bench-snap
umount "$MNT"
dmsetup suspend bench-base
dmsetup remove bench-snap
dmsetup reload bench-base --table "0 $sectors linear $ORIGIN 0"
dmsetup resume bench-base
dmsetup remove bench-base

# ------------------------------------------------------------------ report
ratio() { python3 -c "a, b = $1, $2; print('%.2f' % (a / b) if b else '-')"; }
echo
echo "=================== snapshot benchmark ($(uname -r), $(nproc) CPUs, repeat $repeat) ==================="
printf '%-26s %10s %12s %14s\n' workload "MB/s" "x untraced" "x dm-linear"
for label in "${ORDER[@]}"; do
	wl=${label##*-}
	r1=$(ratio "${BW[$label]}" "${BW[untraced-$wl]}")
	r2=-
	case "$label" in dm-*) r2=$(ratio "${BW[$label]}" "${BW[dm-linear-$wl]}") ;; esac
	printf '%-26s %10s %12s %14s\n' "$label" "${BW[$label]}" "$r1" "$r2"
done
echo
if [ "$have_bsnap" = 1 ]; then
	echo "setup-snapshot time: -f 16 MiB ${SETUP_16:--} ms, -f 64 MiB ${SETUP_64:--} ms, -f 512 MiB ${SETUP_512:--} ms"
fi
echo "dm-snapshot creation (suspend with freeze, create, reload, resume): $DM_SETUP ms"
echo
if [ "$have_bsnap" = 1 ] && [ -f "$OUT/mem.snapshot-written" ]; then
	echo "bsnap memory (kB deltas):"
	echo "  module loaded:           $(memdelta before-load loaded) module $(grep ModuleSize "$OUT/mem.loaded" | cut -d' ' -f2) bytes"
	echo "  snapshot set up:         $(memdelta loaded snapshot-setup)"
	echo "  after the writes:        $(memdelta loaded snapshot-written)"
	echo "  after destroy:           $(memdelta loaded destroyed)"
	grep '^slab' "$OUT/mem.snapshot-written" | sed 's/^/  /'
	python3 - "$OUT/bsnap-info.json" <<'EOF' 2>/dev/null
import json, sys
d = json.load(open(sys.argv[1]))
for dev in d.get("devices", []):
    keys = {k: v for k, v in dev.items() if any(w in k for w in ("mem", "cache", "cow_used", "changed"))}
    print("  /proc/bsnap-info minor %s: %s" % (dev.get("minor"), keys))
EOF
fi
echo "dm-snapshot memory (kB deltas after the writes): $(memdelta dm-before dm-written)"
grep '^slab' "$OUT/mem.dm-written" | sed 's/^/  /'
echo "raw figures: $OUT (on the host: results/cmd/bench in the run directory)"
