// SPDX-License-Identifier: GPL-2.0
/*
 * The CoW store: layout and metadata of one CoW file. See cow_store.h and,
 * for the format itself, include/uapi/bsnap_cow.h.
 */
#include "log.h"

#include <linux/blkdev.h>
#include <linux/crc32.h>
#include <linux/err.h>
#include <linux/math64.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "cbt_map.h"
#include "cow_extent_map.h"
#include "cow_file.h"
#include "cow_index.h"
#include "cow_store.h"
#include "direct_io.h"

#define COW_MIN_DATA (1024 * 1024)

/* The first slot wholly at or after file offset @off. */
static u64 cow_slot_from(const struct cow_store *cs, u64 off)
{
	if (off <= cs->data_off)
		return 1;
	return div64_u64(off - cs->data_off + BSNAP_COW_BLOCK_SIZE - 1,
			 BSNAP_COW_BLOCK_SIZE) + 1;
}

/* The first slot not wholly before file offset @off. */
static u64 cow_slot_end(const struct cow_store *cs, u64 off)
{
	if (off <= cs->data_off)
		return 1;
	return div64_u64(off - cs->data_off, BSNAP_COW_BLOCK_SIZE) + 1;
}

/* Slots from @next on are free, @used hold data. */
static void cow_slots_reset(struct cow_store *cs, u64 next, u64 used)
{
	cow_slots_free(&cs->slots);
	cow_slots_init(&cs->slots, cow_slot_end(cs, cs->grown_off), next,
		       used, cs->ranges_len / sizeof(struct bsnap_cow_range_disk));
}

static u64 cow_layout(struct cow_store *cs, u32 version)
{
	cs->version = version;
	cs->bitmap_off = BSNAP_COW_HEADER_SIZE;
	cs->bitmap_len = round_up(DIV_ROUND_UP(cs->nr_blocks, 8),
				  BSNAP_COW_BLOCK_SIZE);
	cs->valid_off = cs->bitmap_off + cs->bitmap_len;
	cs->valid_len = round_up(DIV_ROUND_UP(DIV_ROUND_UP(cs->nr_blocks,
							   COW_INDEX_PER_PAGE),
					      8),
				 BSNAP_COW_BLOCK_SIZE);
	cs->ranges_base = cs->valid_off + cs->valid_len;
	cs->ranges_off = cs->ranges_base;
	cs->ranges_len = version >= 3 ? BSNAP_COW_RANGES_BYTES / 2 : 0;
	cs->index_off = cs->ranges_base + 2 * cs->ranges_len;
	cs->index_len = cow_index_region_bytes(cs->nr_blocks);
	cs->data_off = cs->index_off + cs->index_len;
	return cs->data_off;
}

struct cow_store *cow_store_create(const char *path, u64 size,
				   struct block_device *bdev,
				   sector_t device_sectors, u64 cache_bytes,
				   const u8 *uuid, u64 seqid)
{
	struct cow_store *cs;
	u64 meta_end;
	int ret;

	cs = kzalloc(sizeof(*cs), GFP_KERNEL);
	if (!cs)
		return ERR_PTR(-ENOMEM);
	cs->device_sectors = device_sectors;
	cs->nr_blocks = DIV_ROUND_UP_ULL(device_sectors,
					 BSNAP_COW_BLOCK_SIZE >> SECTOR_SHIFT);
	cs->seqid = seqid;
	memcpy(cs->uuid, uuid, BSNAP_UUID_SIZE);
	meta_end = cow_layout(cs, BSNAP_COW_VERSION);

	if (!size)
		size = max_t(u64, div_u64((u64)device_sectors << SECTOR_SHIFT, 10),
			     meta_end + COW_MIN_DATA);
	size = round_up(size, BSNAP_COW_BLOCK_SIZE);
	if (size < meta_end + BSNAP_COW_BLOCK_SIZE) {
		pr_err("CoW file of %llu bytes is too small: the metadata of this device needs %llu\n",
		       size, meta_end);
		ret = -EFBIG;
		goto err_free;
	}
	cs->grown_off = size;
	cow_slots_reset(cs, 1, 0);

	cs->cf = cow_file_create(path, size, cs->index_off, bdev);
	if (IS_ERR(cs->cf)) {
		ret = PTR_ERR(cs->cf);
		goto err_free;
	}
	cs->index = cow_index_create(cs->cf, cs->index_off, cs->nr_blocks,
				     cache_bytes);
	if (IS_ERR(cs->index)) {
		ret = PTR_ERR(cs->index);
		goto err_file;
	}
	return cs;

err_file:
	cow_file_release(cs->cf, true);
err_free:
	kfree(cs);
	return ERR_PTR(ret);
}

