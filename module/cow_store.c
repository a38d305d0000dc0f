// SPDX-License-Identifier: GPL-2.0
/*
 * The CoW store: layout and metadata of one CoW file. See cow_store.h and,
 * for the format itself, include/uapi/bsnap_cow.h.
 */
#include "log.h"

#include <linux/blkdev.h>
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
#include "write_intent.h"

#define COW_MIN_DATA (1024 * 1024)
/* The change bitmap goes to and from the file in pieces of at most this. */
#define COW_BITMAP_CHUNK (1024 * 1024)
#define COW_BITMAP_PAGE 4096u

/* The first slot wholly at or after file offset @off. */
static u64 cow_slot_from(const struct cow_store *cs, u64 off)
{
	if (off <= cs->lay.data_off)
		return 1;
	return div64_u64(off - cs->lay.data_off + BSNAP_COW_BLOCK_SIZE - 1,
			 BSNAP_COW_BLOCK_SIZE) + 1;
}

/* The first slot not wholly before file offset @off. */
static u64 cow_slot_end(const struct cow_store *cs, u64 off)
{
	if (off <= cs->lay.data_off)
		return 1;
	return div64_u64(off - cs->lay.data_off, BSNAP_COW_BLOCK_SIZE) + 1;
}

/* Slots from @next on are free, @used hold data. */
static void cow_slots_reset(struct cow_store *cs, u64 next, u64 used)
{
	cow_slots_free(&cs->slots);
	cow_slots_init(&cs->slots, cow_slot_end(cs, cs->grown_off), next,
		       used, bsnap_cow_ranges_max(&cs->lay));
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
	cs->seqid = seqid;
	memcpy(cs->uuid, uuid, BSNAP_UUID_SIZE);
	ret = bsnap_cow_layout_init(&cs->lay, BSNAP_COW_VERSION,
				    device_sectors);
	if (ret)
		goto err_free;
	cs->ranges_off = cs->lay.ranges_base;
	meta_end = cs->lay.data_off;

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

	cs->cf = cow_file_create(path, size, cs->lay.index_off, bdev);
	if (IS_ERR(cs->cf)) {
		ret = PTR_ERR(cs->cf);
		goto err_free;
	}
	cs->index = cow_index_create(cs->cf, cs->lay.index_off,
				     cs->lay.nr_blocks, cache_bytes);
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

int cow_store_start_intent(struct cow_store *cs, struct cbt_map *cbt,
			   const struct write_intent_ops *ops, void *owner,
			   unsigned int minor)
{
	struct write_intent_config cfg = {
		.ops = ops,
		.owner = owner,
		.minor = minor,
		.cf = cs->cf,
		.lay = &cs->lay,
		.cbt = cbt,
		.ondisk = cs->intent_disk,
	};
	struct write_intent *wi;

	if (cs->lay.version < 4 || cs->wi)
		return 0;
	wi = write_intent_create(&cfg);
	if (IS_ERR(wi))
		return PTR_ERR(wi);
	cs->wi = wi;
	vfree(cs->intent_disk);
	cs->intent_disk = NULL;
	return 0;
}

bool cow_store_admit(struct cow_store *cs, u64 first, u64 last,
		     sector_t sector, struct bio *bio)
{
	if (!cs->wi || write_intent_ready(cs->wi, first, last))
		return true;
	/*
	 * bsnap's own write (of the bitmap, say), split by the block layer
	 * and resubmitted from its text: holding it could deadlock the writer,
	 * which may hold the intent lock. The file's blocks are in the next
	 * incremental anyway (cow_store_mark_blocks()).
	 */
	if (cow_file_owns_range(cs->cf, sector, bio_sectors(bio)))
		return true;
	return !write_intent_hold(cs->wi, first, last, bio);
}

void cow_store_intent_cleaning(struct cow_store *cs, bool on)
{
	if (cs->wi)
		write_intent_set_cleaning(cs->wi, on);
}

void cow_store_intent_drain(struct cow_store *cs)
{
	if (cs->wi)
		write_intent_drain(cs->wi);
}

void cow_store_destroy(struct cow_store *cs, bool remove)
{
	write_intent_destroy(cs->wi);
	vfree(cs->intent_disk);
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

/* The header block: the codec encodes what @cs holds. */
static void cow_fill_header(struct cow_store *cs, void *block,
			    const struct cbt_map *cbt, u32 flags)
{
	struct bsnap_cow_info h;

	bsnap_cow_info_init(&h, &cs->lay, cs->cf->size);
	h.flags = flags;
	memcpy(h.uuid, cs->uuid, BSNAP_UUID_SIZE);
	h.seqid = cs->seqid;
	h.data_used = cow_slots_spent(&cs->slots);
	h.changed_blocks = cbt_map_count(cbt);
	h.probe_crc = cs->probe_crc;
	h.bitmap_crc = cs->bitmap_crc;
	h.grown_off = cs->grown_off;
	h.data_blocks = cow_slots_used(&cs->slots);
	h.ranges_off = cs->ranges_off;
	h.nr_ranges = cs->nr_ranges;
	h.ranges_crc = cs->ranges_crc;
	memset(block, 0, BSNAP_COW_HEADER_SIZE);
	bsnap_cow_info_to_disk(&h, block);
}

/* bsnap_cow_crc32() continued over @len zero bytes, in log(@len) time. */
static u32 cow_crc_zeros(u32 crc, u64 len)
{
	return crc32_le_shift(crc ^ ~0U, len) ^ ~0U;
}

/*
 * Write the change bitmap in pieces of at most COW_BITMAP_CHUNK and set
 * cs->bitmap_crc to the CRC of what the region then holds. A page no page
 * of the map covers is zero in memory, and so on disk: the region is
 * written as zeros when the file is created (cow_file_create()), a map that
 * comes from a file starts from its bitmap (cow_store_open()), and bits are
 * only ever set during a file's life. Such pages are not written, only
 * counted into the CRC: a 100 TiB device has 3.2 GiB of bitmap.
 */
static int cow_write_bitmap(struct cow_store *cs, const struct cbt_map *cbt)
{
	u64 off, run_off = 0, zeros = 0, len = cs->lay.bitmap_len;
	size_t fill = 0;
	u32 crc = 0;
	void *buf;
	int ret = 0;

	buf = kvmalloc(min_t(u64, len, COW_BITMAP_CHUNK), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	/* bitmap_len is a multiple of the block size (the codec's layout). */
	for (off = 0; off < len && !ret; off += COW_BITMAP_PAGE) {
		if (!cbt_map_covers(cbt, off, COW_BITMAP_PAGE)) {
			zeros += COW_BITMAP_PAGE;
			if (fill)
				ret = cow_file_rw_sync(cs->cf, REQ_OP_WRITE,
						       cs->lay.bitmap_off +
							       run_off,
						       buf, fill);
			fill = 0;
			continue;
		}
		cbt_map_export(cbt, off, buf + fill, COW_BITMAP_PAGE);
		if (zeros)
			crc = cow_crc_zeros(crc, zeros);
		zeros = 0;
		crc = bsnap_cow_crc32(crc, buf + fill, COW_BITMAP_PAGE);
		if (!fill)
			run_off = off;
		fill += COW_BITMAP_PAGE;
		if (fill == COW_BITMAP_CHUNK || off + COW_BITMAP_PAGE == len) {
			ret = cow_file_rw_sync(cs->cf, REQ_OP_WRITE,
					       cs->lay.bitmap_off + run_off,
					       buf, fill);
			fill = 0;
		}
	}
	kvfree(buf);
	if (ret)
		return ret;
	cs->bitmap_crc = cow_crc_zeros(crc, zeros);
	return 0;
}

static int cow_store_write_meta_locked(struct cow_store *cs,
				       const struct cbt_map *cbt, u32 flags,
				       bool bitmap)
{
	void *buf;
	int ret;

	if (bitmap) {
		ret = cow_write_bitmap(cs, cbt);
		if (ret)
			return ret;
	}

	/*
	 * Not clean and not BROKEN says the file's bitmaps name every change
	 * (write intent, uapi/bsnap_cow.h): without the write-intent bitmap
	 * kept, a crash must still cost the chain.
	 */
	if (!(flags & BSNAP_COW_CLEAN) && !cs->wi)
		flags |= BSNAP_COW_BROKEN;
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

int cow_store_write_meta(struct cow_store *cs, const struct cbt_map *cbt,
			 u32 flags, bool bitmap)
{
	int ret;

	/* The header's bitmap_crc must describe the pages on disk. */
	if (!bitmap || !cs->wi)
		return cow_store_write_meta_locked(cs, cbt, flags, bitmap);
	write_intent_lock(cs->wi);
	ret = cow_store_write_meta_locked(cs, cbt, flags, bitmap);
	write_intent_unlock(cs->wi);
	return ret;
}

/* Write the index-valid bitmap after the index pages it describes. */
static int cow_store_write_valid(struct cow_store *cs)
{
	void *buf;
	int ret;

	ret = cow_index_flush(cs->index);
	if (ret)
		return ret;
	buf = vzalloc(cs->lay.valid_len);
	if (!buf)
		return -ENOMEM;
	cow_index_valid_export(cs->index, buf, cs->lay.valid_len);
	ret = cow_file_rw_sync(cs->cf, REQ_OP_WRITE, cs->lay.valid_off, buf,
			       cs->lay.valid_len);
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
		*crc = bsnap_cow_crc(buf, BSNAP_COW_PROBE_SIZE);
	kfree(buf);
	return ret;
}

int cow_store_probe(struct cow_store *cs)
{
	return cow_store_probe_crc(cs->cf->bdev, &cs->probe_crc);
}

/* Log why the codec refused the file: the CLI only gets the errno. */
static int cow_refused(const struct bsnap_cow_fault *why)
{
	char text[160];

	pr_err("CoW file refused: %s\n",
	       bsnap_cow_fault_text(why, text, sizeof(text)));
	return -EBADMSG;
}

/*
 * The header: intact and laid out as the codec says for its version, and
 * describing this file (its size) and this device (its size).
 */
static int cow_read_header(struct cow_store *cs, sector_t device_sectors,
			   u32 *flags)
{
	struct bsnap_cow_fault why;
	struct bsnap_cow_info h;
	void *buf;
	int ret;

	buf = kmalloc(BSNAP_COW_HEADER_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	ret = cow_file_rw_sync(cs->cf, REQ_OP_READ, 0, buf,
			       BSNAP_COW_HEADER_SIZE);
	if (!ret && bsnap_cow_info_read(buf, BSNAP_COW_HEADER_SIZE,
					cs->cf->size, &h, &cs->lay, &why))
		ret = cow_refused(&why);
	kfree(buf);
	if (ret)
		return ret;
	if (h.device_sectors != device_sectors || h.file_size != cs->cf->size) {
		pr_err("CoW file refused: it is for a device of %llu sectors and %llu bytes, not %llu and %llu\n",
		       h.device_sectors, h.file_size, (u64)device_sectors,
		       cs->cf->size);
		return -EBADMSG;
	}
	*flags = h.flags;
	cs->seqid = h.seqid;
	memcpy(cs->uuid, h.uuid, BSNAP_UUID_SIZE);
	cs->grown_off = h.grown_off;
	cow_slots_reset(cs, h.data_used + 1, h.data_blocks);
	cs->ranges_off = h.ranges_off;
	cs->nr_ranges = h.nr_ranges;
	cs->ranges_crc = h.ranges_crc;
	cs->probe_crc = h.probe_crc;
	cs->bitmap_crc = h.bitmap_crc;
	return 0;
}

/*
 * OR the file's change bitmap into @cbt, reading it in pieces of at most
 * COW_BITMAP_CHUNK, and check it against the header's bitmap_crc (unless
 * the file was in use at a crash: its bitmap_crc is older than its pages).
 * @cbt is live (writes during reload mark it): a bitmap that then fails the
 * check has added bits to it, which only marks more; the caller breaks the
 * chain anyway.
 */
static int cow_load_bitmap(struct cow_store *cs, struct cbt_map *cbt)
{
	u64 off, len = cs->lay.bitmap_len;
	struct bsnap_cow_fault why = {
		.kind = BSNAP_COW_FAULT_BITMAP,
		.field = "bitmap_crc",
		.rule = "computed",
		.value = cs->bitmap_crc,
	};
	u32 crc = 0;
	void *buf;
	int ret = 0;

	buf = kvmalloc(min_t(u64, len, COW_BITMAP_CHUNK), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	for (off = 0; off < len && !ret; off += COW_BITMAP_CHUNK) {
		size_t n = min_t(u64, len - off, COW_BITMAP_CHUNK);

		ret = cow_file_rw_sync(cs->cf, REQ_OP_READ,
				       cs->lay.bitmap_off + off, buf, n);
		if (ret)
			break;
		crc = bsnap_cow_crc32(crc, buf, n);
		ret = cbt_map_merge(cbt, off, buf, n);
	}
	kvfree(buf);
	if (ret || cs->recovered || crc == cs->bitmap_crc)
		return ret;
	why.limit = crc;
	return cow_refused(&why);
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
	const struct bsnap_cow_info h = {
		.version = cs->lay.version,
		.flags = flags,
	};

	if (flags & ~BSNAP_COW_KNOWN_FLAGS)
		return -EBADMSG;
	if (flags & BSNAP_COW_BROKEN) {
		pr_err("CoW file refused: a change may be missing from it (its chain was broken)\n");
		return -EUCLEAN;
	}
	if (flags & BSNAP_COW_SUPERSEDED)
		return -ESTALE;
	if (snapshot && (flags & BSNAP_COW_INDEX_ONLY))
		return -EINVAL;
	if (flags & BSNAP_COW_CLEAN)
		return probe_crc == cs->probe_crc ? 0 : -ESTALE;
	if (!bsnap_cow_intent_recoverable(&h))
		return -EUCLEAN;
	if (snapshot) {
		pr_err("CoW file refused: the snapshot was in use at a crash and is lost; reload the file as incremental\n");
		return -EUCLEAN;
	}
	/*
	 * The device's first 4 KiB changed while it was mounted: the probe
	 * says nothing. Its bitmaps name every change up to the crash.
	 */
	cs->recovered = true;
	return 0;
}

/*
 * The write-intent bitmap, kept for cow_store_start_intent(); after a
 * crash, every block of each marked region counts as changed.
 */
static int cow_load_intent(struct cow_store *cs, struct cbt_map *cbt)
{
	unsigned long *bits, r;
	u64 first, end, marked;
	int ret = 0;

	cs->intent_disk = cow_read_region(cs, cs->lay.intent_off,
					  cs->lay.intent_len);
	if (IS_ERR(cs->intent_disk)) {
		int ret = PTR_ERR(cs->intent_disk);

		cs->intent_disk = NULL;
		return ret;
	}
	if (!cs->recovered)
		return 0;
	bits = kvcalloc(BITS_TO_LONGS(cs->lay.nr_regions), sizeof(*bits),
			GFP_KERNEL);
	if (!bits)
		return -ENOMEM;
	marked = bsnap_bitmap_import(bits, cs->lay.nr_regions,
				     cs->intent_disk, cs->lay.intent_len);
	for_each_set_bit(r, bits, cs->lay.nr_regions) {
		bsnap_cow_region_blocks(&cs->lay, r, &first, &end);
		ret = cbt_map_mark_copied(cbt, first, end - 1, GFP_KERNEL);
		if (ret)
			break;
	}
	kvfree(bits);
	if (ret)
		return ret;
	pr_info("CoW file in use at a crash: %llu write-intent regions of %u MiB count as changed\n",
		marked, 1U << (cs->lay.intent_shift - 20));
	return 0;
}

static int cow_load_index(struct cow_store *cs, u64 cache_bytes)
{
	void *valid;

	cs->index = cow_index_create(cs->cf, cs->lay.index_off,
				     cs->lay.nr_blocks, cache_bytes);
	if (IS_ERR(cs->index)) {
		int ret = PTR_ERR(cs->index);

		cs->index = NULL;
		return ret;
	}
	valid = cow_read_region(cs, cs->lay.valid_off, cs->lay.valid_len);
	if (IS_ERR(valid))
		return PTR_ERR(valid);
	cow_index_valid_import(cs->index, valid, cs->lay.valid_len);
	vfree(valid);
	return 0;
}

/*
 * Write the usable-space table into the copy the header on disk does not
 * name; the header written next names it.
 */
static int cow_store_write_ranges(struct cow_store *cs)
{
	u64 off = bsnap_cow_ranges_other(&cs->lay, cs->ranges_off);
	struct bsnap_cow_range_disk *disk;
	struct cow_slot_range *r;
	unsigned int i, n, max;
	size_t len;
	int ret;

	max = bsnap_cow_ranges_max(&cs->lay);
	disk = vzalloc(cs->lay.ranges_len);
	r = kvmalloc_array(max, sizeof(*r), GFP_KERNEL);
	if (!disk || !r) {
		ret = -ENOMEM;
		goto out;
	}
	n = cow_slots_export(&cs->slots, r, max);
	for (i = 0; i < n; i++)
		bsnap_cow_range_to_disk(disk, i,
					cow_store_slot_off(cs, r[i].first),
					(r[i].end - r[i].first) *
						BSNAP_COW_BLOCK_SIZE);
	len = bsnap_cow_ranges_bytes(n);
	ret = len ? cow_file_rw_sync(cs->cf, REQ_OP_WRITE, off, disk, len) : 0;
	if (!ret) {
		cs->ranges_off = off;
		cs->nr_ranges = n;
		cs->ranges_crc = bsnap_cow_ranges_crc(disk, n);
	}
out:
	kvfree(r);
	vfree(disk);
	return ret;
}

/*
 * Reload: the usable-space table the header names, checked by the codec
 * against the header as cow_read_header() left it in @cs.
 */
static int cow_load_ranges(struct cow_store *cs)
{
	const struct bsnap_cow_info h = {
		.nr_ranges = cs->nr_ranges,
		.ranges_crc = cs->ranges_crc,
		.grown_off = cs->grown_off,
		.file_size = cs->cf->size,
	};
	struct bsnap_cow_range_disk *disk;
	struct bsnap_cow_fault why;
	struct cow_slot_range *r;
	unsigned int i, n = cs->nr_ranges;
	u64 added;
	int ret;

	if (!n)
		return 0;
	/* n <= bsnap_cow_ranges_max(): checked with the header */
	disk = cow_read_region(cs, cs->ranges_off, bsnap_cow_ranges_bytes(n));
	if (IS_ERR(disk))
		return PTR_ERR(disk);
	ret = bsnap_cow_ranges_check(&h, disk, &why) ?
		cow_refused(&why) : 0;
	r = ret ? NULL : kvmalloc_array(n, sizeof(*r), GFP_KERNEL);
	if (!ret && !r)
		ret = -ENOMEM;
	for (i = 0; !ret && i < n; i++) {
		u64 off = le64_to_cpu(disk[i].off);

		r[i].first = cow_slot_from(cs, off);
		r[i].end = cow_slot_end(cs, off + le64_to_cpu(disk[i].len));
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
	u32 flags;
	int ret;

	cs = kzalloc(sizeof(*cs), GFP_KERNEL);
	if (!cs)
		return ERR_PTR(-ENOMEM);
	cs->cf = cf;
	ret = cow_read_header(cs, device_sectors, &flags);
	if (!ret)
		ret = cow_check_flags(cs, flags, snapshot, probe_crc);
	if (ret)
		goto err;
	/* bitmap_len < file size: checked with the header */
	ret = cow_load_bitmap(cs, cbt);
	if (!ret && cs->lay.version >= 4)
		ret = cow_load_intent(cs, cbt);
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
	vfree(cs->intent_disk);
	cow_slots_free(&cs->slots);
	kfree(cs);
	return ERR_PTR(ret);
}

int cow_store_mark_blocks(const struct cow_store *cs, struct cbt_map *cbt)
{
	u64 first, last, run_first = 0, run_last = 0;
	struct cow_extent e;
	bool run = false;
	unsigned int i;
	int ret = 0;

	/*
	 * Exact (cbt_map.h). Adjacent extents are marked as one run: a whole
	 * 128 MiB of bits then costs the map no page (ext4's extents are at
	 * most 128 MiB, and rarely aligned).
	 */
	for (i = 0; !ret && cow_file_extent(cs->cf, i, &e); i++) {
		cbt_map_block_range(cbt, e.sector, e.len >> SECTOR_SHIFT,
				    &first, &last);
		if (run && first <= run_last + 1 && last + 1 >= run_first) {
			run_first = min(run_first, first);
			run_last = max(run_last, last);
			continue;
		}
		if (run)
			ret = cbt_map_mark_copied(cbt, run_first, run_last,
						  GFP_KERNEL);
		run = true;
		run_first = first;
		run_last = last;
	}
	if (!ret && run)
		ret = cbt_map_mark_copied(cbt, run_first, run_last, GFP_KERNEL);
	return ret;
}

int cow_store_grow(struct cow_store *cs, struct file *f, u64 grow)
{
	if (!cs->lay.ranges_len) {
		pr_err("CoW file of format version %u has no usable-space table: it cannot grow\n",
		       cs->lay.version);
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
				div64_u64(off - cs->lay.data_off,
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
	return cs->lay.data_off +
	       cow_slots_used(&cs->slots) *
		       BSNAP_COW_BLOCK_SIZE;
}
