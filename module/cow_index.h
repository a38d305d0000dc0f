/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The snapshot index: for every device block, where its copied data lives in
 * the CoW file (slot n >= 1: data_off + (n - 1) * block size; 0: not copied).
 *
 * The index is stored in the CoW file's index region (one __le64 per block,
 * see uapi/bsnap_cow.h) and accessed only by direct I/O. In memory only a
 * bounded cache of index pages is kept (the user's cache size): misses read
 * the page from the CoW file, evictions write dirty pages back. Index pages
 * that were never written hold stale disk contents (the region is
 * fallocated, not zeroed), so a "valid" bitmap (one bit per index page)
 * records which pages have been written; others read as all zeros.
 *
 * Index pages are COW_INDEX_PAGE_SIZE (4 KiB) on every architecture, so the
 * valid bitmap means the same everywhere; the index region must be the
 * layout's index_len (a whole number of index pages).
 *
 * Process context only (it sleeps on a mutex and does I/O). Page buffers are
 * allocated with GFP_NOIO: get/set run on the I/O path (copy-before-write
 * worker, snapshot reads). Call cow_index_set() only once the block's data
 * is on disk: an evicted page may be written at any time.
 */
#ifndef BSNAP_COW_INDEX_H
#define BSNAP_COW_INDEX_H

#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/xarray.h>

#include "format/cow_codec.h"

struct cow_file;

/* The format's (format/cow_codec.h): the valid bitmap depends on it. */
#define COW_INDEX_PAGE_SIZE BSNAP_COW_INDEX_PAGE_SIZE
#define COW_INDEX_PER_PAGE BSNAP_COW_INDEX_PER_PAGE

struct cow_index {
	struct cow_file *cf;
	u64 index_off;		/* byte offset of the index region in the file */
	u64 nr_blocks;		/* entries */
	struct mutex lock;
	struct xarray cache;	/* index page number -> struct cow_index_page */
	struct list_head lru;	/* most recently used first */
	unsigned long nr_cached;
	unsigned long max_cached; /* from the cache size, at least 2 */
	unsigned long *valid;	/* one bit per index page */
	u64 nr_pages;		/* index pages in the region */
};

/*
 * @cache_bytes bounds the memory of cached index pages (at least two pages
 * are kept). Every index page starts out not valid. GFP_KERNEL: call from
 * ioctl context, not while the filesystem is frozen. ERR_PTR on error.
 */
struct cow_index *cow_index_create(struct cow_file *cf, u64 index_off,
				   u64 nr_blocks, u64 cache_bytes);
/* Frees memory only; call cow_index_flush() first to keep the data. */
void cow_index_destroy(struct cow_index *idx);

/*
 * Slot of @block (0 = not copied). Returns 0 or a negative errno: -EINVAL if
 * @block is out of range, -ENOMEM, or the error of reading the page or of
 * writing back the page evicted to make room (that page stays cached and
 * dirty: no entry is ever dropped; the snapshot should be failed).
 */
int cow_index_get(struct cow_index *idx, u64 block, u64 *slot);
/* Record that @block was copied to @slot. Errors as cow_index_get(). */
int cow_index_set(struct cow_index *idx, u64 block, u64 slot);

/*
 * Write every dirty cached page back, in page order, and mark them valid.
 * Stops at the first error (the remaining pages stay dirty). Does not flush
 * the device's volatile cache: the caller issues the cache flush (and then
 * persists the valid bitmap) once all its metadata is written.
 */
int cow_index_flush(struct cow_index *idx);

/*
 * Change the cache bound (reconfigure); shrinks immediately, writing dirty
 * pages back. On a write error the new bound stays, the page that failed
 * stays cached, and the error is returned.
 */
int cow_index_set_cache(struct cow_index *idx, u64 cache_bytes);

/* Bytes of memory in use by the cache (for info and /proc). */
u64 cow_index_memory(const struct cow_index *idx);

/*
 * The valid bitmap (which index pages hold written data), for persisting it
 * with the index: same on-disk layout as the change bitmap (bit p = byte
 * p / 8, bit p % 8). Export after cow_index_flush(); import right after
 * cow_index_create(), before any get or set.
 */
void cow_index_valid_export(struct cow_index *idx, void *buf, size_t len);
void cow_index_valid_import(struct cow_index *idx, const void *buf,
			    size_t len);

#endif
