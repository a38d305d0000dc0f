#!/bin/bash
# The reboot protocol: data written to /dev/vda before a reboot is there after
# it; the module loaded before it is not.
. "$(dirname "$0")/../lib.sh"

disk=/dev/${BSNAP_DISKS%% *}
case "$BSNAP_BOOT" in
1)
	load_module
	stamp="bsnap-reboot-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
	printf '%s\n' "$stamp" | dd of="$disk" bs=4096 seek=7 conv=sync,fsync status=none
	mkdir -p /run/bsnap-reboot-marker
	printf '%s\n' "$stamp" >"$BSNAP_TEST_RESULTS/stamp"
	log "wrote $stamp to $disk"
	reboot_and_continue
	;;
2)
	[ ! -d /run/bsnap-reboot-marker ] || fail "RAM state survived the reboot"
	module_loaded && fail "the module is still loaded after the reboot"
	want=$(cat "$BSNAP_TEST_RESULTS/stamp")
	got=$(dd if="$disk" bs=4096 skip=7 count=1 status=none | tr -d '\0' | head -n1)
	assert_eq "$got" "$want" "stamp on $disk after the reboot"
	load_module
	unload_module
	;;
*) fail "unexpected boot $BSNAP_BOOT" ;;
esac
