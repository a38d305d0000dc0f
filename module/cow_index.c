// SPDX-License-Identifier: GPL-2.0
/*
 * The snapshot index cache: a bounded set of 4 KiB index pages of the CoW
 * file, looked up in an xarray by page number and kept on an LRU list (most
 * recently used first), everything under idx->lock.
 *
 * A miss reads the page from the CoW file, or starts from zeros without I/O
 * if the page was never written (its "valid" bit is clear: the region is
 * fallocated, so the disk holds whatever was there before). When the cache
 * is full, the least recently used page is written back if dirty (which makes
 * it valid) and its buffer reused for the new page. A failed write-back keeps
 * the page cached and dirty and returns the error: entries are never lost.
 */
#include <linux/bitmap.h>
#include <linux/blk_types.h>
#include <linux/err.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xarray.h>

#include "cbt_map.h"
#include "cow_file.h"
#include "cow_index.h"

struct cow_index_page {
	u64 pgno;
	__le64 *data;		/* COW_INDEX_PAGE_SIZE bytes */
	bool dirty;
	struct list_head lru;	/* on idx->lru */
};

static unsigned long cow_index_max_cached(u64 cache_bytes)
{
	u64 n = div_u64(cache_bytes, COW_INDEX_PAGE_SIZE);

	return clamp_t(u64, n, 2, ULONG_MAX);
}

static size_t cow_index_valid_alloc_bytes(u64 nr_pages)
{
	return BITS_TO_LONGS(nr_pages) * sizeof(unsigned long);
}

struct cow_index *cow_index_create(struct cow_file *cf, u64 index_off,
				   u64 nr_blocks, u64 cache_bytes)
{
	struct cow_index *idx;
	u64 nr_pages;

	if (!nr_blocks || !IS_ALIGNED(index_off, SECTOR_SIZE))
		return ERR_PTR(-EINVAL);
	nr_pages = DIV_ROUND_UP_ULL(nr_blocks, COW_INDEX_PER_PAGE);
	/* Never let an index page write spill into the data region. */
	if (index_off + nr_pages * COW_INDEX_PAGE_SIZE > cf->size)
		return ERR_PTR(-EINVAL);
	/* Page numbers are xarray indices; the valid bitmap is one kvmalloc. */
	if (nr_pages > ULONG_MAX ||
	    cow_index_valid_alloc_bytes(nr_pages) > INT_MAX)
		return ERR_PTR(-EFBIG);

	idx = kzalloc(sizeof(*idx), GFP_KERNEL);
	if (!idx)
		return ERR_PTR(-ENOMEM);
	idx->valid = kvzalloc(cow_index_valid_alloc_bytes(nr_pages),
			      GFP_KERNEL);
	if (!idx->valid) {
		kfree(idx);
		return ERR_PTR(-ENOMEM);
	}
	idx->cf = cf;
	idx->index_off = index_off;
	idx->nr_blocks = nr_blocks;
	idx->nr_pages = nr_pages;
	mutex_init(&idx->lock);
	xa_init(&idx->cache);
	INIT_LIST_HEAD(&idx->lru);
	idx->max_cached = cow_index_max_cached(cache_bytes);
	return idx;
}

static void cow_index_page_free(struct cow_index_page *pg)
{
	kfree(pg->data);
	kfree(pg);
}

void cow_index_destroy(struct cow_index *idx)
{
	struct cow_index_page *pg;
	unsigned long pgno;

	if (!idx)
		return;
	xa_for_each(&idx->cache, pgno, pg)
		cow_index_page_free(pg);
	xa_destroy(&idx->cache);
	mutex_destroy(&idx->lock);
	kvfree(idx->valid);
	kfree(idx);
}

static u64 cow_index_page_off(const struct cow_index *idx, u64 pgno)
{
	return idx->index_off + pgno * COW_INDEX_PAGE_SIZE;
}

/* Write @pg back; on success it is clean and its page valid. */
static int cow_index_page_write(struct cow_index *idx,
				struct cow_index_page *pg)
{
	int ret;

	ret = cow_file_rw_sync(idx->cf, REQ_OP_WRITE,
			       cow_index_page_off(idx, pg->pgno), pg->data,
			       COW_INDEX_PAGE_SIZE);
	if (ret)
		return ret;
	pg->dirty = false;
	__set_bit(pg->pgno, idx->valid);
	return 0;
}

/* Take the least recently used page out of the cache, writing it if dirty. */
static struct cow_index_page *cow_index_evict(struct cow_index *idx)
{
	struct cow_index_page *pg;
	int ret;

	lockdep_assert_held(&idx->lock);
	pg = list_last_entry(&idx->lru, struct cow_index_page, lru);
	if (pg->dirty) {
		ret = cow_index_page_write(idx, pg);
		if (ret)
			return ERR_PTR(ret);
	}
	xa_erase(&idx->cache, pg->pgno);
	list_del(&pg->lru);
	WRITE_ONCE(idx->nr_cached, idx->nr_cached - 1);
	return pg;
}

static struct cow_index_page *cow_index_page_alloc(void)
{
	struct cow_index_page *pg;

