// SPDX-License-Identifier: GPL-2.0
/*
 * The change map (cbt_map.h): a two-level directory over leaves of one page
 * of bits.
 *
 *   top[]            kvcalloc'ed at creation: one pointer per 2^24 blocks
 *                    (64 GiB of device at 4 KiB blocks)
 *   struct cbt_mid   one page of pointers to leaves
 *   struct cbt_leaf  one page of bits, 2^15 blocks (128 MiB)
 *
 * A pointer goes from NULL to a page once (cmpxchg, a full barrier after the
 * page was zeroed) and never changes again until the map is destroyed, so
 * readers follow it with READ_ONCE() (address dependency) and no lock. A
 * directory or leaf pointer may instead point at cbt_full_mid or
 * cbt_full_leaf, shared read-only pages of all ones: every block under it is
 * set. That is how a range covering a whole leaf is marked without memory
 * (exact), and how cbt_map_mark_changed() marks more than asked when it
 * cannot allocate (a superset, the "FULL" fallback). The shared pages are
 * never written: setters skip them, and a word whose bits are all set is
 * never written either.
 *
 * Bits within a leaf are set lock-free: whole words with one atomic
 * fetch-or each, words already fully set skipped with a plain load; nr_set
 * counts exactly the bits that went from 0 to 1 (each such transition is
 * seen by exactly one fetch-or or one winning cmpxchg).
 */
#include "log.h"

#include <linux/bitmap.h>
#include <linux/err.h>
#include <linux/kernel.h>
#include <linux/limits.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "cbt_map.h"

#define CBT_LEAF_WORDS (PAGE_SIZE / sizeof(unsigned long))
#define CBT_LEAF_SHIFT (PAGE_SHIFT + 3)
#define CBT_LEAF_BITS (1ULL << CBT_LEAF_SHIFT)
#define CBT_MID_SLOTS (PAGE_SIZE / sizeof(void *))
#define CBT_MID_SHIFT (CBT_LEAF_SHIFT + ilog2(CBT_MID_SLOTS))
#define CBT_MID_BITS (1ULL << CBT_MID_SHIFT)
#define CBT_MAP_MAX_SHIFT 30

struct cbt_leaf {
	unsigned long w[CBT_LEAF_WORDS];
};

struct cbt_mid {
	struct cbt_leaf *leaf[CBT_MID_SLOTS];
};

static_assert(sizeof(struct cbt_leaf) == PAGE_SIZE);
static_assert(sizeof(struct cbt_mid) == PAGE_SIZE);

static struct cbt_leaf cbt_full_leaf = {
	.w = { [0 ... CBT_LEAF_WORDS - 1] = ~0UL },
};

static struct cbt_mid cbt_full_mid = {
	.leaf = { [0 ... CBT_MID_SLOTS - 1] = &cbt_full_leaf },
};

/*
 * The pages cbt_map_mark_changed() may take, over all maps, before it marks
 * whole leaves instead. Exact marks (snapshot mode) are not limited here:
 * a snapshot's map grows with what was copied, which the CoW file bounds.
 */
static unsigned int cbt_max_mb = 1024;
module_param(cbt_max_mb, uint, 0644);
MODULE_PARM_DESC(cbt_max_mb,
		 "MiB of change map pages for incremental tracking before whole 128 MiB ranges are marked instead (default 1024)");

static atomic_long_t cbt_pages_total = ATOMIC_LONG_INIT(0);

enum cbt_how {
	CBT_CHANGED,	/* GFP_NOWAIT, within budget, else FULL */
	CBT_COPIED,	/* exact: allocate with the caller's gfp or fail */
	CBT_RESERVE,	/* as CBT_COPIED, but set no bit */
};

struct cbt_map *cbt_map_create(sector_t nr_sectors, unsigned int block_shift)
{
	struct cbt_map *map;
	unsigned int shift;
	u64 nr_blocks, nr_top;

	if (!nr_sectors || block_shift < SECTOR_SHIFT ||
	    block_shift > CBT_MAP_MAX_SHIFT)
		return ERR_PTR(-EINVAL);

	shift = block_shift - SECTOR_SHIFT;
	nr_blocks = ((u64)nr_sectors >> shift) +
		    !!((u64)nr_sectors & ((1ULL << shift) - 1));
	nr_top = DIV_ROUND_UP_ULL(nr_blocks, CBT_MID_BITS);
	/* kvmalloc() refuses more than INT_MAX bytes. */
	if (nr_top > INT_MAX / sizeof(struct cbt_mid *))
		return ERR_PTR(-EFBIG);