void cow_store_drop_data(struct cow_store *cs)
{
	if (cs->index)
		cow_index_destroy(cs->index);
	cs->index = NULL;
	cow_slots_reset(cs, 1, 0);
}

void cow_store_destroy(struct cow_store *cs, bool remove)
{
	if (cs->index)
		cow_index_destroy(cs->index);
	cow_file_release(cs->cf, remove);
	cow_slots_free(&cs->slots);
	kfree(cs);
}

int cow_store_alloc(struct cow_store *cs, unsigned int n, u64 *first_slot)
{
	return cow_slots_alloc(&cs->slots, n, first_slot);
}

int cow_store_data_io(struct bsnap_io *io, struct cow_store *cs,
		      blk_opf_t opf, u64 slot, struct page **pages,
		      unsigned int nr_blocks)
{
	return cow_file_io_add(io, cs->cf, opf, cow_store_slot_off(cs, slot),
			       pages, 0, (size_t)nr_blocks * BSNAP_COW_BLOCK_SIZE);
}

/* zlib-compatible CRC-32, so userspace can check it with crc32(). */
static u32 cow_crc32(const void *buf, size_t len)
{
	return crc32_le(~0U, buf, len) ^ ~0U;
}

static void cow_fill_header(struct cow_store *cs, struct bsnap_cow_header *h,
			    const struct cbt_map *cbt, u32 flags)
{
	memset(h, 0, BSNAP_COW_HEADER_SIZE);
	h->magic = cpu_to_le64(BSNAP_COW_MAGIC);
	h->version = cpu_to_le32(cs->version);
	h->flags = cpu_to_le32(flags);
	h->header_size = cpu_to_le32(BSNAP_COW_HEADER_SIZE);
	h->block_size = cpu_to_le32(BSNAP_COW_BLOCK_SIZE);
	memcpy(h->uuid, cs->uuid, BSNAP_UUID_SIZE);
	h->seqid = cpu_to_le64(cs->seqid);
	h->device_sectors = cpu_to_le64(cs->device_sectors);
	h->nr_blocks = cpu_to_le64(cs->nr_blocks);
	h->file_size = cpu_to_le64(cs->cf->size);
	h->bitmap_off = cpu_to_le64(cs->bitmap_off);
	h->bitmap_len = cpu_to_le64(cs->bitmap_len);
	h->index_off = cpu_to_le64(cs->index_off);
	h->index_len = cpu_to_le64(cs->index_len);
	h->data_off = cpu_to_le64(cs->data_off);
	h->data_used = cpu_to_le64(cow_slots_spent(&cs->slots));
	h->changed_blocks = cpu_to_le64(cbt_map_count(cbt));
	h->valid_off = cpu_to_le64(cs->valid_off);
	h->valid_len = cpu_to_le64(cs->valid_len);
	h->probe_crc = cpu_to_le32(cs->probe_crc);
	h->bitmap_crc = cpu_to_le32(cs->bitmap_crc);
	if (cs->version == 2) {
		h->crc = cpu_to_le32(cow_crc32(h, BSNAP_COW_HEADER_V2_BYTES));
		return;
	}
	h->grown_off = cpu_to_le64(cs->grown_off);
	h->data_blocks = cpu_to_le64(cow_slots_used(&cs->slots));
	h->ranges_off = cpu_to_le64(cs->ranges_off);
	h->ranges_len = cpu_to_le64(cs->ranges_len);
	h->nr_ranges = cpu_to_le32(cs->nr_ranges);
	h->ranges_crc = cpu_to_le32(cs->ranges_crc);
	h->crc = cpu_to_le32(cow_crc32(h, sizeof(*h)));
}

