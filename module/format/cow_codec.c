// SPDX-License-Identifier: GPL-2.0
/*
 * The CoW file format codec (cow_codec.h). Compiled into bsnap.ko and into
 * the userspace library: include only cow_codec.h.
 */
#include "cow_codec.h"

#define COW_BLOCK_MASK ((u64)BSNAP_COW_BLOCK_SIZE - 1)

/* The version 2 header is a prefix of the version 3 one. */
static_assert(offsetof(struct bsnap_cow_header, grown_off) ==
	      BSNAP_COW_HEADER_V2_BYTES, "version 3 appends to version 2");
static_assert(offsetof(struct bsnap_cow_header, intent_off) ==
	      BSNAP_COW_HEADER_V3_BYTES, "version 4 appends to version 3");
static_assert(sizeof(struct bsnap_cow_header) <= BSNAP_COW_HEADER_SIZE,
	      "the header fits its block");
static_assert(sizeof(struct bsnap_cow_range_disk) == 16, "16-byte ranges");
static_assert(BSNAP_COW_INDEX_PER_PAGE == 1 << 9, "cow_div_up(.., 9) below");

static u64 cow_round_block(u64 n)
{
	return (n + COW_BLOCK_MASK) & ~COW_BLOCK_MASK;
}

/* ceil(@n / 2^@shift) */
static u64 cow_div_up(u64 n, unsigned int shift)
{
	return (n >> shift) + !!(n & ((1ULL << shift) - 1));
}

int bsnap_cow_layout_init(struct bsnap_cow_layout *l, u32 version,
			  u64 device_sectors)
{
	if (version < BSNAP_COW_VERSION_MIN || version > BSNAP_COW_VERSION ||
	    !device_sectors || device_sectors > BSNAP_COW_MAX_DEVICE_SECTORS)
		return -EINVAL;
	memset(l, 0, sizeof(*l));
	l->version = version;
	l->device_sectors = device_sectors;
	/* < 2^52 blocks: the regions below end before 2^60 */
	l->nr_blocks = cow_div_up(device_sectors, BSNAP_COW_BLOCK_SHIFT - 9);
	l->bitmap_off = BSNAP_COW_HEADER_SIZE;
	l->bitmap_len = cow_round_block(cow_div_up(l->nr_blocks, 3));
	l->valid_off = l->bitmap_off + l->bitmap_len;
	/* a bit per index page of BSNAP_COW_INDEX_PER_PAGE entries */
	l->valid_len = cow_round_block(cow_div_up(cow_div_up(l->nr_blocks, 9),
						  3));
	l->ranges_base = l->valid_off + l->valid_len;
	l->ranges_len = version >= 3 ? BSNAP_COW_RANGES_BYTES / 2 : 0;
	l->intent_off = l->ranges_base + 2 * l->ranges_len;
	if (version >= 4) {
		l->intent_shift = BSNAP_COW_INTENT_SHIFT_MIN;
		while (cow_div_up(l->nr_blocks,
				  l->intent_shift - BSNAP_COW_BLOCK_SHIFT) >
		       BSNAP_COW_INTENT_REGIONS_MAX)
			l->intent_shift++;
		l->nr_regions = cow_div_up(l->nr_blocks, l->intent_shift -
						       BSNAP_COW_BLOCK_SHIFT);
		l->intent_len = cow_round_block(cow_div_up(l->nr_regions, 3));
	}
	l->index_off = l->intent_off + l->intent_len;
	l->index_len = cow_round_block(l->nr_blocks * 8);
	l->data_off = l->index_off + l->index_len;
	return 0;
}

