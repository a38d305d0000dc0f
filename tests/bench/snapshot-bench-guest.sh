#!/bin/bash
# Guest part of snapshot-bench.sh (runs inside bsnap-vm, as root, with the
# host root mounted read-only). Disks: $BSNAP_DISKS = "vda vdb": vda the
# origin (ext4, large and sparse), vdb dm-snapshot's exception store.
# Module: $BSNAP_MODULE, bsnapctl in $BSNAP_BIN.
#
# Workloads (fio, O_DIRECT, libaio), on a 384 MiB file written beforehand:
#   rand4k: 4 KiB random writes, iodepth 16, each block of [0, 64M) once
#   seq1m:  1 MiB sequential writes, iodepth 4, [128M, 384M) once
# Disjoint regions: the first pass of each under a snapshot copies every
# block it writes ("first"), the second pass finds them copied ("rewrite").
#
# ROUNDS rounds, each measuring side by side, in this order: untraced (module
# not loaded), bsnap snapshot (a new snapshot each round, CoW file 448 MiB),
# dm-linear (untraced, under device-mapper) and dm-snapshot (persistent store
# on vdb, 4 KiB chunks, a new snapshot each round). Untraced and dm-linear
# also run each workload twice in a row ("-again"): a second pass over the
# same region right after the first is what a rewrite is compared with (the
# host's page cache of the disk image favours it). Ratios are to untraced
# of the same round (first passes to the first pass, rewrites to the second;
# dm-snap also to dm-linear); the table gives the median over the rounds and
# the smallest and largest per-round ratio.
#
# Then: setup-snapshot time with a small and a large CoW file, alternately;
# memory: module size, slab/vmalloc/percpu/MemAvailable deltas, the
# kmalloc-4k objects (the index cache's pages) with the default index cache
# and with a small one (-c), and /proc/bsnap-info.
#
# usage: snapshot-bench-guest.sh [--rounds N] [--small-mb N] [--large-mb N]
set -uo pipefail
ROUNDS=3 SMALL_MB=64 LARGE_MB=8192 SETUP_REPEAT=3 SMALL_CACHE=131072
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--small-mb) SMALL_MB=$2; shift 2 ;;
	--large-mb) LARGE_MB=$2; shift 2 ;;
	*) echo "snapshot-bench-guest: unknown argument $1"; exit 2 ;;
	esac
done
read -r -a DISKS <<<"${BSNAP_DISKS:-}"
[ "${#DISKS[@]}" -ge 2 ] || { echo "needs 2 disks, got '${BSNAP_DISKS:-}'"; exit 1; }
ORIGIN=/dev/${DISKS[0]}
STORE=/dev/${DISKS[1]}
MNT=/mnt/bench
FILE=$MNT/bench.dat
OUT=${BSNAP_TEST_RESULTS:-/tmp}/bench
mkdir -p "$OUT" "$MNT"
CTL=${BSNAP_BIN:-}/bsnapctl
[ -n "${BSNAP_MODULE:-}" ] && [ -r "$BSNAP_MODULE" ] && [ -x "$CTL" ] ||
	{ echo "needs BSNAP_MODULE and $CTL"; exit 1; }
command -v fio >/dev/null || { echo "fio is not installed on the host (apt-get install fio)"; exit 1; }
SECTORS=$(blockdev --getsz "$ORIGIN")

say() { echo "== $*"; }
now_us() { echo "${EPOCHREALTIME/./}"; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
die() { echo "FATAL: $*"; dmesg | tail -20; exit 1; }

# fio_run LABEL ROUND rand4k|seq1m: prints and stores MB/s in $OUT/bw/LABEL.ROUND
mkdir -p "$OUT/bw"
fio_run() {
	local label=$1 round=$2 wl=$3 args json mbs
	case "$wl" in
	rand4k) args=(--rw=randwrite --bs=4k --iodepth=16 --offset=0 --size=64M) ;;
	seq1m) args=(--rw=write --bs=1M --iodepth=4 --offset=128M --size=256M) ;;
	esac
	drop
	json=$OUT/fio.$label.$round.json
	fio --name="$label" --filename="$FILE" --ioengine=libaio --direct=1 \
		--randrepeat=0 --end_fsync=1 "${args[@]}" \
		--output-format=json --output="$json" >/dev/null 2>"$json.err" ||
		die "fio $label failed: $(head -3 "$json.err")"
	# bw_bytes of the write side; fio's JSON puts it on one line.
	mbs=$(awk '/"write" *:/ { w = 1 } w && /"bw_bytes"/ { s = $0; gsub(/[^0-9]/, "", s); printf "%.2f", s / 1048576; exit }' "$json")
	echo "$mbs" >"$OUT/bw/$label-$wl.$round"
	printf '   round %d  %-24s %9s MB/s\n' "$round" "$label-$wl" "$mbs"
}

