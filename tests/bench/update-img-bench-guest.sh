#!/bin/bash
# Guest part of update-img-bench.sh (runs inside bsnap-vm, as root, with the
# host root mounted read-only). Disks: $BSNAP_DISKS = "vda vdb": vda the
# origin (ext4), vdb the backup image. Module: $BSNAP_MODULE, bsnapctl and
# update-img in $BSNAP_BIN; bsnap-stamp in $BSNAP_TOOLS/../tools.
#
# Snapshot 1 (CoW file of the default size, 10 % of the device), its full
# backup on vdb, incremental mode; changes: CHANGES MB of 4 KiB random
# writes over a 1 GiB file, a new 128 MiB file; snapshot 2. Then:
# - update-img on the full backup, checked against /dev/bsnapN bit for bit
#   (the only run that starts from the old image: it proves the result);
#   then the old update-img once, untimed, for its summary line;
# - REPS rounds of: update-img, the old update-img, dd of the whole
#   /dev/bsnapN to /dev/null (4 MiB, direct), each after drop_caches; the
#   order is reversed every other round. These rewrite an up-to-date image:
#   the same reads and writes, nothing left to prove.
#
# - with --probe SEC: /dev/bsnapN against its origin, dd of the whole device
#   and fio 4 KiB random reads at queue depth 1 and 8.
#
# - with --also PATH (repeatable): another update-img (a variant) timed in
#   every round too, right after update-img, as "also-<file name>".
#
# usage: update-img-bench-guest.sh [--reps N] [--changes MB] [--old-update-img PATH] [--probe SEC]
#        [--also PATH]...
set -uo pipefail
REPS=5 CHANGES=64 OLD_UPD= PROBE=0 ALSO=()
while [ $# -gt 0 ]; do
	case "$1" in
	--also) ALSO+=("$2"); shift 2 ;;
	--probe) PROBE=$2; shift 2 ;;
	--reps) REPS=$2; shift 2 ;;
	--changes) CHANGES=$2; shift 2 ;;
	--old-update-img) OLD_UPD=$2; shift 2 ;;
	*) echo "update-img-bench-guest: unknown argument $1"; exit 2 ;;
	esac
done
read -r -a DISKS <<<"${BSNAP_DISKS:-}"
[ "${#DISKS[@]}" -ge 2 ] || { echo "needs 2 disks, got '${BSNAP_DISKS:-}'"; exit 1; }
ORIGIN=/dev/${DISKS[0]}
BACKUP=/dev/${DISKS[1]}
MNT=/mnt/bench
MINOR=0
IMAGE=/dev/bsnap$MINOR
OUT=${BSNAP_TEST_RESULTS:-/tmp}/bench
mkdir -p "$OUT" "$MNT"
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
same_as_snapshot() { # WHAT
	if [ -x "$STAMP" ]; then
		"$STAMP" compare "$IMAGE" "$BACKUP" --length "$DEV_BYTES" >"$OUT/compare.log" 2>&1 ||
			die "$1: the backup differs from $IMAGE: $(head -5 "$OUT/compare.log")"
	else
		cmp "$IMAGE" "$BACKUP" || die "$1: the backup differs from $IMAGE"
	fi
	echo "   $1: the backup equals the snapshot bit for bit"
}

say "preparing: ext4 on $ORIGIN ($((DEV_BYTES >> 20)) MiB), a 1 GiB data file; kernel $(uname -r), $(nproc) CPUs"
wipefs -a -q "$ORIGIN" "$BACKUP" 2>/dev/null
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$ORIGIN" || die mkfs
mount "$ORIGIN" "$MNT" || die mount
fio --name=layout --filename="$MNT/data.dat" --rw=write --bs=1M --size=1G --direct=1 \
	--ioengine=libaio --iodepth=4 --end_fsync=1 >/dev/null || die "fio layout"
sync
insmod "$BSNAP_MODULE" || die "insmod failed"
for _ in $(seq 50); do [ -c /dev/bsnap-ctl ] && break; sleep 0.1; done
"$CTL" setup-snapshot "$ORIGIN" "$MNT/cow-1" "$MINOR" >/dev/null || die "setup-snapshot"
drop
t0=$(now_us)
dd if="$IMAGE" of="$BACKUP" bs=4M iflag=direct oflag=direct status=none || die "full backup"
echo "   full backup (dd $IMAGE to $BACKUP): $((($(now_us) - t0) / 1000)) ms"
"$CTL" transition-to-incremental "$MINOR" >/dev/null || die "transition-to-incremental"
fio --name=changes --filename="$MNT/data.dat" --rw=randwrite --bs=4k --iodepth=16 --size=1G \
	--io_size="${CHANGES}M" --direct=1 --ioengine=libaio --randrepeat=0 --end_fsync=1 \
	>/dev/null || die "fio changes"
fio --name=newfile --filename="$MNT/new.dat" --rw=write --bs=1M --size=128M --direct=1 \
	--ioengine=libaio --iodepth=4 --end_fsync=1 >/dev/null || die "fio new file"
sync
"$CTL" transition-to-snapshot "$MNT/cow-2" "$MINOR" >/dev/null || die "transition-to-snapshot"
"$CTL" info "$MINOR" >"$OUT/info.txt"
COW_MB=$(($(stat -c %s "$MNT/cow-1") >> 20))
echo "   CoW files ${COW_MB} MiB each (the incremental's blocks: see the summary lines)"

