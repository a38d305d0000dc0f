#!/bin/bash
# Guest part of hook-bench.sh (runs inside bsnap-vm, as root, with the host
# root mounted read-only). Disks $BSNAP_DISKS = "vda vdb": vda the other
# disk, nothing traced on it; vdb split into vdb1 (512 MiB, ext4, traced)
# and vdb2 (its untraced sibling). Modules: $BSNAP_MODULE (new) and
# $BSNAP_OLD_MODULE (old); bsnapctl in $BSNAP_BIN.
#
# Targets, 256 MiB each, all written once before the first measurement (the
# disk images are sparse files on the host):
#   other-disk  /dev/vda, raw        the untraced fast path: the hook looks
#                                    the bio's disk (new) or device (old) up
#                                    and finds nothing
#   sibling     /dev/vdb2, raw       untraced, but its disk holds a traced
#                                    device (new: the disk is found, then no
#                                    tracer holds the bio's sectors)
#   traced      a file on /dev/vdb1  recorded in the change bitmap
# Workloads: rand4k (4 KiB random writes, iodepth 16, IOPS) and seq1m
# (1 MiB sequential writes, iodepth 4, MB/s); fio, libaio, O_DIRECT, time
# based (RUNTIME s after 1 s of ramp). States: none (no module), old, new
# (each: insmod, setup-snapshot of vdb1, transition-to-incremental; after
# the measurements /proc/bsnap-info must say incremental, no error, blocks
# changed; destroy, rmmod). Every round measures every state; the order of
# the states rotates from round to round (none old new, old new none, new
# none old) and the order of the six runs within a state reverses, so a
# drift of the machine's speed favours none of them. Ratios are taken per
# round, between runs of the same round.
#
# --runs TARGET:WORKLOAD,... measures only those (e.g. other-disk:rand4k to
# look closer at one figure with more rounds in the same time).
#
# usage: hook-bench-guest.sh [--rounds N] [--runtime SEC] [--runs TARGET:WORKLOAD,...]
set -uo pipefail
ROUNDS=3 RUNTIME=5
RUNS=("other-disk rand4k" "sibling rand4k" "traced rand4k" "other-disk seq1m" "sibling seq1m" "traced seq1m")
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--runtime) RUNTIME=$2; shift 2 ;;
	--runs) IFS=, read -r -a RUNS <<<"${2//:/ }"; shift 2 ;;
	*) echo "hook-bench-guest: unknown argument $1"; exit 2 ;;
	esac
done
read -r -a DISKS <<<"${BSNAP_DISKS:-}"
[ "${#DISKS[@]}" -ge 2 ] || { echo "needs 2 disks, got '${BSNAP_DISKS:-}'"; exit 1; }
OTHER=/dev/${DISKS[0]}
DISK=/dev/${DISKS[1]}
TRACED=${DISK}1
SIBLING=${DISK}2
MNT=/mnt/bench
FILE=$MNT/data
MINOR=0
SIZE=256M
CTL=${BSNAP_BIN:-}/bsnapctl
OUT=${BSNAP_TEST_RESULTS:-/tmp}/hook-bench
mkdir -p "$OUT/fio" "$MNT"

say() { echo "== $*"; }
die() { echo "FATAL: $*"; dmesg | tail -20; exit 1; }
if [ ! -r "${BSNAP_MODULE:-}" ] || [ ! -r "${BSNAP_OLD_MODULE:-}" ] || [ ! -x "$CTL" ]; then
	die "needs BSNAP_MODULE, BSNAP_OLD_MODULE and $CTL"
fi
command -v fio >/dev/null || die "fio is not installed on the host (apt-get install fio)"

# fio_run STATE ROUND TARGET WORKLOAD
fio_run() {
	local state=$1 round=$2 target=$3 wl=$4 file args json
	case "$target" in
	other-disk) file=$OTHER ;;
	sibling) file=$SIBLING ;;
	traced) file=$FILE ;;
	esac
	case "$wl" in
	rand4k) args=(--rw=randwrite --bs=4k --iodepth=16 --norandommap) ;;
	seq1m) args=(--rw=write --bs=1M --iodepth=4) ;;
	esac
	json=$OUT/fio/$state.$target.$wl.$round.json
	fio --name="$state-$target-$wl" --filename="$file" --size="$SIZE" --ioengine=libaio \
		--direct=1 --randrepeat=0 --time_based --runtime="$RUNTIME" --ramp_time=1 "${args[@]}" \
		--output-format=json --output="$json" >/dev/null 2>"$json.err" ||
		die "fio $state $target $wl failed: $(head -3 "$json.err")"
	awk -v l="$(printf '   round %d  %-4s %-10s %-6s' "$round" "$state" "$target" "$wl")" '
		/"write" *:/ { w = 1 }
		w && /"bw_bytes" *:/ && bw == "" { bw = $0; gsub(/[^0-9.]/, "", bw) }
		w && /"iops" *:/ && io == "" { io = $0; gsub(/[^0-9.]/, "", io) }
		bw != "" && io != "" { printf "%s %9.1f IOPS %8.2f MB/s\n", l, io, bw / 1048576; exit }' "$json"
}

