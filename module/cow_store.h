/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where CoW data and metadata are stored: the layout of one CoW file
 * (uapi/bsnap_cow.h), the allocation of data slots, the snapshot index and
 * the header. Built on cow_file (pinned file, direct sector I/O) and
 * cow_index (bounded cache of the on-disk index).
 */
#ifndef BSNAP_COW_STORE_H
#define BSNAP_COW_STORE_H

#include <linux/types.h>
#include <uapi/bsnap.h>
#include <uapi/bsnap_cow.h>

#include "cow_slots.h"
#include "format/cow_codec.h"

struct block_device;
struct bsnap_io;
struct cbt_map;
struct cow_file;
struct cow_index;
struct file;
struct page;
struct write_intent;
struct write_intent_ops;

struct cow_store {
	struct cow_file *cf;
	struct cow_index *index;	/* NULL once the snapshot is over */
	/*
	 * Where the regions of the file lie (format/cow_codec.h). Version 3
	 * has two copies of the usable-space table; the header names the
	 * one in use (ranges_off), and a new table goes to the other, so a
	 * crash between the table and the header leaves the old pair intact.
	 */
	struct bsnap_cow_layout lay;
	u64 ranges_off;
	u32 nr_ranges, ranges_crc;	/* of the table at ranges_off */
	u64 grown_off;		/* file bytes from here on were added after
				 * the snapshot instant (file size if none);
				 * fixed for the store's life
				 */
	struct cow_slots slots;	/* where CoW data may go */
	u64 seqid;
	u8 uuid[BSNAP_UUID_SIZE];
	u32 probe_crc;		/* of the device's first 4 KiB, at sealing */
	u32 bitmap_crc;		/* of the bitmap region last written */
	/*
	 * Version 4: the write-intent bitmap, kept from
	 * cow_store_start_intent() on; until then (and in older files) a
	 * header written not clean says BROKEN. @intent_disk: the bitmap
	 * read at open, for cow_store_start_intent().
	 */
	struct write_intent *wi;
	void *intent_disk;
	bool recovered;		/* opened after a crash (not clean) */
};

/*
 * Create the CoW file at @path (absolute) on @bdev, @size bytes (0: 10 % of
 * the device, at least what the metadata needs plus 1 MiB), with an index
 * cache of @cache_bytes, and write its first header (not clean).
 */
struct cow_store *cow_store_create(const char *path, u64 size,
				   struct block_device *bdev,
				   sector_t device_sectors, u64 cache_bytes,
				   const u8 *uuid, u64 seqid);
/*
 * Open an existing CoW file for reload: @cf is its map (cow_file.h). The
 * header must be intact (format/cow_codec.h), laid out for a device of
 * @device_sectors (-EBADMSG), not BROKEN (-EUCLEAN), not SUPERSEDED
 * (-ESTALE), and either CLEAN with its probe @probe_crc, the device's
 * (else -ESTALE), or recoverable after a crash (version 4,
 * bsnap_cow_intent_recoverable(); else -EUCLEAN). Its change bitmap, and
 * for a recovered file every block of its marked write-intent regions, is
 * merged into @cbt, which may be in use. With @snapshot the file must
 * still hold a snapshot (-EINVAL if it is INDEX_ONLY; -EUCLEAN if
 * recovered: the index of a crashed snapshot is not trusted) and its index
 * is opened with @cache_bytes. On success the store owns @cf and *@seqid
 * and @uuid are the header's.
 */
struct cow_store *cow_store_open(struct cow_file *cf, sector_t device_sectors,
				 bool snapshot, u64 cache_bytes, u32 probe_crc,
				 struct cbt_map *cbt, u64 *seqid, u8 *uuid);

/*
 * Keep the write-intent bitmap of a version 4 file from now on, for @cbt,
 * the file's change map; @ops and @owner get held writes back (see
 * write_intent.h). Clearing starts off. 0 for an older file (nothing to
 * keep), or -ENOMEM.
 */
int cow_store_start_intent(struct cow_store *cs, struct cbt_map *cbt,
			   const struct write_intent_ops *ops, void *owner,
			   unsigned int minor);
/*
 * May @bio, a write to blocks [@first, @last] of the device from @sector
 * on, go on now? False if the write-intent bitmap holds it (write_intent.h)
 * or ended it. Any context.
 */