upd_once() { # NAME BINARY: on the image as the full backup left it
	drop
	t0=$(now_us)
	"$2" "$IMAGE" "$MNT/cow-1" "$BACKUP" >"$OUT/summary.$1" 2>&1 || die "$1: $(cat "$OUT/summary.$1")"
	echo "   $1 from the full backup: $((($(now_us) - t0) / 1000)) ms; $(cat "$OUT/summary.$1")"
	same_as_snapshot "$1"
}
say "exactness"
upd_once update-img "$UPD"
[ -n "$OLD_UPD" ] && { "$OLD_UPD" "$IMAGE" "$MNT/cow-1" "$BACKUP" >"$OUT/summary.update-img-old" 2>&1 ||
	die "old update-img: $(cat "$OUT/summary.update-img-old")"; echo "   old: $(cat "$OUT/summary.update-img-old")"; }

timed() { # NAME CMD...: ms into $OUT/ms.NAME
	local name=$1 t
	shift
	drop
	t0=$(now_us)
	"$@" >"$OUT/last.$name" 2>&1 || die "$name: $(cat "$OUT/last.$name")"
	t=$((($(now_us) - t0) / 1000))
	echo "$t" >>"$OUT/ms.$name"
	printf '   %-16s %7d ms\n' "$name" "$t"
}
run_new() { timed update-img "$UPD" -q "$IMAGE" "$MNT/cow-1" "$BACKUP"; }
run_old() { [ -z "$OLD_UPD" ] || timed update-img-old "$OLD_UPD" -q "$IMAGE" "$MNT/cow-1" "$BACKUP"; }
run_dd() { timed dd-read dd if="$IMAGE" of=/dev/null bs=4M iflag=direct status=none; }
run_also() { local p; for p in "${ALSO[@]}"; do timed "also-${p##*/}" "$p" -q "$IMAGE" "$MNT/cow-1" "$BACKUP"; done; }
say "timing: $REPS rounds (odd: new, old, dd; even: dd, old, new)"
for rep in $(seq "$REPS"); do
	echo "  round $rep"
	if [ $((rep % 2)) = 1 ]; then run_new; run_also; run_old; run_dd; else run_dd; run_old; run_also; run_new; fi
done
same_as_snapshot "after all rounds"

# Where /dev/bsnapN's own cost lies: the same reads from it and from the
# origin (mounted, but only read): whole-device dd, and 4 KiB random reads
# at queue depth 1 and 8 (fio, PROBE seconds each).
if [ "$PROBE" -gt 0 ]; then
	say "probe: /dev/bsnapN against its origin"
	for rep in 1 2; do
		timed dd-read-origin dd if="$ORIGIN" of=/dev/null bs=4M iflag=direct status=none
		run_dd
	done
	for qd in 1 8; do
		for dev in "$ORIGIN" "$IMAGE"; do
			drop
			fio --name=probe --filename="$dev" --readonly --rw=randread --bs=4k --iodepth=$qd \
				--direct=1 --ioengine=libaio --randrepeat=0 --time_based --runtime="$PROBE" \
				--output-format=terse --terse-version=3 >"$OUT/probe.txt" 2>&1 || die "fio probe $dev"
			# terse v3: field 8 read IOPS, field 40 read clat mean (us)
			awk -F';' -v d="$dev" -v q=$qd '{ printf "   4k randread qd%d %-12s %8d IOPS, mean latency %8.0f us\n", q, d, $8, $40 }' "$OUT/probe.txt" |
				tee -a "$OUT/probe-summary.txt"
		done
	done
fi
"$CTL" destroy "$MINOR" >/dev/null
rmmod bsnap || die rmmod
umount "$MNT"

python3 - "$OUT" "$DEV_BYTES" "$COW_MB" <<'PY'
import os, statistics, sys
out, dev, cow = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def ms(n):
    try: return [int(x) for x in open(os.path.join(out, "ms." + n)).read().split()]
    except OSError: return []
med = statistics.median
print()
print("=============== update-img benchmark (%s, %d CPUs) ===============" % (os.uname().release, os.cpu_count()))
print("device %d MiB, CoW files %s MiB each" % (dev >> 20, cow))
for n in ("update-img", "update-img-old"):
    try: print("  summary %-15s %s" % (n + ":", open(os.path.join(out, "summary." + n)).read().strip()))
    except OSError: pass
names = ["update-img", "update-img-old"] + sorted(f[3:] for f in os.listdir(out) if f.startswith("ms.also-")) + ["dd-read", "dd-read-origin"]
rows = {n: ms(n) for n in names}
for n, t in rows.items():
    if t:
        print("  %-15s median %7d ms  [min %d, max %d]  runs: %s" % (n, med(t), min(t), max(t), " ".join(map(str, t))))
new, old, rd = rows["update-img"], rows["update-img-old"], rows["dd-read"]
def ratio(a, b, what):
    if a and b:
        rs = [x / y for x, y in zip(a, b)]
        print("  %-32s per round %s   median %.2f [%.2f - %.2f]" % (what, " ".join("%.2f" % r for r in rs), med(rs), min(rs), max(rs)))
ratio(old, new, "old / new (speed-up)")
ratio(new, rd, "new / dd read of the device")
ratio(old, rd, "old / dd read of the device")
for n in names:
    if n.startswith("also-"):
        ratio(rows[n], new, n + " / new")
try: print(open(os.path.join(out, "probe-summary.txt")).read().rstrip())
except OSError: pass
PY
