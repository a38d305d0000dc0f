// SPDX-License-Identifier: GPL-2.0
/*
 * The CoW file's extent map, taken from the filesystem's ->fiemap.
 *
 * bmap() cannot be used: on ext4 and xfs (iomap_bmap) it returns 0 for
 * unwritten extents, and almost all of the CoW file is unwritten (fallocated,
 * never zeroed). ->fiemap reports unwritten extents, but only into a user
 * buffer (fiemap_fill_next_extent() uses copy_to_user()), so the extents are
 * fetched through a short-lived anonymous mapping in the calling process.
 * That buffer is only a transport: every extent is checked here (flags,
 * alignment, coverage of the whole file, inside the device, no overlaps)
 * before a sector from it is ever used.
 */
#include "log.h"

#include <linux/blkdev.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>

#include "cow_extent_map.h"

/* Extents fetched per ->fiemap call (56 bytes each: 14 KiB). */
#define COW_FIEMAP_BATCH 256U

/*
 * Extents whose blocks do not simply hold the file's bytes at fe_physical:
 * not allocated yet (delalloc, unknown), transformed (compressed, encrypted),
 * packed with other data (inline, tail), or shared with another file (a
 * direct write would change the other file too).
 */
#define COW_BAD_EXTENT_FLAGS						\
	(FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |		\
	 FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_ENCRYPTED |		\
	 FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE |	\
	 FIEMAP_EXTENT_DATA_TAIL | FIEMAP_EXTENT_SHARED)

struct cow_map_walk {
	struct cow_map *map;
	struct inode *inode;
	u64 size;		/* file bytes to map */
	sector_t dev_sectors;	/* size of the device */
	u64 pos;		/* file bytes mapped so far */
	unsigned int cap;	/* room in map->by_off */
};

/*
 * One ->fiemap call, as ioctl_fiemap() does it. FIEMAP_FLAG_SYNC writes dirty pages back first, so
 * that no delalloc extent is left.
 */
static int cow_fiemap(struct inode *inode, struct fiemap_extent __user *ubuf,
		      unsigned int max, u64 start, u64 len,
		      unsigned int *mapped)
{
	struct fiemap_extent_info fi = {
		.fi_flags = FIEMAP_FLAG_SYNC,
		.fi_extents_max = max,
		.fi_extents_start = ubuf,
	};
	int ret;

	ret = inode->i_op->fiemap(inode, &fi, start, len);
	*mapped = fi.fi_extents_mapped;
	return ret;
}

/* Double the room in map->by_off (kvrealloc() differs across kernels). */
static int cow_map_grow(struct cow_map_walk *w)
{
	unsigned int cap = w->cap ? w->cap * 2 : 64;
	struct cow_extent *ext;

	if (cap <= w->cap)
		return -ENOMEM;
	ext = kvmalloc_array(cap, sizeof(*ext), GFP_KERNEL);
	if (!ext)
		return -ENOMEM;
	if (w->map->nr)
		memcpy(ext, w->map->by_off, w->map->nr * sizeof(*ext));
	kvfree(w->map->by_off);
	w->map->by_off = ext;
	w->cap = cap;
	return 0;
}

