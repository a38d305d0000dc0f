/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The CoW file format codec: the one implementation of the format of
 * <uapi/bsnap_cow.h>, compiled into bsnap.ko (module/Kbuild) and into the
 * userspace library (lib/CMakeLists.txt) from this directory's sources.
 * Plain C over cow_port.h: no kernel-only header, no allocation, no I/O.
 * Callers read and write the bytes; the codec lays out, encodes, decodes
 * and checks them.
 *
 * Reading a file:
 *   1. read BSNAP_COW_HEADER_SIZE bytes at 0;
 *   2. bsnap_cow_info_from_disk(): magic, version, header CRC;
 *   3. bsnap_cow_info_check() with the file's real size: every field
 *      against the layout its version and device size give, and every
 *      region inside the file. Only then is any size of the header safe
 *      to allocate or read: each region then lies in [0, file_size) and
 *      file_size is at most the real size of the file;
 *   4. read the bitmap (bitmap_len bytes): bsnap_cow_bitmap_check();
 *   5. (version 3) read bsnap_cow_ranges_bytes(nr_ranges) at ranges_off:
 *      bsnap_cow_ranges_check();
 *   6. (version 4) a file that is not clean: if
 *      bsnap_cow_intent_recoverable(), its bitmap_crc is older than its
 *      bitmap (skip step 4's check) and its changes are the bitmap's plus
 *      every block of each region set in the intent_len bytes at
 *      intent_off (bsnap_cow_region_blocks()); else it cannot be trusted.
 * Each step returns 0 or -EBADMSG, and says why in a struct bsnap_cow_fault
 * (bsnap_cow_fault_text() makes it a message).
 *
 * Writing one: bsnap_cow_layout_init(), bsnap_cow_info_init(), fill in the
 * state fields, bsnap_cow_info_to_disk().
 */
#ifndef BSNAP_COW_CODEC_H
#define BSNAP_COW_CODEC_H

#include "cow_port.h"

#include <uapi/bsnap_cow.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BSNAP_COW_BLOCK_SHIFT 12	/* log2(BSNAP_COW_BLOCK_SIZE) */
/* Index pages are 4 KiB of __le64 entries on every architecture. */
#define BSNAP_COW_INDEX_PAGE_SIZE 4096u
#define BSNAP_COW_INDEX_PER_PAGE (BSNAP_COW_INDEX_PAGE_SIZE / 8)
/* Largest device a layout is computed for: its size in bytes fits a u64. */
#define BSNAP_COW_MAX_DEVICE_SECTORS (U64_MAX >> 9)
/*
 * A version field above this is damage, not a future format (which would
 * number 5, 6, ...): such a file is "damaged", never "upgrade bsnap".
 */
#define BSNAP_COW_VERSION_PLAUSIBLE 255u
#define BSNAP_COW_KNOWN_FLAGS                                        \
	(BSNAP_COW_CLEAN | BSNAP_COW_INDEX_ONLY | BSNAP_COW_SUPERSEDED | \
	 BSNAP_COW_BROKEN)

/*
 * Where a version's regions lie for a device of device_sectors: byte
 * offsets and lengths (uapi/bsnap_cow.h), each a multiple of
 * BSNAP_COW_BLOCK_SIZE. data_off is also the end of the metadata.
 */
struct bsnap_cow_layout {
	u32 version;
	u64 device_sectors;
	u64 nr_blocks;		/* ceil(device size / BSNAP_COW_BLOCK_SIZE) */
	u64 bitmap_off, bitmap_len;
	u64 valid_off, valid_len;
	/* version 3: two copies of ranges_len bytes from ranges_base; 0 in v2 */
	u64 ranges_base, ranges_len;
	/* version 4: the write-intent bitmap; 0 before */
	u64 intent_off, intent_len;
	u32 intent_shift;	/* log2 of a region's bytes */
	u64 nr_regions;
	u64 index_off, index_len;
	u64 data_off;
};

/*
 * The header in host byte order: every field of struct bsnap_cow_header.
 * From a version 2 header bsnap_cow_info_from_disk() gives grown_off =
 * file_size, data_blocks = data_used and the other version 3 fields 0.
 */
struct bsnap_cow_info {
	u64 magic;
	u32 version;
	u32 flags;
	u32 header_size;
	u32 block_size;
	u8 uuid[16];
	u64 seqid;
	u64 device_sectors;
	u64 nr_blocks;
	u64 file_size;
	u64 bitmap_off, bitmap_len;
	u64 index_off, index_len;
	u64 data_off;
	u64 data_used;
	u64 changed_blocks;
	u32 crc;		/* as read; bsnap_cow_info_to_disk() computes it */
	u64 valid_off, valid_len;
	u32 probe_crc;
	u32 bitmap_crc;
	u64 grown_off;
	u64 data_blocks;
	u64 ranges_off, ranges_len;
	u32 nr_ranges;
	u32 ranges_crc;
	u64 intent_off, intent_len;
	u32 intent_shift;
	u32 intent_reserved;	/* must be 0 */
};

/* Why the codec refused something. */
enum bsnap_cow_fault_kind {
	BSNAP_COW_FAULT_NONE,
	BSNAP_COW_FAULT_SHORT,		/* fewer bytes than a header */
	BSNAP_COW_FAULT_MAGIC,		/* not a bsnap CoW file */
	BSNAP_COW_FAULT_VERSION_NEW,	/* a later format: upgrade bsnap */
	BSNAP_COW_FAULT_VERSION_OLD,	/* a format this build no longer reads */
	BSNAP_COW_FAULT_VERSION_BAD,	/* the version field is damaged */
	BSNAP_COW_FAULT_CRC,		/* header CRC mismatch */
	BSNAP_COW_FAULT_FLAGS,		/* unknown flags */
	BSNAP_COW_FAULT_FIELD,		/* a field breaks the layout or a bound */
	BSNAP_COW_FAULT_TRUNCATED,	/* file shorter than its header says */
	BSNAP_COW_FAULT_BITMAP,		/* bitmap CRC mismatch */
	BSNAP_COW_FAULT_RANGES_CRC,	/* usable-space table CRC mismatch */
	BSNAP_COW_FAULT_RANGES,		/* a range outside its bounds */
};

/*
 * The details: @field (a header field's name, or a phrase) is @value and
 * should be @rule @limit, e.g. "bitmap_len" 2147483648 "expected" 4096.
 * For CRC faults value is the stored CRC and limit the computed one.
 */
struct bsnap_cow_fault {
	enum bsnap_cow_fault_kind kind;
	const char *field;
	const char *rule;
	u64 value;
	u64 limit;
};

/* zlib crc32() of a file region, as every CRC of the format is. */
static inline u32 bsnap_cow_crc(const void *buf, size_t len)
{
	return bsnap_cow_crc32(0, buf, len);
}

/*
 * The layout of @version (BSNAP_COW_VERSION_MIN..BSNAP_COW_VERSION) for a
 * device of @device_sectors (1..BSNAP_COW_MAX_DEVICE_SECTORS); -EINVAL
 * otherwise. Cannot overflow: every end is below 2^60.
 */
int bsnap_cow_layout_init(struct bsnap_cow_layout *l, u32 version,
			  u64 device_sectors);

/*
 * A new file's header for @l and @file_size bytes: the constants, the
 * layout, grown_off = @file_size, ranges_off = the first copy; everything
 * else (uuid, seqid, flags, counts, CRCs of regions) 0 for the caller.
 */
void bsnap_cow_info_init(struct bsnap_cow_info *h,
			 const struct bsnap_cow_layout *l, u64 file_size);

/* Bytes of struct bsnap_cow_header that @version has and its crc covers. */
size_t bsnap_cow_header_bytes(u32 version);

/*
 * The CRC of the first bsnap_cow_header_bytes(@version) bytes of @disk with
 * its crc field taken as 0, whatever @disk's own version field says.
 */
u32 bsnap_cow_header_crc(const struct bsnap_cow_header *disk, u32 version);

/*
 * Encode @h into @disk (sizeof(*disk) bytes; the caller zeroes the rest of
 * the BSNAP_COW_HEADER_SIZE block): the fields @h's version has, zeros
 * after them, and the crc over them. Encodes whatever @h holds, even a
 * version or values bsnap_cow_info_check() refuses (tests need those).
 */
void bsnap_cow_info_to_disk(const struct bsnap_cow_info *h,
			    struct bsnap_cow_header *disk);

/*
 * Decode the header in @buf (@len bytes read at offset 0 of the file).
 * Checks, in this order, and stops at the first that fails:
 *  1. @len holds struct bsnap_cow_header (SHORT);
 *  2. the magic (MAGIC): another kind of file;
 *  3. a version this build reads: the CRC over the bytes that version
 *     covers (CRC). So a bit flip that turns 3 into 2, or 2 into 3, is a
 *     CRC mismatch: the other version's CRC covers other bytes;
 *  4. any other version: if the CRC matches once the version field is
 *     taken as a version this build reads (over that version's bytes),
 *     the field is damaged (VERSION_BAD); so it is if it exceeds
 *     BSNAP_COW_VERSION_PLAUSIBLE. Only then is the file of a format this
 *     build does not read: later (VERSION_NEW) or earlier (VERSION_OLD).
 *     Nothing of an unknown version's header can be checked, so a damaged
 *     version field must never be taken for a later format: with this
 *     order a single damaged field in a header is always "damaged".
 * Fills @h (host order) only on success. 0 or -EBADMSG with @why.
 */
int bsnap_cow_info_from_disk(const void *buf, size_t len,
			     struct bsnap_cow_info *h,
			     struct bsnap_cow_fault *why);

/*
 * Check a decoded header against the layout its own version and device
 * size give and against @file_bytes, the real size of the file (U64_MAX if
 * unknown). In this order, stopping at the first fault (FIELD unless said):
 *  1. header_size and block_size are the format's constants (the layout
 *     depends on them); no unknown flag (FLAGS); seqid not 0;
 *  2. device_sectors in 1..BSNAP_COW_MAX_DEVICE_SECTORS; nr_blocks what
 *     they give;
 *  3. bitmap, valid bitmap, range tables, index, data: offsets and lengths
 *     exactly the layout's (so bounded by nr_blocks, ordered, no overlap,
 *     no wrap); version 3: ranges_off names one of the two copies and
 *     nr_ranges fits in one;
 *  4. data_off < file_size (metadata fits), then file_size <= @file_bytes
 *     (TRUNCATED): from here every region lies inside the real file;
 *  5. changed_blocks <= nr_blocks; data_off < grown_off <= file_size;
 *     data_used at most the slots of file_size; data_blocks <= data_used.
 * On success, @l (if not NULL) is the file's layout. 0 or -EBADMSG.
 */
int bsnap_cow_info_check(const struct bsnap_cow_info *h, u64 file_bytes,
			 struct bsnap_cow_layout *l,
			 struct bsnap_cow_fault *why);

/* Steps 2 and 3 of reading: bsnap_cow_info_from_disk(), then _check(). */
int bsnap_cow_info_read(const void *buf, size_t len, u64 file_bytes,
			struct bsnap_cow_info *h, struct bsnap_cow_layout *l,
			struct bsnap_cow_fault *why);

/* The bitmap_len bytes of a checked header's bitmap match its bitmap_crc. */
int bsnap_cow_bitmap_check(const struct bsnap_cow_info *h, const void *bitmap,
			   struct bsnap_cow_fault *why);

/*
 * The file's change record is a superset of the device's changes though it
 * is not clean: a version 4 file written not clean by a module that kept
 * its write intent (a crash while the device was in use), without BROKEN.
 * Its changes are the bitmap's blocks plus every block of each region set
 * in the write-intent bitmap (bsnap_cow_region_blocks()).
 */
static inline int bsnap_cow_intent_recoverable(const struct bsnap_cow_info *h)
{
	return h->version >= 4 && !(h->flags & BSNAP_COW_CLEAN) &&
	       !(h->flags & BSNAP_COW_BROKEN);
}

/* Blocks [*@first, *@end) of write-intent region @region of layout @l. */
static inline void bsnap_cow_region_blocks(const struct bsnap_cow_layout *l,
					   u64 region, u64 *first, u64 *end)
{
	unsigned int shift = l->intent_shift - BSNAP_COW_BLOCK_SHIFT;

	*first = region << shift;
	*end = (region + 1) << shift;
	if (*end > l->nr_blocks)
		*end = l->nr_blocks;
}

/* The write-intent region of block @block. */
static inline u64 bsnap_cow_block_region(const struct bsnap_cow_layout *l,
					 u64 block)
{
	return block >> (l->intent_shift - BSNAP_COW_BLOCK_SHIFT);
}

/* File offset of data slot @slot (>= 1). */
static inline u64 bsnap_cow_slot_off(const struct bsnap_cow_layout *l,
				     u64 slot)
{
	return l->data_off + ((slot - 1) << BSNAP_COW_BLOCK_SHIFT);
}

/* Entries of the usable-space table one copy holds. */
static inline u32 bsnap_cow_ranges_max(const struct bsnap_cow_layout *l)
{
	return (u32)(l->ranges_len / sizeof(struct bsnap_cow_range_disk));
}

/* Bytes to read or write for a table of @nr entries (whole blocks). */
static inline u64 bsnap_cow_ranges_bytes(u32 nr)
{
	u64 len = (u64)nr * sizeof(struct bsnap_cow_range_disk);

	return (len + BSNAP_COW_BLOCK_SIZE - 1) &
	       ~(u64)(BSNAP_COW_BLOCK_SIZE - 1);
}

/* The copy of the table that @ranges_off does not name: the next to write. */
static inline u64 bsnap_cow_ranges_other(const struct bsnap_cow_layout *l,
					 u64 ranges_off)
{
	return ranges_off == l->ranges_base ? l->ranges_base + l->ranges_len :
					      l->ranges_base;
}

/* Entry @i of a table: file bytes [@off, @off + @len). */
static inline void bsnap_cow_range_to_disk(struct bsnap_cow_range_disk *t,
					   u32 i, u64 off, u64 len)
{
	t[i].off = cpu_to_le64(off);
	t[i].len = cpu_to_le64(len);
}

/* CRC of the first @nr entries of @t (ranges_crc). */
static inline u32 bsnap_cow_ranges_crc(const struct bsnap_cow_range_disk *t,
				       u32 nr)
{
	return bsnap_cow_crc(t, (size_t)nr * sizeof(*t));
}

/*
 * The nr_ranges entries @t read at a checked header's ranges_off: its
 * ranges_crc (RANGES_CRC), then each in [grown_off, file_size) without
 * wrapping, sorted and disjoint (RANGES). 0 or -EBADMSG.
 */
int bsnap_cow_ranges_check(const struct bsnap_cow_info *h,
			   const struct bsnap_cow_range_disk *t,
			   struct bsnap_cow_fault *why);

/*
 * @why as one line (no newline) in @buf of @size bytes, e.g.
 * "bitmap_len 2147483648, expected 4096". Returns @buf.
 */
const char *bsnap_cow_fault_text(const struct bsnap_cow_fault *why, char *buf,
				 size_t size);

#ifdef __cplusplus
}
#endif

#endif /* BSNAP_COW_CODEC_H */
