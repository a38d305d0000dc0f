#!/bin/bash
# The guest's PID 1 after switch_root (bash from the read-only host root).
# Runs the tests listed in $share/tests.list from $BSNAPVM_START on, each in
# its own process group with a timeout, records for each its exit status,
# output, time and dmesg on the share, and powers off. A test that exits 75
# asks for a reboot: the runner records where it stopped and powers off; the
# host boots again with the same disks. The host reads verdicts from the share.
share=/run/bsnap-vm
. "$share/plan.env"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp/home LANG=C.UTF-8 TERM=dumb
mkdir -p "$HOME"
boot=$BSNAP_BOOT
other_dmesg=$share/dmesg-other.$boot
full_dmesg=$share/dmesg.$boot

power_off() { # state
	echo "$1" >"$share/state"
	sync
	if [ "${BSNAPVM_ROOT_IMAGE:-}" = 1 ]; then
		# The guest's own systemd is PID 1 (--root-image): it kills what is
		# left, unmounts the root image cleanly and powers off.
		systemctl --force poweroff
		sleep 30
	fi
	busybox poweroff -f
	echo o >/proc/sysrq-trigger
	sleep 10
}

grab_dmesg() { # file: move the kernel log so far into file and the full log
	local log
	log=$(dmesg -c 2>&1)
	[ -n "$log" ] || return 0
	printf '%s\n' "$log" >>"$1"
	printf '%s\n' "$log" >>"$full_dmesg"
}

echo "$boot" >"$share/booted.$boot"
echo "bsnap-vm: guest up (boot $boot)" >/dev/console
grab_dmesg "$other_dmesg"
# A pipe nobody writes to: 'read -t N -u 7' sleeps without starting a program
# (every program started from the 9p root costs under emulation).
exec 7<> <(:)
ids=() scripts=() timeouts=()
while IFS=$'\t' read -r id script timeout; do
	ids+=("$id") scripts+=("$script") timeouts+=("$timeout")
done <"$share/tests.list"
mkdir -p "${ids[@]/#//tmp/bsnap-test/}"

for ((index = BSNAPVM_START; index <= ${#ids[@]}; index++)); do
	id=${ids[index - 1]} script=${scripts[index - 1]} timeout=${timeouts[index - 1]}
	dir=$share/results/$id
	echo "$boot" >"$dir/started"
	echo "bsnap-vm: start $id (boot $boot)" >/dev/console
	if [ -s "$dir/output" ]; then echo "=== boot $boot ===" >>"$dir/output"; fi
	start=$EPOCHREALTIME
	(
		cd "/tmp/bsnap-test/$id" || exit 1
		exec 7>&-
		export BSNAP_TEST_NAME=$id BSNAP_TEST_RESULTS=$dir
		exec setsid bash "$script"
	) </dev/null >>"$dir/output" 2>&1 &
	pid=$!
	watchdog=
	if [ "$timeout" -gt 0 ]; then
		(
			read -r -t "$timeout" -u 7
			echo "$timeout" >"$dir/timedout"
			kill -TERM -- "-$pid" 2>/dev/null
			read -r -t 10 -u 7
			kill -KILL -- "-$pid" 2>/dev/null
			read -r -t 10 -u 7
			# Still here: the test cannot die (stuck in the kernel). Keep the
			# stacks of blocked tasks, then power off; the host boots again
			# and goes on with the next test.
			echo "bsnap-vm: $id cannot be killed; powering off" >/dev/console
			echo w >/proc/sysrq-trigger
			echo "$timeout" >"$dir/unkillable"
			grab_dmesg "$dir/dmesg.$boot"
			sync
			echo o >/proc/sysrq-trigger
		) &
		watchdog=$!
	fi
	wait "$pid"
	rc=$?
	if [ -n "$watchdog" ]; then
		kill "$watchdog" 2>/dev/null
		wait "$watchdog"
	fi
	end=$EPOCHREALTIME
	# Stragglers the test left in its process group must not outlive it.
	kill -KILL -- "-$pid" 2>/dev/null
	grab_dmesg "$dir/dmesg.$boot"
	echo "$(((${end/./} - ${start/./}) / 1000))" >"$dir/ms.$boot"
	echo "$rc" >"$dir/rc.$boot"
	echo "bsnap-vm: end $id rc=$rc" >/dev/console
	if [ "$rc" -eq 75 ] && [ "$BSNAPVM_MODE" = suite ]; then
		power_off "reboot $index"
	fi
done
grab_dmesg "$other_dmesg"
power_off "done"