	pg = kmalloc(sizeof(*pg), GFP_NOIO);
	if (!pg)
		return NULL;
	/* A power-of-two kmalloc is naturally aligned: fine for direct I/O. */
	pg->data = kmalloc(COW_INDEX_PAGE_SIZE, GFP_NOIO);
	if (!pg->data) {
		kfree(pg);
		return NULL;
	}
	return pg;
}

/* The cached page @pgno, read or created on a miss; now most recently used. */
static struct cow_index_page *cow_index_page_get(struct cow_index *idx,
						 u64 pgno)
{
	struct cow_index_page *pg;
	int ret;

	lockdep_assert_held(&idx->lock);
	pg = xa_load(&idx->cache, pgno);
	if (pg) {
		list_move(&pg->lru, &idx->lru);
		return pg;
	}

	if (idx->nr_cached >= idx->max_cached) {
		/* Reuse the evicted page's buffer: no allocation when full. */
		pg = cow_index_evict(idx);
		if (IS_ERR(pg))
			return pg;
	} else {
		pg = cow_index_page_alloc();
		if (!pg)
			return ERR_PTR(-ENOMEM);
	}

	pg->pgno = pgno;
	pg->dirty = false;
	if (test_bit(pgno, idx->valid)) {
		ret = cow_file_rw_sync(idx->cf, REQ_OP_READ,
				       cow_index_page_off(idx, pgno), pg->data,
				       COW_INDEX_PAGE_SIZE);
		if (ret)
			goto fail;
	} else {
		memset(pg->data, 0, COW_INDEX_PAGE_SIZE);
	}

	ret = xa_err(xa_store(&idx->cache, pgno, pg, GFP_NOIO));
	if (ret)
		goto fail;
	list_add(&pg->lru, &idx->lru);
	WRITE_ONCE(idx->nr_cached, idx->nr_cached + 1);
	return pg;

fail:
	cow_index_page_free(pg);
	return ERR_PTR(ret);
}

int cow_index_get(struct cow_index *idx, u64 block, u64 *slot)
{
	struct cow_index_page *pg;
	u32 i;

	if (block >= idx->nr_blocks)
		return -EINVAL;

	mutex_lock(&idx->lock);
	pg = cow_index_page_get(idx, div_u64_rem(block, COW_INDEX_PER_PAGE,
						 &i));
	if (!IS_ERR(pg))
		*slot = le64_to_cpu(pg->data[i]);
	mutex_unlock(&idx->lock);
	return PTR_ERR_OR_ZERO(pg);
}

int cow_index_set(struct cow_index *idx, u64 block, u64 slot)
{
	struct cow_index_page *pg;
	__le64 v = cpu_to_le64(slot);
	u32 i;

	if (block >= idx->nr_blocks)
		return -EINVAL;

	mutex_lock(&idx->lock);
	pg = cow_index_page_get(idx, div_u64_rem(block, COW_INDEX_PER_PAGE,
						 &i));
	if (!IS_ERR(pg) && pg->data[i] != v) {
		pg->data[i] = v;
		pg->dirty = true;
	}
	mutex_unlock(&idx->lock);
	return PTR_ERR_OR_ZERO(pg);
}

int cow_index_flush(struct cow_index *idx)
{
	struct cow_index_page *pg;
	unsigned long pgno;
	int ret = 0;

	mutex_lock(&idx->lock);
	/* xarray iteration is in index order: the writes go out sequentially. */
	xa_for_each(&idx->cache, pgno, pg) {
		if (!pg->dirty)
			continue;
		ret = cow_index_page_write(idx, pg);
		if (ret)
			break;
	}
	mutex_unlock(&idx->lock);
	return ret;
}

int cow_index_set_cache(struct cow_index *idx, u64 cache_bytes)
{
	struct cow_index_page *pg;
	int ret = 0;

	mutex_lock(&idx->lock);
	idx->max_cached = cow_index_max_cached(cache_bytes);
	while (idx->nr_cached > idx->max_cached) {
		pg = cow_index_evict(idx);
		if (IS_ERR(pg)) {
			ret = PTR_ERR(pg);
			break;
		}
		cow_index_page_free(pg);
	}
	mutex_unlock(&idx->lock);
	return ret;
}

u64 cow_index_memory(const struct cow_index *idx)
{
	return (u64)READ_ONCE(idx->nr_cached) *
		       (COW_INDEX_PAGE_SIZE + sizeof(struct cow_index_page)) +
	       sizeof(*idx) + cow_index_valid_alloc_bytes(idx->nr_pages);
}

void cow_index_valid_export(struct cow_index *idx, void *buf, size_t len)
{
	mutex_lock(&idx->lock);
	bsnap_bitmap_export(idx->valid, idx->nr_pages, buf, len);
	mutex_unlock(&idx->lock);
}

void cow_index_valid_import(struct cow_index *idx, const void *buf,
			    size_t len)
{
	mutex_lock(&idx->lock);
	bsnap_bitmap_import(idx->valid, idx->nr_pages, buf, len);
	mutex_unlock(&idx->lock);
}
