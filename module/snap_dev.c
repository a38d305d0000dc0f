// SPDX-License-Identifier: GPL-2.0
/*
 * The snapshot image device (see snap_dev.h).
 *
 * Reads are served by a worker, never in the submitter's context: they may
 * need an index page read, and waiting for our own bios inside submit_bio
 * would deadlock on current->bio_list. The worker splits each read into runs
 * of sectors with the same source and sends clones of the original bio
 * there (no data copy); zero runs are filled in place.
 *
 * The race with copy-before-write: a read registers itself with the
 * pipeline before looking at the change bits, and the pipeline does not let
 * a write reach blocks it has just copied until the reads registered before
 * are done. So a run classified "origin" still sees the old data.
 */
#include "log.h"

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/mempool.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>

#include "cbt_map.h"
#include "compat.h"
#include "cow_file.h"
#include "cow_index.h"
#include "cow_pipeline.h"
#include "cow_store.h"
#include "direct_io.h"
#include "snap_dev.h"

#define BLOCK_SECTORS (BSNAP_COW_BLOCK_SIZE >> SECTOR_SHIFT)

struct snap_dev {
	struct snap_dev_config cfg;
	/* The snapshot this image shows (cfg's, for short). */
	struct cbt_map *cbt;
	struct cow_store *store;
	struct cow_pipeline *pipe;
	struct gendisk *disk;
	struct workqueue_struct *wq;
	struct work_struct work;
	spinlock_t lock;
	struct bio_list queue;
	atomic_t inflight;	/* reads accepted and not yet ended, + 1 */
};

/* One image bio being served. */
struct image_read {
	struct snap_dev *sd;
	struct bio *bio;
	struct origin_read origin;
	atomic_t pending;
	blk_status_t status;
};

enum run_kind { RUN_ZERO, RUN_ORIGIN, RUN_COW };

static int image_major;
static struct bio_set clone_set;
static mempool_t *read_pool;

/* The snapshot failed and its image must not be read any more. */
static bool image_failed(const struct snap_dev *sd)
{
	return READ_ONCE(*sd->cfg.error) && !sd->cfg.ignore_errors;
}

static void image_read_put(struct image_read *r)
{
	struct snap_dev *sd = r->sd;
	struct bio *bio = r->bio;

	if (!atomic_dec_and_test(&r->pending))
		return;
	cow_pipeline_read_end(sd->pipe, &r->origin);
	/* A snapshot that failed meanwhile may have served changed data. */
	if (image_failed(sd))
		r->status = BLK_STS_IOERR;
	bio->bi_status = r->status;
	mempool_free(r, read_pool);
	bio_endio(bio);
	/* wake_up_var() does not touch *sd, which may be gone after the dec. */
	if (atomic_dec_and_test(&sd->inflight))
		wake_up_var(&sd->inflight);
}

static void image_clone_end(struct bio *clone)
{
	struct image_read *r = clone->bi_private;

	if (clone->bi_status)
		cmpxchg(&r->status, BLK_STS_OK, clone->bi_status);
	bio_put(clone);
	image_read_put(r);
}

/*
 * Source of the image's sectors from @s on: *@kind, *@target the device
 * sector of @s, and *@span (at least 1) sectors from @s that have the same
 * source at consecutive device sectors. A span ends at the block's end (the
 * change map and the index go by block), at the end of the CoW file's
 * extent holding the copy, and where the CoW file's own sectors begin.
 */
