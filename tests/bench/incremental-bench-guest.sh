#!/bin/bash
# Guest part of incremental-bench.sh (runs inside bsnap-vm, as root, with the
# host root mounted read-only). Disks: $BSNAP_DISKS = "vda vdb": vda the
# origin (ext4), vdb the backup image (same size). Module: $BSNAP_MODULE,
# bsnapctl and update-img in $BSNAP_BIN.
#
# 1. Write overhead of incremental mode: fio on a 1 GiB file, time based
#    (rand4k: 4 KiB random writes, iodepth 16, over 256 MiB; seq1m: 1 MiB
#    sequential writes, iodepth 4), ROUNDS rounds, each measuring side by
#    side: "none" (module not loaded), "loaded" (module loaded, device not
#    traced) and "incremental" (after setup-snapshot and
#    transition-to-incremental). The order alternates from one round to the
#    next (none, loaded, incremental; then incremental, loaded, none), so a
#    drift of the machine's speed does not favour one. Ratios per round.
# 2. update-img: snapshot 1 (CoW file of the default size, 10 % of the
#    device) and its full backup on vdb, incremental mode, changes (4 KiB
#    random writes to 64 MiB of the data file, a new 128 MiB file), snapshot
#    2; then, alternately, update-img (and the update-img given with
#    --old-update-img, for comparison) against reading the whole
#    /dev/bsnapN with dd, every run after drop_caches; the backup is checked
#    against the snapshot bit for bit after each update-img.
#
# usage: incremental-bench-guest.sh [--rounds N] [--runtime SEC] [--old-update-img PATH]
set -uo pipefail
ROUNDS=5 RUNTIME=10 OLD_UPD=
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--runtime) RUNTIME=$2; shift 2 ;;
	--old-update-img) OLD_UPD=$2; shift 2 ;;
	*) echo "incremental-bench-guest: unknown argument $1"; exit 2 ;;
	esac
done
read -r -a DISKS <<<"${BSNAP_DISKS:-}"
[ "${#DISKS[@]}" -ge 2 ] || { echo "needs 2 disks, got '${BSNAP_DISKS:-}'"; exit 1; }
ORIGIN=/dev/${DISKS[0]}
BACKUP=/dev/${DISKS[1]}
MNT=/mnt/bench
FILE=$MNT/data.dat
MINOR=0
IMAGE=/dev/bsnap$MINOR
OUT=${BSNAP_TEST_RESULTS:-/tmp}/bench
mkdir -p "$OUT/bw" "$MNT"
CTL=${BSNAP_BIN:-}/bsnapctl
UPD=${BSNAP_BIN:-}/update-img
STAMP=${BSNAP_TOOLS:-}/../tools/bsnap-stamp
[ -n "${BSNAP_MODULE:-}" ] && [ -r "$BSNAP_MODULE" ] && [ -x "$CTL" ] && [ -x "$UPD" ] ||
	{ echo "needs BSNAP_MODULE, $CTL and $UPD"; exit 1; }
command -v fio >/dev/null || { echo "fio is not installed on the host (apt-get install fio)"; exit 1; }
[ -z "$OLD_UPD" ] || [ -x "$OLD_UPD" ] || { echo "no $OLD_UPD"; exit 1; }
DEV_BYTES=$(blockdev --getsize64 "$ORIGIN")

say() { echo "== $*"; }
now_us() { echo "${EPOCHREALTIME/./}"; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
die() { echo "FATAL: $*"; dmesg | tail -20; exit 1; }

# fio_run STATE ROUND rand4k|seq1m: MB/s into $OUT/bw/STATE-WL.ROUND
fio_run() {
	local state=$1 round=$2 wl=$3 args json mbs
	case "$wl" in
	rand4k) args=(--rw=randwrite --bs=4k --iodepth=16 --size=256M --norandommap) ;;
	seq1m) args=(--rw=write --bs=1M --iodepth=4 --size=1G) ;;
	esac
	drop
	json=$OUT/fio.$state-$wl.$round.json
	fio --name="$state" --filename="$FILE" --ioengine=libaio --direct=1 --randrepeat=0 \
		--time_based --runtime="$RUNTIME" --ramp_time=1 "${args[@]}" \
		--output-format=json --output="$json" >/dev/null 2>"$json.err" ||
		die "fio $state $wl failed: $(head -3 "$json.err")"
	mbs=$(awk '/"write" *:/ { w = 1 } w && /"bw_bytes"/ { s = $0; gsub(/[^0-9]/, "", s); printf "%.2f", s / 1048576; exit }' "$json")
	echo "$mbs" >"$OUT/bw/$state-$wl.$round"
	printf '   round %d  %-24s %9s MB/s\n' "$round" "$state-$wl" "$mbs"
}
measure() { fio_run "$1" "$2" rand4k; fio_run "$1" "$2" seq1m; }