void bsnap_cow_info_init(struct bsnap_cow_info *h,
			 const struct bsnap_cow_layout *l, u64 file_size)
{
	memset(h, 0, sizeof(*h));
	h->magic = BSNAP_COW_MAGIC;
	h->version = l->version;
	h->header_size = BSNAP_COW_HEADER_SIZE;
	h->block_size = BSNAP_COW_BLOCK_SIZE;
	h->device_sectors = l->device_sectors;
	h->nr_blocks = l->nr_blocks;
	h->file_size = file_size;
	h->bitmap_off = l->bitmap_off;
	h->bitmap_len = l->bitmap_len;
	h->valid_off = l->valid_off;
	h->valid_len = l->valid_len;
	h->index_off = l->index_off;
	h->index_len = l->index_len;
	h->data_off = l->data_off;
	h->grown_off = file_size;
	h->ranges_off = l->ranges_base;
	h->ranges_len = l->ranges_len;
	h->intent_off = l->intent_off;
	h->intent_len = l->intent_len;
	h->intent_shift = l->intent_shift;
}

size_t bsnap_cow_header_bytes(u32 version)
{
	if (version == 2)
		return BSNAP_COW_HEADER_V2_BYTES;
	if (version == 3)
		return BSNAP_COW_HEADER_V3_BYTES;
	return sizeof(struct bsnap_cow_header);
}

u32 bsnap_cow_header_crc(const struct bsnap_cow_header *disk, u32 version)
{
	const size_t at = offsetof(struct bsnap_cow_header, crc);
	const size_t after = at + sizeof(disk->crc);
	const u32 zero = 0;
	u32 crc;

	crc = bsnap_cow_crc32(0, disk, at);
	crc = bsnap_cow_crc32(crc, &zero, sizeof(zero));
	return bsnap_cow_crc32(crc, (const u8 *)disk + after,
			       bsnap_cow_header_bytes(version) - after);
}

void bsnap_cow_info_to_disk(const struct bsnap_cow_info *h,
			    struct bsnap_cow_header *disk)
{
	memset(disk, 0, sizeof(*disk));
	disk->magic = cpu_to_le64(h->magic);
	disk->version = cpu_to_le32(h->version);
	disk->flags = cpu_to_le32(h->flags);
	disk->header_size = cpu_to_le32(h->header_size);
	disk->block_size = cpu_to_le32(h->block_size);
	memcpy(disk->uuid, h->uuid, sizeof(disk->uuid));
	disk->seqid = cpu_to_le64(h->seqid);
	disk->device_sectors = cpu_to_le64(h->device_sectors);
	disk->nr_blocks = cpu_to_le64(h->nr_blocks);
	disk->file_size = cpu_to_le64(h->file_size);
	disk->bitmap_off = cpu_to_le64(h->bitmap_off);
	disk->bitmap_len = cpu_to_le64(h->bitmap_len);
	disk->index_off = cpu_to_le64(h->index_off);
	disk->index_len = cpu_to_le64(h->index_len);
	disk->data_off = cpu_to_le64(h->data_off);
	disk->data_used = cpu_to_le64(h->data_used);
	disk->changed_blocks = cpu_to_le64(h->changed_blocks);
	disk->valid_off = cpu_to_le64(h->valid_off);
	disk->valid_len = cpu_to_le64(h->valid_len);
	disk->probe_crc = cpu_to_le32(h->probe_crc);
	disk->bitmap_crc = cpu_to_le32(h->bitmap_crc);
	if (h->version != 2) {
		disk->grown_off = cpu_to_le64(h->grown_off);
		disk->data_blocks = cpu_to_le64(h->data_blocks);
		disk->ranges_off = cpu_to_le64(h->ranges_off);
		disk->ranges_len = cpu_to_le64(h->ranges_len);
		disk->nr_ranges = cpu_to_le32(h->nr_ranges);
		disk->ranges_crc = cpu_to_le32(h->ranges_crc);
	}
	if (h->version >= 4) {
		disk->intent_off = cpu_to_le64(h->intent_off);
		disk->intent_len = cpu_to_le64(h->intent_len);
		disk->intent_shift = cpu_to_le32(h->intent_shift);
		disk->intent_reserved = cpu_to_le32(h->intent_reserved);
	}
	disk->crc = cpu_to_le32(bsnap_cow_header_crc(disk, h->version));
}

