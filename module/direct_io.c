// SPDX-License-Identifier: GPL-2.0
/*
 * Raw sector I/O for bsnap's own bios (see direct_io.h).
 */
#include "log.h"

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/mm.h>
#include <linux/vmalloc.h>

#include "direct_io.h"

/*
 * bsnap's own bios come from a private bio_set: they are allocated while
 * other bios are held, so sharing fs_bio_set's reserve could deadlock.
 */
static struct bio_set io_bio_set;

void bsnap_submit_own(struct bio *bio)
{
	submit_bio_noacct(bio);
	/*
	 * Never a tail call: the hook knows bsnap's own bios by the return
	 * address of submit_bio_noacct(), which must lie in module text. With
	 * a jmp it would be our caller's, which may be kernel text (a worker
	 * or an end_io whose last act is this call).
	 */
	barrier();
}

int bsnap_direct_io_init(void)
{
	return bioset_init(&io_bio_set, 64, 0, BIOSET_NEED_BVECS);
}

void bsnap_direct_io_exit(void)
{
	bioset_exit(&io_bio_set);
}

static void io_put(struct bsnap_io *io)
{
	if (!atomic_dec_and_test(&io->pending))
		return;
	if (io->done)
		io->done(io);
	else
		complete(&io->wait);
}

void bsnap_io_init(struct bsnap_io *io, void (*done)(struct bsnap_io *io))
{
	atomic_set(&io->pending, 1);
	io->status = BLK_STS_OK;
	io->done = done;
	init_completion(&io->wait);
}

static void io_bio_end(struct bio *bio)
{
	struct bsnap_io *io = bio->bi_private;

	if (bio->bi_status)
		cmpxchg(&io->status, BLK_STS_OK, bio->bi_status);
	bio_put(bio);
	io_put(io);
}

int bsnap_io_add(struct bsnap_io *io, struct block_device *bdev, blk_opf_t opf,
		 sector_t sector, struct page **pages, unsigned int pg_off,
		 size_t len)
{
	pages += pg_off >> PAGE_SHIFT;
	pg_off &= ~PAGE_MASK;

	while (len) {
		unsigned int nr_vecs = min_t(size_t,
					     DIV_ROUND_UP(pg_off + len, PAGE_SIZE),
					     BIO_MAX_VECS);
		struct bio *bio = bio_alloc_bioset(bdev, nr_vecs, opf,
						   GFP_NOIO, &io_bio_set);

		bio->bi_iter.bi_sector = sector;
		bio->bi_end_io = io_bio_end;
		bio->bi_private = io;
		while (len) {
			unsigned int n = min_t(size_t, len, PAGE_SIZE - pg_off);

			if (bio_add_page(bio, *pages, n, pg_off) != n)
				break;
			sector += n >> SECTOR_SHIFT;
			len -= n;
			pg_off += n;
			if (pg_off == PAGE_SIZE) {
				pg_off = 0;
				pages++;
			}
		}
		atomic_inc(&io->pending);
		bsnap_submit_own(bio);
	}
	return 0;
}

void bsnap_io_finish(struct bsnap_io *io)
{
	io_put(io);
}

int bsnap_io_finish_wait(struct bsnap_io *io)
{
	io_put(io);
	wait_for_completion_io(&io->wait);
	return blk_status_to_errno(io->status);
}

int bsnap_io_sync(struct block_device *bdev, blk_opf_t opf, sector_t sector,
		  void *buf, size_t len)
{
	unsigned int off = offset_in_page(buf);
	unsigned int nr = DIV_ROUND_UP(off + len, PAGE_SIZE);
	struct bsnap_io io;
	struct page **pages;
	unsigned int i;
	int ret;

	pages = kmalloc_array(nr, sizeof(*pages), GFP_NOIO);
	if (!pages)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		void *p = buf - off + i * PAGE_SIZE;

		pages[i] = is_vmalloc_addr(p) ? vmalloc_to_page(p) :
						virt_to_page(p);
	}
	bsnap_io_init(&io, NULL);
	bsnap_io_add(&io, bdev, opf, sector, pages, off, len);
	ret = bsnap_io_finish_wait(&io);
	kfree(pages);
	return ret;
}