int cow_store_write_meta(struct cow_store *cs, const struct cbt_map *cbt,
			 u32 flags, bool bitmap)
{
	void *buf;
	int ret;

	if (bitmap) {
		buf = vmalloc(cs->bitmap_len);
		if (!buf)
			return -ENOMEM;
		cbt_map_export(cbt, buf, cs->bitmap_len);
		cs->bitmap_crc = cow_crc32(buf, cs->bitmap_len);
		ret = cow_file_rw_sync(cs->cf, REQ_OP_WRITE, cs->bitmap_off,
				       buf, cs->bitmap_len);
		vfree(buf);
		if (ret)
			return ret;
	}

	buf = kmalloc(BSNAP_COW_HEADER_SIZE, GFP_NOIO);
	if (!buf)
		return -ENOMEM;
	cow_fill_header(cs, buf, cbt, flags);
	ret = cow_file_rw_sync(cs->cf, REQ_OP_WRITE | REQ_FUA, 0, buf,
			       BSNAP_COW_HEADER_SIZE);
	kfree(buf);
	if (ret)
		return ret;
	return blkdev_issue_flush(cs->cf->bdev);
}

/* Write the index-valid bitmap after the index pages it describes. */
static int cow_store_write_valid(struct cow_store *cs)
{
	void *buf;
	int ret;

	ret = cow_index_flush(cs->index);
	if (ret)
		return ret;
	buf = vzalloc(cs->valid_len);
	if (!buf)
		return -ENOMEM;
	cow_index_valid_export(cs->index, buf, cs->valid_len);
	ret = cow_file_rw_sync(cs->cf, REQ_OP_WRITE, cs->valid_off, buf,
			       cs->valid_len);
	vfree(buf);
	return ret;
}

int cow_store_sync(struct cow_store *cs, const struct cbt_map *cbt,
		   u32 flags)
{
	int ret;

	if (cs->index) {
		ret = cow_store_write_valid(cs);
		if (ret)
			return ret;
	}
	return cow_store_write_meta(cs, cbt, flags, true);
}

int cow_store_probe_crc(struct block_device *bdev, u32 *crc)
{
	void *buf = kmalloc(BSNAP_COW_PROBE_SIZE, GFP_NOIO);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = bsnap_io_sync(bdev, REQ_OP_READ, 0, buf, BSNAP_COW_PROBE_SIZE);
	if (!ret)
		*crc = cow_crc32(buf, BSNAP_COW_PROBE_SIZE);
	kfree(buf);
	return ret;
}

int cow_store_probe(struct cow_store *cs)
{
	return cow_store_probe_crc(cs->cf->bdev, &cs->probe_crc);
}

/* Magic, a version this module reads, and the CRC that version covers. */
static int cow_check_header_crc(const struct bsnap_cow_header *h)
{
	struct bsnap_cow_header copy = *h;
	u32 version = le32_to_cpu(h->version);

	copy.crc = 0;
	if (le64_to_cpu(h->magic) != BSNAP_COW_MAGIC ||
	    version < BSNAP_COW_VERSION_MIN || version > BSNAP_COW_VERSION ||
	    le32_to_cpu(h->crc) !=
		    cow_crc32(&copy, version == 2 ? BSNAP_COW_HEADER_V2_BYTES :
						    sizeof(copy)))
		return -EBADMSG;
	return 0;
}

