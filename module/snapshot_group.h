/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Snapshots of several devices at one instant (blksnap's "snapshot").
 *
 * Every snapshot starts through a group, of one device for setup-snapshot
 * and transition-to-snapshot, of several for BSNAP_IOC_SNAPSHOT_GROUP:
 *   1. prepare each member (tracer_state.c): check it, create its CoW file,
 *      change map and pipeline; nothing is live, a failure undoes them all;
 *   2. freeze every member's filesystem in the given order, make each
 *      snapshot live for the hook, wait until no write uses the previous
 *      state (one bsnap_hook_sync for all), thaw in reverse order;
 *   3. finish each member: its image, the previous CoW file, events.
 * No write to any member lies between two of the group's snapshots.
 * Everything runs under bsnap_ctl_mutex.
 */
#ifndef BSNAP_SNAPSHOT_GROUP_H
#define BSNAP_SNAPSHOT_GROUP_H

#include <linux/types.h>
#include <uapi/bsnap.h>

struct cbt_map;
struct cow_pipeline;
struct cow_store;
struct tracer;

/* What a snapshot needs beyond the tracer: its change map, store, pipeline. */
struct snap_parts {
	struct cbt_map *cbt;
	struct cow_store *store;
	struct cow_pipeline *pipe;
};

/* One device of a group while its snapshot starts. */
struct snap_member {
	struct tracer *t;
	bool setup;		/* a new tracer, published at the instant */
	struct snap_parts sp;	/* handed to @t at the instant */
	/* A transition: what replaces @t's, and what it had before. */
	char *cow_path;
	char *fs_path;
	struct cow_store *old_store;
	struct cbt_map *old_cbt;
};

/* Phase 1 (tracer_state.c): 0 or a negative errno, with nothing left. */
int snap_member_setup(struct snap_member *m, const struct bsnap_setup *arg,
		      const char *bdev_path, const char *cow_path);
int snap_member_transition(struct snap_member *m, unsigned int minor,
			   u64 fallocate_size, const char *cow_path);
/* Undo phase 1 of a member whose snapshot did not start. */
void snap_member_abort(struct snap_member *m);
/* Phase 2, for one member, with its filesystem frozen. */
void snap_member_switch(struct snap_member *m);
/* Phase 3: 0, or a negative errno if the member could not be finished. */
int snap_member_finish(struct snap_member *m);

/*
 * Phases 2 and 3 for @n prepared members. On an error before the instant
 * every member is aborted, *@failed names the member at fault and nothing
 * changed; after it, the snapshots stand and the first member that could
 * not be finished is named.
 */
int snap_group_start(struct snap_member *m, unsigned int n,
		     unsigned int *failed);

/*
 * BSNAP_IOC_SNAPSHOT_GROUP with its arguments copied in: @bdev_paths[i]
 * (setup members) and @cow_paths[i] are kernel strings. Sets each member's
 * error and *@failed.
 */
int snapshot_group(struct bsnap_group_member *mb, char **bdev_paths,
		   char **cow_paths, unsigned int n, unsigned int *failed);

#endif
