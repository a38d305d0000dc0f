/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The bsnap CoW file format, version 4 (readers also take versions 2 and 3).
 * Read by the module (reload) and by
 * userspace (update-img, bsnapctl); readers must check magic and version.
 * Its one implementation (layout, encoding, checks) is the codec in
 * module/format/cow_codec.h, compiled into both: use it, do not redo it.
 * A later version keeps magic, version and crc where they are, and its crc
 * covers at least the version 3 struct: a reader that finds the crc of a
 * version it knows under another version number knows the version field
 * is damaged, not newer (cow_codec.h, bsnap_cow_info_from_disk()).
 * All integers are little endian. Offsets and sizes are in bytes.
 *
 *   [0, 4096)                header (struct bsnap_cow_header), CRC-32 checked
 *   [bitmap_off, +bitmap_len)   change bitmap: bit b (LSB first within each
 *                            byte) set = block b of the device changed since
 *                            the snapshot this file belongs to was taken
 *   [valid_off, +valid_len)  index-valid bitmap: bit p set = index page p
 *                            (4 KiB, 512 entries) holds written entries;
 *                            a clear page reads as all zeros whatever the
 *                            disk holds (the index region is never zeroed)
 *   [valid_off + valid_len, +2 * ranges_len) (version >= 3) two copies of the
 *                            usable-space table; ranges_off names the one
 *                            in use (a new table is written to the other,
 *                            then the header that names it). It holds
 *                            nr_ranges struct bsnap_cow_range_disk, sorted:
 *                            the parts of [grown_off, file_size) that the
 *                            snapshot's filesystem had free, which may take
 *                            data (the rest of that space may hold the
 *                            snapshot's data and is never written); crc in
 *                            ranges_crc
 *   [intent_off, +intent_len) (version 4) write-intent bitmap: bit r set =
 *                            the 2^intent_shift bytes of the device from
 *                            r << intent_shift may have changed since the
 *                            bitmap on disk was last written (see below)
 *   [index_off, +index_len)  snapshot index: one __le64 per device block,
 *                            0 = not copied, n = the block's data is at
 *                            data_off + (n - 1) * block_size
 *   [data_off, file_size)    copied blocks: slot n (n >= 1) at data_off +
 *                            (n - 1) * block_size, given out in slot order;
 *                            slots in [1, data_used] are spent, slots of the
 *                            space added after the snapshot instant
 *                            ([grown_off, file_size)) may have been skipped:
 *                            data_blocks counts the slots holding data
 *
 * Header and bitmaps form the "metadata region" [0, index_off): it is
 * written through the filesystem when the file is created, so reading it
 * through the filesystem always sees what the module later writes there
 * directly. The index and data regions are only ever accessed directly by
 * the module; through the filesystem they read as zeros (unwritten extents).
 * The index is valid only while the file belongs to a snapshot; once the
 * device has moved on (BSNAP_COW_INDEX_ONLY), only header and bitmap count.
 *
 * A file is consistent only when BSNAP_COW_CLEAN is set. The header on disk
 * says CLEAN only while the bitmap on disk names every change: the module
 * writes it clean ("seals" it) once the filesystem is unmounted or read-only,
 * at shutdown and at module unload, and writes it not clean again before
 * the next write to the device is let through.
 *
 * Version 4 adds write intent, so that a crash costs an incremental, never
 * the chain: while the file is not clean, the bitmap on disk together with
 * every block of each region whose write-intent bit is set names every
 * change that reached the device (a superset). The module sets a region's
 * bit on disk (FUA) before it lets the first write to that region through,
 * and clears bits lazily, only once the bitmap on disk names the region's
 * changes. Bitmap pages are written while the file is in use, so the
 * bitmap_crc of a not-clean header does not describe them: a reader of a
 * file that is not clean takes the bitmap as it is. BSNAP_COW_BROKEN says
 * a change may be missing whatever the bitmaps hold (a write the module
 * could not see, or could not record): such a file never continues a chain.
 * A version 2 or 3 file that is not clean cannot be trusted at all.
 *
 * probe_crc identifies the device's state at sealing: the CRC of the
 * device's first 4 KiB (where ext4 and xfs keep their superblock). A reload
 * that finds another value knows the device was mounted or repaired while
 * bsnap was not tracking it.
 */
#ifndef _UAPI_BSNAP_COW_H
#define _UAPI_BSNAP_COW_H

#include <linux/types.h>

#define BSNAP_COW_MAGIC 0x574f43504e534230ULL /* "0BSNPCOW" little endian */
#define BSNAP_COW_VERSION 4
#define BSNAP_COW_VERSION_MIN 2 /* without grown_off and data_blocks */
#define BSNAP_COW_HEADER_SIZE 4096
#define BSNAP_COW_BLOCK_SIZE 4096

#define BSNAP_COW_CLEAN 0x1u	  /* flushed and closed properly */
#define BSNAP_COW_INDEX_ONLY 0x2u /* data/index no longer belong to a live snapshot */
#define BSNAP_COW_SUPERSEDED 0x4u /* a later snapshot of the chain exists:
				   * only update-img may use this file
				   */
#define BSNAP_COW_BROKEN 0x8u	  /* a change may be missing: no incremental
				   * may be taken from this file (version 4)
				   */
#define BSNAP_COW_PROBE_SIZE 4096

/*
 * Write-intent regions (version 4): 2^intent_shift bytes each, at least
 * 4 MiB, doubled until the device has at most BSNAP_COW_INTENT_REGIONS_MAX
 * regions (a 1 TiB device: 4 MiB; 100 TiB: 64 MiB).
 */
#define BSNAP_COW_INTENT_SHIFT_MIN 22
#define BSNAP_COW_INTENT_REGIONS_MAX (1u << 21)

struct bsnap_cow_header {
	__le64 magic;
	__le32 version;
	__le32 flags;	      /* BSNAP_COW_* */
	__le32 header_size;   /* BSNAP_COW_HEADER_SIZE */
	__le32 block_size;    /* tracking granularity, BSNAP_COW_BLOCK_SIZE */
	__u8 uuid[16];	      /* chain UUID: same for every file of a chain */
	__le64 seqid;	      /* 1 for the first snapshot, +1 per transition */
	__le64 device_sectors; /* size of the traced device, 512-byte sectors */
	__le64 nr_blocks;     /* ceil(device size / block_size) */
	__le64 file_size;
	__le64 bitmap_off;
	__le64 bitmap_len;
	__le64 index_off;
	__le64 index_len;
	__le64 data_off;
	__le64 data_used;     /* blocks of data stored */
	__le64 changed_blocks; /* bits set in the bitmap */
	__le32 crc;	      /* zlib crc32() of the struct with crc = 0 */
	__le32 reserved;
	__le64 valid_off;     /* index-valid bitmap (version 2) */
	__le64 valid_len;
	__le32 probe_crc;     /* zlib crc32() of the device's first 4 KiB */
	__le32 bitmap_crc;    /* zlib crc32() of the bitmap region */
	/* Version 3; a version 2 header ends here (and its crc covers that). */
	__le64 grown_off;     /* file bytes from here on were added after the
			       * snapshot instant (= file_size if none)
			       */
	__le64 data_blocks;   /* slots holding data (v2: data_used) */
	__le64 ranges_off;    /* usable-space table: the copy in use */
	__le64 ranges_len;    /* bytes reserved for each copy */
	__le32 nr_ranges;     /* entries in use */
	__le32 ranges_crc;    /* zlib crc32() of those entries */
	/* Version 4; a version 3 header ends here (and its crc covers that). */
	__le64 intent_off;    /* write-intent bitmap */
	__le64 intent_len;
	__le32 intent_shift;  /* log2 of a region's size in bytes */
	__le32 intent_reserved; /* 0 */
};

/* An entry of the usable-space table: file bytes [off, off + len). */
struct bsnap_cow_range_disk {
	__le64 off;
	__le64 len;
};

/*
 * Bytes reserved for the usable-space table in version 3 files: both
 * copies, so each holds up to 8192 ranges.
 */
#define BSNAP_COW_RANGES_BYTES (256 * 1024)

/* Bytes of the header struct a version covers (and its crc). */
#define BSNAP_COW_HEADER_V2_BYTES 160
#define BSNAP_COW_HEADER_V3_BYTES 200

#endif /* _UAPI_BSNAP_COW_H */