/* The header must describe exactly the layout cow_layout() gave @cs. */
static int cow_check_header_layout(struct cow_store *cs,
				   const struct bsnap_cow_header *h)
{
	u32 version = le32_to_cpu(h->version);
	u64 size = cs->cf->size, grown_off, used, blocks;

	used = le64_to_cpu(h->data_used);
	if (version >= 3 &&
	    ((le64_to_cpu(h->ranges_off) != cs->ranges_base &&
	      le64_to_cpu(h->ranges_off) != cs->ranges_base + cs->ranges_len) ||
	     le64_to_cpu(h->ranges_len) != cs->ranges_len ||
	     le32_to_cpu(h->nr_ranges) >
		     cs->ranges_len / sizeof(struct bsnap_cow_range_disk)))
		return -EBADMSG;
	grown_off = version == 2 ? size : le64_to_cpu(h->grown_off);
	blocks = version == 2 ? used : le64_to_cpu(h->data_blocks);
	if (le32_to_cpu(h->header_size) != BSNAP_COW_HEADER_SIZE ||
	    le32_to_cpu(h->block_size) != BSNAP_COW_BLOCK_SIZE ||
	    le64_to_cpu(h->device_sectors) != cs->device_sectors ||
	    le64_to_cpu(h->nr_blocks) != cs->nr_blocks ||
	    le64_to_cpu(h->file_size) != cs->cf->size ||
	    le64_to_cpu(h->bitmap_off) != cs->bitmap_off ||
	    le64_to_cpu(h->bitmap_len) != cs->bitmap_len ||
	    le64_to_cpu(h->valid_off) != cs->valid_off ||
	    le64_to_cpu(h->valid_len) != cs->valid_len ||
	    le64_to_cpu(h->index_off) != cs->index_off ||
	    le64_to_cpu(h->index_len) != cs->index_len ||
	    le64_to_cpu(h->data_off) != cs->data_off ||
	    cs->data_off >= size || !h->seqid ||
	    grown_off <= cs->data_off || grown_off > size ||
	    used >= cow_slot_end(cs, size) || blocks > used)
		return -EBADMSG;
	return 0;
}

static int cow_read_header(struct cow_store *cs, u32 *flags)
{
	struct bsnap_cow_header *h;
	int ret;

	h = kmalloc(BSNAP_COW_HEADER_SIZE, GFP_KERNEL);
	if (!h)
		return -ENOMEM;
	ret = cow_file_rw_sync(cs->cf, REQ_OP_READ, 0, h,
			       BSNAP_COW_HEADER_SIZE);
	if (!ret)
		ret = cow_check_header_crc(h);
	if (!ret) {
		cow_layout(cs, le32_to_cpu(h->version));
		ret = cow_check_header_layout(cs, h);
	}
	if (!ret) {
		*flags = le32_to_cpu(h->flags);
		cs->seqid = le64_to_cpu(h->seqid);
		memcpy(cs->uuid, h->uuid, BSNAP_UUID_SIZE);
		if (le32_to_cpu(h->version) == 2) {
			cs->grown_off = cs->cf->size;
			cow_slots_reset(cs, le64_to_cpu(h->data_used) + 1,
					le64_to_cpu(h->data_used));
		} else {
			cs->grown_off = le64_to_cpu(h->grown_off);
			cow_slots_reset(cs, le64_to_cpu(h->data_used) + 1,
					le64_to_cpu(h->data_blocks));
			cs->ranges_off = le64_to_cpu(h->ranges_off);
			cs->nr_ranges = le32_to_cpu(h->nr_ranges);
			cs->ranges_crc = le32_to_cpu(h->ranges_crc);
		}
		cs->probe_crc = le32_to_cpu(h->probe_crc);
		cs->bitmap_crc = le32_to_cpu(h->bitmap_crc);
	}
	kfree(h);
	return ret;
}

/* Read [@off, @off + @len) of the file into a vmalloc'ed buffer. */
static void *cow_read_region(struct cow_store *cs, u64 off, u64 len)
{
	void *buf = vmalloc(len);
	int ret;

	if (!buf)
		return ERR_PTR(-ENOMEM);
	ret = cow_file_rw_sync(cs->cf, REQ_OP_READ, off, buf, len);
	if (ret) {
		vfree(buf);
		return ERR_PTR(ret);
	}
	return buf;
}

static int cow_check_flags(struct cow_store *cs, u32 flags, bool snapshot,
			   u32 probe_crc)
{
	if (flags & ~(BSNAP_COW_CLEAN | BSNAP_COW_INDEX_ONLY |
		      BSNAP_COW_SUPERSEDED))
		return -EBADMSG;
	if (!(flags & BSNAP_COW_CLEAN))
		return -EUCLEAN;
	if (flags & BSNAP_COW_SUPERSEDED)
		return -ESTALE;
	if (snapshot && (flags & BSNAP_COW_INDEX_ONLY))
		return -EINVAL;
	return probe_crc == cs->probe_crc ? 0 : -ESTALE;
}