bool cow_store_admit(struct cow_store *cs, u64 first, u64 last,
		     sector_t sector, struct bio *bio);
/* Allow clearing intent bits (incremental mode) or not (snapshot mode). */
void cow_store_intent_cleaning(struct cow_store *cs, bool on);
/* Let every write held for the intent bitmap go (teardown). */
void cow_store_intent_drain(struct cow_store *cs);

/* Close (and, with @remove, delete) the file and free memory. */
void cow_store_destroy(struct cow_store *cs, bool remove);

/*
 * The snapshot is over (transition to incremental): forget the index and
 * the copied data; header and bitmap stay in use.
 */
void cow_store_drop_data(struct cow_store *cs);

/*
 * Allocate up to @n consecutive data slots: returns how many, the first in
 * *@first_slot, or -ENOSPC when the file is full. CoW worker only.
 */
int cow_store_alloc(struct cow_store *cs, unsigned int n, u64 *first_slot);

/* Add bios for @nr_blocks consecutive slots from @slot to @io. */
int cow_store_data_io(struct bsnap_io *io, struct cow_store *cs,
		      blk_opf_t opf, u64 slot, struct page **pages,
		      unsigned int nr_blocks);

/* File offset of the data of @slot (slot >= 1). */
static inline u64 cow_store_slot_off(const struct cow_store *cs, u64 slot)
{
	return bsnap_cow_slot_off(&cs->lay, slot);
}

/*
 * Write the header (with @flags and the change count of @cbt) and, with
 * @bitmap, the change bitmap; then flush the device cache.
 */
int cow_store_write_meta(struct cow_store *cs, const struct cbt_map *cbt,
			 u32 flags, bool bitmap);

/*
 * Write everything back: dirty index pages and the index-valid bitmap (in
 * snapshot mode), the change bitmap, then the header with @flags.
 */
int cow_store_sync(struct cow_store *cs, const struct cbt_map *cbt,
		   u32 flags);

/* Read the device's first 4 KiB and remember its CRC for the header. */
int cow_store_probe(struct cow_store *cs);

/* CRC of the device's first 4 KiB now, in *@crc. */
int cow_store_probe_crc(struct block_device *bdev, u32 *crc);

/*
 * Mark every block of the CoW file in @cbt. Its blocks change without
 * passing the hook (direct I/O) or read as zeros in the next image, so
 * a change map must name them for an incremental to be exact.
 */
int cow_store_mark_blocks(const struct cow_store *cs, struct cbt_map *cbt);

/*
 * Grow the file by @grow bytes (cow_file_grow()) through @f. The new space
 * takes no data until cow_store_add_usable() names it. Control mutex held.
 */
int cow_store_grow(struct cow_store *cs, struct file *f, u64 grow);

/*
 * Make the byte ranges @ranges[0, @nr) of the file usable for data: space
 * added after the snapshot that the snapshot's filesystem had free (see
 * cow_slots.h). Ranges must be multiples of 512 (-EINVAL); parts outside
 * the added space are ignored. *@added: bytes that became available. Then
 * write the usable-space table; the caller writes the header after it.
 * -EOPNOTSUPP for a version 2 file (no table). Control mutex held.
 */
int cow_store_add_usable(struct cow_store *cs,
			 const struct bsnap_cow_range *ranges,
			 unsigned int nr, u64 *added);

/* Bytes the data area can still take. */
u64 cow_store_free_bytes(struct cow_store *cs);
/* Bytes of CoW data the file holds (slots in use). */
u64 cow_store_data_bytes(const struct cow_store *cs);

/*
 * True if the image reads device sector @sector as zeros: it lies in the
 * file as created (the snapshot's filesystem had it allocated to the CoW
 * file) or in added space named usable (it had it free; cow_slots.h). The
 * rest of the added space reads from the device: it may still hold the
 * snapshot's data. The answer holds for *@span sectors from @sector on (at
 * least 1): outside the file, up to its next extent.
 */
bool cow_store_reads_as_zero(struct cow_store *cs, sector_t sector,
			     u64 *span);

/*
 * True once, when allocating @n more slots brings the data in use to
 * BSNAP_COW_LOW_PERCENT of the usable space; called by the CoW worker before
 * it allocates.
 */
bool cow_store_check_low(struct cow_store *cs, unsigned int n);

/* Bytes of the file holding data or metadata (for info). */
u64 cow_store_used_bytes(const struct cow_store *cs);

#endif
