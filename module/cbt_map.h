/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The change map: one bit per tracked block of the device, set when the block
 * changed since the current snapshot was taken. In snapshot mode a bit is set
 * only once the block's old contents are safely in the CoW file, so the same
 * bit also means "copied".
 *
 * The map is sparse: a directory of pages of pointers to leaves of one page
 * of bits (32768 blocks, 128 MiB of device at 4 KiB blocks), a page allocated
 * on the first bit set under it. Memory grows with what was written, not with
 * the device: a few KiB for 100 TiB, plus 4 KiB per 128 MiB touched.
 * Lookups are lock-free from any context.
 *
 * Two ways of setting bits, which must not be confused:
 *  - cbt_map_mark_changed(): "this block changed" (incremental mode, and a
 *    failed snapshot). Any context, never sleeps, never fails: when a page
 *    cannot be had at once (GFP_NOWAIT) or the module's budget (module
 *    parameter cbt_max_mb) is spent, the whole leaf (or directory page) is
 *    marked FULL: every block under it counts as changed. A superset, never
 *    a miss.
 *  - cbt_map_reserve() and cbt_map_mark_copied(): "this block is copied"
 *    (snapshot mode, where a set bit lets the hook skip the copy; also the
 *    blocks of the CoW file itself, and bits read back from a CoW file). A
 *    FULL mark there would skip copies, so these allocate for real or fail
 *    with -ENOMEM, and the caller fails the snapshot (or the reload).
 * Bits are never cleared: a map lives as long as the CoW file it belongs to.
 */
#ifndef BSNAP_CBT_MAP_H
#define BSNAP_CBT_MAP_H

#include <linux/atomic.h>
#include <linux/blk_types.h>
#include <linux/compiler.h>
#include <linux/gfp.h>
#include <linux/types.h>

struct cbt_mid;

struct cbt_map {
	u64 nr_blocks;
	unsigned int block_shift;   /* log2 of the block size in bytes */
	unsigned long nr_top;
	struct cbt_mid **top;       /* directory pages, NULL until needed */
	atomic64_t nr_set;          /* bits currently set (FULL ones too) */
	atomic_long_t nr_pages;     /* directory and leaf pages allocated */
	atomic_long_t nr_coarse;    /* leaves marked FULL for want of memory */
	atomic_t warned;
};

/*
 * Map for a device of @nr_sectors 512-byte sectors at 2^@block_shift bytes a
 * block (at least 512). ERR_PTR on error: -EINVAL for an empty device or a bad
 * shift, -EFBIG if even the top directory would not fit kvmalloc (2^52
 * blocks), -ENOMEM. Process context (GFP_KERNEL).
 */
struct cbt_map *cbt_map_create(sector_t nr_sectors, unsigned int block_shift);
void cbt_map_destroy(struct cbt_map *map);

/* First and last block touched by @nr sectors at @sector (nr > 0). */
static inline void cbt_map_block_range(const struct cbt_map *map,
				       sector_t sector, sector_t nr, u64 *first,
				       u64 *last)
{
	unsigned int shift = map->block_shift - SECTOR_SHIFT;

	*first = sector >> shift;
	*last = (sector + nr - 1) >> shift;
}

/*
 * Blocks [first, last] (clamped to the map) changed. Any context (hard irq
 * included); may mark more than asked (FULL), never less.
 */
void cbt_map_mark_changed(struct cbt_map *map, u64 first, u64 last);

/*
 * Allocate every page that bits [first, last] (clamped) need, with @gfp: a
 * cbt_map_mark_copied() of those bits then allocates nothing and cannot
 * fail. 0 or -ENOMEM.
 */
int __must_check cbt_map_reserve(struct cbt_map *map, u64 first, u64 last,
				 gfp_t gfp);

/*
 * Blocks [first, last] (clamped) are copied, or must count as set exactly
 * (never FULL): allocates what cbt_map_reserve() did not, with @gfp.
 * 0 or -ENOMEM (some bits may then be set: the caller fails the snapshot).
 */
int __must_check cbt_map_mark_copied(struct cbt_map *map, u64 first, u64 last,
				     gfp_t gfp);

/*
 * True if every block in [first, last] (clamped to the map; an empty range is
 * all set) is set. Any context, lock-free. On true it orders like an acquire:
 * whatever the setter wrote before setting the bits is visible.
 */
bool cbt_map_all_set(const struct cbt_map *map, u64 first, u64 last);

/* Block @block is set (false past the map's end). Any context. */
bool cbt_map_test(const struct cbt_map *map, u64 block);

/*
 * The first clear (set) block in [pos, end), or @end if none; @end at most
 * nr_blocks. Any context; for a stable answer no one may set bits in the
 * range meanwhile (the copy pipeline is the only setter in snapshot mode).
 */
u64 cbt_map_next_clear(const struct cbt_map *map, u64 pos, u64 end);
u64 cbt_map_next_set(const struct cbt_map *map, u64 pos, u64 end);

/*
 * @len bytes of the on-disk little-endian layout (bit b = byte b / 8, bit
 * b % 8) from byte @off on; @off and @len multiples of sizeof(long); zero past
 * the map's end. Returns false if no page of the map covers those bytes: then
 * they are zero, and stay so on disk if they were (bits are only ever set).
 * Any context; a concurrent setter's bit may or may not be in it.
 */
bool cbt_map_export(const struct cbt_map *map, u64 off, void *buf,
		    size_t len);
/*
 * False if no page of the map covers bytes [@off, @off + @len) of the
 * layout (cbt_map_export() would give zeros). Any context.
 */
bool cbt_map_covers(const struct cbt_map *map, u64 off, size_t len);
/* Page @page of @len bytes of the layout (write intent's tick). */
static inline void cbt_map_export_page(const struct cbt_map *map, u64 page,
				       void *buf, size_t len)
{
	cbt_map_export(map, page * len, buf, len);
}

/*
 * OR @len bytes of the on-disk layout, from byte @off on (a multiple of
 * sizeof(long)), into @map; bits past the map's end are dropped. Exact (as
 * cbt_map_mark_copied(), GFP_KERNEL): 0 or -ENOMEM. Safe against concurrent
 * setters.
 */
int __must_check cbt_map_merge(struct cbt_map *map, u64 off, const void *buf,
			       size_t len);

/* Kernel memory the map holds now, in bytes. */
u64 cbt_map_mem_bytes(const struct cbt_map *map);

/*
 * The on-disk bitmap layout for any flat bitmap of @nbits bits (the CoW
 * index's valid bitmap, the write-intent bitmap): export writes @len bytes,
 * zero-padded; import reads @len bytes (missing bits are clear, bits past
 * @nbits dropped) and returns the number of bits set.
 */
void bsnap_bitmap_export(const unsigned long *bits, u64 nbits, void *buf,
			 size_t len);
u64 bsnap_bitmap_import(unsigned long *bits, u64 nbits, const void *buf,
			size_t len);

static inline u64 cbt_map_count(const struct cbt_map *map)
{
	return atomic64_read(&map->nr_set);
}

#endif
