# shellcheck shell=bash
# Helpers for guest tests; source it first: . "$(dirname "$0")/../lib.sh"
# Exit status protocol (see tests/vm/README.md): 0 pass, 77 skip, 75 reboot
# and run me again (BSNAP_BOOT is incremented), anything else fails.
set -eEuo pipefail

: "${BSNAP_BOOT:=1}" "${BSNAP_BIN:=}" "${BSNAP_MODULE:=}" "${BSNAP_TEST_RESULTS:=}"
: "${BSNAP_TOOLS:=${BSNAP_BIN%/}/../tests/integration}"
BSNAP_CTL=/dev/bsnap-ctl
BSNAP_PROC=/proc/bsnap-info
export BSNAP_CTL BSNAP_PROC

# _reason WHAT TEXT: print it; the first reason given is the one reported.
_reason() {
	echo "$1: $2" >&2
	if [ -n "$BSNAP_TEST_RESULTS" ] && [ ! -s "$BSNAP_TEST_RESULTS/reason" ]; then
		echo "$2" >"$BSNAP_TEST_RESULTS/reason"
	fi
}
fail() { _reason FAIL "$*"; exit 1; }
skip() { _reason SKIP "$*"; exit 77; }
# Any command that fails unexpectedly fails the test (never with 75 or 77).
_bsnap_err() {
	local rc=$?
	_reason FAIL "line ${BASH_LINENO[0]}: '$BASH_COMMAND' exited $rc"
	exit 1
}
trap _bsnap_err ERR
# The harness's timeout sends TERM (then KILL 10 s later): exit, so that EXIT
# traps (unload the module, umount, ...) still clean up for the next test.
trap 'exit 143' TERM

log() { echo "--- $*"; }

assert_eq() { # actual expected [what]
	[ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}
assert_match() { # text extended-regex [what]
	[[ "$1" =~ $2 ]] || fail "${3:-value}: '$1' does not match /$2/"
}

# errno NAME -> number (the exit status bsnapctl and ioctl-probe use)
errno() {
	case "$1" in
	EPERM) echo 1 ;; ENOENT) echo 2 ;; EIO) echo 5 ;; ENXIO) echo 6 ;;
	E2BIG) echo 7 ;; EBADF) echo 9 ;; EAGAIN) echo 11 ;; ENOMEM) echo 12 ;;
	EACCES) echo 13 ;; EFAULT) echo 14 ;; EBUSY) echo 16 ;; EEXIST) echo 17 ;;
	ENODEV) echo 19 ;; EINVAL) echo 22 ;; ENOTTY) echo 25 ;; ENOSPC) echo 28 ;;
	EROFS) echo 30 ;; ERANGE) echo 34 ;; ENAMETOOLONG) echo 36 ;; ENOSYS) echo 38 ;;
	EOVERFLOW) echo 75 ;; EBADMSG) echo 74 ;; EOPNOTSUPP) echo 95 ;;
	ESTALE) echo 116 ;; EUCLEAN) echo 117 ;;
	*) fail "errno: unknown name $1" ;;
	esac
}

# expect_errno NAME[|NAME...] CMD ARGS...: CMD must exit with one of these
# errno values (bsnapctl and ioctl-probe exit with the errno).
expect_errno() {
	local names=$1 rc=0 name
	shift
	"$@" || rc=$?
	for name in ${names//|/ }; do
		[ "$rc" -eq "$(errno "$name")" ] && return 0
	done
	fail "$*: expected $names, got exit status $rc"
}

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }

bsnapctl() {
	[ -x "$BSNAP_BIN/bsnapctl" ] || fail "bsnapctl is not built: no $BSNAP_BIN/bsnapctl (BSNAP_BIN)"
	"$BSNAP_BIN/bsnapctl" "$@"
}

ioctl_probe() {
	[ -x "$BSNAP_TOOLS/ioctl-probe" ] || fail "ioctl-probe is not built: no $BSNAP_TOOLS/ioctl-probe"
	"$BSNAP_TOOLS/ioctl-probe" "$@"
}

