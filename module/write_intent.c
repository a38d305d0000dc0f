// SPDX-License-Identifier: GPL-2.0
/*
 * Write intent (write_intent.h).
 *
 * Four bitmaps of one bit per region:
 *   durable  the region's bit is on disk: writes to it go on at once;
 *   quiet    nobody wrote to the region since the last tick set this;
 *   ondisk   the bitmap as written last (the mutex);
 *   pending  regions a held write waits for (the spinlock).
 *
 * Clearing a region races with writes to it; the change bits and the two
 * barriers of write_intent_ready() against those of wi_clean() make it safe:
 *
 *   ready (hook)                     tick
 *   set change bits                  set quiet (previous tick)
 *   smp_mb()                         smp_mb()
 *   clear quiet                      write the change bitmap's pages
 *   smp_mb()                         clear durable
 *   test durable                     smp_mb()
 *                                    test quiet
 *
 * A write that clears quiet after the tick set it and before the tick tests
 * it keeps the region (the tick sets durable back). A write whose clear of
 * quiet came before the tick set it has its change bits set before that,
 * so they are in the pages the tick writes. A write that finds durable
 * clear is held until the region's bit is on disk again.
 */
#include "log.h"

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include "cbt_map.h"
#include "cow_file.h"
#include "write_intent.h"

/* A region's writes must pause this long before its bit is cleared. */
#define WI_TICK (5 * HZ)
#define WI_PAGE_SIZE 4096u
#define WI_BITS_PER_PAGE (WI_PAGE_SIZE * BITS_PER_BYTE)
/* Bitmap pages of at most BSNAP_COW_INTENT_REGIONS_MAX regions. */
#define WI_MAX_PAGES (BSNAP_COW_INTENT_REGIONS_MAX / WI_BITS_PER_PAGE)

static struct workqueue_struct *wi_wq;

struct write_intent {
	const struct write_intent_ops *ops;
	void *owner;
	unsigned int minor;
	struct cow_file *cf;
	struct cbt_map *cbt;
	u64 intent_off;
	u64 bitmap_off;
	u64 nr_blocks;
	unsigned long nr_regions;
	unsigned int region_shift;	/* log2 of the blocks of a region */

	unsigned long *durable;
	unsigned long *quiet;
	unsigned long *ondisk;		/* mutex */
	unsigned long *pending;		/* lock */
	unsigned long *scratch;		/* mutex */

	spinlock_t lock;
	struct bio_list held;		/* lock */
	struct mutex mutex;		/* bitmap writes */
	struct work_struct flush;
	struct delayed_work tick;
	void *page;			/* an I/O buffer; mutex */
	bool cleaning;
	bool dying;
	int error;
};

static unsigned long *wi_bitmap(unsigned long nbits)
{
	return kvcalloc(BITS_TO_LONGS(nbits), sizeof(unsigned long),
			GFP_KERNEL);
}

static void wi_free(struct write_intent *wi)
{
	kvfree(wi->durable);
	kvfree(wi->quiet);
	kvfree(wi->ondisk);
	kvfree(wi->pending);
	kvfree(wi->scratch);
	kfree(wi->page);
	kfree(wi);
}

static void wi_flush_work(struct work_struct *work);
static void wi_tick_work(struct work_struct *work);

struct write_intent *write_intent_create(const struct write_intent_config *c)
{
	const struct bsnap_cow_layout *l = c->lay;
	struct write_intent *wi;

	if (WARN_ON_ONCE(l->version < 4 || !l->nr_regions ||
			 l->nr_regions > BSNAP_COW_INTENT_REGIONS_MAX))
		return ERR_PTR(-EINVAL);
	wi = kzalloc(sizeof(*wi), GFP_KERNEL);
	if (!wi)
		return ERR_PTR(-ENOMEM);
	wi->ops = c->ops;
	wi->owner = c->owner;
	wi->minor = c->minor;
	wi->cf = c->cf;
	wi->cbt = c->cbt;
	wi->intent_off = l->intent_off;
	wi->bitmap_off = l->bitmap_off;
	wi->nr_blocks = l->nr_blocks;
	wi->nr_regions = l->nr_regions;
	wi->region_shift = l->intent_shift - BSNAP_COW_BLOCK_SHIFT;
	wi->durable = wi_bitmap(wi->nr_regions);
	wi->quiet = wi_bitmap(wi->nr_regions);
	wi->ondisk = wi_bitmap(wi->nr_regions);
	wi->pending = wi_bitmap(wi->nr_regions);
	wi->scratch = wi_bitmap(wi->nr_regions);
	wi->page = kmalloc(WI_PAGE_SIZE, GFP_KERNEL);
	if (!wi->durable || !wi->quiet || !wi->ondisk || !wi->pending ||
	    !wi->scratch || !wi->page) {
		wi_free(wi);
		return ERR_PTR(-ENOMEM);
	}
	if (c->ondisk) {
		bsnap_bitmap_import(wi->ondisk, wi->nr_regions, c->ondisk,
				    l->intent_len);
		bitmap_copy(wi->durable, wi->ondisk, wi->nr_regions);
	}
	spin_lock_init(&wi->lock);
	bio_list_init(&wi->held);
	mutex_init(&wi->mutex);
	INIT_WORK(&wi->flush, wi_flush_work);
	INIT_DELAYED_WORK(&wi->tick, wi_tick_work);
	queue_delayed_work(wi_wq, &wi->tick, WI_TICK);
	return wi;
}

