#!/usr/bin/env bash
# Runs all of bsnap's tests: installs what is missing, configures and builds
# into ./build, runs the unit tests, then the guest tests (each suite in a
# QEMU guest, see tests/vm/README.md). Prints per-phase timings; exits
# nonzero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

build=${BSNAP_BUILD_DIR:-build}
jobs=$(nproc)
declare -a phases=()
failed=()
t_total=$EPOCHREALTIME

elapsed() { # since START ($EPOCHREALTIME), in seconds with one decimal
	local now=$EPOCHREALTIME us
	us=$((${now/./} - ${1/./}))
	printf '%d.%d' $((us / 1000000)) $((us / 100000 % 10))
}
# phase NAME CMD...: run and time one phase; remember failures.
phase() {
	local name=$1 t0=$EPOCHREALTIME rc=0
	shift
	echo
	echo "=== $name: $*"
	"$@" || rc=$?
	phases+=("$(printf '%-14s %7ss  %s' "$name" "$(elapsed "$t0")" "$([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)")")")
	[ $rc -eq 0 ] || failed+=("$name")
	return $rc
}
report() {
	echo
	echo "=== timings"
	printf '%s\n' "${phases[@]}"
	printf '%-14s %7ss\n' total "$(elapsed "$t_total")"
	if [ ${#failed[@]} -eq 0 ]; then
		echo "test.sh: all passed"
	else
		echo "test.sh: FAILED: ${failed[*]}"
	fi
}
trap report EXIT

phase deps scripts/install-deps.sh || exit 1
phase configure cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo || exit 1
phase build cmake --build "$build" -j "$jobs" || exit 1
phase "unit tests" ctest --test-dir "$build" -LE 'guest|packages|daemon' -j "$jobs" --no-tests=error --output-on-failure
# The module built against every supported kernel series, warnings fail
# (scripts/build-matrix; kernels cached in /var/tmp/bsnap-kernels: about
# 3 minutes here once cached, 1-2 minutes more to fetch them cold).
phase "kernel matrix" scripts/build-matrix
# Verbose: each guest suite prints its per-test table.
phase "guest tests" ctest --test-dir "$build" -L guest -j "$jobs" --no-tests=error -V
# The package tests (label packages: .deb/.rpm builds, a Debian system booted
# with DKMS rebuilding the module for a second kernel) take 35-55 minutes
# under emulation on a cold cache, more than this run's budget: they are not
# run here, and are not counted as passed.
echo
echo "=== not run here: $(ctest --test-dir "$build" -N -L packages | sed -n 's/^ *Test *#[0-9]*: //p' | xargs)"
echo "    (package tests; run them with: ctest --test-dir $build -L packages -V)"
# bsnapd's guest tests (label daemon: a Debian system booted ten times with
# systemd, the root filesystem reloaded by its own initramfs) take 15-30
# minutes under emulation: not run here either.
echo "=== not run here: $(ctest --test-dir "$build" -N -L daemon | sed -n 's/^ *Test *#[0-9]*: //p' | xargs)"
echo "    (bsnapd's guest tests; run them with: ctest --test-dir $build -L daemon -V)"
[ ${#failed[@]} -eq 0 ]
