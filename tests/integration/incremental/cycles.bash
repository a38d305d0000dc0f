# shellcheck shell=bash
# Usage: cycles.bash ext4|xfs; BSNAP_INC_CYCLES cycles (default 20), on
# BSNAP_INC_ORIGIN with the backup on BSNAP_INC_BACKUP (incremental-lib).
# 20 cycles of writes -> transition-to-snapshot -> update-img ->
# transition-to-incremental; after every cycle the backup equals the
# snapshot bit for bit, and every 5th cycle fsck finds the backup clean.
# BSNAP_INC_MODULE_ARGS: insmod parameters (coarse-ext4.sh).
. "$(dirname "${BASH_SOURCE[0]}")/incremental-lib.bash"

# shellcheck disable=SC2086 # parameters, split on purpose
load_module ${BSNAP_INC_MODULE_ARGS:-}
make_fs "$1"
churn 0
start_chain
fsck_image
cycles=${BSNAP_INC_CYCLES:-20}
log "$cycles cycles, $FS on $ORIGIN, backup on $BACKUP"
for ((n = 2; n <= cycles + 1; n++)); do
	churn "$n"
	next_backup "$n"
	if ((n % 5 == 1)); then
		log "cycle $n: fsck of the backup"
		fsck_image
	fi
done
log "$cycles incrementals applied, each equal to its snapshot"
if [ -n "${BSNAP_INC_COARSE:-}" ]; then
	dmesg | grep -q "change map short of memory" ||
		fail "the change map never had to mark whole ranges"
	log "with whole ranges marked for want of memory"
fi