	map = kzalloc(sizeof(*map), GFP_KERNEL);
	if (!map)
		return ERR_PTR(-ENOMEM);
	map->top = kvcalloc(nr_top, sizeof(*map->top), GFP_KERNEL);
	if (!map->top) {
		kfree(map);
		return ERR_PTR(-ENOMEM);
	}
	map->nr_top = nr_top;
	map->nr_blocks = nr_blocks;
	map->block_shift = block_shift;
	atomic64_set(&map->nr_set, 0);
	atomic_long_set(&map->nr_pages, 0);
	atomic_long_set(&map->nr_coarse, 0);
	atomic_set(&map->warned, 0);
	return map;
}

static void cbt_free_page(struct cbt_map *map, void *page)
{
	free_page((unsigned long)page);
	atomic_long_dec(&map->nr_pages);
	atomic_long_dec(&cbt_pages_total);
}

void cbt_map_destroy(struct cbt_map *map)
{
	unsigned long i, j;

	if (!map)
		return;
	for (i = 0; i < map->nr_top; i++) {
		struct cbt_mid *mid = map->top[i];

		if (!mid || mid == &cbt_full_mid)
			continue;
		for (j = 0; j < CBT_MID_SLOTS; j++) {
			struct cbt_leaf *leaf = mid->leaf[j];

			if (leaf && leaf != &cbt_full_leaf)
				cbt_free_page(map, leaf);
		}
		cbt_free_page(map, mid);
	}
	kvfree(map->top);
	kfree(map);
}

static void *cbt_alloc_page(struct cbt_map *map, gfp_t gfp, enum cbt_how how)
{
	long budget = (long)READ_ONCE(cbt_max_mb) << (20 - PAGE_SHIFT);
	unsigned long page;

	if (how == CBT_CHANGED) {
		if (atomic_long_read(&cbt_pages_total) >= budget)
			return NULL;
		gfp = GFP_NOWAIT | __GFP_NOWARN;
	}
	page = get_zeroed_page(gfp);
	if (!page)
		return NULL;
	atomic_long_inc(&map->nr_pages);
	atomic_long_inc(&cbt_pages_total);
	return (void *)page;
}

/* Blocks of the map in [@start, @start + @span). */
static u64 cbt_span(const struct cbt_map *map, u64 start, u64 span)
{
	return min(span, map->nr_blocks - start);
}

/* cbt_map_mark_changed() marked a whole unit without being asked to. */
static void cbt_coarse(struct cbt_map *map, u64 start, u64 span)
{
	u64 n = cbt_span(map, start, span);

	atomic_long_add(DIV_ROUND_UP_ULL(n, CBT_LEAF_BITS), &map->nr_coarse);
	if (!atomic_xchg(&map->warned, 1))
		pr_warn("change map short of memory: whole ranges of %llu blocks count as changed (more to copy, nothing missed)\n",
			CBT_LEAF_BITS);
}

/* The directory page over @block, allocated if need be; NULL: -ENOMEM. */
static struct cbt_mid *cbt_get_mid(struct cbt_map *map, u64 block, gfp_t gfp,
				   enum cbt_how how, u64 *nr)
{
	struct cbt_mid **slot = &map->top[block >> CBT_MID_SHIFT];
	struct cbt_mid *mid = READ_ONCE(*slot), *old;

	if (mid)
		return mid;
	mid = cbt_alloc_page(map, gfp, how);
	if (!mid) {
		if (how != CBT_CHANGED)
			return NULL;
		mid = &cbt_full_mid;
	}
	old = cmpxchg(slot, NULL, mid);
	if (old) {
		if (mid != &cbt_full_mid)
			cbt_free_page(map, mid);
		return old;
	}
	if (mid == &cbt_full_mid) {
		u64 start = round_down(block, CBT_MID_BITS);

		*nr += cbt_span(map, start, CBT_MID_BITS);
		cbt_coarse(map, start, CBT_MID_BITS);
	}
	return mid;
}