/* Check one reported extent and append it, merged with the previous one. */
static int cow_map_add(struct cow_map_walk *w, const struct fiemap_extent *fe)
{
	struct cow_map *map = w->map;
	u64 logical = fe->fe_logical;
	u64 phys = fe->fe_physical;
	u64 len = fe->fe_length;
	struct cow_extent *last;
	u64 skip;

	/* Extents may start before the requested offset (xfs). */
	if (logical + len <= w->pos)
		return 0;
	if (logical > w->pos) {
		pr_err("CoW file has a hole at byte %llu (extent at %llu)\n",
		       w->pos, logical);
		return -EIO;
	}
	if (fe->fe_flags & COW_BAD_EXTENT_FLAGS) {
		pr_err("CoW file extent at byte %llu has flags %#x: direct I/O to it is not safe\n",
		       logical, fe->fe_flags);
		return -EOPNOTSUPP;
	}
	if (!phys || !IS_ALIGNED(logical | phys | len, SECTOR_SIZE)) {
		pr_err("CoW file extent at byte %llu: bad address %llu or length %llu\n",
		       logical, phys, len);
		return -EIO;
	}
	skip = w->pos - logical;
	logical += skip;
	phys += skip;
	len = min(len - skip, w->size - logical);
	if ((phys + len) >> SECTOR_SHIFT > w->dev_sectors) {
		pr_err("CoW file extent at byte %llu lies beyond the device end\n",
		       logical);
		return -EIO;
	}

	last = map->nr ? &map->by_off[map->nr - 1] : NULL;
	if (last && last->sector + (last->len >> SECTOR_SHIFT) ==
		    phys >> SECTOR_SHIFT) {
		last->len += len;
	} else {
		if (map->nr == w->cap) {
			int ret = cow_map_grow(w);

			if (ret)
				return ret;
		}
		map->by_off[map->nr++] = (struct cow_extent){
			.file_off = logical,
			.sector = phys >> SECTOR_SHIFT,
			.len = len,
		};
	}
	w->pos = logical + len;
	return 0;
}

/*
 * Fetch the extents of [0, size) in batches through the user buffer @ubuf.
 * Each call restarts at the first byte not yet mapped, so an extent split
 * across two calls is handled, and the loop ends once the whole file is
 * covered (a call that reports nothing means a hole up to the end).
 */
static int cow_map_fetch(struct cow_map_walk *w,
			 struct fiemap_extent __user *ubuf,
			 struct fiemap_extent *kbuf)
{
	u64 size = w->size;
	unsigned int mapped, i;
	int ret;

	while (w->pos < size) {
		ret = cow_fiemap(w->inode, ubuf, COW_FIEMAP_BATCH, w->pos,
				 size - w->pos, &mapped);
		if (ret)
			return ret;
		if (!mapped) {
			pr_err("CoW file has a hole from byte %llu to its end\n",
			       w->pos);
			return -EIO;
		}
		if (copy_from_user(kbuf, ubuf, mapped * sizeof(*kbuf)))
			return -EFAULT;
		for (i = 0; i < mapped && w->pos < size; i++) {
			ret = cow_map_add(w, &kbuf[i]);
			if (ret)
				return ret;
		}
		if (fatal_signal_pending(current))
			return -EINTR;
	}
	return 0;
}

static int cow_cmp_sector(const void *a, const void *b)
{
	const struct cow_extent *x = a, *y = b;

	if (x->sector != y->sector)
		return x->sector < y->sector ? -1 : 1;
	return 0;
}

/* by_sector: the same extents sorted by sector; they must not overlap. */
static int cow_map_sort(struct cow_map *map)
{
	unsigned int i;

	map->by_sector = kvmalloc_array(map->nr, sizeof(*map->by_sector),
					GFP_KERNEL);
	if (!map->by_sector)
		return -ENOMEM;
	memcpy(map->by_sector, map->by_off, map->nr * sizeof(*map->by_sector));
	sort(map->by_sector, map->nr, sizeof(*map->by_sector), cow_cmp_sector,
	     NULL);
	for (i = 1; i < map->nr; i++) {
		const struct cow_extent *p = &map->by_sector[i - 1];

		if (p->sector + (p->len >> SECTOR_SHIFT) >
		    map->by_sector[i].sector) {
			pr_err("CoW file extents overlap at sector %llu\n",
			       (unsigned long long)map->by_sector[i].sector);
			return -EIO;
		}
	}
	return 0;
}

/**
 * cow_map_build - map a whole CoW file to device sectors
 * @inode: the file, pinned or on a filesystem nobody writes
 * @bdev: the device its filesystem lives on
 * @size: bytes of the file to map, from 0
 *
 * Needs current->mm for the transport buffer.
 *
 * Return: the map (by_off with adjacent runs merged, and by_sector), or
 * ERR_PTR: -EINVAL without a user mm, -EOPNOTSUPP if the filesystem has no
 * ->fiemap or reports extents unfit for direct I/O, -EIO if the file is not
 * fully allocated, or another negative errno.
 */
