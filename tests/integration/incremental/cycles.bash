# shellcheck shell=bash
# 20 cycles of writes -> transition-to-snapshot -> update-img ->
# transition-to-incremental; after every cycle the backup equals the
# snapshot bit for bit, and every 5th cycle fsck finds the backup clean.
. "$(dirname "${BASH_SOURCE[0]}")/incremental-lib.bash"

load_module
make_fs "$1"
churn 0
start_chain
fsck_image
for ((n = 2; n <= 21; n++)); do
	churn "$n"
	next_backup "$n"
	if ((n % 5 == 1)); then
		log "cycle $n: fsck of the backup"
		fsck_image
	fi
done
log "20 incrementals applied, each equal to its snapshot"