measure() { # STATE ROUND
	local i run
	for i in "${!RUNS[@]}"; do
		[ $(($2 % 2)) = 1 ] && run=${RUNS[$i]} || run=${RUNS[$((${#RUNS[@]} - 1 - i))]}
		# shellcheck disable=SC2086 # two words: target and workload
		fio_run "$1" "$2" $run
	done
}

with_module() { # STATE ROUND KO
	local info
	insmod "$3" || die "insmod $3"
	for _ in $(seq 50); do [ -c /dev/bsnap-ctl ] && break; sleep 0.1; done
	"$CTL" setup-snapshot -f 64 "$TRACED" "$MNT/cow" "$MINOR" >/dev/null || die "$1: setup-snapshot"
	"$CTL" transition-to-incremental "$MINOR" >/dev/null || die "$1: transition-to-incremental"
	measure "$1" "$2"
	info=$OUT/bsnap-info.$1.$2
	cp /proc/bsnap-info "$info"
	if ! grep -q '"mode": "incremental"' "$info" || ! grep -q '"error": 0,' "$info" ||
		grep -q '"changed_blocks": 0,' "$info"; then
		die "$1: not tracing as it should: $(tr -d '\n\t' <"$info")"
	fi
	echo "   round $2  $1: $(grep -o '"changed_blocks": [0-9]*' "$info") in incremental mode"
	"$CTL" destroy "$MINOR" >/dev/null || die "$1: destroy"
	rm -f "$MNT/cow"
	rmmod bsnap || die "$1: rmmod"
}

run_state() { # STATE ROUND
	case "$1" in
	none) measure none "$2" ;;
	old) with_module old "$2" "$BSNAP_OLD_MODULE" ;;
	new) with_module new "$2" "$BSNAP_MODULE" ;;
	esac
}

say "preparing: kernel $(uname -r), $(nproc) CPUs; $OTHER other disk, $TRACED traced, $SIBLING sibling"
lsmod | grep -q '^bsnap ' && die "bsnap is loaded already"
wipefs -a -q "$OTHER" "$DISK" 2>/dev/null
printf 'label: dos\n,512M,L\n,,L\n' | sfdisk -q "$DISK" >/dev/null || die sfdisk
for _ in $(seq 50); do [ -b "$SIBLING" ] && break; sleep 0.1; done
[ -b "$SIBLING" ] || die "no $SIBLING"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$TRACED" || die mkfs
mount "$TRACED" "$MNT" || die mount
for f in "$OTHER" "$SIBLING" "$FILE"; do
	fio --name=fill --filename="$f" --rw=write --bs=1M --size="$SIZE" --direct=1 --ioengine=libaio \
		--iodepth=4 --end_fsync=1 >/dev/null 2>"$OUT/fill.err" || die "fill $f: $(head -3 "$OUT/fill.err")"
done
sync

say "$ROUNDS rounds of ${RUNTIME}s runs"
states=(none old new)
for round in $(seq "$ROUNDS"); do
	say "round $round: ${states[*]}"
	for s in "${states[@]}"; do run_state "$s" "$round"; done
	states=("${states[@]:1}" "${states[0]}")
done
umount "$MNT"

# ------------------------------------------------------------------ report
python3 - "$OUT" "$ROUNDS" "$RUNTIME" <<'EOF'
import glob, json, os, statistics, sys
out, rounds, runtime = sys.argv[1], int(sys.argv[2]), sys.argv[3]
v = {}  # (state, target, wl) -> {round: figure}; IOPS for rand4k, MB/s for seq1m
for f in glob.glob(os.path.join(out, "fio", "*.json")):
    state, target, wl, rnd, _ = os.path.basename(f).split(".")
    w = json.load(open(f))["jobs"][0]["write"]
    v.setdefault((state, target, wl), {})[int(rnd)] = w["iops"] if wl == "rand4k" else w["bw_bytes"] / 1048576
med = statistics.median
targets, wls, states = ("other-disk", "sibling", "traced"), ("rand4k", "seq1m"), ("none", "old", "new")
unit = {"rand4k": "IOPS", "seq1m": "MB/s"}
print()
print("========== hook benchmark (%s, %d CPUs, %d rounds of %s s runs) ==========" % (os.uname().release, os.cpu_count(), rounds, runtime))
print("rand4k: 4 KiB random writes qd16 (IOPS); seq1m: 1 MiB sequential writes qd4 (MB/s); O_DIRECT.")
print("old and new each trace one partition (incremental). Figures: median of the rounds;")
print("ratios: median of the per-round ratios [min - max].")
print()
print(("%-10s %-6s %9s %9s %9s  " % ("target", "wl", "none", "old", "new") + "".join(" %-20s" % r for r in ("old/none", "new/none", "new/old"))).rstrip())
for t in targets:
    for wl in wls:
        if (states[0], t, wl) not in v:
            continue
        d = {s: v[(s, t, wl)] for s in states}
        line = "%-10s %-6s %9.1f %9.1f %9.1f  " % (t, wl, med(d["none"].values()), med(d["old"].values()), med(d["new"].values()))
        for a, b in (("old", "none"), ("new", "none"), ("new", "old")):
            rs = [d[a][r] / d[b][r] for r in sorted(d[a]) if r in d[b]]
            line += " %.3f [%.3f-%.3f]" % (med(rs), min(rs), max(rs))
        print(line)
print()
print("per round (%s):" % ", ".join("%s %s" % (wl, unit[wl]) for wl in wls))
for t in targets:
    for wl in wls:
        for s in states:
            if (s, t, wl) not in v:
                continue
            d = v[(s, t, wl)]
            spread = (max(d.values()) / min(d.values()) - 1) * 100
            print("  %-10s %-6s %-4s %s   spread %4.1f %%" % (t, wl, s, " ".join("%9.1f" % d[r] for r in sorted(d)), spread))
print("(spread: max/min - 1 over the rounds of one state: the run-to-run noise)")
print("raw figures: %s (on the host: share/results/cmd/hook-bench in the run directory)" % out)
EOF