struct cow_map *cow_map_build(struct inode *inode, struct block_device *bdev,
			      u64 size)
{
	struct cow_map_walk w = {
		.inode = inode,
		.size = size,
		.dev_sectors = bdev_nr_sectors(bdev),
	};
	const size_t buf_len = COW_FIEMAP_BATCH * sizeof(struct fiemap_extent);
	struct fiemap_extent *kbuf;
	unsigned long uaddr;
	int ret;

	if (!current->mm)
		return ERR_PTR(-EINVAL);
	if (!inode->i_op->fiemap)
		return ERR_PTR(-EOPNOTSUPP);
	w.map = kzalloc(sizeof(*w.map), GFP_KERNEL);
	if (!w.map)
		return ERR_PTR(-ENOMEM);
	w.map->size = size;

	kbuf = kvmalloc(buf_len, GFP_KERNEL);
	if (!kbuf) {
		ret = -ENOMEM;
		goto err;
	}
	uaddr = vm_mmap(NULL, 0, buf_len, PROT_READ | PROT_WRITE,
			MAP_ANONYMOUS | MAP_PRIVATE, 0);
	if (IS_ERR_VALUE(uaddr)) {
		ret = (int)uaddr;
	} else {
		ret = cow_map_fetch(&w, (struct fiemap_extent __user *)uaddr,
				    kbuf);
		vm_munmap(uaddr, buf_len);
	}
	kvfree(kbuf);
	if (!ret)
		ret = cow_map_sort(w.map);
	if (!ret)
		return w.map;
err:
	cow_map_free(w.map);
	return ERR_PTR(ret);
}

bool cow_map_equal(const struct cow_map *a, const struct cow_map *b)
{
	return a->size == b->size && a->nr == b->nr &&
	       !memcmp(a->by_off, b->by_off, a->nr * sizeof(*a->by_off));
}

bool cow_map_extends(const struct cow_map *grown, const struct cow_map *old)
{
	unsigned int i;

	if (grown->size < old->size)
		return false;
	for (i = 0; i < old->nr; i++) {
		const struct cow_extent *o = &old->by_off[i];
		const struct cow_extent *g = cow_map_by_off(grown, o->file_off);
		u64 in;

		if (!g)
			return false;
		in = o->file_off - g->file_off;
		if (g->sector + (in >> SECTOR_SHIFT) != o->sector ||
		    g->len - in < o->len)
			return false;
	}
	return true;
}

void cow_map_free(struct cow_map *map)
{
	if (!map)
		return;
	kvfree(map->by_sector);
	kvfree(map->by_off);
	kfree(map);
}

/* Index of the last extent of @ext[0, @nr) whose key is <= @key, or -1. */
#define COW_BSEARCH(ext, nr, field, key)				\
({									\
	int lo_ = 0, hi_ = (int)(nr) - 1, res_ = -1;			\
									\
	while (lo_ <= hi_) {						\
		int mid_ = lo_ + (hi_ - lo_) / 2;			\
									\
		if ((ext)[mid_].field <= (key)) {			\
			res_ = mid_;					\
			lo_ = mid_ + 1;					\
		} else {						\
			hi_ = mid_ - 1;					\
		}							\
	}								\
	res_;								\
})

const struct cow_extent *cow_map_by_off(const struct cow_map *map, u64 off)
{
	int i = COW_BSEARCH(map->by_off, map->nr, file_off, off);

	/* The extents cover [0, size) without holes: only off >= size fails. */
	if (i < 0 || off - map->by_off[i].file_off >= map->by_off[i].len)
		return NULL;
	return &map->by_off[i];
}

const struct cow_extent *cow_map_by_sector(const struct cow_map *map,
					   sector_t sector, u64 *gap)
{
	int i = COW_BSEARCH(map->by_sector, map->nr, sector, sector);

	if (i >= 0 && sector - map->by_sector[i].sector <
		      map->by_sector[i].len >> SECTOR_SHIFT)
		return &map->by_sector[i];
	/* by_sector is sorted and extents do not overlap: i + 1 is next. */
	*gap = i + 1 < (int)map->nr ? map->by_sector[i + 1].sector - sector :
				      U64_MAX;
	return NULL;
}
