// SPDX-License-Identifier: GPL-2.0
/*
 * The change map: a flat bitmap, one bit per block of the traced device.
 *
 * Setting bits is on the write hot path and may run in any context (hard or
 * soft irq included), so it takes no lock and allocates nothing: whole words
 * are updated with one atomic fetch-or each, words already fully set are
 * skipped with a plain load, and nr_set counts exactly the bits that went
 * from 0 to 1 (each such transition is seen by exactly one fetch-or).
 */
#include <linux/bitmap.h>
#include <linux/err.h>
#include <linux/kernel.h>
#include <linux/limits.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "cbt_map.h"

/* kvmalloc() refuses more than INT_MAX bytes. */
#define CBT_MAP_MAX_BLOCKS \
	((u64)(INT_MAX / sizeof(unsigned long)) * BITS_PER_LONG)
#define CBT_MAP_MAX_SHIFT 30

struct cbt_map *cbt_map_create(sector_t nr_sectors, unsigned int block_shift)
{
	struct cbt_map *map;
	unsigned int shift;
	u64 nr_blocks;

	if (!nr_sectors || block_shift < SECTOR_SHIFT ||
	    block_shift > CBT_MAP_MAX_SHIFT)
		return ERR_PTR(-EINVAL);

	shift = block_shift - SECTOR_SHIFT;
	nr_blocks = ((u64)nr_sectors >> shift) +
		    !!((u64)nr_sectors & ((1ULL << shift) - 1));
	if (nr_blocks > CBT_MAP_MAX_BLOCKS || nr_blocks > ULONG_MAX)
		return ERR_PTR(-EFBIG);

	map = kzalloc(sizeof(*map), GFP_KERNEL);
	if (!map)
		return ERR_PTR(-ENOMEM);

	map->bits = kvcalloc(BITS_TO_LONGS(nr_blocks), sizeof(unsigned long),
			     GFP_KERNEL);
	if (!map->bits) {
		kfree(map);
		return ERR_PTR(-ENOMEM);
	}
	map->nr_blocks = nr_blocks;
	map->block_shift = block_shift;
	atomic64_set(&map->nr_set, 0);
	return map;
}

void cbt_map_destroy(struct cbt_map *map)
{
	if (!map)
		return;
	kvfree(map->bits);
	kfree(map);
}

/*
 * Clamp [first, last] to the map as the half-open bit range [*start, *end).
 * False if nothing is left.
 */
static bool cbt_map_clamp(const struct cbt_map *map, u64 first, u64 last,
			  unsigned long *start, unsigned long *end)
{
	if (first > last || first >= map->nr_blocks)
		return false;
	if (last >= map->nr_blocks)
		last = map->nr_blocks - 1;
	*start = first;
	*end = last + 1;
	return true;
}

/* Mask of the bits of word @w that lie in [start, end). */
static inline unsigned long cbt_word_mask(unsigned long w, unsigned long start,
					  unsigned long end)
{
	unsigned long mask = ~0UL;

	if (w == BIT_WORD(start))
		mask &= BITMAP_FIRST_WORD_MASK(start);
	if (w == BIT_WORD(end - 1))
		mask &= BITMAP_LAST_WORD_MASK(end);
	return mask;
}

void cbt_map_set_range(struct cbt_map *map, u64 first, u64 last)
{
	unsigned long start, end, w, last_w;
	long nr = 0;

	if (!cbt_map_clamp(map, first, last, &start, &end))
		return;

	last_w = BIT_WORD(end - 1);
	for (w = BIT_WORD(start); w <= last_w; w++) {
		unsigned long mask = cbt_word_mask(w, start, end);
		unsigned long old;

		/* Common case on a busy device: nothing new, no locked op. */
		if ((READ_ONCE(map->bits[w]) & mask) == mask)
			continue;
		old = atomic_long_fetch_or(mask,
					   (atomic_long_t *)&map->bits[w]);
		nr += hweight_long(mask & ~old);
	}
	if (nr)
		atomic64_add(nr, &map->nr_set);
}

bool cbt_map_all_set(const struct cbt_map *map, u64 first, u64 last)
{
	unsigned long start, end, w, last_w;

	if (!cbt_map_clamp(map, first, last, &start, &end))
		return true;

	last_w = BIT_WORD(end - 1);
	for (w = BIT_WORD(start); w <= last_w; w++) {
		unsigned long mask = cbt_word_mask(w, start, end);

		if ((READ_ONCE(map->bits[w]) & mask) != mask)
			return false;
	}
	/* Pairs with the full barrier of atomic_long_fetch_or() above. */
	smp_rmb();
	return true;
}