static int cow_fault(struct bsnap_cow_fault *why,
		     enum bsnap_cow_fault_kind kind, const char *field,
		     const char *rule, u64 value, u64 limit)
{
	why->kind = kind;
	why->field = field;
	why->rule = rule;
	why->value = value;
	why->limit = limit;
	return -EBADMSG;
}

static int cow_field(struct bsnap_cow_fault *why, const char *field,
		     const char *rule, u64 value, u64 limit)
{
	return cow_fault(why, BSNAP_COW_FAULT_FIELD, field, rule, value,
			 limit);
}

/* A version this build reads whose CRC @disk's crc is, else 0. */
static u32 cow_version_under_crc(const struct bsnap_cow_header *disk)
{
	struct bsnap_cow_header copy = *disk;
	u32 v;

	for (v = BSNAP_COW_VERSION_MIN; v <= BSNAP_COW_VERSION; v++) {
		copy.version = cpu_to_le32(v);
		if (bsnap_cow_header_crc(&copy, v) == le32_to_cpu(disk->crc))
			return v;
	}
	return 0;
}

int bsnap_cow_info_from_disk(const void *buf, size_t len,
			     struct bsnap_cow_info *h,
			     struct bsnap_cow_fault *why)
{
	const struct bsnap_cow_header *d = buf;
	u32 version, crc, known;

	why->kind = BSNAP_COW_FAULT_NONE;
	if (len < sizeof(*d))
		return cow_fault(why, BSNAP_COW_FAULT_SHORT, "header", "ends at",
				 len, BSNAP_COW_HEADER_SIZE);
	if (le64_to_cpu(d->magic) != BSNAP_COW_MAGIC)
		return cow_fault(why, BSNAP_COW_FAULT_MAGIC, "magic", "expected",
				 le64_to_cpu(d->magic), BSNAP_COW_MAGIC);
	version = le32_to_cpu(d->version);
	if (version >= BSNAP_COW_VERSION_MIN && version <= BSNAP_COW_VERSION) {
		crc = bsnap_cow_header_crc(d, version);
		if (crc != le32_to_cpu(d->crc))
			return cow_fault(why, BSNAP_COW_FAULT_CRC, "crc",
					 "computed", le32_to_cpu(d->crc), crc);
	} else {
		known = cow_version_under_crc(d);
		if (known)
			return cow_fault(why, BSNAP_COW_FAULT_VERSION_BAD,
					 "version", "checks out as", version,
					 known);
		if (version > BSNAP_COW_VERSION_PLAUSIBLE)
			return cow_fault(why, BSNAP_COW_FAULT_VERSION_BAD,
					 "version", "at most", version,
					 BSNAP_COW_VERSION_PLAUSIBLE);
		if (version > BSNAP_COW_VERSION)
			return cow_fault(why, BSNAP_COW_FAULT_VERSION_NEW,
					 "version", "newest read", version,
					 BSNAP_COW_VERSION);
		return cow_fault(why, BSNAP_COW_FAULT_VERSION_OLD, "version",
				 "oldest read", version, BSNAP_COW_VERSION_MIN);
	}

