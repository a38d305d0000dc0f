// SPDX-License-Identifier: GPL-2.0
/*
 * Copy-before-write (see cow_pipeline.h).
 *
 * The worker takes held bios in arrival order and collects, for each, the
 * runs of its blocks whose change bit is still clear. When the copy buffer
 * or the run table is full, or no bio is waiting, it commits the batch:
 *   1. read the runs from the origin into the copy buffer (parallel bios),
 *   2. write them to the next data slots of the CoW file (consecutive runs of
 *      slots: space added to a growing file may come in pieces),
 *   3. record each block's slot in the index,
 *   4. set the change bits (now "copied") under the pipeline lock,
 *   5. wait for snapshot reads from the origin that began before step 4 and
 *      overlap the runs (they must see the old data),
 *   6. submit the batch's bios.
 * Only the worker sets change bits in snapshot mode, so the bits it reads
 * while collecting cannot change under it.
 */
#include "log.h"

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "cbt_map.h"
#include "compat.h"
#include "cow_file.h"
#include "cow_index.h"
#include "cow_pipeline.h"
#include "cow_store.h"
#include "direct_io.h"

#define PIPE_MAX_HELD 512
#define PIPE_BUF_BLOCKS 256 /* 1 MiB of copy buffer per traced device */
#define PIPE_MAX_RUNS 64
#define BLOCK_SECTORS (BSNAP_COW_BLOCK_SIZE >> SECTOR_SHIFT)

struct copy_run {
	u64 first;
	u64 nr;
};

/* Consecutive data slots for a part of the copy buffer. */
struct slot_piece {
	u64 slot;
	unsigned int nr;
};

struct cow_pipeline {
	struct cow_pipeline_config cfg;
	struct cbt_map *cbt;		/* this snapshot's change map */
	struct cow_store *store;	/* this snapshot's CoW file */
	struct workqueue_struct *wq;
	struct work_struct work;

	spinlock_t lock;		/* protects the fields up to reads_done */
	struct bio_list held;		/* waiting for the worker */
	unsigned int nr_held;		/* held or in the worker's batch */
	bool failed;
	wait_queue_head_t room;
	struct list_head reads;		/* struct origin_read in flight */
	u64 read_seq;
	wait_queue_head_t reads_done;

	/* Worker only. */
	struct page *buf[PIPE_BUF_BLOCKS];
	struct copy_run runs[PIPE_MAX_RUNS];
	unsigned int nr_runs;
	struct slot_piece pieces[PIPE_BUF_BLOCKS];
	unsigned int nr_pieces;
	unsigned int nr_blocks;		/* sum of the runs, duplicates included */
	struct bio_list batch;		/* released at the next commit */
	unsigned int batch_bios;
};

/* @bio's first sector on the device (see tracer_bio_sector()). */
static sector_t pipe_bio_sector(const struct cow_pipeline *p, struct bio *bio)
{
	return bsnap_bio_disk_sector(bio) - p->cfg.origin_start;
}

/* Once failed: the write changed its blocks, nothing was copied. */
static void pipe_mark(struct cow_pipeline *p, struct bio *bio)
{
	u64 first, last;

	cbt_map_block_range(p->cbt, pipe_bio_sector(p, bio), bio_sectors(bio),
			    &first, &last);
	cbt_map_mark_changed(p->cbt, first, last);
}

static int run_cmp(const void *a, const void *b)
{
	const struct copy_run *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return 0;
}

/* Sort and merge overlapping runs; returns the number of blocks. */
static unsigned int pipe_merge_runs(struct cow_pipeline *p)
{
	unsigned int i, n = 0, total = 0;

	sort(p->runs, p->nr_runs, sizeof(p->runs[0]), run_cmp, NULL);
	for (i = 0; i < p->nr_runs; i++) {
		struct copy_run *r = &p->runs[i];

		if (n && r->first <= p->runs[n - 1].first + p->runs[n - 1].nr) {
			struct copy_run *m = &p->runs[n - 1];
			u64 end = max(m->first + m->nr, r->first + r->nr);

			m->nr = end - m->first;
			continue;
		}
		p->runs[n++] = *r;
	}
	p->nr_runs = n;
	for (i = 0; i < n; i++)
		total += p->runs[i].nr;
	return total;
}

