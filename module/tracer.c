// SPDX-License-Identifier: GPL-2.0
/*
 * The table of traced devices and the per-bio hot path.
 *
 * The table is an RCU list, written under bsnap_ctl_mutex. The hook looks a
 * bio's device up in it; a tracer found there stays valid for the whole
 * hook invocation because destroy unpublishes it and then waits for
 * bsnap_hook_sync() before freeing anything.
 */
#include "log.h"

#include <linux/bio.h>
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/mutex.h>
#include <linux/rculist.h>

#include "bio_hook.h"
#include "cbt_map.h"
#include "cow_file.h"
#include "cow_pipeline.h"
#include "cow_store.h"
#include "direct_io.h"
#include "events.h"
#include "passthrough.h"
#include "tracer.h"
#include "write_intent.h"

DEFINE_MUTEX(bsnap_ctl_mutex);
DEFINE_MUTEX(bsnap_fs_mutex);
static LIST_HEAD(tracers);

struct tracer *tracer_find_minor(unsigned int minor)
{
	struct tracer *t;

	lockdep_assert_held(&bsnap_ctl_mutex);
	list_for_each_entry(t, &tracers, node)
		if (t->minor == minor)
			return t;
	return NULL;
}

struct tracer *tracer_find_dev(dev_t dev)
{
	struct tracer *t;

	list_for_each_entry_rcu(t, &tracers, node,
				lockdep_is_held(&bsnap_ctl_mutex) ||
				lockdep_is_held(&bsnap_fs_mutex))
		if (t->dev == dev)
			return t;
	return NULL;
}

void tracer_publish(struct tracer *t)
{
	struct tracer *pos;

	lockdep_assert_held(&bsnap_ctl_mutex);
	mutex_lock(&bsnap_fs_mutex);
	/* Keep the list in minor order for info and /proc. */
	list_for_each_entry(pos, &tracers, node) {
		if (pos->minor > t->minor)
			break;
	}
	list_add_tail_rcu(&t->node, &pos->node);
	mutex_unlock(&bsnap_fs_mutex);
}

void tracer_unpublish(struct tracer *t)
{
	lockdep_assert_held(&bsnap_ctl_mutex);
	mutex_lock(&bsnap_fs_mutex);
	list_del_rcu(&t->node);
	mutex_unlock(&bsnap_fs_mutex);
}

struct tracer *tracer_first(void)
{
	lockdep_assert_held(&bsnap_ctl_mutex);
	return list_first_entry_or_null(&tracers, struct tracer, node);
}

void tracer_for_each(void (*fn)(struct tracer *t, void *arg), void *arg)
{
	struct tracer *t;

	lockdep_assert_held(&bsnap_ctl_mutex);
	list_for_each_entry(t, &tracers, node)
		fn(t, arg);
}

/*
 * Splits of writes that straddle the edge of a traced device. A mempool
 * behind it: GFP_NOIO allocations from it wait, they never fail; the
 * rescuer keeps a stacked driver's recursion (bios parked on
 * current->bio_list) from waiting for splits that cannot complete.
 */
static struct bio_set split_bs;

int bsnap_tracer_init(void)
{
	return bioset_init(&split_bs, BIO_POOL_SIZE, 0, BIOSET_NEED_RESCUER);
}

void bsnap_tracer_exit(void)
{
	bioset_exit(&split_bs);
}

static bool tracer_disk_traced(struct gendisk *disk)
{
	struct tracer *t;
	bool found = false;

	rcu_read_lock();
	list_for_each_entry_rcu(t, &tracers, node) {
		if (t->disk == disk) {
			found = true;
			break;
		}
	}
	rcu_read_unlock();
	return found;
}

/*
 * The tracer of @disk whose device holds sector @start (NULL if none), and
 * in *@cut the first sector from @start on where that changes: the end of
 * the tracer's device or the start of another one, at most @end. Traced
 * devices of one disk never overlap.
 */
static struct tracer *tracer_at(struct gendisk *disk, sector_t start,
				sector_t end, sector_t *cut)
{
	struct tracer *t, *found = NULL;

	*cut = end;
	rcu_read_lock();
	list_for_each_entry_rcu(t, &tracers, node) {
		if (t->disk != disk)
			continue;
		if (start >= t->start_sect &&
		    start - t->start_sect < t->nr_sectors) {
			found = t;
			*cut = min(*cut, t->start_sect + t->nr_sectors);
		} else if (t->start_sect > start && t->start_sect < *cut) {
			*cut = t->start_sect;
		}
	}
	rcu_read_unlock();
	return found;
}