/* The leaf over @block, allocated if need be; NULL: -ENOMEM. */
static struct cbt_leaf *cbt_get_leaf(struct cbt_map *map, u64 block,
				     gfp_t gfp, enum cbt_how how, u64 *nr)
{
	struct cbt_leaf **slot, *leaf, *old;
	struct cbt_mid *mid;

	mid = cbt_get_mid(map, block, gfp, how, nr);
	if (!mid)
		return NULL;
	if (mid == &cbt_full_mid)
		return &cbt_full_leaf;
	slot = &mid->leaf[(block >> CBT_LEAF_SHIFT) & (CBT_MID_SLOTS - 1)];
	leaf = READ_ONCE(*slot);
	if (leaf)
		return leaf;
	leaf = cbt_alloc_page(map, gfp, how);
	if (!leaf) {
		if (how != CBT_CHANGED)
			return NULL;
		leaf = &cbt_full_leaf;
	}
	old = cmpxchg(slot, NULL, leaf);
	if (old) {
		if (leaf != &cbt_full_leaf)
			cbt_free_page(map, leaf);
		return old;
	}
	if (leaf == &cbt_full_leaf) {
		u64 start = round_down(block, CBT_LEAF_BITS);

		*nr += cbt_span(map, start, CBT_LEAF_BITS);
		cbt_coarse(map, start, CBT_LEAF_BITS);
	}
	return leaf;
}

/* The leaf over @block, or NULL; no allocation. Any context. */
static struct cbt_leaf *cbt_find_leaf(const struct cbt_map *map, u64 block)
{
	struct cbt_mid *mid = READ_ONCE(map->top[block >> CBT_MID_SHIFT]);

	if (!mid)
		return NULL;
	return READ_ONCE(mid->leaf[(block >> CBT_LEAF_SHIFT) &
				   (CBT_MID_SLOTS - 1)]);
}

/*
 * Clamp [first, last] to the map as the half-open block range [*start,
 * *end). False if nothing is left.
 */
static bool cbt_map_clamp(const struct cbt_map *map, u64 first, u64 last,
			  u64 *start, u64 *end)
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

/* Set bits [s, e) of a real leaf; the number that went from 0 to 1. */
static u64 cbt_leaf_set(struct cbt_leaf *leaf, unsigned long s,
			unsigned long e)
{
	unsigned long w, last_w = BIT_WORD(e - 1);
	u64 nr = 0;

	for (w = BIT_WORD(s); w <= last_w; w++) {
		unsigned long mask = cbt_word_mask(w, s, e);
		unsigned long old;

		/* Common case on a busy device: nothing new, no locked op. */
		if ((READ_ONCE(leaf->w[w]) & mask) == mask)
			continue;
		old = atomic_long_fetch_or(mask, (atomic_long_t *)&leaf->w[w]);
		nr += hweight_long(mask & ~old);
	}
	return nr;
}

/* Install @full in the empty @slot: exact when [pos, end) covers it. */
static bool cbt_whole(void **slot, void *full)
{
	return !READ_ONCE(*slot) && !cmpxchg(slot, NULL, full);
}

static int cbt_set(struct cbt_map *map, u64 first, u64 last, gfp_t gfp,
		   enum cbt_how how)
{
	u64 pos, end, nr = 0;
	int ret = 0;

	if (!cbt_map_clamp(map, first, last, &pos, &end))
		return 0;
	while (pos < end) {
		u64 mid_start = round_down(pos, CBT_MID_BITS);
		u64 mid_end = mid_start + cbt_span(map, mid_start, CBT_MID_BITS);
		u64 leaf_start = round_down(pos, CBT_LEAF_BITS);
		u64 leaf_end = leaf_start +
			       cbt_span(map, leaf_start, CBT_LEAF_BITS);
		u64 stop = min(leaf_end, end);
		struct cbt_leaf *leaf;
		struct cbt_mid *mid;

		/* A whole unit: all ones without memory, exactly. */
		if (how != CBT_RESERVE && pos == mid_start && end >= mid_end &&
		    cbt_whole((void **)&map->top[pos >> CBT_MID_SHIFT],
			      &cbt_full_mid)) {
			nr += mid_end - mid_start;
			pos = mid_end;
			continue;
		}
		mid = cbt_get_mid(map, pos, gfp, how, &nr);
		if (!mid) {
			ret = -ENOMEM;
			break;
		}
		if (mid == &cbt_full_mid) {
			pos = min(mid_end, end);
			continue;
		}
		if (how != CBT_RESERVE && pos == leaf_start &&
		    end >= leaf_end &&
		    cbt_whole((void **)&mid->leaf[(pos >> CBT_LEAF_SHIFT) &
						  (CBT_MID_SLOTS - 1)],
			      &cbt_full_leaf)) {
			nr += leaf_end - leaf_start;
			pos = leaf_end;
			continue;
		}
		leaf = cbt_get_leaf(map, pos, gfp, how, &nr);
		if (!leaf) {
			ret = -ENOMEM;
			break;
		}
		if (leaf != &cbt_full_leaf && how != CBT_RESERVE)
			nr += cbt_leaf_set(leaf, pos - leaf_start,
					   stop - leaf_start);
		pos = stop;
	}
	if (nr)
		atomic64_add(nr, &map->nr_set);
	return ret;
}