static bool pipe_reads_overlap(struct cow_pipeline *p, u64 limit)
{
	struct origin_read *r;
	unsigned long flags;
	bool hit = false;
	unsigned int i;

	spin_lock_irqsave(&p->lock, flags);
	list_for_each_entry(r, &p->reads, node) {
		if (r->seq >= limit)
			continue;
		for (i = 0; i < p->nr_runs && !hit; i++)
			hit = r->first < p->runs[i].first + p->runs[i].nr &&
			      p->runs[i].first <= r->last;
		if (hit)
			break;
	}
	spin_unlock_irqrestore(&p->lock, flags);
	return hit;
}

/* Slots for the @nr blocks of the copy buffer, in p->pieces. */
static int pipe_alloc_slots(struct cow_pipeline *p, unsigned int nr)
{
	unsigned int done;
	int got;

	p->nr_pieces = 0;
	for (done = 0; done < nr; done += got) {
		struct slot_piece *pc = &p->pieces[p->nr_pieces++];

		got = cow_store_alloc(p->store, nr - done, &pc->slot);
		if (got < 0)
			return got;
		pc->nr = got;
	}
	return 0;
}

/* Step 3: record where each block of the runs went, in buffer order. */
static int pipe_index_runs(struct cow_pipeline *p)
{
	struct cow_index *idx = p->store->index;
	unsigned int i, pc = 0, in_pc = 0;
	u64 k;
	int ret;

	for (i = 0; i < p->nr_runs; i++) {
		for (k = 0; k < p->runs[i].nr; k++) {
			if (in_pc == p->pieces[pc].nr) {
				pc++;
				in_pc = 0;
			}
			ret = cow_index_set(idx, p->runs[i].first + k,
					    p->pieces[pc].slot + in_pc++);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Steps 1-5 of the commit; returns 0 or the errno that fails the snapshot. */
static int pipe_copy_runs(struct cow_pipeline *p)
{
	struct cow_store *cs = p->store;
	unsigned int i, nr, off = 0;
	struct bsnap_io io;
	u64 limit;
	int ret;

	nr = pipe_merge_runs(p);
	/* Before the allocation, so that a last one that fails is reported. */
	if (cow_store_check_low(cs, nr))
		p->cfg.ops->low(p->cfg.owner);
	ret = pipe_alloc_slots(p, nr);
	if (ret)
		return ret;

	bsnap_io_init(&io, NULL);
	for (i = 0; i < p->nr_runs; i++) {
		sector_t start = p->runs[i].first * BLOCK_SECTORS;
		sector_t len = p->runs[i].nr * BLOCK_SECTORS;

		/* The device may end inside the last block: zero its tail. */
		if (start + len > p->cfg.nr_sectors) {
			len = p->cfg.nr_sectors - start;
			zero_user(p->buf[off + p->runs[i].nr - 1], 0, PAGE_SIZE);
		}
		bsnap_io_add(&io, p->cfg.origin, REQ_OP_READ, start, p->buf,
			     off * PAGE_SIZE, len << SECTOR_SHIFT);
		off += p->runs[i].nr;
	}
	ret = bsnap_io_finish_wait(&io);
	if (ret)
		return ret;

	bsnap_io_init(&io, NULL);
	for (i = 0, off = 0; i < p->nr_pieces && !ret; i++) {
		ret = cow_store_data_io(&io, cs, REQ_OP_WRITE,
					p->pieces[i].slot, p->buf + off,
					p->pieces[i].nr);
		off += p->pieces[i].nr;
	}
	/* On an error, wait for what was already submitted before failing. */
	ret = bsnap_io_finish_wait(&io) ?: ret;
	if (ret)
		return ret;

	ret = pipe_index_runs(p);
	if (ret)
		return ret;

	/*
	 * The change map's pages for step 4, here where we may sleep: a bit
	 * the map could only mark coarsely would skip copies, so without
	 * memory the snapshot fails instead.
	 */
	for (i = 0; i < p->nr_runs; i++) {
		ret = cbt_map_reserve(p->cbt, p->runs[i].first,
				      p->runs[i].first + p->runs[i].nr - 1,
				      GFP_NOIO);
		if (ret)
			return ret;
	}
	spin_lock_irq(&p->lock);
	for (i = 0; i < p->nr_runs && !ret; i++)
		ret = cbt_map_mark_copied(p->cbt, p->runs[i].first,
					  p->runs[i].first + p->runs[i].nr - 1,
					  GFP_ATOMIC);
	limit = p->read_seq;
	spin_unlock_irq(&p->lock);
	if (WARN_ON_ONCE(ret))
		return ret;

	wait_event(p->reads_done, !pipe_reads_overlap(p, limit));
	return 0;
}

static void pipe_commit(struct cow_pipeline *p)
{
	unsigned int released = p->batch_bios;
	struct bio *bio;
	int ret;

	if (p->nr_runs && !READ_ONCE(p->failed)) {
		ret = pipe_copy_runs(p);
		if (ret)
			p->cfg.ops->failed(p->cfg.owner, ret);
	}
	p->nr_runs = 0;
	p->nr_blocks = 0;

	while ((bio = bio_list_pop(&p->batch))) {
		/* Without a copy the change bit is the only record left. */
		if (READ_ONCE(p->failed))
			pipe_mark(p, bio);
		bsnap_submit_own(bio);
	}
	p->batch_bios = 0;

	spin_lock_irq(&p->lock);
	p->nr_held -= released;
	spin_unlock_irq(&p->lock);
	wake_up(&p->room);
}

static void pipe_collect(struct cow_pipeline *p, struct bio *bio)
{
	struct cbt_map *cbt = p->cbt;
	u64 first, last, pos, s, e, n;

	cbt_map_block_range(cbt, pipe_bio_sector(p, bio), bio_sectors(bio),
			    &first, &last);
	if (last >= cbt->nr_blocks)
		last = cbt->nr_blocks - 1;

	for (pos = first; pos <= last && !READ_ONCE(p->failed);) {
		s = cbt_map_next_clear(cbt, pos, last + 1);
		if (s > last)
			break;
		e = cbt_map_next_set(cbt, s, last + 1);
		n = min_t(u64, e - s, PIPE_BUF_BLOCKS - p->nr_blocks);
		if (!n || p->nr_runs == PIPE_MAX_RUNS) {
			pipe_commit(p);
			continue;
		}
		p->runs[p->nr_runs].first = s;
		p->runs[p->nr_runs].nr = n;
		p->nr_runs++;
		p->nr_blocks += n;
		pos = s + n;
	}
	bio_list_add(&p->batch, bio);
	p->batch_bios++;
}

static void pipe_work(struct work_struct *work)
{
	struct cow_pipeline *p = container_of(work, struct cow_pipeline, work);
	struct bio *bio;

	for (;;) {
		spin_lock_irq(&p->lock);
		bio = bio_list_pop(&p->held);
		spin_unlock_irq(&p->lock);
		if (!bio)
			break;
		if (READ_ONCE(p->failed)) {
			bio_list_add(&p->batch, bio);
			p->batch_bios++;
			continue;
		}
		pipe_collect(p, bio);
	}
	pipe_commit(p);
}

bool cow_pipeline_write(struct cow_pipeline *p, struct bio *bio)
{
	unsigned long flags;
	u64 first, last;

	/* Blocks already copied never wait and are never read again. */
	cbt_map_block_range(p->cbt, pipe_bio_sector(p, bio), bio_sectors(bio),
			    &first, &last);
	if (cbt_map_all_set(p->cbt, first, last))
		return false;
	/*
	 * bsnap's own CoW writes pass the hook, but when the block layer
	 * splits one, the remainder comes back from block-core text. Holding
	 * it would deadlock the worker that waits for it; it is our data.
	 */
	if (cow_file_owns_range(p->store->cf, pipe_bio_sector(p, bio),
				bio_sectors(bio)))
		return false;

	spin_lock_irqsave(&p->lock, flags);
	for (;;) {
		if (p->failed) {
			spin_unlock_irqrestore(&p->lock, flags);
			pipe_mark(p, bio);
			return false;
		}
		/* Atomic submitters cannot wait: they overshoot the bound. */
		if (p->nr_held < PIPE_MAX_HELD || !preemptible())
			break;
		spin_unlock_irqrestore(&p->lock, flags);
		if (bio->bi_opf & REQ_NOWAIT) {
			bio_wouldblock_error(bio);
			return true;
		}
		wait_event(p->room, READ_ONCE(p->nr_held) < PIPE_MAX_HELD ||
					    READ_ONCE(p->failed));
		spin_lock_irqsave(&p->lock, flags);
	}
	bio_list_add(&p->held, bio);
	p->nr_held++;
	spin_unlock_irqrestore(&p->lock, flags);
	queue_work(p->wq, &p->work);
	return true;
}

void cow_pipeline_fail(struct cow_pipeline *p)
{
	unsigned long flags;

	spin_lock_irqsave(&p->lock, flags);
	p->failed = true;
	spin_unlock_irqrestore(&p->lock, flags);
	wake_up_all(&p->room);
	wake_up_all(&p->reads_done);
	queue_work(p->wq, &p->work);
}

void cow_pipeline_read_begin(struct cow_pipeline *p, struct origin_read *r)
{
	unsigned long flags;

	spin_lock_irqsave(&p->lock, flags);
	r->seq = p->read_seq++;
	list_add_tail(&r->node, &p->reads);
	spin_unlock_irqrestore(&p->lock, flags);
}

void cow_pipeline_read_end(struct cow_pipeline *p, struct origin_read *r)
{
	unsigned long flags;

	spin_lock_irqsave(&p->lock, flags);
	list_del(&r->node);
	spin_unlock_irqrestore(&p->lock, flags);
	wake_up_all(&p->reads_done);
}

void cow_pipeline_drain(struct cow_pipeline *p)
{
	while (READ_ONCE(p->nr_held)) {
		flush_workqueue(p->wq);
		wait_event_timeout(p->room, !READ_ONCE(p->nr_held), HZ / 10);
	}
}

struct cow_pipeline *cow_pipeline_create(const struct cow_pipeline_config *cfg,
					 struct cbt_map *cbt,
					 struct cow_store *store)
{
	struct cow_pipeline *p;
	unsigned int i;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return ERR_PTR(-ENOMEM);
	p->cfg = *cfg;
	p->cbt = cbt;
	p->store = store;
	spin_lock_init(&p->lock);
	bio_list_init(&p->held);
	bio_list_init(&p->batch);
	init_waitqueue_head(&p->room);
	init_waitqueue_head(&p->reads_done);
	INIT_LIST_HEAD(&p->reads);
	INIT_WORK(&p->work, pipe_work);
	for (i = 0; i < PIPE_BUF_BLOCKS; i++) {
		p->buf[i] = alloc_page(GFP_KERNEL);
		if (!p->buf[i])
			goto err;
	}
	/* In the I/O path: it must make progress under memory pressure. */
	p->wq = alloc_ordered_workqueue("bsnap%u-cow", WQ_MEM_RECLAIM,
					cfg->minor);
	if (!p->wq)
		goto err;
	return p;
err:
	cow_pipeline_destroy(p);
	return ERR_PTR(-ENOMEM);
}

void cow_pipeline_destroy(struct cow_pipeline *p)
{
	unsigned int i;

	if (p->wq) {
		/* Nothing new arrives (the tracer is unpublished): drain. */
		flush_workqueue(p->wq);
		destroy_workqueue(p->wq);
	}
	for (i = 0; i < PIPE_BUF_BLOCKS; i++)
		if (p->buf[i])
			__free_page(p->buf[i]);
	kfree(p);
}