/*
 * A write to a disk that holds traced devices, sent to the disk or to any
 * of its partitions: cut it at the edges of the traced devices and give
 * each piece to the tracer whose device holds it. The tracers stay valid
 * while the hook runs (bsnap_hook_sync), whether or not still in the table.
 */
static bool tracer_route_bio(struct gendisk *disk, struct bio *bio)
{
	for (;;) {
		sector_t start = bsnap_bio_disk_sector(bio), cut;
		struct tracer *t;
		struct bio *piece = bio;
		bool taken;

		t = tracer_at(disk, start, start + bio_sectors(bio), &cut);
		if (cut < start + bio_sectors(bio)) {
			/* Rare: only a write across a traced device's edge. */
			if (bio->bi_opf & REQ_NOWAIT) {
				bio_wouldblock_error(bio);
				return true;
			}
			piece = bio_split(bio, cut - start, GFP_NOIO, &split_bs);
			if (!piece) {
				/* Zone append: never on a traced disk. */
				if (t)
					tracer_break_chain(t, -EIO);
				return false;
			}
			bio_chain(piece, bio);
		}
		taken = t && tracer_trace_bio(t, piece);
		if (piece == bio)
			return taken;
		if (!taken)
			bsnap_submit_own(piece);
	}
}

bool tracer_handle_bio(struct bio *bio)
{
	struct gendisk *disk;

	if (!op_is_write(bio_op(bio)) || !bio_sectors(bio))
		return false;
	disk = bsnap_bio_disk(bio);
	if (!tracer_disk_traced(disk))
		return false;
	return tracer_route_bio(disk, bio);
}

/*
 * A passthrough command to a disk that holds traced devices: if it may
 * change data, no copy was made and no block recorded, so each of them
 * loses its snapshot and its chain. Atomic context (a kprobe).
 */
void tracer_handle_passthrough(struct request *rq)
{
	bool classified = false, may_write = false;
	struct tracer *t;
	char desc[64];

	rcu_read_lock();
	list_for_each_entry_rcu(t, &tracers, node) {
		if (t->disk->queue != rq->q)
			continue;
		if (!classified) {
			may_write = passthrough_may_write(rq, t->disk, desc,
							  sizeof(desc));
			classified = true;
		}
		if (!may_write)
			break;
		if (t->chain_broken)
			continue;
		pr_err("bsnap%u: a %s to %s may have changed the device behind bsnap's back: snapshot and incremental chain lost, take a full backup\n",
		       t->minor, desc, t->disk->disk_name);
		tracer_set_error(t, -ESTALE);
		tracer_break_chain(t, -ESTALE);
	}
	rcu_read_unlock();
}

bool tracer_disk_range_free(struct gendisk *disk, sector_t start, sector_t nr)
{
	struct tracer *t;

	lockdep_assert_held(&bsnap_ctl_mutex);
	list_for_each_entry(t, &tracers, node) {
		if (t->disk == disk && start < t->start_sect + t->nr_sectors &&
		    t->start_sect < start + nr)
			return false;
	}
	return true;
}

/*
 * Hold @bio while the header on disk says CLEAN (see tracer_seal.c). A
 * write that lies wholly in the CoW file is bsnap's own (a split of its
 * metadata or data write, resubmitted from block-core text): holding it
 * would deadlock the seal that waits for it. Its blocks are in every
 * incremental anyway, and the bitmap's CRC in the header catches anybody
 * else writing there.
 */
static bool tracer_hold_sealed(struct tracer *t, struct bio *bio)
{
	struct cow_store *cs = READ_ONCE(t->store);
	unsigned long flags;

	if (cs && cow_file_owns_range(cs->cf, tracer_bio_sector(t, bio),
				      bio_sectors(bio)))
		return false;

	spin_lock_irqsave(&t->seal_lock, flags);
	if (!t->sealed) {
		spin_unlock_irqrestore(&t->seal_lock, flags);
		return false;
	}
	if (bio->bi_opf & REQ_NOWAIT) {
		spin_unlock_irqrestore(&t->seal_lock, flags);
		bio_wouldblock_error(bio);
		return true;
	}
	bio_list_add(&t->sealed_bios, bio);
	spin_unlock_irqrestore(&t->seal_lock, flags);
	tracer_unseal_async(t);
	return true;
}