void cbt_map_mark_changed(struct cbt_map *map, u64 first, u64 last)
{
	/* Cannot fail: CBT_CHANGED falls back to FULL. */
	cbt_set(map, first, last, GFP_NOWAIT, CBT_CHANGED);
}

int cbt_map_reserve(struct cbt_map *map, u64 first, u64 last, gfp_t gfp)
{
	return cbt_set(map, first, last, gfp, CBT_RESERVE);
}

int cbt_map_mark_copied(struct cbt_map *map, u64 first, u64 last, gfp_t gfp)
{
	return cbt_set(map, first, last, gfp, CBT_COPIED);
}

bool cbt_map_all_set(const struct cbt_map *map, u64 first, u64 last)
{
	u64 pos, end;

	if (!cbt_map_clamp(map, first, last, &pos, &end))
		return true;
	while (pos < end) {
		u64 leaf_start = round_down(pos, CBT_LEAF_BITS);
		u64 stop = min(leaf_start + CBT_LEAF_BITS, end);
		struct cbt_leaf *leaf = cbt_find_leaf(map, pos);
		unsigned long s = pos - leaf_start, e = stop - leaf_start, w;

		if (!leaf)
			return false;
		if (leaf != &cbt_full_leaf) {
			for (w = BIT_WORD(s); w <= BIT_WORD(e - 1); w++) {
				unsigned long mask = cbt_word_mask(w, s, e);

				if ((READ_ONCE(leaf->w[w]) & mask) != mask)
					return false;
			}
		}
		pos = stop;
	}
	/* Pairs with the full barrier of the setter's fetch-or or cmpxchg. */
	smp_rmb();
	return true;
}

bool cbt_map_test(const struct cbt_map *map, u64 block)
{
	struct cbt_leaf *leaf;

	if (block >= map->nr_blocks)
		return false;
	leaf = cbt_find_leaf(map, block);
	return leaf && test_bit(block & (CBT_LEAF_BITS - 1), leaf->w);
}

/* First block in [pos, end) whose bit is @set, else @end. */
static u64 cbt_find(const struct cbt_map *map, u64 pos, u64 end, bool set)
{
	while (pos < end) {
		struct cbt_mid *mid = READ_ONCE(map->top[pos >> CBT_MID_SHIFT]);
		u64 leaf_start = round_down(pos, CBT_LEAF_BITS);
		u64 stop = min(leaf_start + CBT_LEAF_BITS, end);
		struct cbt_leaf *leaf;
		unsigned long r;

		if (!mid || mid == &cbt_full_mid) {
			if (!mid != set)
				return pos;
			pos = min(round_down(pos, CBT_MID_BITS) + CBT_MID_BITS,
				  end);
			continue;
		}
		leaf = READ_ONCE(mid->leaf[(pos >> CBT_LEAF_SHIFT) &
					   (CBT_MID_SLOTS - 1)]);
		if (!leaf || leaf == &cbt_full_leaf) {
			if (!leaf != set)
				return pos;
			pos = stop;
			continue;
		}
		if (set)
			r = find_next_bit(leaf->w, stop - leaf_start,
					  pos - leaf_start);
		else
			r = find_next_zero_bit(leaf->w, stop - leaf_start,
					       pos - leaf_start);
		if (r < stop - leaf_start)
			return leaf_start + r;
		pos = stop;
	}
	return end;
}

u64 cbt_map_next_clear(const struct cbt_map *map, u64 pos, u64 end)
{
	return cbt_find(map, pos, min(end, map->nr_blocks), false);
}

u64 cbt_map_next_set(const struct cbt_map *map, u64 pos, u64 end)
{
	return cbt_find(map, pos, min(end, map->nr_blocks), true);
}