static int cow_load_index(struct cow_store *cs, u64 cache_bytes)
{
	void *valid;

	cs->index = cow_index_create(cs->cf, cs->index_off, cs->nr_blocks,
				     cache_bytes);
	if (IS_ERR(cs->index)) {
		int ret = PTR_ERR(cs->index);

		cs->index = NULL;
		return ret;
	}
	valid = cow_read_region(cs, cs->valid_off, cs->valid_len);
	if (IS_ERR(valid))
		return PTR_ERR(valid);
	cow_index_valid_import(cs->index, valid, cs->valid_len);
	vfree(valid);
	return 0;
}

/*
 * Write the usable-space table into the copy the header on disk does not
 * name; the header written next names it.
 */
static int cow_store_write_ranges(struct cow_store *cs)
{
	u64 off = cs->ranges_off == cs->ranges_base ?
		cs->ranges_base + cs->ranges_len : cs->ranges_base;
	struct bsnap_cow_range_disk *disk;
	struct cow_slot_range *r;
	unsigned int i, n, max;
	size_t len;
	int ret;

	max = cs->ranges_len / sizeof(*disk);
	disk = vzalloc(cs->ranges_len);
	r = kvmalloc_array(max, sizeof(*r), GFP_KERNEL);
	if (!disk || !r) {
		ret = -ENOMEM;
		goto out;
	}
	n = cow_slots_export(&cs->slots, r, max);
	for (i = 0; i < n; i++) {
		disk[i].off = cpu_to_le64(cow_store_slot_off(cs, r[i].first));
		disk[i].len = cpu_to_le64((r[i].end - r[i].first) *
					  BSNAP_COW_BLOCK_SIZE);
	}
	len = round_up(n * sizeof(*disk), BSNAP_COW_BLOCK_SIZE);
	ret = len ? cow_file_rw_sync(cs->cf, REQ_OP_WRITE, off, disk, len) : 0;
	if (!ret) {
		cs->ranges_off = off;
		cs->nr_ranges = n;
		cs->ranges_crc = cow_crc32(disk, n * sizeof(*disk));
	}
out:
	kvfree(r);
	vfree(disk);
	return ret;
}

/* Reload: the usable-space table the header names. */
static int cow_load_ranges(struct cow_store *cs)
{
	struct bsnap_cow_range_disk *disk;
	struct cow_slot_range *r;
	unsigned int i, n = cs->nr_ranges;
	u64 added;
	int ret;

	if (!n)
		return 0;
	disk = cow_read_region(cs, cs->ranges_off,
			       round_up(n * sizeof(*disk),
					BSNAP_COW_BLOCK_SIZE));
	if (IS_ERR(disk))
		return PTR_ERR(disk);
	ret = cow_crc32(disk, n * sizeof(*disk)) == cs->ranges_crc ? 0 :
								    -EBADMSG;
	r = ret ? NULL : kvmalloc_array(n, sizeof(*r), GFP_KERNEL);
	if (!ret && !r)
		ret = -ENOMEM;
	for (i = 0; !ret && i < n; i++) {
		u64 off = le64_to_cpu(disk[i].off);
		u64 end = off + le64_to_cpu(disk[i].len);

		if (off < cs->grown_off || end < off || end > cs->cf->size) {
			ret = -EBADMSG;
			break;
		}
		r[i].first = cow_slot_from(cs, off);
		r[i].end = cow_slot_end(cs, end);
	}
	if (!ret)
		ret = cow_slots_add(&cs->slots, r, n,
				    cow_slot_end(cs, cs->cf->size), &added);
	kvfree(r);
	vfree(disk);
	return ret;
}

struct cow_store *cow_store_open(struct cow_file *cf, sector_t device_sectors,
				 bool snapshot, u64 cache_bytes, u32 probe_crc,
				 struct cbt_map *cbt, u64 *seqid, u8 *uuid)
{
	struct cow_store *cs;
	void *bitmap;
	u32 flags;
	int ret;