void cbt_map_clear(struct cbt_map *map)
{
	memset(map->bits, 0,
	       BITS_TO_LONGS(map->nr_blocks) * sizeof(unsigned long));
	atomic64_set(&map->nr_set, 0);
}

static void bsnap_word_to_le(void *p, unsigned long word)
{
	if (BITS_PER_LONG == 64) {
		__le64 v = cpu_to_le64(word);

		memcpy(p, &v, sizeof(v));
	} else {
		__le32 v = cpu_to_le32(word);

		memcpy(p, &v, sizeof(v));
	}
}

static unsigned long bsnap_le_to_word(const void *p)
{
	__le64 v64;
	__le32 v32;

	if (BITS_PER_LONG == 64) {
		memcpy(&v64, p, sizeof(v64));
		return le64_to_cpu(v64);
	}
	memcpy(&v32, p, sizeof(v32));
	return le32_to_cpu(v32);
}

void bsnap_bitmap_export(const unsigned long *bits, u64 nbits, void *buf,
			 size_t len)
{
	u64 nbytes = DIV_ROUND_UP_ULL(nbits, BITS_PER_BYTE);
	size_t n = min_t(u64, len, nbytes);
	size_t words = n / sizeof(unsigned long);
	u8 *out = buf;
	size_t i;

	/* Whole words: one store each (a plain copy on little endian). */
	for (i = 0; i < words; i++)
		bsnap_word_to_le(out + i * sizeof(unsigned long), bits[i]);
	/* The tail, byte by byte. */
	for (i = words * sizeof(unsigned long); i < n; i++)
		out[i] = bits[i / sizeof(unsigned long)] >>
			 (BITS_PER_BYTE * (i % sizeof(unsigned long)));
	/* Bits past @nbits in the last byte (never set, but be exact). */
	if (n == nbytes && nbits % BITS_PER_BYTE)
		out[n - 1] &= (1U << (nbits % BITS_PER_BYTE)) - 1;
	memset(out + n, 0, len - n);
}

u64 bsnap_bitmap_import(unsigned long *bits, u64 nbits, const void *buf,
			size_t len)
{
	u64 nbytes = DIV_ROUND_UP_ULL(nbits, BITS_PER_BYTE);
	size_t nwords = BITS_TO_LONGS(nbits);
	size_t n = min_t(u64, len, nbytes);
	size_t words = n / sizeof(unsigned long);
	const u8 *in = buf;
	u64 weight = 0;
	size_t i;

	for (i = 0; i < words; i++)
		bits[i] = bsnap_le_to_word(in + i * sizeof(unsigned long));
	if (words < nwords) {
		/* Partial last word from the tail bytes, then zeros. */
		unsigned long w = 0;

		for (i = words * sizeof(unsigned long); i < n; i++)
			w |= (unsigned long)in[i] <<
			     (BITS_PER_BYTE * (i % sizeof(unsigned long)));
		bits[words] = w;
		for (i = words + 1; i < nwords; i++)
			bits[i] = 0;
	}
	if (nbits % BITS_PER_LONG)
		bits[nwords - 1] &= BITMAP_LAST_WORD_MASK(nbits);

	for (i = 0; i < nwords; i++)
		weight += hweight_long(bits[i]);
	return weight;
}

void cbt_map_export(const struct cbt_map *map, void *buf, size_t len)
{
	bsnap_bitmap_export(map->bits, map->nr_blocks, buf, len);
}

void cbt_map_export_page(const struct cbt_map *map, u64 page, void *buf,
			 size_t len)
{
	u64 first = page * len * BITS_PER_BYTE;

	/* @len is a multiple of the word size: @first starts a word. */
	if (first >= map->nr_blocks) {
		memset(buf, 0, len);
		return;
	}
	bsnap_bitmap_export(map->bits + first / BITS_PER_LONG,
			    map->nr_blocks - first, buf, len);
}

int cbt_map_merge(struct cbt_map *map, const void *buf, size_t len)
{
	size_t i, nwords = BITS_TO_LONGS(map->nr_blocks);
	unsigned long *tmp;
	u64 added = 0;

	tmp = kvcalloc(nwords, sizeof(unsigned long), GFP_KERNEL);
	if (!tmp)
		return -ENOMEM;
	bsnap_bitmap_import(tmp, map->nr_blocks, buf, len);
	for (i = 0; i < nwords; i++) {
		unsigned long old;

		if (!tmp[i])
			continue;
		old = atomic_long_fetch_or(tmp[i],
					   (atomic_long_t *)&map->bits[i]);
		added += hweight_long(tmp[i] & ~old);
	}
	atomic64_add(added, &map->nr_set);
	kvfree(tmp);
	return 0;
}