static int image_classify(struct snap_dev *sd, sector_t s, u64 *cached_block,
			  u64 *cached_slot, enum run_kind *kind,
			  sector_t *target, u64 *span)
{
	struct cow_store *cs = sd->store;
	u64 block = s / BLOCK_SECTORS, contig;
	int ret;

	if (cow_store_reads_as_zero(cs, s, span)) {
		*kind = RUN_ZERO;
		return 0;
	}
	*span = min_t(u64, *span, (block + 1) * BLOCK_SECTORS - s);
	if (!cbt_map_test(sd->cbt, block)) {
		*kind = RUN_ORIGIN;
		*target = s;
		return 0;
	}
	if (block != *cached_block) {
		ret = cow_index_get(cs->index, block, cached_slot);
		if (ret)
			return ret;
		*cached_block = block;
	}
	if (!*cached_slot) {
		/*
		 * Once the snapshot has failed, writes only mark the change
		 * map, without a copy. With ignore-errors the image then
		 * serves what the origin holds now (maybe newer than the
		 * snapshot: that is what -i accepts). Otherwise a marked
		 * block without a copy is a bug: fail loudly.
		 */
		if (READ_ONCE(*sd->cfg.error) && sd->cfg.ignore_errors) {
			*kind = RUN_ORIGIN;
			*target = s;
			return 0;
		}
		return -EIO;
	}
	*kind = RUN_COW;
	ret = cow_file_map(cs->cf, cow_store_slot_off(cs, *cached_slot) +
				   (s % BLOCK_SECTORS) * SECTOR_SIZE,
			   target, &contig);
	if (ret)
		return ret;
	*span = min_t(u64, *span, max_t(u64, contig >> SECTOR_SHIFT, 1));
	return 0;
}

static void image_issue(struct image_read *r, enum run_kind kind,
			unsigned int done, unsigned int len, sector_t target)
{
	struct bio *bio = r->bio;
	struct bvec_iter iter = bio->bi_iter;
	struct bio_vec bv;
	struct bio *clone;

	if (kind == RUN_ZERO) {
		bio_advance_iter(bio, &iter, done << SECTOR_SHIFT);
		iter.bi_size = len << SECTOR_SHIFT;
		__bio_for_each_segment(bv, bio, iter, iter)
			memzero_bvec(&bv);
		return;
	}
	clone = bio_alloc_clone(r->sd->cfg.origin, bio, GFP_NOIO,
				&clone_set);
	bio_advance(clone, done << SECTOR_SHIFT);
	clone->bi_iter.bi_size = len << SECTOR_SHIFT;
	clone->bi_iter.bi_sector = target;
	clone->bi_end_io = image_clone_end;
	clone->bi_private = r;
	atomic_inc(&r->pending);
	bsnap_submit_own(clone);
}

static void image_serve(struct snap_dev *sd, struct bio *bio)
{
	sector_t start = bio->bi_iter.bi_sector;
	unsigned int nr = bio_sectors(bio), done = 0, len;
	u64 cached_block = U64_MAX, cached_slot = 0, span;
	enum run_kind kind, next_kind;
	sector_t target, next_target;
	struct image_read *r;
	int ret = 0;

	r = mempool_alloc(read_pool, GFP_NOIO);
	r->sd = sd;
	r->bio = bio;
	r->status = BLK_STS_OK;
	atomic_set(&r->pending, 1);
	r->origin.first = start / BLOCK_SECTORS;
	r->origin.last = (start + nr - 1) / BLOCK_SECTORS;
	cow_pipeline_read_begin(sd->pipe, &r->origin);

	/* Runs of sectors with one source, one clone bio (or zeroing) each. */
	while (done < nr) {
		ret = image_classify(sd, start + done, &cached_block,
				     &cached_slot, &kind, &target, &span);
		if (ret)
			break;
		len = min_t(u64, span, nr - done);
		while (done + len < nr) {
			ret = image_classify(sd, start + done + len,
					     &cached_block, &cached_slot,
					     &next_kind, &next_target, &span);
			if (ret || next_kind != kind ||
			    (kind != RUN_ZERO && next_target != target + len))
				break;
			len += min_t(u64, span, nr - done - len);
		}
		if (ret)
			break;
		image_issue(r, kind, done, len, target);
		done += len;
	}
	if (ret)
		r->status = errno_to_blk_status(ret);
	image_read_put(r);
}

static void image_work(struct work_struct *work)
{
	struct snap_dev *sd = container_of(work, struct snap_dev, work);
	struct bio *bio;

	for (;;) {
		spin_lock_irq(&sd->lock);
		bio = bio_list_pop(&sd->queue);
		spin_unlock_irq(&sd->lock);
		if (!bio)
			return;
		image_serve(sd, bio);
	}
}