bool tracer_trace_bio(struct tracer *t, struct bio *bio)
{
	struct cow_pipeline *pipe;
	struct cow_store *store;
	struct cbt_map *cbt;
	sector_t sector;
	u64 first, last;

	if (unlikely(READ_ONCE(t->sealed)) && tracer_hold_sealed(t, bio))
		return true;

	/*
	 * A transition to snapshot publishes the new pipeline before the new
	 * change map (tracer_switch_mode): reading them in the other order,
	 * a write that sees the new map also sees the pipeline that copies.
	 */
	cbt = smp_load_acquire(&t->cbt);
	pipe = READ_ONCE(t->pipe);
	store = READ_ONCE(t->store);
	sector = tracer_bio_sector(t, bio);
	cbt_map_block_range(cbt, sector, bio_sectors(bio), &first, &last);
	if (pipe) {
		if (unlikely(bsnap_bio_has_payload(bio)) && !tracer_error(t)) {
			/*
			 * Its data is bound to a key or to integrity tuples
			 * the copy cannot carry: the snapshot fails, the
			 * write goes on and is recorded (the pipeline marks
			 * it once failed).
			 */
			pr_err("bsnap%u: a write with an inline-encryption context or integrity payload cannot be copied exactly\n",
			       t->minor);
			tracer_set_error(t, -EOPNOTSUPP);
		}
		/* The write-intent bit before the copy: see write_intent.h. */
		if (store && !cow_store_admit(store, first, last, sector, bio))
			return true;
		return cow_pipeline_write(pipe, bio);
	}

	/* The change bits before the write-intent bits: write_intent.c. */
	cbt_map_mark_changed(cbt, first, last);
	return store && !cow_store_admit(store, first, last, sector, bio);
}

void tracer_break_chain(struct tracer *t, int error)
{
	t->chain_broken = true;
	cmpxchg(&t->error, 0, error);
	tracer_event(t, BSNAP_EVENT_FAILED);
	/* Else a crash leaves a file that says it names every change. */
	tracer_write_broken_async(t);
}

static void tracer_intent_release(void *owner, struct bio *bio)
{
	if (!tracer_trace_bio(owner, bio))
		bsnap_submit_own(bio);
}

static void tracer_intent_failed(void *owner, int error)
{
	struct tracer *t = owner;

	pr_err("bsnap%u: changes may be missing after a crash: the chain is broken, take a full backup\n",
	       t->minor);
	tracer_break_chain(t, error);
}

static const struct write_intent_ops tracer_intent_ops = {
	.release = tracer_intent_release,
	.failed = tracer_intent_failed,
};

int tracer_start_intent(struct tracer *t, struct cow_store *store,
			struct cbt_map *cbt, bool incremental)
{
	int ret = cow_store_start_intent(store, cbt, &tracer_intent_ops, t,
					 t->minor);

	if (!ret)
		cow_store_intent_cleaning(store, incremental);
	return ret;
}

void tracer_event(const struct tracer *t, const char *event)
{
	bsnap_event(t->minor, tracer_state_bits(t), tracer_error(t), event);
}

static void tracer_pipe_failed(void *owner, int error)
{
	tracer_set_error(owner, error);
}

static void tracer_pipe_low(void *owner)
{
	tracer_event(owner, BSNAP_EVENT_COW_LOW);
}

static const struct cow_pipeline_ops tracer_pipe_ops = {
	.failed = tracer_pipe_failed,
	.low = tracer_pipe_low,
};

struct cow_pipeline *tracer_pipeline_create(struct tracer *t,
					    struct cbt_map *cbt,
					    struct cow_store *store)
{
	struct cow_pipeline_config cfg = {
		.ops = &tracer_pipe_ops,
		.owner = t,
		.minor = t->minor,
		.origin = t->bdev_ref.bdev,
		.origin_start = t->start_sect,
		.nr_sectors = t->nr_sectors,
	};

	return cow_pipeline_create(&cfg, cbt, store);
}

void tracer_set_error(struct tracer *t, int error)
{
	struct cow_pipeline *pipe;

	if (cmpxchg(&t->error, 0, error) != 0)
		return;
	pr_err("bsnap%u: snapshot failed with error %d; the device keeps working and changes are still tracked\n",
	       t->minor, error);
	tracer_event(t, BSNAP_EVENT_FAILED);
	pipe = READ_ONCE(t->pipe);
	if (pipe)
		cow_pipeline_fail(pipe);
}
