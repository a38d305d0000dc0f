/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The change map: one bit per tracked block of the device, set when the block
 * changed since the current snapshot was taken. In snapshot mode a bit is set
 * only once the block's old contents are safely in the CoW file, so the same
 * bit also means "copied".
 *
 * Bits are set lock-free from any context (the bio hook may run in atomic
 * context); memory is allocated once at creation (vmalloc, GFP_KERNEL) and is
 * proportional to the device size: 32 MiB per TiB at 4 KiB blocks.
 */
#ifndef BSNAP_CBT_MAP_H
#define BSNAP_CBT_MAP_H

#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/blk_types.h>
#include <linux/types.h>

struct cbt_map {
	u64 nr_blocks;
	unsigned int block_shift;   /* log2 of the block size in bytes */
	unsigned long *bits;
	atomic64_t nr_set;          /* bits currently set */
};

/*
 * Map for a device of @nr_sectors 512-byte sectors at 2^@block_shift bytes a
 * block (at least 512). ERR_PTR on error: -EINVAL for an empty device or a bad
 * shift, -EFBIG if the bitmap would exceed what kvmalloc can give (2 GiB:
 * 64 TiB at 4 KiB blocks), -ENOMEM. Process context (GFP_KERNEL).
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

/* Mark blocks [first, last] (clamped to the map). Any context. */
void cbt_map_set_range(struct cbt_map *map, u64 first, u64 last);

/*
 * True if every block in [first, last] (clamped to the map; an empty range is
 * all set) is set. Any context, lock-free. On true it orders like an acquire:
 * whatever the setter wrote before cbt_map_set_range() is visible.
 */
bool cbt_map_all_set(const struct cbt_map *map, u64 first, u64 last);

static inline bool cbt_map_test(const struct cbt_map *map, u64 block)
{
	return block < map->nr_blocks && test_bit(block, map->bits);
}

/* Clear every bit (caller guarantees no concurrent setters). */
void cbt_map_clear(struct cbt_map *map);

/*
 * Copy the bitmap into @buf as the on-disk little-endian byte layout
 * (bit b = byte b / 8, bit b % 8); @len bytes, zero-padded.
 */
void cbt_map_export(const struct cbt_map *map, void *buf, size_t len);
/*
 * Page @page of the on-disk layout (@len bytes from byte @page * @len on:
 * the bits of blocks from @page * @len * 8), zero past the map's end.
 * Any context; a concurrent setter's bit may or may not be in it.
 */
void cbt_map_export_page(const struct cbt_map *map, u64 page, void *buf,
			 size_t len);
/* OR the on-disk layout into @map; safe against concurrent setters. */
int cbt_map_merge(struct cbt_map *map, const void *buf, size_t len);

/*
 * The on-disk bitmap layout for any bitmap of @nbits bits (also used for the
 * CoW index's valid bitmap): export writes @len bytes, zero-padded; import
 * reads @len bytes (missing bits are clear, bits past @nbits dropped) and
 * returns the number of bits set.
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