load() {
	insmod "$BSNAP_MODULE" || die "insmod failed"
	for _ in $(seq 50); do [ -c /dev/bsnap-ctl ] && return; sleep 0.1; done
	die "no /dev/bsnap-ctl"
}
start_incremental() {
	"$CTL" setup-snapshot -f 64 "$ORIGIN" "$MNT/cow-ovh" "$MINOR" >/dev/null || die "setup-snapshot"
	"$CTL" transition-to-incremental "$MINOR" >/dev/null || die "transition-to-incremental"
}
stop_incremental() {
	"$CTL" destroy "$MINOR" >/dev/null || die destroy
	rm -f "$MNT/cow-ovh"
}

say "preparing: ext4 on $ORIGIN ($((DEV_BYTES >> 20)) MiB), a 1 GiB data file; kernel $(uname -r), $(nproc) CPUs"
wipefs -a -q "$ORIGIN" "$BACKUP" 2>/dev/null
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$ORIGIN" || die mkfs
mount "$ORIGIN" "$MNT" || die mount
fio --name=layout --filename="$FILE" --rw=write --bs=1M --size=1G --direct=1 --ioengine=libaio \
	--iodepth=4 --end_fsync=1 >/dev/null || die "fio layout"
sync

say "1. write overhead of incremental mode: $ROUNDS rounds, ${RUNTIME}s per run"
for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then
		measure none "$round"
		load
		measure loaded "$round"
		start_incremental
		measure incremental "$round"
		stop_incremental
		rmmod bsnap || die rmmod
	else
		load
		start_incremental
		measure incremental "$round"
		stop_incremental
		measure loaded "$round"
		rmmod bsnap || die rmmod
		measure none "$round"
	fi
done

say "2. update-img against reading the whole device"
load
t0=$(now_us)
"$CTL" setup-snapshot "$ORIGIN" "$MNT/cow-1" "$MINOR" >/dev/null || die "setup-snapshot"
echo "   setup-snapshot (default CoW size): $((($(now_us) - t0) / 1000)) ms"
drop
t0=$(now_us)
dd if="$IMAGE" of="$BACKUP" bs=4M iflag=direct oflag=direct status=none || die "full backup"
FULL_MS=$((($(now_us) - t0) / 1000))
echo "   full backup (dd $IMAGE to $BACKUP, 4M, direct): $FULL_MS ms"
"$CTL" transition-to-incremental "$MINOR" >/dev/null || die "transition-to-incremental"
fio --name=changes --filename="$FILE" --rw=randwrite --bs=4k --iodepth=16 --size=1G --io_size=64M \
	--direct=1 --ioengine=libaio --randrepeat=0 --end_fsync=1 >/dev/null || die "fio changes"
fio --name=newfile --filename="$MNT/new.dat" --rw=write --bs=1M --size=128M --direct=1 \
	--ioengine=libaio --iodepth=4 --end_fsync=1 >/dev/null || die "fio new file"
sync
"$CTL" transition-to-snapshot "$MNT/cow-2" "$MINOR" >/dev/null || die "transition-to-snapshot"
"$CTL" info "$MINOR" >"$OUT/info.txt"
COW_BYTES=$(stat -c %s "$MNT/cow-1")
CHANGED=$(awk -F': *' '/changed/ { print $2; exit }' "$OUT/info.txt")