	memset(h, 0, sizeof(*h));
	h->magic = le64_to_cpu(d->magic);
	h->version = version;
	h->flags = le32_to_cpu(d->flags);
	h->header_size = le32_to_cpu(d->header_size);
	h->block_size = le32_to_cpu(d->block_size);
	memcpy(h->uuid, d->uuid, sizeof(h->uuid));
	h->seqid = le64_to_cpu(d->seqid);
	h->device_sectors = le64_to_cpu(d->device_sectors);
	h->nr_blocks = le64_to_cpu(d->nr_blocks);
	h->file_size = le64_to_cpu(d->file_size);
	h->bitmap_off = le64_to_cpu(d->bitmap_off);
	h->bitmap_len = le64_to_cpu(d->bitmap_len);
	h->index_off = le64_to_cpu(d->index_off);
	h->index_len = le64_to_cpu(d->index_len);
	h->data_off = le64_to_cpu(d->data_off);
	h->data_used = le64_to_cpu(d->data_used);
	h->changed_blocks = le64_to_cpu(d->changed_blocks);
	h->crc = le32_to_cpu(d->crc);
	h->valid_off = le64_to_cpu(d->valid_off);
	h->valid_len = le64_to_cpu(d->valid_len);
	h->probe_crc = le32_to_cpu(d->probe_crc);
	h->bitmap_crc = le32_to_cpu(d->bitmap_crc);
	if (version == 2) {
		/* Version 2 files never grew; every spent slot holds data. */
		h->grown_off = h->file_size;
		h->data_blocks = h->data_used;
		return 0;
	}
	h->grown_off = le64_to_cpu(d->grown_off);
	h->data_blocks = le64_to_cpu(d->data_blocks);
	h->ranges_off = le64_to_cpu(d->ranges_off);
	h->ranges_len = le64_to_cpu(d->ranges_len);
	h->nr_ranges = le32_to_cpu(d->nr_ranges);
	h->ranges_crc = le32_to_cpu(d->ranges_crc);
	if (version == 3)
		return 0;
	h->intent_off = le64_to_cpu(d->intent_off);
	h->intent_len = le64_to_cpu(d->intent_len);
	h->intent_shift = le32_to_cpu(d->intent_shift);
	h->intent_reserved = le32_to_cpu(d->intent_reserved);
	return 0;
}

/* Each region field of @h against the layout @l. */
static int cow_check_layout(const struct bsnap_cow_info *h,
			    const struct bsnap_cow_layout *l,
			    struct bsnap_cow_fault *why)
{
	static const char *const expected = "expected";

	if (h->bitmap_off != l->bitmap_off)
		return cow_field(why, "bitmap_off", expected, h->bitmap_off,
				 l->bitmap_off);
	if (h->bitmap_len != l->bitmap_len)
		return cow_field(why, "bitmap_len", expected, h->bitmap_len,
				 l->bitmap_len);
	if (h->valid_off != l->valid_off)
		return cow_field(why, "valid_off", expected, h->valid_off,
				 l->valid_off);
	if (h->valid_len != l->valid_len)
		return cow_field(why, "valid_len", expected, h->valid_len,
				 l->valid_len);
	if (h->version >= 3) {
		if (h->ranges_len != l->ranges_len)
			return cow_field(why, "ranges_len", expected,
					 h->ranges_len, l->ranges_len);
		if (h->ranges_off != l->ranges_base &&
		    h->ranges_off != l->ranges_base + l->ranges_len)
			return cow_field(why, "ranges_off", expected,
					 h->ranges_off, l->ranges_base);
		if (h->nr_ranges > bsnap_cow_ranges_max(l))
			return cow_field(why, "nr_ranges", "at most",
					 h->nr_ranges, bsnap_cow_ranges_max(l));
	}
	if (h->version >= 4) {
		if (h->intent_off != l->intent_off)
			return cow_field(why, "intent_off", expected,
					 h->intent_off, l->intent_off);
		if (h->intent_len != l->intent_len)
			return cow_field(why, "intent_len", expected,
					 h->intent_len, l->intent_len);
		if (h->intent_shift != l->intent_shift)
			return cow_field(why, "intent_shift", expected,
					 h->intent_shift, l->intent_shift);
		if (h->intent_reserved)
			return cow_field(why, "intent_reserved", expected,
					 h->intent_reserved, 0);
	}
	if (h->index_off != l->index_off)
		return cow_field(why, "index_off", expected, h->index_off,
				 l->index_off);
	if (h->index_len != l->index_len)
		return cow_field(why, "index_len", expected, h->index_len,
				 l->index_len);
	if (h->data_off != l->data_off)
		return cow_field(why, "data_off", expected, h->data_off,
				 l->data_off);
	return 0;
}

