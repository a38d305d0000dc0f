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

# --image-initramfs: the next boot goes through the image's own kernel and
# initramfs, as this boot leaves them in its /boot; the host boots copies
# (cp -p: the host caches the kernel's extracted ELF by size and mtime),
# with the root file system on the kernel command line by its UUID, read-only
# when fstab has an entry for / (Debian's way: systemd remounts it
# read-write), else read-write.
save_image_boot() {
	local d=$share/image-boot rel=$BSNAP_KERNEL_RELEASE root mode=rw
	mkdir -p "$d"
	root=$(findmnt -no UUID /) && [ -n "$root" ] && root=UUID=$root || root=$(findmnt -no SOURCE /)
	grep -Eq '^[[:space:]]*[^#[:space:]]+[[:space:]]+/[[:space:]]' /etc/fstab && mode=ro
	if cp -p "/boot/vmlinuz-$rel" "$d/vmlinuz.tmp" && cp -p "/boot/initrd.img-$rel" "$d/initrd.img.tmp"; then
		mv "$d/vmlinuz.tmp" "$d/vmlinuz"
		mv "$d/initrd.img.tmp" "$d/initrd.img"
		echo "root=$root $mode" >"$d/cmdline"
		echo "$boot" >"$d/boot"
		rm -f "$d/error"
	else
		echo "boot $boot: cannot copy /boot/vmlinuz-$rel and /boot/initrd.img-$rel" >"$d/error"
	fi
}

# --image-initramfs: the service that takes the place of the harness's
# initramfs in the boots through the image's own (guest/imageboot).
install_image_boot() {
	local unit=/etc/systemd/system/bsnap-vm-imageboot.service
	mkdir -p /usr/local/lib/bsnap-vm /etc/systemd/system/multi-user.target.wants
	cat "${BSNAPVM_RUNNER%/*}/imageboot" >/usr/local/lib/bsnap-vm/imageboot
	cat >"$unit" <<-EOF
		[Unit]
		Description=bsnap-vm test runner (booted through the image's own initramfs)
		After=multi-user.target
		ConditionKernelCommandLine=bsnapvm.imageboot

		[Service]
		Type=simple
		ExecStart=/bin/sh /usr/local/lib/bsnap-vm/imageboot
		StandardInput=null
		StandardOutput=journal

		[Install]
		WantedBy=multi-user.target
	EOF
	ln -sf ../bsnap-vm-imageboot.service /etc/systemd/system/multi-user.target.wants/
}

power_off() { # state
	if [ "${BSNAPVM_IMAGE_INITRAMFS:-}" = 1 ] && [ "${1%% *}" = reboot ]; then
		save_image_boot
	fi
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

[ "${BSNAPVM_IMAGE_INITRAMFS:-}" = 1 ] && install_image_boot
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