# mem LABEL: memory figures into $OUT/mem.LABEL
mem() {
	drop
	{
		grep -E '^(MemFree|MemAvailable|Slab|SReclaimable|SUnreclaim|VmallocUsed|Percpu):' /proc/meminfo
		echo "ModuleSize: $(awk '$1 == "bsnap" { print $2 }' /proc/modules)"
		awk '$1 == "kmalloc-4k" { print "Kmalloc4kObjects:", $2 }' /proc/slabinfo
	} >"$OUT/mem.$1"
}
memval() { awk -v k="$2:" '$1 == k { print $2 }' "$OUT/mem.$1"; }
memdelta() { # FROM TO
	local k out=""
	for k in Slab SUnreclaim VmallocUsed Percpu MemAvailable; do
		out="$out $k $(($(memval "$2" "$k") - $(memval "$1" "$k"))) kB,"
	done
	out="$out kmalloc-4k objects $(($(memval "$2" Kmalloc4kObjects) - $(memval "$1" Kmalloc4kObjects)))"
	echo "$out"
}

load() {
	insmod "$BSNAP_MODULE" || die "insmod failed"
	for _ in $(seq 50); do [ -c /dev/bsnap-ctl ] && return; sleep 0.1; done
	die "no /dev/bsnap-ctl"
}

say "preparing: ext4 on $ORIGIN ($((SECTORS / 2048)) MiB), a 384 MiB file; kernel $(uname -r), $(nproc) CPUs"
wipefs -a -q "$ORIGIN" "$STORE" 2>/dev/null
# No lazy init: ext4lazyinit must not write in the background during the runs.
mkfs.ext4 -q -F -i 262144 -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$ORIGIN" || die mkfs
mount "$ORIGIN" "$MNT" || die mount
fio --name=layout --filename="$FILE" --rw=write --bs=1M --size=384M --direct=1 --ioengine=libaio \
	--iodepth=4 --end_fsync=1 >/dev/null || die "fio layout"
sync
mem before-load

for round in $(seq "$ROUNDS"); do
	say "round $round of $ROUNDS"
	fio_run untraced "$round" rand4k
	fio_run untraced-again "$round" rand4k
	fio_run untraced "$round" seq1m
	fio_run untraced-again "$round" seq1m

	load
	[ "$round" = 1 ] && mem loaded
	"$CTL" setup-snapshot -f 448 "$ORIGIN" "$MNT/cow" 0 >"$OUT/setup.out" 2>&1 ||
		die "setup-snapshot: $(cat "$OUT/setup.out")"
	[ "$round" = 1 ] && mem snapshot-setup
	fio_run bsnap-first "$round" rand4k
	fio_run bsnap-rewrite "$round" rand4k
	fio_run bsnap-first "$round" seq1m
	fio_run bsnap-rewrite "$round" seq1m
	if [ "$round" = 1 ]; then
		mem snapshot-written
		cp /proc/bsnap-info "$OUT/bsnap-info.json"
	fi
	"$CTL" destroy 0 >/dev/null || die "destroy failed"
	rm -f "$MNT/cow"
	[ "$round" = 1 ] && mem destroyed
	rmmod bsnap || die "rmmod failed"
	[ "$round" = 1 ] && mem unloaded

	umount "$MNT"
	dmsetup create bench-base --table "0 $SECTORS linear $ORIGIN 0" || die "dm-linear"
	dmsetup mknodes bench-base # no udev in the guest
	mount /dev/mapper/bench-base "$MNT" || die "mount dm-linear"
	fio_run dm-linear "$round" rand4k
	fio_run dm-linear-again "$round" rand4k
	fio_run dm-linear "$round" seq1m
	fio_run dm-linear-again "$round" seq1m
	[ "$round" = 1 ] && mem dm-before
	dd if=/dev/zero of="$STORE" bs=1M count=1 oflag=direct status=none # a new store
	sync
	t0=$(now_us)
	# dmsetup suspend freezes the filesystem itself (lockfs), as LVM does.
	dmsetup suspend bench-base &&
		dmsetup create bench-snap --table "0 $SECTORS snapshot $ORIGIN $STORE P 8" &&
		dmsetup reload bench-base --table "0 $SECTORS snapshot-origin $ORIGIN" &&
		dmsetup resume bench-base || die "dm-snapshot setup failed: $(dmsetup table)"
	echo $((($(now_us) - t0) / 1000)) >"$OUT/dm-setup-ms.$round"
	dmsetup mknodes
	fio_run dm-snap-first "$round" rand4k
	fio_run dm-snap-rewrite "$round" rand4k
	fio_run dm-snap-first "$round" seq1m
	fio_run dm-snap-rewrite "$round" seq1m
	if [ "$round" = 1 ]; then
		mem dm-written
		dmsetup status bench-snap >"$OUT/dm-status"
	fi
	umount "$MNT"
	dmsetup suspend bench-base
	dmsetup remove bench-snap
	dmsetup reload bench-base --table "0 $SECTORS linear $ORIGIN 0"
	dmsetup resume bench-base
	dmsetup remove bench-base
	mount "$ORIGIN" "$MNT" || die "mount again"
