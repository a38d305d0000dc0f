# shellcheck shell=bash
# powercut.bash ext4|xfs CUTS: a crash costs an incremental, never the chain
# (issue 15). The guest loses power (sysrq b: no sync, no unmount) CUTS
# times at a random moment of one of five phases, chosen in turn:
#   writer      writes into the filesystem, incremental mode;
#   transition  a transition-to-snapshot running under writes;
#   remount     umount/mount in a loop;
#   snapshot    a snapshot whose backup (update-img) never completes;
#   update-img  update-img running onto the backup disk.
# After each cut: reload-incremental of the newest CoW file the module
# accepts (the one a transition was writing, else the one in use), mount
# (journal replay), then the next snapshot, update-img with every CoW file
# since the backup's snapshot (their union), and a bit-for-bit comparison
# with the snapshot, and fsck of the image. Outcomes are counted: a refused
# reload or a wrong image fails the test.
# State between boots, in $KEEP/chain: B, the seqid of the snapshot the
# backup disk equals, and C, the seqid of the CoW file in use (file s holds
# the changes from snapshot s on). Randomness is seeded from the boot: a
# failing run is repeated by running it again.
. "$(dirname "${BASH_SOURCE[0]}")/../dormant/dormant-lib.bash"

FS=$1 CUTS=$2
PHASES=(writer transition remount snapshot update-img)
RANDOM=$((TEST_BOOT * 7919 + ${#FS}))

outcome() { echo "$1" >>"$KEEP/outcomes"; log "cut $((TEST_BOOT - 1)): $1"; }

# delay MS_MIN MS_MAX: a random nap in that range.
delay() {
	local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
	nap "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
}

# files B C: the CoW files of seqids B..C, in order.
files() { local s; for ((s = $1; s <= $2; s++)); do echo "$MNT/.bsnap-cow-$s"; done; }

# cut N: bring the machine down during phase N of the list.
cut() {
	local phase=${PHASES[$(((TEST_BOOT - 1) % ${#PHASES[@]}))]}
	log "cut $TEST_BOOT: $phase"
	case $phase in
	writer)
		start_writer "$TEST_BOOT"
		delay 500 3000
		;;
	transition)
		start_writer "$TEST_BOOT"
		delay 200 1000
		bsnapctl transition-to-snapshot -f 16 "$MNT/.bsnap-cow-$((C + 1))" "$MINOR" \
			>/dev/null 2>&1 &
		delay 0 1500
		;;
	remount)
		churn "$TEST_BOOT"
		(
			trap - ERR
			set +e
			for ((i = 0; i < 50; i++)); do
				umount "$MNT" && mount "$ORIGIN" "$MNT" || exit 1
				dd if=/dev/urandom of="$MNT/data/r$((i % 3))" bs=64k count=4 status=none
			done
		) &
		delay 500 4000
		;;
	snapshot)
		take_snapshot $((C + 1))
		start_writer "$TEST_BOOT"
		delay 500 2000
		;;
	update-img)
		take_snapshot $((C + 1))
		churn "$TEST_BOOT"
		# shellcheck disable=SC2046
		update_img --quiet "$IMAGE" $(files "$B" "$C") "$BACKUP" >/dev/null 2>&1 &
		delay 300 2500
		;;
	esac
	crash_and_continue
}

# reload_newest: reload-incremental of file C+1 (a transition or snapshot
# was under way) or else C; sets C to the one reloaded.
reload_newest() {
	local s rc
	for s in $((C + 1)) "$C"; do
		rc=0
		bsnapctl reload-incremental "$ORIGIN" ".bsnap-cow-$s" "$MINOR" 2>"$WORK/reload.err" || rc=$?
		if [ "$rc" = 0 ]; then
			log "reloaded .bsnap-cow-$s"
			C=$s
			return 0
		fi
		log "reload-incremental .bsnap-cow-$s: exit $rc: $(head -1 "$WORK/reload.err")"
		bsnapctl destroy "$MINOR" >/dev/null 2>&1 || true
	done
	return 1
}

# verify: the next snapshot, the union of files B..C onto the backup, a
# bit-for-bit comparison, fsck of the image; then back to incremental.
verify() {
	local next=$((C + 1))
	take_snapshot "$next"
	# shellcheck disable=SC2046
	update_img --quiet "$IMAGE" $(files "$B" "$C") "$BACKUP" >"$WORK/update-img.log" 2>&1 ||
		{ cat "$WORK/update-img.log"; fail "update-img from files $B..$C failed"; }
	if ! "$STAMP" compare "$IMAGE" "$BACKUP" --length "$(blockdev --getsize64 "$IMAGE")" \
		>"$WORK/compare.log" 2>&1; then
		outcome wrong
		head -20 "$WORK/compare.log"
		fail "the backup differs from $IMAGE after cut $((TEST_BOOT - 1)) (files $B..$C)"
	fi
	case $FS in
	ext4) e2fsck -fn "$IMAGE" >"$WORK/fsck.log" 2>&1 ;;
	xfs) xfs_repair -n "$IMAGE" >"$WORK/fsck.log" 2>&1 ;;
	esac || { tail -20 "$WORK/fsck.log"; fail "fsck of $IMAGE after cut $((TEST_BOOT - 1))"; }
	log "incremental $B -> $next exact (files $B..$C), image fsck clean"
	# shellcheck disable=SC2046
	rm -f $(files "$B" "$C")
	B=$next C=$next
	must bsnapctl transition-to-incremental "$MINOR"
}

if [ "$TEST_BOOT" = 1 ]; then
	dormant_load
	make_fs "$FS"
	churn 0
	start_chain
	B=1 C=1
	echo "$B $C" >"$KEEP/chain"
	: >"$KEEP/outcomes"
	cut
fi

read -r B C <"$KEEP/chain"
dormant_load
mkdir -p "$MNT"
if ! reload_newest; then
	outcome refused
	fail "cut $((TEST_BOOT - 1)): no CoW file of the chain could be reloaded: a full backup would be needed"
fi
expect_state "$ST_UNVERIFIED" "after reload-incremental"
mount_origin
expect_state "$ST_ACTIVE" "after the mount"
verify
outcome exact
echo "$B $C" >"$KEEP/chain"
if [ $((TEST_BOOT - 1)) -lt "$CUTS" ]; then
	churn $((TEST_BOOT + 10))
	cut
fi
log "outcomes of $CUTS cuts ($FS): $(sort "$KEEP/outcomes" | uniq -c | xargs)"
must bsnapctl destroy "$MINOR"
umount_origin
fsck_origin
unload_module
