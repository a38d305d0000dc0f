/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Data slots of a CoW file: which slots may take CoW data, and which one is
 * next. Slot n (n >= 1) is the block at data_off + (n - 1) * block size of
 * the file (uapi/bsnap_cow.h); slots are given out in increasing order and
 * never twice, so "spent" is simply "below the cursor".
 *
 * Two kinds of space (the cut is grown_off, fixed for the file's life):
 *  - the file as created for the snapshot, slots [1, base_end): its blocks
 *    belonged to the file at the snapshot instant, so the snapshot needs
 *    none of their contents and every slot may take data;
 *  - space added while the snapshot runs (cow_file_grow()): a block there
 *    may have belonged to a file deleted after the snapshot instant and
 *    still hold the snapshot's data. Such a slot takes data only once named
 *    usable (cow_slots_add(): userspace found the block free in the
 *    snapshot's filesystem); the cursor skips the others, which the image
 *    then keeps reading from the device (snap_dev.c).
 *
 * The image reads a usable added slot as zeros, from the moment it is
 * named, whether it holds data yet or not: the snapshot's filesystem had it
 * free, and the image must not change as CoW data lands there.
 *
 * Usable ranges are saved in the CoW file's table (cow_store.c), so that a
 * reload knows them again.
 *
 * The CoW worker allocates; a control ioctl adds ranges. Memory is bounded
 * by the ranges the CoW file's table holds (BSNAP_COW_RANGES_BYTES).
 */
#ifndef BSNAP_COW_SLOTS_H
#define BSNAP_COW_SLOTS_H

#include <linux/spinlock.h>
#include <linux/types.h>
#include <uapi/bsnap.h>

/* "cow-low": BSNAP_COW_LOW_PERCENT, in uapi/bsnap.h (the daemon reads it). */

/* Slots [first, end). */
struct cow_slot_range {
	u64 first;
	u64 end;
};

struct cow_slots {
	spinlock_t lock;	/* protects everything below */
	u64 next;		/* first slot not spent */
	u64 base_end;		/* slots below lie in the space created */
	struct cow_slot_range *ranges; /* usable added space: sorted,
					* disjoint, spent parts included
					*/
	unsigned int nr_ranges;
	unsigned int pos;	/* ranges below are wholly spent */
	u64 used;		/* slots holding data */
	u64 avail;		/* usable slots not spent */
	bool low_reported;	/* "cow-low" sent since capacity last grew */
	unsigned int max_ranges; /* what the CoW file's table holds */
};

/*
 * Slots [1, @base_end) are the created space; [1, @next) are spent, @used of
 * them hold data. No added range is usable yet; at most @max_ranges will be.
 */
void cow_slots_init(struct cow_slots *s, u64 base_end, u64 next, u64 used,
		    unsigned int max_ranges);
void cow_slots_free(struct cow_slots *s);

/*
 * Up to @n (> 0) consecutive slots from the next usable one: returns how
 * many (first in *@first), or -ENOSPC when none is left.
 */
int cow_slots_alloc(struct cow_slots *s, unsigned int n, u64 *first);

/*
 * Make @add[0, @nr) usable (in any order, may overlap), clipped to
 * [base_end, @limit). Slots already spent only read as zeros from now on.
 * *@added: slots that became available for data. -E2BIG, nothing changed,
 * if the merged table would pass max_ranges. Process context; callers
 * serialize (control mutex).
 */
int cow_slots_add(struct cow_slots *s, const struct cow_slot_range *add,
		  unsigned int nr, u64 limit, u64 *added);

/*
 * True once, when @n more slots bring the data in use to
 * BSNAP_COW_LOW_PERCENT of the usable capacity; armed again when
 * cow_slots_add() brings it below.
 */
bool cow_slots_check_low(struct cow_slots *s, unsigned int n);

/*
 * Copy up to @max usable ranges to @out; returns how many. Callers serialize
 * with cow_slots_add().
 */
unsigned int cow_slots_export(struct cow_slots *s, struct cow_slot_range *out,
			      unsigned int max);

/* True if @slot was named usable (it reads as zeros in the image). */
bool cow_slots_usable(struct cow_slots *s, u64 slot);

/* Highest slot spent (saved as data_used), slots in use, slots left. */
u64 cow_slots_spent(const struct cow_slots *s);
u64 cow_slots_used(const struct cow_slots *s);
u64 cow_slots_avail(const struct cow_slots *s);

#endif