int bsnap_cow_info_check(const struct bsnap_cow_info *h, u64 file_bytes,
			 struct bsnap_cow_layout *l,
			 struct bsnap_cow_fault *why)
{
	struct bsnap_cow_layout lay;
	u64 slots;
	int ret;

	why->kind = BSNAP_COW_FAULT_NONE;
	if (h->header_size != BSNAP_COW_HEADER_SIZE)
		return cow_field(why, "header_size", "expected", h->header_size,
				 BSNAP_COW_HEADER_SIZE);
	if (h->block_size != BSNAP_COW_BLOCK_SIZE)
		return cow_field(why, "block_size", "expected", h->block_size,
				 BSNAP_COW_BLOCK_SIZE);
	if (h->flags & ~BSNAP_COW_KNOWN_FLAGS)
		return cow_fault(why, BSNAP_COW_FAULT_FLAGS, "flags", "known",
				 h->flags & ~BSNAP_COW_KNOWN_FLAGS,
				 BSNAP_COW_KNOWN_FLAGS);
	if (!h->seqid)
		return cow_field(why, "seqid", "at least", 0, 1);
	if (!h->device_sectors ||
	    h->device_sectors > BSNAP_COW_MAX_DEVICE_SECTORS)
		return cow_field(why, "device_sectors", "in 1 to",
				 h->device_sectors,
				 BSNAP_COW_MAX_DEVICE_SECTORS);
	/* Cannot fail now: version and device size are in range. */
	if (bsnap_cow_layout_init(&lay, h->version, h->device_sectors))
		return cow_field(why, "version", "expected", h->version,
				 BSNAP_COW_VERSION);
	if (h->nr_blocks != lay.nr_blocks)
		return cow_field(why, "nr_blocks", "expected", h->nr_blocks,
				 lay.nr_blocks);
	ret = cow_check_layout(h, &lay, why);
	if (ret)
		return ret;
	if (h->file_size <= lay.data_off)
		return cow_field(why, "file_size", "above data_off",
				 h->file_size, lay.data_off);
	if (h->file_size > file_bytes)
		return cow_fault(why, BSNAP_COW_FAULT_TRUNCATED, "file_size",
				 "file is", h->file_size, file_bytes);
	if (h->changed_blocks > h->nr_blocks)
		return cow_field(why, "changed_blocks", "at most nr_blocks",
				 h->changed_blocks, h->nr_blocks);
	if (h->grown_off <= lay.data_off)
		return cow_field(why, "grown_off", "above data_off",
				 h->grown_off, lay.data_off);
	if (h->grown_off > h->file_size)
		return cow_field(why, "grown_off", "at most file_size",
				 h->grown_off, h->file_size);
	slots = (h->file_size - lay.data_off) >> BSNAP_COW_BLOCK_SHIFT;
	if (h->data_used > slots)
		return cow_field(why, "data_used", "at most the file's slots",
				 h->data_used, slots);
	if (h->data_blocks > h->data_used)
		return cow_field(why, "data_blocks", "at most data_used",
				 h->data_blocks, h->data_used);
	if (l)
		*l = lay;
	return 0;
}

int bsnap_cow_info_read(const void *buf, size_t len, u64 file_bytes,
			struct bsnap_cow_info *h, struct bsnap_cow_layout *l,
			struct bsnap_cow_fault *why)
{
	int ret = bsnap_cow_info_from_disk(buf, len, h, why);

	if (ret)
		return ret;
	return bsnap_cow_info_check(h, file_bytes, l, why);
}

int bsnap_cow_bitmap_check(const struct bsnap_cow_info *h, const void *bitmap,
			   struct bsnap_cow_fault *why)
{
	u32 crc = bsnap_cow_crc(bitmap, h->bitmap_len);

	why->kind = BSNAP_COW_FAULT_NONE;
	if (crc != h->bitmap_crc)
		return cow_fault(why, BSNAP_COW_FAULT_BITMAP, "bitmap_crc",
				 "computed", h->bitmap_crc, crc);
	return 0;
}

