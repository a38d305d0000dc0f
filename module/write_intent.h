/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Write intent: the CoW file's write-intent bitmap (format version 4,
 * uapi/bsnap_cow.h), kept so that after a crash the file's change bitmap
 * plus the marked regions name every change that reached the device.
 *
 * Before the first write to a region is let through, the region's bit is
 * on disk (FUA): write_intent_hold() holds the write until then, and
 * later writes to the region cost two memory barriers and two bit tests.
 * Bits are cleared lazily, by a tick: a region nobody wrote during a whole
 * tick is cleared once the change bitmap's pages covering it are on disk
 * (md's write-intent bitmap does the same with its "daemon sleep").
 *
 * Clearing needs the change bit of every write set before the write passes
 * write_intent_ready() (incremental mode). In snapshot mode the change bit
 * is set once the block is copied, later: clearing is off (the regions
 * stay marked until the snapshot ends, which only makes the superset
 * larger).
 */
#ifndef BSNAP_WRITE_INTENT_H
#define BSNAP_WRITE_INTENT_H

#include <linux/types.h>

#include "format/cow_codec.h"

struct bio;
struct cbt_map;
struct cow_file;
struct write_intent;

struct write_intent_ops {
	/* @bio's regions are on disk: let it go on. Process context. */
	void (*release)(void *owner, struct bio *bio);
	/* The bitmap could not be written: changes may be missing. */
	void (*failed)(void *owner, int error);
};

struct write_intent_config {
	const struct write_intent_ops *ops;
	void *owner;
	unsigned int minor;		/* for messages */
	struct cow_file *cf;		/* where the bitmaps live */
	const struct bsnap_cow_layout *lay; /* version 4 */
	struct cbt_map *cbt;		/* the file's change map */
	/*
	 * The intent bitmap on disk now (lay->intent_len bytes; NULL if all
	 * clear): its bits count as on disk from the start.
	 */
	const void *ondisk;
};

/* Process context. ERR_PTR(-ENOMEM). Clearing starts off. */
struct write_intent *write_intent_create(const struct write_intent_config *c);
/*
 * Let every held write go once its regions are on disk; the hook is
 * synced, so that no new one comes. Process context.
 */
void write_intent_drain(struct write_intent *wi);
/* Drain, stop the tick and free. */
void write_intent_destroy(struct write_intent *wi);

/*
 * A write to blocks [@first, @last] of the device whose change bits are
 * already set (incremental mode) or about to be copied (snapshot mode):
 * true if it may go on now (its regions' bits are on disk). Any context.
 */
bool write_intent_ready(struct write_intent *wi, u64 first, u64 last);
/*
 * Not ready: hold @bio until its regions' bits are on disk (then
 * ops->release), or end it with EAGAIN if REQ_NOWAIT; true if taken.
 * False if the bits got there meanwhile: the caller goes on with it.
 */
bool write_intent_hold(struct write_intent *wi, u64 first, u64 last,
		       struct bio *bio);

/*
 * Keep the tick from writing change bitmap pages: around a write of the
 * whole bitmap whose CRC goes into the header, so that no page exported
 * before it lands after it.
 */
void write_intent_lock(struct write_intent *wi);
void write_intent_unlock(struct write_intent *wi);

/* Allow clearing (incremental mode) or stop it (snapshot mode). */
void write_intent_set_cleaning(struct write_intent *wi, bool on);

/* Regions whose bit is on disk (for info and tests). */
u64 write_intent_marked(struct write_intent *wi);

int bsnap_write_intent_init(void);
void bsnap_write_intent_exit(void);

#endif
