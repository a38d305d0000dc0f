/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Raw I/O to device sectors, bypassing filesystems and bsnap's own hook.
 *
 * Every bio bsnap issues itself (origin reads for copy-before-write, CoW file
 * data, header, bitmap and index I/O) goes through here: the bios are
 * submitted from module text, which the bio hook recognises and lets pass.
 *
 * A struct bsnap_io groups the bios of one logical operation: it holds one
 * reference for its builder plus one per bio in flight, and calls @done once
 * when the last reference is dropped (possibly in interrupt context).
 */
#ifndef BSNAP_DIRECT_IO_H
#define BSNAP_DIRECT_IO_H

#include <linux/atomic.h>
#include <linux/blk_types.h>
#include <linux/completion.h>

struct bsnap_io {
	atomic_t pending;
	blk_status_t status; /* first error wins */
	void (*done)(struct bsnap_io *io);
	struct completion wait;
};

/*
 * Submit a bio of bsnap's own, past the hook: the redirection lets through
 * calls to submit_bio_noacct() that come from module text.
 */
void bsnap_submit_own(struct bio *bio);

int bsnap_direct_io_init(void);
void bsnap_direct_io_exit(void);

/* @done may be NULL: then bsnap_io_wait() is the way to learn the end. */
void bsnap_io_init(struct bsnap_io *io, void (*done)(struct bsnap_io *io));

/*
 * Queue and submit bios for @len bytes at @sector of @bdev, to or from
 * @pages starting @pg_off bytes into the first page. @opf is REQ_OP_READ or
 * REQ_OP_WRITE plus flags. @len and @pg_off are multiples of 512. Returns 0
 * (allocation waits rather than fails: GFP_NOIO from a mempool).
 */
int bsnap_io_add(struct bsnap_io *io, struct block_device *bdev, blk_opf_t opf,
		 sector_t sector, struct page **pages, unsigned int pg_off,
		 size_t len);

/* Drop the builder's reference: @done runs once all bios have ended. */
void bsnap_io_finish(struct bsnap_io *io);

/* bsnap_io_finish() and wait; returns 0 or a negative errno. */
int bsnap_io_finish_wait(struct bsnap_io *io);

/* Synchronous I/O on a kernel buffer (kmalloc or vmalloc memory). */
int bsnap_io_sync(struct block_device *bdev, blk_opf_t opf, sector_t sector,
		  void *buf, size_t len);

#endif