int bsnap_cow_ranges_check(const struct bsnap_cow_info *h,
			   const struct bsnap_cow_range_disk *t,
			   struct bsnap_cow_fault *why)
{
	u32 i, crc = bsnap_cow_ranges_crc(t, h->nr_ranges);
	u64 prev_end = h->grown_off;

	why->kind = BSNAP_COW_FAULT_NONE;
	if (crc != h->ranges_crc)
		return cow_fault(why, BSNAP_COW_FAULT_RANGES_CRC, "ranges_crc",
				 "computed", h->ranges_crc, crc);
	for (i = 0; i < h->nr_ranges; i++) {
		u64 off = le64_to_cpu(t[i].off), len = le64_to_cpu(t[i].len);

		/* from grown_off on (the first), past the one before */
		if (off < prev_end)
			return cow_fault(why, BSNAP_COW_FAULT_RANGES,
					 "range offset", "at least", off,
					 prev_end);
		if (len > h->file_size || off > h->file_size - len)
			return cow_fault(why, BSNAP_COW_FAULT_RANGES,
					 "range length", "ends past file_size",
					 len, h->file_size);
		prev_end = off + len;
	}
	return 0;
}

const char *bsnap_cow_fault_text(const struct bsnap_cow_fault *why, char *buf,
				 size_t size)
{
	unsigned long long value = why->value, limit = why->limit;

	switch (why->kind) {
	case BSNAP_COW_FAULT_NONE:
	default:
		snprintf(buf, size, "no fault");
		break;
	case BSNAP_COW_FAULT_SHORT:
		snprintf(buf, size,
			 "truncated: header ends at %llu, file is %llu bytes",
			 limit, value);
		break;
	case BSNAP_COW_FAULT_MAGIC:
		snprintf(buf, size, "bad magic 0x%llx (not a bsnap CoW file)",
			 value);
		break;
	case BSNAP_COW_FAULT_VERSION_NEW:
		snprintf(buf, size,
			 "format version %llu is newer than this build reads (%llu)",
			 value, limit);
		break;
	case BSNAP_COW_FAULT_VERSION_OLD:
		snprintf(buf, size,
			 "unsupported format version %llu (this build reads %u to %u)",
			 value, BSNAP_COW_VERSION_MIN, BSNAP_COW_VERSION);
		break;
	case BSNAP_COW_FAULT_VERSION_BAD:
		if (limit == BSNAP_COW_VERSION_PLAUSIBLE)
			snprintf(buf, size,
				 "damaged header: version field %llu is no format version",
				 value);
		else
			snprintf(buf, size,
				 "damaged header: version field %llu, but its checksum is the one of version %llu",
				 value, limit);
		break;
	case BSNAP_COW_FAULT_CRC:
		snprintf(buf, size,
			 "checksum mismatch (header says 0x%llx, computed 0x%llx)",
			 value, limit);
		break;
	case BSNAP_COW_FAULT_FIELD:
		snprintf(buf, size, "bad header: %s %llu, %s %llu", why->field,
			 value, why->rule, limit);
		break;
	case BSNAP_COW_FAULT_TRUNCATED:
		snprintf(buf, size,
			 "truncated: header says %llu bytes, file is %llu bytes",
			 value, limit);
		break;
	case BSNAP_COW_FAULT_BITMAP:
		snprintf(buf, size,
			 "bitmap checksum mismatch (header says 0x%llx, computed 0x%llx)",
			 value, limit);
		break;
	case BSNAP_COW_FAULT_FLAGS:
		snprintf(buf, size, "bad header: unknown flags 0x%llx", value);
		break;
	case BSNAP_COW_FAULT_RANGES_CRC:
		snprintf(buf, size,
			 "usable-space table checksum mismatch (header says 0x%llx, computed 0x%llx)",
			 value, limit);
		break;
	case BSNAP_COW_FAULT_RANGES:
		snprintf(buf, size, "bad usable-space table: %s %llu, %s %llu",
			 why->field, value, why->rule, limit);
		break;
	}
	return buf;
}
