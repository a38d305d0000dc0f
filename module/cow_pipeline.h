/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copy-before-write. A write to blocks not yet copied since the snapshot is
 * held here; a worker reads the blocks' old contents from the origin, stores
 * them in the CoW file, records them in the index and the change map, and
 * only then lets the write go. Writes to blocks already copied pass at once.
 *
 * Bounded: at most max_held bios are held (submitters wait for room, REQ_NOWAIT
 * writes get BLK_STS_AGAIN), and copies go through a fixed buffer allocated
 * at creation. Ordering: one worker handles held bios in arrival order.
 *
 * Snapshot reads that fall back to the origin register themselves here, so
 * that a write to those blocks cannot reach the origin before they finish.
 */
#ifndef BSNAP_COW_PIPELINE_H
#define BSNAP_COW_PIPELINE_H

#include <linux/list.h>
#include <linux/types.h>

struct bio;
struct block_device;
struct cbt_map;
struct cow_pipeline;
struct cow_store;

/*
 * What the pipeline reports to its owner (the tracer), from the worker:
 * @failed: the snapshot cannot be kept (ENOSPC, EIO, ENOMEM); the owner
 * records it and calls cow_pipeline_fail(). @low: the CoW file's data area
 * reached BSNAP_COW_LOW_PERCENT (before the allocation that crosses it).
 */
struct cow_pipeline_ops {
	void (*failed)(void *owner, int error);
	void (*low)(void *owner);
};

/* The snapshotted device, and whom to tell. */
struct cow_pipeline_config {
	const struct cow_pipeline_ops *ops;
	void *owner;
	unsigned int minor;		/* names the worker */
	struct block_device *origin;	/* old contents are read from here */
	sector_t origin_start;		/* its start on its whole disk: the hook
					 * hands over bios carrying either sector
					 */
	sector_t nr_sectors;
};

/* @cbt and @store belong to the snapshot. */
struct cow_pipeline *cow_pipeline_create(const struct cow_pipeline_config *cfg,
					 struct cbt_map *cbt,
					 struct cow_store *store);
/* Let every held bio go (copying what it needs first) and free. */
void cow_pipeline_destroy(struct cow_pipeline *p);

/*
 * A write to the snapshotted device. Returns true if the pipeline holds
 * @bio until its blocks are copied (it submits it later), false if the
 * caller submits it now: its blocks were copied already, or the snapshot
 * has failed (the change is then recorded here).
 */
bool cow_pipeline_write(struct cow_pipeline *p, struct bio *bio);

/*
 * Wait until every write handed to the pipeline so far has been copied and
 * released (the caller stops new ones first). Process context.
 */
void cow_pipeline_drain(struct cow_pipeline *p);

/* The snapshot failed: release held bios without copying. Any context. */
void cow_pipeline_fail(struct cow_pipeline *p);

/* A snapshot read from the origin of blocks [first, last]. */
struct origin_read {
	struct list_head node;
	u64 first, last;
	u64 seq;
};

void cow_pipeline_read_begin(struct cow_pipeline *p, struct origin_read *r);
void cow_pipeline_read_end(struct cow_pipeline *p, struct origin_read *r);

#endif