void write_intent_drain(struct write_intent *wi)
{
	bool held;

	/* A released write may be held again for another region: repeat. */
	do {
		flush_work(&wi->flush);
		spin_lock_irq(&wi->lock);
		held = !bio_list_empty(&wi->held);
		spin_unlock_irq(&wi->lock);
		if (held)
			queue_work(wi_wq, &wi->flush);
	} while (held);
}

void write_intent_destroy(struct write_intent *wi)
{
	if (!wi)
		return;
	WRITE_ONCE(wi->dying, true);
	cancel_delayed_work_sync(&wi->tick);
	write_intent_drain(wi);
	wi_free(wi);
}

bool write_intent_ready(struct write_intent *wi, u64 first, u64 last)
{
	unsigned long r0, r1, r;

	if (first >= wi->nr_blocks)
		return true;
	last = min(last, wi->nr_blocks - 1);
	r0 = first >> wi->region_shift;
	r1 = last >> wi->region_shift;

	/* Orders the caller's change bits before quiet (top of the file). */
	smp_mb();
	for (r = find_next_bit(wi->quiet, r1 + 1, r0); r <= r1;
	     r = find_next_bit(wi->quiet, r1 + 1, r + 1))
		clear_bit(r, wi->quiet);
	/* Quiet before durable; wi_clean() orders durable before quiet. */
	smp_mb();
	if (likely(find_next_zero_bit(wi->durable, r1 + 1, r0) > r1))
		return true;
	/* The chain is broken already: holding writes would gain nothing. */
	return READ_ONCE(wi->error);
}

bool write_intent_hold(struct write_intent *wi, u64 first, u64 last,
		       struct bio *bio)
{
	unsigned long r0, r1, r, flags;
	bool wait = false;

	last = min(last, wi->nr_blocks - 1);
	r0 = first >> wi->region_shift;
	r1 = last >> wi->region_shift;
	spin_lock_irqsave(&wi->lock, flags);
	for (r = find_next_zero_bit(wi->durable, r1 + 1, r0); r <= r1;
	     r = find_next_zero_bit(wi->durable, r1 + 1, r + 1)) {
		__set_bit(r, wi->pending);
		wait = true;
	}
	if (wait && !(bio->bi_opf & REQ_NOWAIT))
		bio_list_add(&wi->held, bio);
	spin_unlock_irqrestore(&wi->lock, flags);
	if (!wait)
		return false;
	queue_work(wi_wq, &wi->flush);
	if (bio->bi_opf & REQ_NOWAIT)
		bio_wouldblock_error(bio);
	return true;
}

/* Write intent bitmap page @p as @wi->ondisk has it. Mutex held. */
static int wi_write_page(struct write_intent *wi, unsigned long p,
			 blk_opf_t flags)
{
	unsigned long first = p * WI_BITS_PER_PAGE;

	bsnap_bitmap_export(wi->ondisk + first / BITS_PER_LONG,
			    wi->nr_regions - first, wi->page, WI_PAGE_SIZE);
	return cow_file_rw_sync(wi->cf, REQ_OP_WRITE | flags,
				wi->intent_off + (u64)p * WI_PAGE_SIZE,
				wi->page, WI_PAGE_SIZE);
}

static void wi_fail(struct write_intent *wi, int error)
{
	if (cmpxchg(&wi->error, 0, error) != 0)
		return;
	pr_err("bsnap%u: cannot write the CoW file's write-intent bitmap (%d)\n",
	       wi->minor, error);
	wi->ops->failed(wi->owner, error);
}

/* Put the pending regions' bits on disk, then let their writes go. */
static void wi_flush_work(struct work_struct *work)
{
	struct write_intent *wi = container_of(work, struct write_intent,
					       flush);
	DECLARE_BITMAP(pages, WI_MAX_PAGES);
	struct bio_list held = BIO_EMPTY_LIST;
	unsigned long r, p;
	struct bio *bio;
	int ret = 0;

	mutex_lock(&wi->mutex);
	bitmap_zero(pages, WI_MAX_PAGES);
	bitmap_zero(wi->scratch, wi->nr_regions);
	spin_lock_irq(&wi->lock);
	for_each_set_bit(r, wi->pending, wi->nr_regions) {
		__clear_bit(r, wi->pending);
		__set_bit(r, wi->scratch);
		__set_bit(r, wi->ondisk);
		__set_bit(r / WI_BITS_PER_PAGE, pages);
	}
	spin_unlock_irq(&wi->lock);

	for_each_set_bit(p, pages, WI_MAX_PAGES) {
		ret = wi_write_page(wi, p, REQ_FUA);
		if (ret) {
			wi_fail(wi, ret);
			break;
		}
	}

	spin_lock_irq(&wi->lock);
	if (!ret)
		for_each_set_bit(r, wi->scratch, wi->nr_regions)
			set_bit(r, wi->durable);
	bio_list_merge(&held, &wi->held);
	bio_list_init(&wi->held);
	spin_unlock_irq(&wi->lock);
	mutex_unlock(&wi->mutex);

	while ((bio = bio_list_pop(&held)))
		wi->ops->release(wi->owner, bio);
}

