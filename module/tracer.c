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
#include <linux/blkdev.h>
#include <linux/mutex.h>
#include <linux/rculist.h>

#include "cbt_map.h"
#include "cow_file.h"
#include "cow_pipeline.h"
#include "cow_store.h"
#include "events.h"
#include "tracer.h"

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

bool tracer_handle_bio(struct bio *bio)
{
	struct tracer *t;

	if (!op_is_write(bio_op(bio)) || !bio_sectors(bio))
		return false;

	rcu_read_lock();
	t = tracer_find_dev(bio->bi_bdev->bd_dev);
	rcu_read_unlock();
	if (!t)
		return false;
	return tracer_trace_bio(t, bio);
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

	if (cs && cow_file_owns_range(cs->cf, tracer_bio_sector(bio),
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
	struct cbt_map *cbt;
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
	if (pipe)
		return cow_pipeline_write(pipe, bio);

	cbt_map_block_range(cbt, tracer_bio_sector(bio), bio_sectors(bio),
			    &first, &last);
	cbt_map_set_range(cbt, first, last);
	return false;
}

void tracer_break_chain(struct tracer *t, int error)
{
	t->chain_broken = true;
	cmpxchg(&t->error, 0, error);
	bsnap_event(t, "failed");
}

void tracer_set_error(struct tracer *t, int error)
{
	struct cow_pipeline *pipe;

	if (cmpxchg(&t->error, 0, error) != 0)
		return;
	pr_err("bsnap%u: snapshot failed with error %d; the device keeps working and changes are still tracked\n",
	       t->minor, error);
	bsnap_event(t, "failed");
	pipe = READ_ONCE(t->pipe);
	if (pipe)
		cow_pipeline_fail(pipe);
}