u64 cbt_map_mem_bytes(const struct cbt_map *map)
{
	return sizeof(*map) + map->nr_top * sizeof(*map->top) +
	       (u64)atomic_long_read(&map->nr_pages) * PAGE_SIZE;
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

/*
 * Bytes of the on-disk layout held by one leaf: a leaf's bits are a page of
 * the layout, and @off is a multiple of sizeof(long).
 */
#define CBT_LEAF_BYTES (CBT_LEAF_BITS / BITS_PER_BYTE)

bool cbt_map_export(const struct cbt_map *map, u64 off, void *buf,
		    size_t len)
{
	u8 *out = buf;
	bool any = false;
	size_t done = 0;

	while (done < len) {
		u64 byte = off + done;
		u64 block = byte * BITS_PER_BYTE;
		size_t n = min_t(u64, len - done,
				 CBT_LEAF_BYTES - (byte & (CBT_LEAF_BYTES - 1)));
		struct cbt_leaf *leaf = NULL;
		size_t i;

		if (block < map->nr_blocks)
			leaf = cbt_find_leaf(map, block);
		if (!leaf) {
			memset(out + done, 0, n);
			done += n;
			continue;
		}
		any = true;
		for (i = 0; i < n; i += sizeof(unsigned long)) {
			u64 b = block + i * BITS_PER_BYTE;
			unsigned long w = 0;

			if (b < map->nr_blocks) {
				w = READ_ONCE(leaf->w[(b & (CBT_LEAF_BITS - 1)) /
						      BITS_PER_LONG]);
				/* FULL leaves are ones past the end too. */
				if (map->nr_blocks - b < BITS_PER_LONG)
					w &= BITMAP_LAST_WORD_MASK(map->nr_blocks);
			}
			bsnap_word_to_le(out + done + i, w);
		}
		done += n;
	}
	return any;
}

bool cbt_map_covers(const struct cbt_map *map, u64 off, size_t len)
{
	u64 block = off * BITS_PER_BYTE;
	u64 end = min_t(u64, (off + len) * BITS_PER_BYTE, map->nr_blocks);

	for (; block < end; block = round_down(block, CBT_LEAF_BITS) +
				    CBT_LEAF_BITS)
		if (cbt_find_leaf(map, block))
			return true;
	return false;
}

int cbt_map_merge(struct cbt_map *map, u64 off, const void *buf, size_t len)
{
	const u8 *in = buf;
	size_t done = 0;
	u64 nr = 0;
	int ret = 0;

	while (done < len) {
		u64 byte = off + done;
		u64 block = byte * BITS_PER_BYTE;
		size_t n = min_t(u64, len - done,
				 CBT_LEAF_BYTES - (byte & (CBT_LEAF_BYTES - 1)));
		struct cbt_leaf *leaf;
		size_t i;

		if (block >= map->nr_blocks)
			break;
		if (!memchr_inv(in + done, 0, n)) {
			done += n;
			continue;
		}
		/* A whole leaf of ones (a FULL one written out): no memory. */
		if (n == CBT_LEAF_BYTES &&
		    block + CBT_LEAF_BITS <= map->nr_blocks &&
		    !memchr_inv(in + done, 0xff, n)) {
			ret = cbt_set(map, block, block + CBT_LEAF_BITS - 1,
				      GFP_KERNEL, CBT_COPIED);
			if (ret)
				break;
			done += n;
			continue;
		}
		leaf = cbt_get_leaf(map, block, GFP_KERNEL, CBT_COPIED, &nr);
		if (!leaf) {
			ret = -ENOMEM;
			break;
		}
		for (i = 0; i < n && leaf != &cbt_full_leaf;
		     i += sizeof(unsigned long)) {
			u64 b = block + i * BITS_PER_BYTE;
			unsigned long w, old, *p;

			if (b >= map->nr_blocks)
				break;
			w = bsnap_le_to_word(in + done + i);
			if (map->nr_blocks - b < BITS_PER_LONG)
				w &= BITMAP_LAST_WORD_MASK(map->nr_blocks);
			p = &leaf->w[(b & (CBT_LEAF_BITS - 1)) / BITS_PER_LONG];
			if ((READ_ONCE(*p) & w) == w)
				continue;
			old = atomic_long_fetch_or(w, (atomic_long_t *)p);
			nr += hweight_long(w & ~old);
		}
		done += n;
	}
	if (nr)
		atomic64_add(nr, &map->nr_set);
	return ret;
}
