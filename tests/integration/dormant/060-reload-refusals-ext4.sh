#!/bin/bash
# bsnap-vm: timeout=500
# Reload refuses what it cannot trust, with one line and the errno, and
# still registers the device as unverified and failed (error in info):
#   EBUSY    the device or the minor is already traced; the device is mounted
#   ENOENT   the CoW file does not exist
#   EBADMSG  the header's magic, CRC or version is wrong (edited on the device)
#   EUCLEAN  the header says BROKEN (CLEAN cleared, BROKEN set, CRC made
#            valid); a header that is only not clean is a crash's, and its
#            write intent lets the reload go on (crash.bash tests that)
#   ESTALE   the file is the superseded one of the chain (update-img's input);
#            the filesystem was mounted and written while bsnap was unloaded
# Every refusal is undone (destroy, header restored) and at the end the
# chain still continues: reload of the right, untouched file works and the
# incremental equals the snapshot bit for bit. rmmod while dormant writes
# both headers clean.
. "$(dirname "$0")/dormant-lib.bash"

dormant_load
make_fs ext4
churn 0
start_chain
churn 1
take_snapshot 2
apply_incremental 2 # .bsnap-cow-1 is now superseded; it is kept to try it
must bsnapctl transition-to-incremental "$MINOR"
churn 2
sec1=$(cow_sector "$MNT/.bsnap-cow-1")
sec2=$(cow_sector "$MNT/.bsnap-cow-2")
log "CoW headers at sectors $sec1 (.bsnap-cow-1) and $sec2 (.bsnap-cow-2)"

log "already traced"
OTHER=$((MINOR + 1))
expect_fail EBUSY "reload of a traced, mounted device on another minor" \
	bsnapctl reload-incremental "$ORIGIN" .bsnap-cow-2 "$OTHER"
expect_fail EBUSY "reload of another device on a minor in use" \
	bsnapctl reload-incremental "$BACKUP" .bsnap-cow-2 "$MINOR"
umount_origin
expect_state 0 "after umount"
expect_fail EBUSY "reload of a traced, dormant device on another minor" \
	bsnapctl reload-incremental "$ORIGIN" .bsnap-cow-2 "$OTHER"
expect_state 0 "after the refused reloads"

log "rmmod while dormant; both headers must be clean"
unload_module
header_read "$sec1" "$WORK/h1"
header_read "$sec2" "$WORK/h2"
{ read -r h1 && read -r h2; } < <(header_tool check "$WORK/h1" "$WORK/h2")
log ".bsnap-cow-1 header: $h1; .bsnap-cow-2 header: $h2"
assert_match "$h1" '^magic=ok crc=ok version=[0-9]+ flags=[0-9]+ seqid=1$' ".bsnap-cow-1 header after rmmod"
assert_match "$h2" '^magic=ok crc=ok version=[0-9]+ flags=[0-9]+ seqid=2$' ".bsnap-cow-2 header after rmmod"
for h in "$h1" "$h2"; do
	[[ $h =~ flags=([0-9]+) ]] && ((BASH_REMATCH[1] & 1)) || fail "a CoW header is not clean after rmmod: $h"
done
dormant_load

# refused NAME WHAT FILE: reload-incremental FILE is refused with NAME; the
# device is registered unverified and failed with NAME; destroy works.
refused() {
	expect_fail "$1" "$2" bsnapctl reload-incremental "$ORIGIN" "$3" "$MINOR"
	expect_state $((ST_UNVERIFIED | ST_FAILED)) "$2"
	expect_error "$1" "$2"
	must bsnapctl destroy "$MINOR"
	expect_untraced "$2, destroyed"
}

refused ENOENT "missing CoW file" .bsnap-cow-missing

header_tool make "$WORK/h1" "$WORK/h1"
header_tool make "$WORK/h2" "$WORK/h2"
for op in flip-magic flip-uuid version; do
	header_write "$sec1" "$WORK/h1.$op"
	refused EBADMSG "header of .bsnap-cow-1 with $op" .bsnap-cow-1
	header_write "$sec1" "$WORK/h1"
done
refused ESTALE "superseded .bsnap-cow-1 (header restored)" .bsnap-cow-1
header_write "$sec1" "$WORK/h1"

header_write "$sec2" "$WORK/h2.broken"
refused EUCLEAN ".bsnap-cow-2 with BROKEN set" .bsnap-cow-2
header_write "$sec2" "$WORK/h2"

# Not clean, not BROKEN: a version 4 file in use at a crash goes on.
header_write "$sec2" "$WORK/h2.unclean"
must bsnapctl reload-incremental "$ORIGIN" .bsnap-cow-2 "$MINOR"
expect_state "$ST_UNVERIFIED" ".bsnap-cow-2 with CLEAN cleared (as after a crash)"
dmesg | grep -q "in use at a crash" || fail "the reload of a not-clean file did not say it recovered it"
must bsnapctl destroy "$MINOR"
header_write "$sec2" "$WORK/h2"

log "the untouched chain continues"
must bsnapctl reload-incremental "$ORIGIN" .bsnap-cow-2 "$MINOR"
expect_state 4 "reload of .bsnap-cow-2"
mount_origin
expect_state 2 "mounted after the reload"
churn 3
rm -f "$MNT/.bsnap-cow-1"
next_backup 3
umount_origin
expect_state 0 "after umount"

log "mounted and written while bsnap was not loaded"
unload_module
mount_origin
echo "written without bsnap" >"$MNT/untracked"
umount_origin
dormant_load
refused ESTALE "the filesystem was written while bsnap was unloaded" .bsnap-cow-3

log "reload while mounted"
mount_origin
expect_fail EBUSY "reload while mounted" bsnapctl reload-incremental "$ORIGIN" .bsnap-cow-3 "$MINOR"
expect_untraced "after reload while mounted"
umount_origin
unload_module
log "every reload refusal gave its errno; the chain survived them"