module_loaded() { [ -d /sys/module/bsnap ]; }

load_module() {
	[ -n "$BSNAP_MODULE" ] || fail "BSNAP_MODULE is not set (bsnap-vm --module PATH.ko)"
	[ -r "$BSNAP_MODULE" ] || fail "module $BSNAP_MODULE not readable in the guest"
	module_loaded && fail "bsnap is already loaded (a previous test left it?)"
	insmod "$BSNAP_MODULE" "$@" || fail "insmod $BSNAP_MODULE failed"
	trap _bsnap_cleanup EXIT
	local i
	for ((i = 0; i < 50; i++)); do
		[ -c "$BSNAP_CTL" ] && return 0
		sleep 0.1
	done
	fail "$BSNAP_CTL did not appear after insmod"
}

unload_module() {
	rmmod bsnap || fail "rmmod bsnap failed"
	module_loaded && fail "bsnap still in /sys/module after rmmod"
	[ ! -e "$BSNAP_CTL" ] || fail "$BSNAP_CTL still exists after rmmod"
	return 0
}

# Leaves no module behind for the next test, whatever happened; then calls
# bsnap_after_cleanup if the test defines it (to take down what must outlive
# the module, such as the device stack a traced device lives on).
_bsnap_cleanup() {
	local rc=$?
	if module_loaded; then rmmod bsnap 2>/dev/null || echo "cleanup: rmmod bsnap failed" >&2; fi
	if [ "$(type -t bsnap_after_cleanup)" = function ]; then
		bsnap_after_cleanup || echo "cleanup: bsnap_after_cleanup failed" >&2
	fi
	exit "$rc"
}

# Ask the harness to reboot the guest (same disks) and run this test again
# with BSNAP_BOOT incremented.
reboot_and_continue() {
	sync
	trap - EXIT
	exit 75
}

# Reset the guest at once, like a power cut: no sync, no unmount, no reboot
# notifier (sysrq b). The harness boots again with the same disks and runs
# this test again with BSNAP_BOOT incremented, as after exit 75. What was
# still in the guest's page cache is lost; what reached the virtual disk is
# kept. The marker and this boot's kernel log go to the share first (its 9p
# mount has no cache: the host has them before the reset).
crash_and_continue() {
	[ -n "$BSNAP_TEST_RESULTS" ] || fail "crash_and_continue needs the harness (BSNAP_TEST_RESULTS)"
	dmesg >>"$BSNAP_TEST_RESULTS/dmesg.$BSNAP_BOOT" 2>&1 || true
	echo "$((SECONDS * 1000))" >"$BSNAP_TEST_RESULTS/crash.$BSNAP_BOOT"
	trap - EXIT
	echo b >/proc/sysrq-trigger
	sleep 30
	fail "sysrq b did not reset the guest"
}

# json_eval FILE EXPR...: print each Python expression evaluated on the JSON
# in FILE (as 'j'), one a line. One python3 start: they are slow in the guest.
json_eval() {
	python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))
for e in sys.argv[2:]: print(json.dumps(eval(e)) if not isinstance(eval(e), str) else eval(e))' "$@"
}

# json_check FILE: FILE (a copy of /proc/bsnap-info, or bsnapctl's --json
# output) is valid against docs/bsnap-info.schema.json, checked by
# bsnap-json-check (tests/tools, next to $BSNAP_TOOLS).
BSNAP_INFO_SCHEMA=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../docs/bsnap-info.schema.json
json_check() {
	local tool=${BSNAP_TOOLS%/}/../tools/bsnap-json-check out
	[ -x "$tool" ] || fail "bsnap-json-check is not built: no $tool"
	out=$("$tool" "$BSNAP_INFO_SCHEMA" "$1" 2>&1) || fail "$1 breaks the schema: ${out:0:600}"
}
