#!/bin/bash
# bsnap-vm: timeout=500
# rmmod is refused while a traced filesystem is mounted (the device stays
# active and traced) and allowed once it is dormant (umount) or unverified
# (reload, not mounted yet); the CoW header is then clean, and insmod +
# reload + mount continue the chain: raw writes made while unverified, before
# and after an rmmod, are in the next incremental, which equals the snapshot
# bit for bit. destroy works while dormant and while unverified; the CoW file
# stays on the filesystem, can no longer be reloaded (EUCLEAN) and can be
# deleted once mounted.
. "$(dirname "$0")/dormant-lib.bash"

dormant_load
make_fs xfs
churn 0
raw_target 4
start_chain
churn 1
sec=$(cow_sector "$MNT/.bsnap-cow-1")

log "rmmod while mounted"
rc=0
rmmod bsnap 2>"$WORK/rmmod.err" || rc=$?
log "rmmod while mounted: exit $rc: $(head -1 "$WORK/rmmod.err")"
[ "$rc" != 0 ] || fail "rmmod succeeded while a traced filesystem is mounted"
module_loaded || fail "bsnap is gone after a refused rmmod"
expect_state 2 "after the refused rmmod"

log "rmmod while dormant"
umount_origin
expect_state 0 "after umount"
unload_module
header_read "$sec" "$WORK/h1"
h=$(header_tool check "$WORK/h1")
log ".bsnap-cow-1 header after rmmod: $h"
assert_match "$h" '^magic=ok crc=ok version=[0-9]+ flags=[0-9]+ seqid=1$' "header after rmmod"
[[ $h =~ flags=([0-9]+) ]] && ((BASH_REMATCH[1] & 1)) || fail "header not clean after rmmod: $h"

log "insmod, reload, raw writes while unverified, rmmod while unverified"
dormant_load
must bsnapctl reload-incremental "$ORIGIN" .bsnap-cow-1 "$MINOR"
expect_state 4 "after reload"
raw_write 10 32
unload_module
dormant_load
must bsnapctl reload-incremental "$ORIGIN" .bsnap-cow-1 "$MINOR"
expect_state 4 "after the second reload"
raw_write 60 32
mount_origin
expect_state 2 "after the first mount"
churn 2
next_backup 2

log "destroy while dormant"
umount_origin
expect_state 0 "after umount"
must bsnapctl destroy "$MINOR"
expect_untraced "after destroy while dormant"
expect_fail EUCLEAN "reload after destroy while dormant" \
	bsnapctl reload-incremental "$ORIGIN" .bsnap-cow-2 "$MINOR"
expect_error EUCLEAN "reload after destroy while dormant"
must bsnapctl destroy "$MINOR"

log "destroy while unverified"
mount_origin
[ -f "$MNT/.bsnap-cow-2" ] || fail "the CoW file is gone after destroy while dormant"
rm -f "$MNT/.bsnap-cow-2" 2>"$WORK/rm.err" || { chattr -i "$MNT/.bsnap-cow-2"; rm -f "$MNT/.bsnap-cow-2"; }
[ ! -e "$MNT/.bsnap-cow-2" ] || fail "cannot delete the CoW file after destroy: $(cat "$WORK/rm.err")"
must bsnapctl setup-snapshot -f 16 "$ORIGIN" "$MNT/.bsnap-cow-u" "$MINOR"
must bsnapctl transition-to-incremental "$MINOR"
umount_origin
unload_module
dormant_load
must bsnapctl reload-incremental "$ORIGIN" .bsnap-cow-u "$MINOR"
expect_state 4 "after reload"
must bsnapctl destroy "$MINOR"
expect_untraced "after destroy while unverified"
expect_fail EUCLEAN "reload after destroy while unverified" \
	bsnapctl reload-incremental "$ORIGIN" .bsnap-cow-u "$MINOR"
must bsnapctl destroy "$MINOR"
mount_origin
[ -f "$MNT/.bsnap-cow-u" ] || fail "the CoW file is gone after destroy while unverified"
umount_origin
unload_module
log "rmmod refused while mounted, allowed dormant/unverified; destroy dormant/unverified"
