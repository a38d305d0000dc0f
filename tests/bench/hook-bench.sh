#!/bin/bash
# Hook benchmark: what the per-bio hook costs on the write path, an old
# module against the new one, side by side in one guest boot (runs
# hook-bench-guest.sh in tests/vm/bsnap-vm). A script that prints figures,
# not a test. Under TCG only ratios mean much.
#
# Three states: "none" (no module loaded, the baseline), "old" (--old) and
# "new" (this build's module), each of the two with one partition traced in
# incremental mode. Three targets: other-disk (a disk with nothing traced on
# it: the untraced fast path), sibling (an untraced partition of the disk
# that holds the traced one) and traced (a file on the traced partition).
# Workloads: fio O_DIRECT 4 KiB random writes at queue depth 16 and 1 MiB
# sequential writes at queue depth 4. Rounds rotate the order of the states.
#
# usage: tests/bench/hook-bench.sh --old REV|OLD.ko [--build DIR] [--module NEW.ko]
#        [--kernel RELEASE] [--rounds N] [--runtime SEC] [--runs TARGET:WORKLOAD,...]
# --old: a module file, or a git revision whose module/ is built with kbuild
# in $BSNAP_VM_CACHE/hook-bench/REV (outside the repository). Defaults: the
# module and bsnapctl of build DIR (default build, or $BSNAP_BUILD_DIR), 3
# rounds of 5 s runs, all six runs (--runs other-disk:rand4k,...: only
# those). Environment: BSNAP_MODULE, BSNAP_BIN override the
# build's; any bsnap-vm environment. fio must be installed on the host.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
build=${BSNAP_BUILD_DIR:-$REPO/build}
module=${BSNAP_MODULE:-} old='' release='' guest_args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--module) module=$2; shift 2 ;;
	--old) old=$2; shift 2 ;;
	--kernel) release=$2; shift 2 ;;
	--rounds | --runtime | --runs) guest_args+=("$1" "$2"); shift 2 ;;
	-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "hook-bench: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ -f "$build/CMakeCache.txt" ]; then
	[ -n "$module" ] || module=$(sed -n 's/^BSNAP_MODULE_KO:[A-Z]*=//p' "$build/CMakeCache.txt")
	[ -n "$release" ] || release=$(sed -n 's/^BSNAP_KERNEL_RELEASE:[A-Z]*=//p' "$build/CMakeCache.txt")
fi
if [ -z "$module" ] || [ ! -f "$module" ]; then
	echo "hook-bench: no module '$module' (build it: cmake --build $build)" >&2
	exit 2
fi
[ -n "$release" ] || release=$(modinfo -F vermagic "$module" | cut -d' ' -f1)
[ -n "$old" ] || { echo "hook-bench: --old REV|OLD.ko is required" >&2; exit 2; }
if [ ! -f "$old" ]; then
	# A revision: its module/ built like module/CMakeLists.txt builds it.
	rev=$(git -C "$REPO" rev-parse --verify --short "$old^{commit}") ||
		{ echo "hook-bench: --old $old is neither a file nor a revision" >&2; exit 2; }
	dir=${BSNAP_VM_CACHE:-/var/tmp/bsnap-vm}/hook-bench/$rev-$release
	if [ ! -f "$dir/module/bsnap.ko" ]; then
		echo "hook-bench: building the module of $rev for $release in $dir" >&2
		rm -rf "$dir" && mkdir -p "$dir"
		git -C "$REPO" archive "$rev" module | tar -x -C "$dir"
		rm -f "$dir/module/CMakeLists.txt"
		make -C "/lib/modules/$release/build" M="$dir/module" modules >"$dir/build.log" 2>&1 ||
			{ tail -20 "$dir/build.log" >&2; echo "hook-bench: building $rev failed" >&2; exit 2; }
	fi
	old=$dir/module/bsnap.ko
fi
command -v fio >/dev/null || { echo "hook-bench: installing fio" >&2; apt-get install -y -q fio >/dev/null; }
export BSNAP_BIN=${BSNAP_BIN:-$(cd "$build" && pwd)/cli}
echo "hook-bench: new $module, old $old, kernel $release" >&2
# The host's load while the guest runs (it shares the host's CPUs): the
# 1-minute load average every 10 s.
loads=$(mktemp)
(while :; do cut -d' ' -f1 /proc/loadavg >>"$loads"; sleep 10; done) &
sampler=$!
rc=0
# Disks: vda the other disk (nothing traced on it); vdb partitioned, vdb1
# traced (ext4), vdb2 its untraced sibling.
"$REPO/tests/vm/bsnap-vm" --kernel "$release" --module "$module" \
	--env-path BSNAP_OLD_MODULE="$(realpath "$old")" --disk 1G --disk 1G \
	--smp 2 --mem 2048 --timeout 3600 -- \
	bash "$REPO/tests/bench/hook-bench-guest.sh" "${guest_args[@]}" || rc=$?
kill "$sampler"
echo "hook-bench: host load average (1 min) during the run, every 10 s: $(tr '\n' ' ' <"$loads")" >&2
rm -f "$loads"
exit "$rc"