done

say "setup-snapshot time, CoW file -f $SMALL_MB and -f $LARGE_MB MiB, alternately"
load
setup_times=()
for i in $(seq "$SETUP_REPEAT"); do
	for mb in "$SMALL_MB" "$LARGE_MB"; do
		sync
		t0=$(now_us)
		"$CTL" setup-snapshot -f "$mb" "$ORIGIN" "$MNT/cow-setup" 5 >"$OUT/setup.out" 2>&1 ||
			die "setup-snapshot -f $mb: $(cat "$OUT/setup.out")"
		t=$((($(now_us) - t0) / 1000))
		alloc=$(du -k --apparent-size "$MNT/cow-setup" | cut -f1)
		used=$(du -k "$MNT/cow-setup" | cut -f1)
		printf '   -f %-6s %6d ms  (CoW file %d MiB, %d MiB allocated)\n' "$mb" "$t" $((alloc / 1024)) $((used / 1024))
		echo "$t" >>"$OUT/setup-ms.$mb"
		"$CTL" destroy 5 >/dev/null || die "destroy"
		rm -f "$MNT/cow-setup"
	done
done
# fallocate(1) of the same sizes alone, no module involved.
for i in $(seq "$SETUP_REPEAT"); do
	for mb in "$SMALL_MB" "$LARGE_MB"; do
		sync
		t0=$(now_us)
		fallocate -l "${mb}M" "$MNT/falloc-only" || die "fallocate"
		sync
		echo $((($(now_us) - t0) / 1000)) >>"$OUT/falloc-ms.$mb"
		rm -f "$MNT/falloc-only"
	done
done
# What starting bsnapctl alone costs here (part of every setup time above).
t0=$(now_us)
for i in 1 2 3; do "$CTL" get-free-minor >/dev/null; done
echo $((($(now_us) - t0) / 3000)) >"$OUT/ctl-start-ms"

say "memory with a small index cache (-c $SMALL_CACHE)"
mem small-before
"$CTL" setup-snapshot -c "$SMALL_CACHE" -f 448 "$ORIGIN" "$MNT/cow" 0 >"$OUT/setup.out" 2>&1 ||
	die "setup-snapshot -c: $(cat "$OUT/setup.out")"
fio_run bsnap-smallcache-first 1 rand4k
fio_run bsnap-smallcache-first 1 seq1m
mem small-written
cp /proc/bsnap-info "$OUT/bsnap-info-small.json"
"$CTL" destroy 0 >/dev/null || die "destroy"
rm -f "$MNT/cow"
rmmod bsnap || die "rmmod"
umount "$MNT"

# ------------------------------------------------------------------ report
python3 - "$OUT" "$ROUNDS" "$SMALL_MB" "$LARGE_MB" "$SMALL_CACHE" <<'EOF'
import glob, json, os, statistics, sys
out, rounds, small, large, small_cache = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
bw = {}
for f in glob.glob(os.path.join(out, "bw", "*")):
    label, r = os.path.basename(f).rsplit(".", 1)
    bw.setdefault(label, {})[int(r)] = float(open(f).read())