	cs = kzalloc(sizeof(*cs), GFP_KERNEL);
	if (!cs)
		return ERR_PTR(-ENOMEM);
	cs->cf = cf;
	cs->device_sectors = device_sectors;
	cs->nr_blocks = DIV_ROUND_UP_ULL(device_sectors,
					 BSNAP_COW_BLOCK_SIZE >> SECTOR_SHIFT);
	ret = cow_read_header(cs, &flags);
	if (!ret)
		ret = cow_check_flags(cs, flags, snapshot, probe_crc);
	if (ret)
		goto err;
	bitmap = cow_read_region(cs, cs->bitmap_off, cs->bitmap_len);
	if (IS_ERR(bitmap)) {
		ret = PTR_ERR(bitmap);
		goto err;
	}
	ret = cow_crc32(bitmap, cs->bitmap_len) == cs->bitmap_crc ? 0 :
								   -EBADMSG;
	if (!ret)
		ret = cbt_map_merge(cbt, bitmap, cs->bitmap_len);
	vfree(bitmap);
	if (ret)
		goto err;
	if (snapshot) {
		ret = cow_load_index(cs, cache_bytes);
		if (!ret)
			ret = cow_load_ranges(cs);
		if (ret)
			goto err;
	} else {
		cow_slots_reset(cs, 1, 0);
	}
	*seqid = cs->seqid;
	memcpy(uuid, cs->uuid, BSNAP_UUID_SIZE);
	return cs;
err:
	if (cs->index)
		cow_index_destroy(cs->index);
	cow_slots_free(&cs->slots);
	kfree(cs);
	return ERR_PTR(ret);
}

void cow_store_mark_blocks(const struct cow_store *cs, struct cbt_map *cbt)
{
	struct cow_extent e;
	unsigned int i;
	u64 first, last;

	for (i = 0; cow_file_extent(cs->cf, i, &e); i++) {
		cbt_map_block_range(cbt, e.sector, e.len >> SECTOR_SHIFT,
				    &first, &last);
		cbt_map_set_range(cbt, first, last);
	}
}

int cow_store_grow(struct cow_store *cs, struct file *f, u64 grow)
{
	if (!cs->ranges_len) {
		pr_err("CoW file of format version %u has no usable-space table: it cannot grow\n",
		       cs->version);
		return -EOPNOTSUPP;
	}
	return cow_file_grow(cs->cf, f, grow);
}

int cow_store_add_usable(struct cow_store *cs,
			 const struct bsnap_cow_range *ranges,
			 unsigned int nr, u64 *added)
{
	u64 size = cs->cf->size; /* only grows under the control mutex */
	struct cow_slot_range *r;
	unsigned int i;
	u64 end, slots;
	int ret;

	r = kvmalloc_array(nr, sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		if (!IS_ALIGNED(ranges[i].off | ranges[i].len, SECTOR_SIZE) ||
		    check_add_overflow(ranges[i].off, ranges[i].len, &end)) {
			kvfree(r);
			return -EINVAL;
		}
		/* Only space added after the snapshot needs naming. */
		r[i].first = cow_slot_from(cs, max(ranges[i].off,
						   cs->grown_off));
		r[i].end = cow_slot_end(cs, min(end, size));
	}
	ret = cow_slots_add(&cs->slots, r, nr, cow_slot_end(cs, size),
			    &slots);
	kvfree(r);
	*added = slots * BSNAP_COW_BLOCK_SIZE;
	return ret ?: cow_store_write_ranges(cs);
}

u64 cow_store_free_bytes(struct cow_store *cs)
{
	return cow_slots_avail(&cs->slots) * BSNAP_COW_BLOCK_SIZE;
}

bool cow_store_reads_as_zero(struct cow_store *cs, sector_t sector,
			     u64 *span)
{
	u64 off;

	*span = 1;
	if (!cow_file_sector_off(cs->cf, sector, &off, span))
		return false;
	if (off < cs->grown_off)
		return true;
	return cow_slots_usable(&cs->slots,
				div64_u64(off - cs->data_off,
					  BSNAP_COW_BLOCK_SIZE) + 1);
}

bool cow_store_check_low(struct cow_store *cs, unsigned int n)
{
	return cow_slots_check_low(&cs->slots, n);
}

u64 cow_store_data_bytes(const struct cow_store *cs)
{
	return cow_slots_used(&cs->slots) * BSNAP_COW_BLOCK_SIZE;
}

u64 cow_store_used_bytes(const struct cow_store *cs)
{
	return cs->data_off +
	       cow_slots_used(&cs->slots) *
		       BSNAP_COW_BLOCK_SIZE;
}