upd_run() { # NAME BINARY REP
	local out=$OUT/upd.$1.$3 t
	drop
	t0=$(now_us)
	"$2" -q "$IMAGE" "$MNT/cow-1" "$BACKUP" >"$out" 2>&1 || die "$1 failed: $(cat "$out")"
	t=$((($(now_us) - t0) / 1000))
	echo "$t" >>"$OUT/upd-ms.$1"
	if [ -x "$STAMP" ]; then
		"$STAMP" compare "$IMAGE" "$BACKUP" --length "$DEV_BYTES" >"$OUT/compare.log" 2>&1 ||
			die "$1: the backup differs from $IMAGE: $(head -5 "$OUT/compare.log")"
		echo "   $1 (rep $3): $t ms; the backup equals the snapshot"
	else
		cmp "$IMAGE" "$BACKUP" || die "$1: the backup differs from $IMAGE"
		echo "   $1 (rep $3): $t ms; the backup equals the snapshot (cmp)"
	fi
}
read_run() { # REP
	local t
	drop
	t0=$(now_us)
	dd if="$IMAGE" of=/dev/null bs=4M iflag=direct status=none || die "dd read"
	t=$((($(now_us) - t0) / 1000))
	echo "$t" >>"$OUT/read-ms"
	echo "   dd read of the whole $IMAGE (rep $1): $t ms"
}
# The summary line of one more (untimed) run, for the bytes written and zeroed.
"$UPD" "$IMAGE" "$MNT/cow-1" "$BACKUP" >"$OUT/upd-summary.new" 2>&1 || die "update-img: $(cat "$OUT/upd-summary.new")"
echo "   $(cat "$OUT/upd-summary.new")"
[ -n "$OLD_UPD" ] && { "$OLD_UPD" "$IMAGE" "$MNT/cow-1" "$BACKUP" >"$OUT/upd-summary.old" 2>&1 || die "old update-img"; }
for rep in 1 2 3; do
	upd_run update-img "$UPD" "$rep"
	[ -n "$OLD_UPD" ] && upd_run update-img-old "$OLD_UPD" "$rep"
	read_run "$rep"
done
"$CTL" destroy "$MINOR" >/dev/null
rmmod bsnap || die rmmod
umount "$MNT"

# ------------------------------------------------------------------ report
python3 - "$OUT" "$ROUNDS" "$RUNTIME" "$DEV_BYTES" "$COW_BYTES" "$FULL_MS" "${CHANGED:-?}" <<'EOF'
import glob, os, statistics, sys
out, rounds, runtime, dev, cow, full_ms, changed = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
bw = {}
for f in glob.glob(os.path.join(out, "bw", "*")):
    label, r = os.path.basename(f).rsplit(".", 1)
    bw.setdefault(label, {})[int(r)] = float(open(f).read())
med = statistics.median
print()
print("=================== incremental benchmark (%s, %d CPUs, %d rounds of %s s) ===================" % (os.uname().release, os.cpu_count(), rounds, runtime))
print("1. write overhead. MB/s per round (order: odd rounds none, loaded, incremental; even rounds reversed)")
for wl in ("rand4k", "seq1m"):
    for st in ("none", "loaded", "incremental"):
        l = st + "-" + wl
        print("  %-20s %s   median %.2f" % (l, "  ".join("%8.2f" % bw[l][r] for r in sorted(bw[l])), med(bw[l].values())))
print("ratios (per round; median [min - max]):")
for wl in ("rand4k", "seq1m"):
    for a, b in (("incremental", "none"), ("loaded", "none"), ("incremental", "loaded")):
        rs = [bw[a + "-" + wl][r] / bw[b + "-" + wl][r] for r in sorted(bw[a + "-" + wl])]
        print("  %-6s %-11s / %-6s %s   median %.3f [%.3f - %.3f]" % (wl, a, b, " ".join("%.3f" % x for x in rs), med(rs), min(rs), max(rs)))
    rs = [bw["none-" + wl][r] for r in sorted(bw["none-" + wl])]
    print("  %-6s run-to-run spread of 'none' alone: %.1f %% (max/min - 1)" % (wl, (max(rs) / min(rs) - 1) * 100))
print()
def ms(name):
    try: return [int(x) for x in open(os.path.join(out, name)).read().split()]
    except OSError: return []
print("2. update-img (device %d MiB, CoW files %d MiB each, changed blocks %s)" % (dev >> 20, cow >> 20, changed))
for name in ("new", "old"):
    try: print("  summary (%s): %s" % (name, open(os.path.join(out, "upd-summary." + name)).read().strip()))
    except OSError: pass
rd = ms("read-ms")
print("  %-36s %-22s median %6d ms  %7.1f MiB/s of device" % ("dd read of the whole /dev/bsnapN", " ".join(map(str, rd)), med(rd), (dev >> 20) / (med(rd) / 1000)))
for name in ("update-img", "update-img-old"):
    t = ms("upd-ms." + name)
    if not t: continue
    print("  %-36s %-22s median %6d ms  %7.1f MiB/s of device, %.2f x the time of the read" % (name, " ".join(map(str, t)), med(t), (dev >> 20) / (med(t) / 1000), med(t) / med(rd)))
print("  full backup (dd /dev/bsnapN to the backup disk, once): %d ms" % full_ms)
print("raw figures: %s (on the host: share/results/cmd/bench in the run directory)" % out)
EOF