def med(xs): return statistics.median(xs) if xs else float("nan")
print()
print("=================== snapshot benchmark (%s, %d CPUs, %d rounds) ===================" % (os.uname().release, os.cpu_count(), rounds))
print("MB/s: median over the rounds; ratios: median of the per-round ratios [min - max];")
print("first passes are compared with the first pass of untraced/dm-linear, rewrites with their second pass (-again)")
print("%-26s %9s %22s %22s" % ("workload", "MB/s", "x untraced", "x dm-linear"))
order = ["untraced", "untraced-again", "bsnap-first", "bsnap-rewrite", "dm-linear", "dm-linear-again", "dm-snap-first", "dm-snap-rewrite"]
for wl in ("rand4k", "seq1m"):
    for kind in order:
        label = kind + "-" + wl
        if label not in bw: continue
        runs = bw[label]
        def ratios(base):
            b = bw.get(base + "-" + wl, {})
            return [runs[r] / b[r] for r in runs if r in b and b[r] > 0]
        def fmt(rs):
            return "%.2f [%.2f - %.2f]" % (med(rs), min(rs), max(rs)) if rs else "-"
        again = "-again" if "rewrite" in kind else ""
        r1 = fmt(ratios("untraced" + again)) if not kind.startswith("untraced") else ""
        r2 = fmt(ratios("dm-linear" + again)) if kind.startswith("dm-snap") else ""
        print("%-26s %9.2f %22s %22s" % (label, med(list(runs.values())), r1, r2))
print("per round (MB/s):")
for label in sorted(bw):
    print("  %-30s %s" % (label, "  ".join("%.2f" % bw[label][r] for r in sorted(bw[label]))))
print()
def times(name):
    try: return [int(x) for x in open(os.path.join(out, name)).read().split()]
    except OSError: return []
ts, tl = times("setup-ms." + small), times("setup-ms." + large)
ctl = times("ctl-start-ms")
print("setup-snapshot time (ms, each run; median):")
print("  CoW file %6s MiB: %-24s median %d" % (small, " ".join(map(str, ts)), med(ts)))
print("  CoW file %6s MiB: %-24s median %d" % (large, " ".join(map(str, tl)), med(tl)))
fs, fl = times("falloc-ms." + small), times("falloc-ms." + large)
if fs: print("  fallocate -l %6sM alone (+ sync): %-16s median %d" % (small, " ".join(map(str, fs)), med(fs)))
if fl: print("  fallocate -l %6sM alone (+ sync): %-16s median %d" % (large, " ".join(map(str, fl)), med(fl)))
if ctl: print("  (starting bsnapctl alone: %d ms, included above)" % ctl[0])
dm = [int(open(f).read()) for f in sorted(glob.glob(os.path.join(out, "dm-setup-ms.*")))]
print("dm-snapshot creation (suspend+freeze, create, reload, resume; each round): %s ms" % " ".join(map(str, dm)))
print()
def mem(label):
    d = {}
    try:
        for line in open(os.path.join(out, "mem." + label)):
            k, v = line.split(":", 1)
            v = v.split()
            if v: d[k] = int(v[0])
    except OSError: pass
    return d
def delta(a, b):
    a, b = mem(a), mem(b)
    if not a or not b: return "-"
    parts = ["%s %+d kB" % (k, b[k] - a[k]) for k in ("Slab", "SUnreclaim", "VmallocUsed", "Percpu", "MemAvailable") if k in a and k in b]
    if "Kmalloc4kObjects" in a and "Kmalloc4kObjects" in b:
        parts.append("kmalloc-4k %+d objects" % (b["Kmalloc4kObjects"] - a["Kmalloc4kObjects"]))
    return ", ".join(parts)
print("bsnap memory (deltas; each step after drop_caches):")
print("  module size (lsmod):          %s bytes" % mem("loaded").get("ModuleSize", "-"))
print("  insmod:                       %s" % delta("before-load", "loaded"))
print("  setup-snapshot (CoW 448 MiB): %s" % delta("loaded", "snapshot-setup"))
print("  + the writes (default cache): %s" % delta("loaded", "snapshot-written"))
print("  after destroy:                %s" % delta("loaded", "destroyed"))
print("  after rmmod (from before insmod, round 1): %s" % delta("before-load", "unloaded"))
print("  -c %d + first writes:     %s" % (small_cache, delta("small-before", "small-written")))
for name in ("bsnap-info.json", "bsnap-info-small.json"):
    try:
        d = json.load(open(os.path.join(out, name)))
        for dev in d.get("devices", []):
            print("  %s: cache_size %s, changed_blocks %s, cow_used_bytes %s" % (name, dev.get("cache_size"), dev.get("changed_blocks"), dev.get("cow_used_bytes")))
    except (OSError, ValueError) as e:
        print("  %s: %s" % (name, e))
print("dm-snapshot memory (after its writes, from dm-linear): %s" % delta("dm-before", "dm-written"))
try: print("  dmsetup status: %s" % open(os.path.join(out, "dm-status")).read().strip())
except OSError: pass
print("raw figures: %s (on the host: share/results/cmd/bench in the run directory)" % out)
EOF
