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
boot=$BSNAP_BOOT
other_dmesg=$share/dmesg-other.$boot
full_dmesg=$share/dmesg.$boot

power_off() { # state
	echo "$1" >"$share/state"
	sync
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

index=0
while IFS=$'\t' read -r id script timeout <&3; do
	index=$((index + 1))
	[ "$index" -lt "$BSNAPVM_START" ] && continue
	dir=$share/results/$id
	mkdir -p "$dir" "/tmp/bsnap-test/$id"
	grab_dmesg "$other_dmesg"
	echo "$boot" >"$dir/started"
	echo "bsnap-vm: start $id (boot $boot)" >/dev/console
	if [ -s "$dir/output" ]; then echo "=== boot $boot ===" >>"$dir/output"; fi
	start=$EPOCHREALTIME
	(
		cd "/tmp/bsnap-test/$id" || exit 1
		export BSNAP_TEST_NAME=$id BSNAP_TEST_RESULTS=$dir
		exec setsid bash "$script"
	) </dev/null >>"$dir/output" 2>&1 &
	pid=$!
	watchdog=
	if [ "$timeout" -gt 0 ]; then
		(
			sleep "$timeout" &
			trap 'kill $! 2>/dev/null; exit 0' TERM
			wait $!
			echo "$timeout" >"$dir/timedout"
			kill -TERM -- "-$pid" 2>/dev/null
			sleep 5 &
			wait $!
			kill -KILL -- "-$pid" 2>/dev/null
		) &
		watchdog=$!
	fi
	wait "$pid"
	rc=$?
	[ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null && wait "$watchdog"
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
done 3<"$share/tests.list"
grab_dmesg "$other_dmesg"
power_off done