/* The change bitmap's pages that cover the regions in @wi->scratch. */
static int wi_write_changes(struct write_intent *wi)
{
	unsigned long r, p, p0, p1, next = 0;
	u64 b0, b1;
	int ret;

	for_each_set_bit(r, wi->scratch, wi->nr_regions) {
		b0 = (u64)r << wi->region_shift;
		b1 = min_t(u64, b0 + (1ULL << wi->region_shift),
			   wi->nr_blocks);
		p0 = max_t(u64, b0 / WI_BITS_PER_PAGE, next);
		p1 = (b1 - 1) / WI_BITS_PER_PAGE;
		for (p = p0; p <= p1; p++) {
			cbt_map_export_page(wi->cbt, p, wi->page, WI_PAGE_SIZE);
			ret = cow_file_rw_sync(wi->cf, REQ_OP_WRITE,
					       wi->bitmap_off +
						       (u64)p * WI_PAGE_SIZE,
					       wi->page, WI_PAGE_SIZE);
			if (ret)
				return ret;
		}
		next = p1 + 1;
	}
	return blkdev_issue_flush(wi->cf->bdev);
}

/* Clear the regions nobody wrote to since the last tick. Mutex held. */
static void wi_clean(struct write_intent *wi)
{
	DECLARE_BITMAP(pages, WI_MAX_PAGES);
	unsigned long r, p;
	int ret;

	if (!bitmap_and(wi->scratch, wi->durable, wi->quiet, wi->nr_regions))
		return;
	/* The tick's quiet bits before the change bits it exports. */
	smp_mb();
	ret = wi_write_changes(wi);
	if (ret) {
		wi_fail(wi, ret);
		return;
	}
	bitmap_zero(pages, WI_MAX_PAGES);
	for_each_set_bit(r, wi->scratch, wi->nr_regions) {
		clear_bit(r, wi->durable);
		/* Durable before quiet: write_intent_ready() does the reverse. */
		smp_mb__after_atomic();
		if (!test_bit(r, wi->quiet)) {
			/* A write came: it may not be in the pages. */
			set_bit(r, wi->durable);
			continue;
		}
		__clear_bit(r, wi->ondisk);
		__set_bit(r / WI_BITS_PER_PAGE, pages);
	}
	/* No hurry: until these land the old pages only mark more. */
	for_each_set_bit(p, pages, WI_MAX_PAGES) {
		ret = wi_write_page(wi, p, 0);
		if (ret) {
			wi_fail(wi, ret);
			return;
		}
	}
}

static void wi_tick_work(struct work_struct *work)
{
	struct write_intent *wi = container_of(to_delayed_work(work),
					       struct write_intent, tick);
	unsigned long r;

	mutex_lock(&wi->mutex);
	if (READ_ONCE(wi->cleaning) && !READ_ONCE(wi->error))
		wi_clean(wi);
	/* Every marked region starts the next tick quiet. */
	for_each_set_bit(r, wi->durable, wi->nr_regions)
		set_bit(r, wi->quiet);
	/* Quiet before the next tick's export of the change bits. */
	smp_mb__after_atomic();
	mutex_unlock(&wi->mutex);
	if (!READ_ONCE(wi->dying))
		queue_delayed_work(wi_wq, &wi->tick, WI_TICK);
}

void write_intent_lock(struct write_intent *wi)
{
	mutex_lock(&wi->mutex);
}

void write_intent_unlock(struct write_intent *wi)
{
	mutex_unlock(&wi->mutex);
}

void write_intent_set_cleaning(struct write_intent *wi, bool on)
{
	WRITE_ONCE(wi->cleaning, on);
}

u64 write_intent_marked(struct write_intent *wi)
{
	return bitmap_weight(wi->durable, wi->nr_regions);
}

int bsnap_write_intent_init(void)
{
	/* Held writes wait for it: it must make progress under reclaim. */
	wi_wq = alloc_workqueue("bsnap_intent", WQ_MEM_RECLAIM, 0);
	return wi_wq ? 0 : -ENOMEM;
}

void bsnap_write_intent_exit(void)
{
	destroy_workqueue(wi_wq);
}