static void image_queue_bio(struct bio *bio)
{
	struct snap_dev *sd = bsnap_bio_disk(bio)->private_data;
	unsigned long flags;

	if (bio_op(bio) != REQ_OP_READ) {
		/* Read-only image: only empty flushes succeed. */
		if (!op_is_flush(bio->bi_opf) || bio_sectors(bio))
			bio->bi_status = BLK_STS_IOERR;
		bio_endio(bio);
		return;
	}
	if (!bio_sectors(bio)) {
		bio_endio(bio);
		return;
	}
	if (image_failed(sd)) {
		bio_io_error(bio);
		return;
	}
	atomic_inc(&sd->inflight);
	spin_lock_irqsave(&sd->lock, flags);
	bio_list_add(&sd->queue, bio);
	spin_unlock_irqrestore(&sd->lock, flags);
	queue_work(sd->wq, &sd->work);
}

BSNAP_SUBMIT_BIO(image_submit_bio, image_queue_bio)

static const struct block_device_operations image_fops = {
	.owner = THIS_MODULE,
	.submit_bio = image_submit_bio,
};

struct snap_dev *snap_dev_create(const struct snap_dev_config *cfg)
{
	struct block_device *origin = cfg->origin;
	struct snap_dev *sd;
	struct gendisk *disk;
	int ret = -ENOMEM;

	sd = kzalloc(sizeof(*sd), GFP_KERNEL);
	if (!sd)
		return ERR_PTR(-ENOMEM);
	sd->cfg = *cfg;
	sd->cbt = cfg->cbt;
	sd->store = cfg->store;
	sd->pipe = cfg->pipe;
	spin_lock_init(&sd->lock);
	bio_list_init(&sd->queue);
	INIT_WORK(&sd->work, image_work);
	atomic_set(&sd->inflight, 1); /* dropped by destroy */

	sd->wq = alloc_workqueue("bsnap%u-read", WQ_MEM_RECLAIM | WQ_UNBOUND,
				 1, cfg->minor);
	if (!sd->wq)
		goto err_free;

	disk = bsnap_alloc_disk(bdev_logical_block_size(origin),
				bdev_physical_block_size(origin));
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		goto err_wq;
	}
	disk->major = image_major;
	disk->first_minor = cfg->minor;
	disk->minors = 1;
	disk->fops = &image_fops;
	disk->private_data = sd;
	disk->flags |= GENHD_FL_NO_PART;
	snprintf(disk->disk_name, DISK_NAME_LEN, BSNAP_DEV_PREFIX "%u",
		 cfg->minor);
	set_capacity(disk, cfg->nr_sectors);
	set_disk_ro(disk, true);
	sd->disk = disk;

	ret = add_disk(disk);
	if (ret)
		goto err_disk;
	return sd;

err_disk:
	bsnap_put_disk(disk);
err_wq:
	destroy_workqueue(sd->wq);
err_free:
	kfree(sd);
	return ERR_PTR(ret);
}

void snap_dev_destroy(struct snap_dev *sd)
{
	del_gendisk(sd->disk);
	/* del_gendisk() does not wait for bio-based I/O: drain it here. */
	flush_workqueue(sd->wq);
	atomic_dec(&sd->inflight);
	wait_var_event(&sd->inflight, atomic_read(&sd->inflight) == 0);
	destroy_workqueue(sd->wq);
	bsnap_put_disk(sd->disk);
	kfree(sd);
}

int snap_dev_init(void)
{
	int ret;

	image_major = register_blkdev(0, BSNAP_DEV_PREFIX);
	if (image_major < 0)
		return image_major;
	ret = bioset_init(&clone_set, 64, 0, 0);
	if (ret)
		goto err_major;
	read_pool = mempool_create_kmalloc_pool(64, sizeof(struct image_read));
	if (!read_pool) {
		ret = -ENOMEM;
		goto err_bioset;
	}
	return 0;

err_bioset:
	bioset_exit(&clone_set);
err_major:
	unregister_blkdev(image_major, BSNAP_DEV_PREFIX);
	return ret;
}

void snap_dev_exit(void)
{
	mempool_destroy(read_pool);
	bioset_exit(&clone_set);
	unregister_blkdev(image_major, BSNAP_DEV_PREFIX);
}
